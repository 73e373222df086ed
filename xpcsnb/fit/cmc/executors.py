"""Where the shards run: in this process, in spawned worker processes, or on a Dask cluster.

``parallel=True`` runs the shards in local worker processes started with the "spawn"
method (JAX is not fork-safe), one batch of shards per worker so that each compiles the
sampler once. Spawned workers re-import the main module: a script must keep its work
under ``if __name__ == "__main__":``, and a script read from standard input cannot be
re-imported at all. :func:`unsafe_main` detects both before any worker starts, and
:func:`run_tasks` then runs the shards in this process with a :class:`RuntimeWarning`
saying why. A worker that dies or cannot start breaks the pool
(:class:`concurrent.futures.process.BrokenProcessPool`); the call then fails at once
with :class:`CMCWorkerError` instead of waiting. ``client=`` (a
:class:`distributed.Client`) runs one task per shard on a Dask cluster. The numbers do
not depend on where the shards run.
"""

from __future__ import annotations

import ast
import contextlib
import multiprocessing
import numbers
import os
import sys
from collections.abc import Callable
from functools import partial
from types import FrameType, ModuleType
from typing import Any

from ..._warn import warn
from .nuts import iter_shards, run_shards
from .shards import ShardTask

__all__ = ["CMCWorkerError", "ChainBars", "run_tasks", "run_sequential", "run_processes", "run_dask",
           "unsafe_main", "watch_queue"]

#: What to do when worker processes cannot be used (part of every message about them).
REMEDY = ("put the script's code under `if __name__ == \"__main__\":` (spawned workers re-import the main "
          "script), pass parallel=False to run the shards in this process, or pass a Dask client=")


class CMCWorkerError(RuntimeError):
    """A CMC worker process died or could not start."""


# --------------------------------------------------------------------------- is spawning safe?
def _is_main_guard(node: ast.stmt) -> bool:
    """Whether ``node`` is ``if __name__ == "__main__":`` (either operand order)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    consts = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and consts == ["__main__"]


def _guarded(source: str, line: int) -> bool:
    """Whether ``line`` of ``source`` lies in the body of a top-level ``if __name__ == "__main__":``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if _is_main_guard(node) and node.body and node.body[0].lineno <= line <= (node.body[-1].end_lineno or 0):
            return True
    return False


def _main_line(main: ModuleType, frame: FrameType | None) -> int | None:
    """Line of the main module's top-level code that is running now (None when it is not on the stack)."""
    while frame is not None:
        if frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>":
            return frame.f_lineno
        frame = frame.f_back
    return None


def unsafe_main() -> str | None:
    """Why spawned worker processes cannot be used from here, or None when they can.

    Spawned workers re-import the main module (by name after ``python -m``, by path for a
    script); an interactive main module (Jupyter, the REPL, ``python -c``) is left alone.
    Unsafe: a main module whose file cannot be read again (a script piped to ``python -``),
    or a script whose top-level code reaches this call outside ``if __name__ == "__main__":``
    (every worker would run the script again instead of its shards).
    """
    main = sys.modules.get("__main__")
    if main is None:
        return None
    spec = getattr(main, "__spec__", None)
    path = getattr(spec, "origin", None) if getattr(spec, "name", None) else getattr(main, "__file__", None)
    if path is None:
        return None
    if not os.path.isfile(path):
        return (f"the main module was read from {path!r}, not from a file, so worker processes cannot "
                "import it (a script piped to `python -`?)")
    line = _main_line(main, sys._getframe())
    if line is None:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError):
        return f"the main script {path} cannot be read again, so worker processes cannot import it"
    if _guarded(source, line):
        return None
    return (f"the script {path} reaches fit_cmc from line {line} outside an `if __name__ == \"__main__\":` "
            "block, so every worker process would run the script again")


