"""``fit_cmc``: the CMC fit of a two-time Dataset, from inputs to the result DataTree.

The steps, each in its own module: read the NLSQ solution once
(:mod:`~xpcsnb.fit.cmc.reference`), build the problem and priors, the sampler's
coordinates (:mod:`~xpcsnb.fit.cmc.reparam`), the shards (:mod:`~xpcsnb.fit.cmc.shards`),
run NUTS on them (:mod:`~xpcsnb.fit.cmc.nuts`) where asked
(:mod:`~xpcsnb.fit.cmc.executors`), combine and assemble (:mod:`~xpcsnb.fit.cmc.assemble`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from ... import _jax  # noqa: F401
from ...models import get_model
from ...models.base import Model
from ...models.registry import Prior
from ..diagnostics import THRESHOLDS, Thresholds
from ..priors import NLSQ_PRIOR_WIDTH
from ..problem import build_problem
from . import executors
from .assemble import assemble
from .assemble import combine as combine_draws
from .reference import check_fitted_on, read_nlsq, seeded_priors, solve_reference
from .reparam import build_spec
from .shards import POINTS_PER_SHARD, Sampler, check_rows_covered, default_shard_count, make_shards, shard_tasks

__all__ = ["fit_cmc"]


def _check_int(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def fit_cmc(
    ds: xr.Dataset,
    model: str | Model,
    *,
    nlsq: xr.Dataset | None = None,
    scaling: str | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    contrast: float | Sequence[float] | None = None,
    offset: float | Sequence[float] | None = None,
    priors: Mapping[str, Prior] | None = None,
    prior_width: float = NLSQ_PRIOR_WIDTH,
    n_shards: int | None = None,
    shard_by: str = "random",
    points_per_shard: int = POINTS_PER_SHARD,
    num_warmup: int = 400,
    num_samples: int = 800,
    num_chains: int = 2,
    dense_mass: bool = True,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    init_radius: float = 2.0,
    combine: str = "consensus",
    seed: int = 0,
    parallel: bool = True,
    n_workers: int | None = None,
    client: Any = None,
    thresholds: Thresholds = THRESHOLDS,
    progress: bool = True,
    warn: bool = True,
) -> xr.DataTree:
    """Bayesian fit of a two-time model by Consensus Monte Carlo (sharded NumPyro NUTS).

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (``c2`` (phi, t1, t2); ``sigma`` is used as the likelihood's
        standard deviation when present), or a multi-q one (``c2`` (q, phi, t1, t2)):
        then the physics is shared over q and contrast/offset are per (q, φ) row, as
        in the joint NLSQ fit.
    model : {"static", "laminar_flow", "heterodyne"}
    nlsq : xarray.Dataset, optional
        NLSQ result of the same model (``ds.xpcs.fit_nlsq``). Seeds the priors
        (truncated normal at the NLSQ value, sd ``prior_width`` × stderr), the sampler's
        parametrisation and start, and, unless given here, ``scaling``, ``fixed``,
        ``bounds`` and fixed ``contrast``/``offset``.
    scaling : {"individual", "shared", "fixed"}, optional
        Per-angle contrast/offset (default: the NLSQ result's, else "individual").
    bounds, fixed, contrast, offset
        As in :func:`xpcsnb.fit.problem.build_problem`.
    priors : dict, optional
        ``{name: Prior}`` overriding priors; a registry name (``"contrast"``) applies to
        every angle, an indexed name (``"contrast_1"``) to one.
    prior_width : float
        Width of NLSQ-seeded priors in NLSQ standard errors (see ``xpcsnb.fit.priors``).
    n_shards : int, optional
        Number of shards S (default ``ceil(n_points / points_per_shard)``).
    shard_by : {"random", "angle_balanced"}
        How support points are dealt to shards (see ``xpcsnb.fit.cmc.shards.make_shards``).
    points_per_shard : int
        Target shard size for the default shard count.
    num_warmup, num_samples, num_chains : int
        NUTS warm-up and kept draws per chain, chains per shard (at least 2, for R-hat).
    dense_mass : bool
        Adapt a dense mass matrix.
    target_accept : float
        Target acceptance probability of the step-size adaptation, in (0, 1).
    max_tree_depth : int
        NUTS tree depth limit.
    init_radius : float
        Chains start uniformly in ±init_radius of the whitened coordinates.
    combine : {"consensus", "parametric"}
        NumPyro's consensus (default) or parametric (Gaussian) combination.
    seed : int
        Seed of the shard assignment and of ``jax.random.key``.
    parallel : bool
        Run the shards in spawned local processes (True, default) or sequentially here
        (False). Where spawned workers cannot import the main module (a script without
        ``if __name__ == "__main__":`` around this call, or one piped to ``python -``)
        the shards run here, with a :class:`RuntimeWarning` (see
        ``xpcsnb.fit.cmc.executors.unsafe_main``).
    n_workers : int, optional
        Local processes (default ``min(S, os.cpu_count())``).
    client : distributed.Client, optional
        Run the shards on this Dask cluster (overrides ``parallel``).
    thresholds : Thresholds
        Convergence limits (default :data:`xpcsnb.fit.diagnostics.THRESHOLDS`).
    progress : bool
        tqdm bars (widgets in Jupyter): one over the shards and, for local runs
        (sequential or processes), one per running chain showing its NUTS iterations
        (warm-up + draws). On a Dask cluster only the shard bar is shown.
    warn : bool
        Also raise each convergence problem as a :class:`ConvergenceWarning`.

    Returns
    -------
    xarray.DataTree
        See the module documentation for the layout.

    Raises
    ------
    ValueError
        For invalid inputs (names, bounds, priors, shard settings, an NLSQ result of
        another model or one that failed).
    CMCWorkerError
        When a worker process dies or cannot start (the call never waits on a dead worker).
    """
    t_start = time.perf_counter()
    mdl = get_model(model)
    _check_int("num_warmup", num_warmup, 0)
    _check_int("num_samples", num_samples, 4)
    _check_int("num_chains", num_chains, 2)  # R-hat compares chains
    _check_int("max_tree_depth", max_tree_depth, 1)
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    if not (np.isfinite(init_radius) and init_radius > 0):
        raise ValueError(f"init_radius must be finite and > 0, got {init_radius}")
    if combine not in ("consensus", "parametric"):
        raise ValueError(f"combine must be 'consensus' or 'parametric', got {combine!r}")
    if not isinstance(thresholds, Thresholds):
        raise TypeError("thresholds must be an xpcsnb.fit.diagnostics.Thresholds")

    reference = read_nlsq(nlsq, mdl) if nlsq is not None else None
    as_fitted = all(v is None for v in (scaling, fixed, contrast, offset))  # the NLSQ fit's own problem
    if reference is not None:
        scaling, fixed, bounds, contrast, offset = reference.problem_options(scaling, fixed, bounds, contrast, offset)
    problem = build_problem(ds, mdl, scaling=scaling or "individual", bounds=bounds, fixed=fixed,
                            contrast=contrast, offset=offset)
    if reference is not None and as_fitted:
        check_fitted_on(problem, reference, nlsq)
    if problem.n_free == 0:
        raise ValueError("there is no free parameter to sample")
    n_points = problem.n_data
    S = default_shard_count(n_points, points_per_shard) if n_shards is None else n_shards
    _check_int("n_shards", S, 1)
    if combine == "consensus" and S > 1 and num_chains * num_samples <= problem.n_free + 1:
        raise ValueError(f"consensus needs more draws per shard ({num_chains * num_samples}) than parameters "
                         f"({problem.n_free + 1}) to estimate the shard covariances")

    prior_map = seeded_priors(problem.model, problem.names, problem.lower, problem.upper,
                              priors=priors, reference=reference, width=prior_width)
    rng = np.random.default_rng(seed)
    shards = make_shards(np.asarray(problem.k), S, by=shard_by, rng=rng)
    check_rows_covered(problem, shards)  # before the (possibly long) internal NLSQ fit and the sampling
    if reference is None:
        reference = solve_reference(problem)
    spec, ref_source = build_spec(problem, prior_map, reference, S)

    key = jax.random.key(seed)
    k_shards, k_combine = jax.random.split(key)
    shard_keys = np.asarray(jax.random.key_data(jax.random.split(k_shards, S)))
    sampler = Sampler(num_warmup, num_samples, num_chains, dense_mass, float(target_accept), max_tree_depth,
                      float(init_radius))
    tasks = shard_tasks(problem, spec, sampler, shards, shard_keys)
    results, executor = executors.run_tasks(tasks, parallel=parallel, n_workers=n_workers, client=client,
                                            progress=progress)

    combined = combine_draws(results, spec, combine, k_combine)
    return assemble(ds, problem, spec, prior_map, results, combined, thresholds, warn, {
        "n_shards": S, "shard_by": shard_by, "combine": combine, "seed": int(seed),
        "num_warmup": num_warmup, "num_samples": num_samples, "num_chains": num_chains,
        "dense_mass": int(dense_mass), "target_accept": float(target_accept), "max_tree_depth": max_tree_depth,
        "init_radius": float(init_radius), "executor": executor, "reparametrisation_from": ref_source,
        "prior_width_nlsq": float(prior_width), "n_points": int(n_points),
        "wall_time_s": time.perf_counter() - t_start,
    })
