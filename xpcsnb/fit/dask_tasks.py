"""Independent fits in this process or as Dask tasks: the one place that hands fit work to a client.

Fits that do not share parameters (each q of a ``q_mode="independent"`` two-time fit,
groups of ROIs of an independent g2 fit) are independent tasks. With ``client=None``
they run here, one after the other; with a :class:`distributed.Client` each job is one
task on the cluster (``pure=False``: a rerun is computed again). Results come back in
job order and are the numbers of the in-process run (each task is the same computation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.errors import XpcsError

__all__ = ["check_client", "run_tasks", "split_for"]


def check_client(client: Any) -> None:
    """Refuse a ``client=`` that is not a Dask client (it needs ``submit`` and ``gather``)."""
    if client is not None and not (callable(getattr(client, "submit", None))
                                   and callable(getattr(client, "gather", None))):
        raise XpcsError(f"client= must be a dask.distributed.Client (or None to run in-process), "
                        f"got {type(client).__name__}")


def run_tasks(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], client: Any = None) -> list[Any]:
    """``[fn(*job) for job in jobs]``, in-process (``client=None``) or one Dask task per job on ``client``.

    An exception in a task is raised here (by :meth:`distributed.Client.gather`).
    """
    check_client(client)
    if client is None:
        return [fn(*job) for job in jobs]
    futures = [client.submit(fn, *job, pure=False) for job in jobs]
    return list(client.gather(futures))


def split_for(n: int, client: Any) -> list[np.ndarray]:
    """Positions 0 … n − 1 in contiguous groups, one per worker thread of ``client`` (at most n groups).

    Without a client: one group of all. Few large tasks keep each worker's compiled
    functions busy (one compilation per worker) instead of paying the per-task overhead
    of the scheduler for every item.
    """
    if n < 1:
        return []
    if client is None:
        return [np.arange(n)]
    check_client(client)
    threads = sum(client.nthreads().values()) if callable(getattr(client, "nthreads", None)) else 1
    return [g for g in np.array_split(np.arange(n), max(1, min(n, int(threads)))) if g.size]
