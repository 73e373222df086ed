r"""Joint g2 CMC over q with a rate law: one posterior of D (and p), shared and per-ROI parameters.

The joint :class:`~xpcsnb.fit.g2problem.G2Problem` of ``rate_law="diffusive" | "power"``
(Γ_r = D·q_r^p, per-ROI ``baseline_r<k>``/``contrast_r<k>``, shared parameters such as
``stretch``) is sampled as one shard by the CMC machinery: its valid (τ, ROI) points are
the point data (:class:`~xpcsnb.fit.g2cmc.G2Points`), the sampler is centred and
whitened by the full covariance of an internal joint NLSQ fit, and the likelihood is
Normal(g2 | model, g2_err) (a sampled ``noise_sd`` without ``g2_err``).

Priors: a user prior (``priors=``, by exact or base name: ``"contrast"`` for every ROI);
else for ``D`` [Å^p/s] a lognormal centred on the NLSQ value with a log-sd of
:data:`D_LOG_SD` (two decades either side at 1 sd), for ``p`` uniform on its bounds, and
for the model's parameters their registry priors.

Result: an :class:`xarray.DataTree` like :func:`~xpcsnb.fit.g2cmc.fit_g2_cmc`'s:
``/posterior`` with ``D``, ``p`` (when free) and the shared parameters (chain, draw), the
per-ROI parameters and the rate Γ_r (under the model's rate name) (roi, chain, draw);
``/diagnostics`` per free parameter; ``/summary`` mean, sd and 90 % interval of every
variable (param; per-ROI ones as ``<name>_r<k>``). Attrs ``q_mode="joint"``,
``rate_law``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401
from ..core.errors import G2Error
from ..models.registry import Prior
from .diagnostics import Thresholds, convergence_warnings, shard_diagnostics
from .g2nlsq import solve_all
from .g2problem import G2Problem
from .priors import BoundedPrior

__all__ = ["D_LOG_SD", "joint_priors", "sample_joint"]

#: Log-sd of the default lognormal prior of the rate-law prefactor D around its NLSQ value.
D_LOG_SD = 4.6

_PER_ROI = re.compile(r"^(?P<base>.+)_r(?P<k>\d+)$")


def _base(name: str) -> str:
    m = _PER_ROI.match(name)
    return m["base"] if m else name


def joint_priors(problem: G2Problem, x_nlsq: np.ndarray, priors: Mapping[str, Prior] | None) -> dict[str, BoundedPrior]:
    """The prior of every free parameter of a joint problem (module doc)."""
    priors = dict(priors or {})
    names = list(problem.names)
    known = set(names) | {_base(n) for n in names}
    unknown = [k for k in priors if k not in known]
    if unknown:
        raise G2Error(f"priors= names {unknown}, which are not free parameters of this joint fit; it has {names}")
    table = {p.name: p for p in problem.model.parameters}
    out = {}
    for a, n in enumerate(names):
        lo, hi = float(problem.lower[a]), float(problem.upper[a])
        b = _base(n)
        if n in priors or b in priors:
            prior, source = priors.get(n, priors.get(b)), "user"
        elif n == "D":
            prior, source = Prior("lognormal", float(np.log(x_nlsq[a])), D_LOG_SD), "nlsq-centred"
        elif n == "p":
            prior, source = Prior("uniform"), "default"
        else:
            prior, source = table[b].prior, "registry"
        out[n] = BoundedPrior(prior, lo, hi, source)
        out[n].distribution()  # refuses an improper prior or one without mass in the bounds, naming nothing yet
    return out


def sample_joint(problem: G2Problem, ds: xr.Dataset, sampler: Any, *, priors: Mapping[str, Prior] | None,
                 seed: int, thresholds: Thresholds, progress: bool) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset,
                                                                              list[str], str]:
    """Posterior, diagnostics, summary, convergence messages and the reference's source of a joint fit."""
    from .cmc import executors
    from .cmc.assemble import combine
    from .cmc.reference import NlsqReference
    from .cmc.reparam import build_spec
    from .cmc.shards import shard_tasks
    from .g2cmc import G2Points

    if problem.n_data <= problem.n_free:
        raise G2Error(f"{problem.n_data} valid point(s) for {problem.n_free} parameter(s): nothing to sample")
    (_,), (sol,) = solve_all([problem], {})
    if not np.all(np.isfinite(sol.x)):
        raise G2Error(f"the internal joint NLSQ fit failed ({sol.message}); it must centre the sampler")
    ref = NlsqReference(names=problem.names, values=np.asarray(sol.x), stderr=np.asarray(sol.stderr),
                        covariance=np.asarray(sol.cov), source=f"internal joint NLSQ fit ({sol.status.name})",
                        seeds_priors=False, scaling="none")
    try:
        prior_map = joint_priors(problem, np.asarray(sol.x), priors)
    except ValueError as exc:
        raise G2Error(f"joint g2 CMC priors: {exc}") from exc
    pts = G2Points.of(problem)
    spec, source = build_spec(pts, prior_map, ref, 1, follow_rate_laws=False)
    k_shard, k_comb = jax.random.split(jax.random.key(seed))
    tasks = shard_tasks(pts, spec, sampler, [np.arange(pts.n_data)], np.asarray(jax.random.key_data(k_shard))[None])
    results, _ = executors.run_tasks(tasks, parallel=False, n_workers=None, client=None, progress=progress)
    draws = combine(results, spec, "consensus", k_comb)
    flat = xr.Dataset({n: (("chain", "draw"), np.asarray(draws[n])) for n in problem.names})
    stats = xr.Dataset({n: (("chain", "draw"), np.asarray(v)) for n, v in results[0]["stats"].items()})
    diag = shard_diagnostics(flat, stats)
    msgs = convergence_warnings(diag.expand_dims(shard=[0]), thresholds,
                                n_draws=sampler.num_chains * sampler.num_samples)
    post = _posterior(problem, ds, draws)
    summary = _summary(post)
    return post, diag, summary, msgs, source


