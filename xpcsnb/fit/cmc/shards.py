"""Shards: the support points of one fit dealt into S disjoint parts, and one task per shard.

Every support point of the two-time data (the points the NLSQ fit uses: the upper
triangle ``t1 < t2`` of symmetric C2, the diagonal excluded; one row per angle, or per
(q, φ) pair of a multi-q Dataset) lands in exactly one shard. A :class:`ShardTask`
holds one shard's data padded to the largest shard's size, so that one compiled
sampler serves them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..problem import FitProblem
from .reparam import Spec

__all__ = ["POINTS_PER_SHARD", "MIN_POINTS_PER_SHARD", "Sampler", "ShardTask", "default_shard_count",
           "make_shards", "check_rows_covered", "shard_tasks"]

#: Default number of support points per shard (the shard count is ceil(n / this)).
POINTS_PER_SHARD = 200_000
#: Smallest number of support points a shard may hold.
MIN_POINTS_PER_SHARD = 50



def default_shard_count(n_points: int, points_per_shard: int = POINTS_PER_SHARD) -> int:
    """``ceil(n_points / points_per_shard)`` (at least 1); independent of the machine."""
    if points_per_shard < 1:
        raise ValueError(f"points_per_shard must be >= 1, got {points_per_shard}")
    return max(1, math.ceil(n_points / points_per_shard))


def make_shards(k: np.ndarray, n_shards: int, *, by: str = "random",
                rng: np.random.Generator) -> list[np.ndarray]:
    """Split support-point positions into shards; every point lands in exactly one shard.

    Parameters
    ----------
    k : int array, shape (n,)
        Angle index of each support point.
    n_shards : int
        Number of shards S.
    by : {"random", "angle_balanced"}
        ``random``: a random permutation of all points cut into S near-equal parts;
        ``angle_balanced``: each angle's points permuted and cut into S parts, so every
        shard holds the same number (±1) of points of every angle.
    rng : numpy.random.Generator

    Returns
    -------
    list of int arrays
        Sorted positions into the support arrays, one array per shard.
    """
    k = np.asarray(k)
    n = k.size
    if not isinstance(n_shards, (int, np.integer)) or n_shards < 1:
        raise ValueError(f"n_shards must be a positive integer, got {n_shards!r}")
    if n_shards * MIN_POINTS_PER_SHARD > n:
        raise ValueError(f"{n_shards} shards of {n} support points leave fewer than {MIN_POINTS_PER_SHARD} "
                         "points per shard; use fewer shards")
    if by == "random":
        parts = np.array_split(rng.permutation(n), n_shards)
    elif by == "angle_balanced":
        parts_by_angle = [np.array_split(rng.permutation(np.flatnonzero(k == a)), n_shards) for a in np.unique(k)]
        parts = [np.concatenate([p[s] for p in parts_by_angle]) for s in range(n_shards)]
    else:
        raise ValueError(f"shard_by must be 'random' or 'angle_balanced', got {by!r}")
    return [np.sort(p) for p in parts]


def check_rows_covered(problem: FitProblem, shards: Sequence[np.ndarray]) -> None:
    """Refuse shards that miss a row whose own contrast/offset are sampled (``scaling="individual"``)."""
    if problem.scaling != "individual":
        return
    k = np.asarray(problem.k)
    n_rows = problem.shape[0]
    what = "(q, φ) row" if problem.n_q is not None else "angle"
    for s, idx in enumerate(shards):
        missing = sorted(set(range(n_rows)) - set(np.unique(k[idx]).tolist()))
        if missing:
            raise ValueError(f"shard {s} holds no point of {what} index {missing}, so its per-{what.split()[-1]} "
                             "contrast/offset are unidentified; use shard_by='angle_balanced' or fewer shards")


@dataclass(frozen=True)
class Sampler:
    """NUTS settings shared by every shard (see :func:`~xpcsnb.fit.cmc.fit_cmc`)."""

    num_warmup: int
    num_samples: int
    num_chains: int
    dense_mass: bool
    target_accept: float
    max_tree_depth: int
    init_radius: float


@dataclass(frozen=True)
class ShardTask:
    """One shard's work: spec, sampler settings, data (NumPy) and PRNG key data."""

    index: int
    spec: Spec
    sampler: Sampler
    key_data: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    i: np.ndarray
    j: np.ndarray
    k: np.ndarray
    n_points: int


def shard_tasks(problem: FitProblem, spec: Spec, sampler: Sampler, shards: Sequence[np.ndarray],
                key_data: np.ndarray) -> list[ShardTask]:
    """One :class:`ShardTask` per shard, its data padded to the largest shard's size.

    Padding points repeat the shard's first point with weight 0; ``weight`` is ``1/σ`` at
    real points (1 when the noise level is sampled).
    """
    y, sig, ii, jj, kk = (np.asarray(a) for a in (problem.y, problem.sigma, problem.i, problem.j, problem.k))
    size = max(len(p) for p in shards)
    tasks = []
    for s, idx in enumerate(shards):
        pad = np.concatenate([idx, np.full(size - idx.size, idx[0])])
        real = np.arange(size) < idx.size
        weight = np.where(real, 1.0 / sig[pad], 0.0) if problem.has_sigma else real.astype(float)
        tasks.append(ShardTask(s, spec, sampler, key_data[s], y[pad], weight, ii[pad], jj[pad], kk[pad],
                               int(idx.size)))
    return tasks