# --------------------------------------------------------------------------- progress bars
class ChainBars:
    """tqdm bars of running chains, one line per slot (a process, or the one local runner).

    ``start(slot, shard, chain, total)`` resets that slot's bar for a new chain,
    ``advance(slot, n)`` moves it on; ``close()`` closes them all.
    """

    def __init__(self, enabled: bool, first_position: int = 1) -> None:
        self.enabled = enabled
        self.first_position = first_position
        self.bars: dict[Any, Any] = {}

    def start(self, slot: Any, shard: int, chain: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        bar = self.bars.get(slot)
        if bar is None:
            bar = tqdm(total=total, position=self.first_position + len(self.bars), leave=False, unit="it")
            self.bars[slot] = bar
        bar.reset(total=total)
        bar.set_description(f"shard {shard} chain {chain}", refresh=True)

    def advance(self, slot: Any, n: int) -> None:
        if self.enabled and slot in self.bars:
            self.bars[slot].update(n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def watch_queue(queue: Any, bars: ChainBars) -> None:
    """Move the chain bars with the ``(pid, shard, chain, n, total)`` reports of the workers until ``None``."""
    while True:
        item = queue.get()
        if item is None:
            return
        pid, shard, chain, n, total = item
        if n == 0:
            bars.start(pid, shard, chain, total)
        else:
            bars.advance(pid, n)



# --------------------------------------------------------------------------- executors
def run_sequential(tasks: list[ShardTask], progress: bool) -> list[dict[str, Any]]:
    """Run the shards here, one after the other (one compiled sampler), with optional bars."""
    from tqdm.auto import tqdm

    bars = ChainBars(progress)

    def reporter(shard: int, chain: int, total: int) -> Callable[[int], None]:
        bars.start(0, shard, chain, total)
        return partial(bars.advance, 0)

    try:
        return list(tqdm(iter_shards(tasks, chain_progress=reporter if progress else None), total=len(tasks),
                         desc="CMC shards", disable=not progress))
    finally:
        bars.close()



def _close_pool(pool: Any, failed: bool) -> None:
    """Shut the pool down; after a failure (or KeyboardInterrupt) terminate its workers first."""
    if failed:
        procs = getattr(pool, "_processes", None) or {}  # pid → Process (no public API before Python 3.14)
        for proc in list(procs.values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
    else:
        pool.shutdown(wait=True)


def run_processes(tasks: list[ShardTask], n_workers: int, progress: bool) -> list[dict[str, Any]]:
    """Round-robin batches of shards, one batch per spawned worker process (one compile each).

    A :class:`concurrent.futures.ProcessPoolExecutor` with the "spawn" start method (JAX
    is not fork-safe). A worker that dies or cannot start raises :class:`CMCWorkerError`
    at once; leaving the call by any exception (or a KeyboardInterrupt) terminates the
    workers. With ``progress`` the workers report their chains' progress through a
    manager queue that a thread of this process turns into one bar per worker.
    """
    import threading
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    batches = [tasks[w::n_workers] for w in range(n_workers) if tasks[w::n_workers]]
    ctx = multiprocessing.get_context("spawn")
    results: dict[int, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        pool = ProcessPoolExecutor(max_workers=len(batches), mp_context=ctx)
        stack.push(lambda exc_type, *_: _close_pool(pool, failed=exc_type is not None))
        bar = stack.enter_context(tqdm(total=len(tasks), desc="CMC shards", disable=not progress))
        worker: Callable[..., list[dict[str, Any]]] = run_shards
        if progress:
            manager = stack.enter_context(ctx.Manager())
            queue = manager.Queue()
            bars = ChainBars(True)
            watcher = threading.Thread(target=watch_queue, args=(queue, bars), daemon=True)
            watcher.start()

            def stop_watcher() -> None:
                queue.put(None)
                watcher.join(timeout=10)
                bars.close()

            stack.callback(stop_watcher)
            worker = partial(run_shards, progress_queue=queue)
        futures = [pool.submit(worker, batch) for batch in batches]
        try:
            for fut in as_completed(futures):
                for r in fut.result():
                    results[r["index"]] = r
                    bar.update(1)
        except BrokenProcessPool as exc:
            raise CMCWorkerError(f"a CMC worker process died or could not start ({exc}); if the script printed "
                                 f"tracebacks of the workers, they tell why. To fix it, {REMEDY}"
                                 ) from exc
    return [results[t.index] for t in tasks]


def run_dask(tasks: list[ShardTask], client: Any, progress: bool) -> list[dict[str, Any]]:
    """One Dask task per shard (the cluster schedules them); results gathered in shard order."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    futures = [client.submit(run_shards, [t], pure=False) for t in tasks]
    results: dict[int, dict[str, Any]] = {}
    for fut in tqdm(as_completed(futures, loop=client.loop), total=len(futures), desc="CMC shards (dask)",
                    disable=not progress):
        for r in fut.result():
            results[r["index"]] = r
    return [results[t.index] for t in tasks]



def run_tasks(tasks: list[ShardTask], *, parallel: bool, n_workers: int | None, client: Any,
              progress: bool) -> tuple[list[dict[str, Any]], str]:
    """Run every shard where asked; return the per-shard results (in shard order) and a label of the executor.

    ``client`` wins over ``parallel``; with ``parallel`` and more than one shard the shards
    run in spawned processes unless :func:`unsafe_main` objects, in which case they run
    here, one after the other, with a :class:`RuntimeWarning`.
    """
    if client is not None:
        return run_dask(tasks, client, progress), f"dask ({type(client).__name__})"
    if parallel and len(tasks) > 1:
        workers = n_workers or min(len(tasks), os.cpu_count() or 1)
        if not isinstance(workers, numbers.Integral) or workers < 1:
            raise ValueError(f"n_workers must be an integer >= 1, got {workers!r}")
        reason = unsafe_main()
        if reason is None:
            return run_processes(tasks, workers, progress), f"processes (spawn, {workers} workers)"
        warn(f"fit_cmc runs the {len(tasks)} shards in this process, one after the other, instead of in "
             f"worker processes: {reason}. To get worker processes, {REMEDY}.", RuntimeWarning)
        return run_sequential(tasks, progress), "sequential (worker processes unsafe here)"
    return run_sequential(tasks, progress), "sequential"