def _posterior(problem: G2Problem, ds: xr.Dataset, draws: Mapping[str, np.ndarray]) -> xr.Dataset:
    mdl = problem.model
    units = {p.name: p.unit for p in mdl.parameters}
    law = problem.info["law_parameters"]
    names = list(problem.names)
    n_roi = problem.y.shape[0]
    chains, n_draw = np.asarray(draws[names[0]]).shape
    x = np.stack([np.asarray(draws[n]) for n in names], axis=-1).reshape(-1, len(names))
    theta = np.asarray(jax.vmap(problem.theta)(x))  # (sample, roi, P): every ROI's model parameters
    data: dict[str, Any] = {}
    for n in names:
        if _PER_ROI.match(n) is None:
            unit = law[n].unit if n in law else units.get(n, "1")
            data[n] = (("chain", "draw"), np.asarray(draws[n]), {"units": unit})
    for c, prm in enumerate(mdl.parameters):
        if prm.name in mdl.per_roi or c == problem.law_col:
            arr = theta[:, :, c].T.reshape(n_roi, chains, n_draw)
            data[prm.name] = (("roi", "chain", "draw"), arr, {"units": prm.unit})
    if "noise_sd" in draws:
        data["noise_sd"] = (("chain", "draw"), np.asarray(draws["noise_sd"]), {"units": "1"})
    coords: dict[str, Any] = {"roi": ds["roi"].values, "chain": np.arange(chains), "draw": np.arange(n_draw)}
    for c in ("q", "phi"):
        if c in ds.coords:
            coords[c] = ("roi", ds[c].values, ds[c].attrs)
    return xr.Dataset(data, coords=coords)


def _summary(post: xr.Dataset) -> xr.Dataset:
    cols: dict[str, np.ndarray] = {}
    for n, v in post.data_vars.items():
        if "roi" in v.dims:
            for k in range(v.sizes["roi"]):
                cols[f"{n}_r{k}"] = v.isel(roi=k).values.ravel()
        else:
            cols[n] = v.values.ravel()
    names = list(cols)
    arr = np.stack([cols[n] for n in names])
    return xr.Dataset({"mean": ("param", arr.mean(-1)), "sd": ("param", arr.std(-1, ddof=1)),
                       "eti90_lb": ("param", np.quantile(arr, 0.05, axis=-1)),
                       "eti90_ub": ("param", np.quantile(arr, 0.95, axis=-1))}, coords={"param": names})
