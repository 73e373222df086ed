"""Combination of the shard draws (consensus) and the result DataTree (ArviZ 1.x layout).

The shard draws are combined by NumPyro's :func:`numpyro.infer.hmc_util.consensus`
(Scott et al. 2016: the covariance-weighted average of draws with the same index;
``combine="consensus"``) or :func:`~numpyro.infer.hmc_util.parametric_draws` (Gaussian
product; ``combine="parametric"``). The shards share the sampler's coordinates, so the
combination is done in z (affine in the whitened coordinates, where the shard posteriors
are closest to Gaussian, which is what consensus assumes); the combined draws are then
mapped back to physical units and therefore lie inside the bounds.

Result layout::

    /posterior            combined draws (chain, draw): physics parameters by registry
                          name; contrast, offset with a ``phi`` dim, or (q, phi) for a
                          multi-q Dataset (scaling="individual"), scalars
                          (scaling="shared"); noise_sd when sampled
    /shard_<s>/posterior, /shard_<s>/sample_stats   (energy, diverging, acceptance_rate,
                          n_steps, lp, step_size)
    /diagnostics          r_hat, ess_bulk, ess_tail (shard, param); divergences (shard);
                          bfmi (shard, chain)
    /summary              mean, sd, 90 % equal-tailed interval of the combined draws and
                          the worst shard R-hat / ESS per parameter
    /constant_data        fixed parameters (when any)

References
----------
S. L. Scott et al., "Bayes and big data: the consensus Monte Carlo algorithm",
Int. J. Manag. Sci. Eng. Manag. 11, 78 (2016), doi:10.1080/17509653.2016.1142191.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ..._warn import warn as _warn
from ... import _jax  # noqa: F401
from ..._version import __version__
from ...core.status import Status
from ...models import registry
from ...models.base import Model
from ...models.scaling import base_name
from ..diagnostics import (
    ConvergenceWarning,
    Thresholds,
    convergence_warnings,
    flatten_draws,
    shard_diagnostics,
    stack_diagnostics,
)
from ..priors import BoundedPrior
from ..problem import FitProblem
from .nuts import NOISE_PRIOR_SCALE, physical_draws
from .reparam import Spec

__all__ = ["combine", "assemble"]


def combine(results: list[dict[str, Any]], spec: Spec, method: str, key: jax.Array) -> dict[str, np.ndarray]:
    """Combined draws {name: (chain, draw, ...)} in physical units from the shards' whitened draws."""
    from numpyro.infer.hmc_util import consensus, parametric_draws

    chains, draws, dim = results[0]["z"].shape
    subs = [{"z": jnp.asarray(r["z"].reshape(chains * draws, dim))} for r in results]
    if len(subs) == 1:
        z = subs[0]["z"]
    elif method == "consensus":
        z = consensus(subs, diagonal=False)["z"]
    else:
        z = parametric_draws(subs, chains * draws, diagonal=False, rng_key=key)["z"]

    out = physical_draws(spec, z)
    return {n: v.reshape((chains, draws) + v.shape[1:]) for n, v in out.items()}


def _units(model: Model, name: str) -> str:
    if name == "noise_sd":
        return "1"
    return registry.get(model, base_name(name)).unit


def _row_coords(problem: FitProblem, phi: np.ndarray) -> dict[str, Any]:
    coords: dict[str, Any] = {"phi": ("phi", phi, {"units": "deg"})}
    if problem.n_q is not None:
        coords["q"] = ("q", np.asarray(problem.info["q"], dtype=float), {"units": "1/Å"})
    return coords


def _posterior_dataset(sites: Mapping[str, np.ndarray], model: Model, problem: FitProblem, phi: np.ndarray,
                       order: Sequence[str]) -> xr.Dataset:
    """Draws {name: (chain, draw[, row])} as a Dataset; per-row vectors get dims phi or (q, phi)."""
    data = {}
    row_dims = ("phi",) if problem.n_q is None else ("q", "phi")
    for name in order:
        arr = np.asarray(sites[name])
        if arr.ndim == 3:
            if problem.n_q is not None:  # rows are q-major: (chain, draw, n_q·n_phi) → (chain, draw, n_q, n_phi)
                arr = arr.reshape(arr.shape[:2] + (problem.n_q, arr.shape[2] // problem.n_q))
            dims = ("chain", "draw") + row_dims
        else:
            dims = ("chain", "draw")
        data[name] = (dims, arr, {"units": _units(model, name)})
    first = next(iter(sites.values()))
    ds = xr.Dataset(data, coords={"chain": np.arange(first.shape[0]), "draw": np.arange(first.shape[1])})
    if "phi" in ds.dims:
        ds = ds.assign_coords({k: v for k, v in _row_coords(problem, phi).items() if k in ds.dims})
    return ds


def _sample_stats_dataset(r: dict[str, Any]) -> xr.Dataset:
    stats = dict(r["stats"])
    chains, draws = stats["energy"].shape
    stats["step_size"] = np.broadcast_to(r["step_size"][:, None], (chains, draws))
    ds = xr.Dataset({n: (("chain", "draw"), np.asarray(v)) for n, v in stats.items()},
                    coords={"chain": np.arange(chains), "draw": np.arange(draws)})
    ds.attrs["sampling_time_s"] = float(r["elapsed_s"])
    ds.attrs["n_points"] = int(r["n_points"])
    return ds


def _summary_dataset(posterior: xr.Dataset, diag: xr.Dataset, ci_prob: float = 0.9) -> xr.Dataset:
    labels, draws = flatten_draws(posterior)
    flat = draws.reshape(-1, draws.shape[-1])
    lo_q, hi_q = 0.5 * (1 - ci_prob), 0.5 * (1 + ci_prob)
    pct = f"{round(100 * ci_prob):d}"
    out = xr.Dataset(
        {
            "mean": ("param", flat.mean(axis=0)),
            "sd": ("param", flat.std(axis=0, ddof=1)),
            f"eti{pct}_lb": ("param", np.quantile(flat, lo_q, axis=0)),
            f"eti{pct}_ub": ("param", np.quantile(flat, hi_q, axis=0)),
            "r_hat_max": ("param", diag["r_hat"].max("shard").sel(param=labels).values),
            "ess_bulk_min": ("param", diag["ess_bulk"].min("shard").sel(param=labels).values),
            "ess_tail_min": ("param", diag["ess_tail"].min("shard").sel(param=labels).values),
        },
        coords={"param": labels},
    )
    out.attrs["interval"] = f"{pct} % equal-tailed interval of the combined draws"
    out.attrs["diagnostics"] = "r_hat_max / ess_*_min: worst value over the shards (per-shard chains)"
    return out


def assemble(ds: xr.Dataset, problem: FitProblem, spec: Spec, prior_map: Mapping[str, BoundedPrior],
             results: list[dict[str, Any]], combined: dict[str, np.ndarray], thresholds: Thresholds,
             warn: bool, settings: dict[str, Any]) -> xr.DataTree:
    """The result DataTree (see the module doc); ``settings`` become root attrs.

    The convergence verdict is taken on the shards (:mod:`xpcsnb.fit.diagnostics`);
    with ``warn`` each problem is also raised as a :class:`ConvergenceWarning`.
    """
    model = problem.model
    phi = np.asarray(ds["phi"].values, dtype=float)
    order = [name for name, _, _ in spec.layout] + (["noise_sd"] if spec.noise else [])
    posterior = _posterior_dataset(combined, model, problem, phi, order)
    groups: dict[str, xr.Dataset] = {"posterior": posterior}
    per_shard = []
    for s, r in enumerate(results):
        post_s = _posterior_dataset(r["sites"], model, problem, phi, order)
        stats_s = _sample_stats_dataset(r)
        groups[f"shard_{s}/posterior"] = post_s
        groups[f"shard_{s}/sample_stats"] = stats_s
        per_shard.append(shard_diagnostics(post_s, stats_s))
    diag = stack_diagnostics(per_shard)
    n_draws = settings["num_chains"] * settings["num_samples"]
    messages = convergence_warnings(diag, thresholds, n_draws=n_draws)
    if warn:
        for m in messages:
            _warn(m, ConvergenceWarning)
    groups["diagnostics"] = diag
    groups["summary"] = _summary_dataset(posterior, diag)
    const = {n: ((), v, {"units": _units(model, n)}) for n, v in problem.fixed_physics.items()}
    if problem.fixed_scaling is not None:
        row_dims = ("phi",) if problem.n_q is None else ("q", "phi")
        const["contrast"] = (row_dims, problem.rows_to_dataset_shape(problem.fixed_scaling[0]), {"units": "1"})
        const["offset"] = (row_dims, problem.rows_to_dataset_shape(problem.fixed_scaling[1]), {"units": "1"})
    if const:
        groups["constant_data"] = xr.Dataset(const, coords=_row_coords(problem, phi)
                                             if problem.fixed_scaling is not None else None)
    attrs: dict[str, Any] = {
        "inference_library": "numpyro",
        "engine": "xpcsnb consensus Monte Carlo (NumPyro NUTS per shard)",
        "model": model.name,
        "scaling": problem.scaling,
        "support": problem.support,
        "diagonal": "exclude",
        "likelihood": ("Normal(model, sigma) with sigma from the data" if problem.has_sigma else
                       f"Normal(model, noise_sd), noise_sd ~ HalfNormal({NOISE_PRIOR_SCALE:g}) sampled"),
        "prior_tempering": "prior^(1/n_shards) per shard",
        "priors": "\n".join(f"{n}: {bp.describe()}" for n, bp in prior_map.items()),
        "parameters": " ".join(spec.names),
        "q_units": "1/Å",
        "dt": float(problem.info["dt"]), "dt_units": "s",
        "warnings": "\n".join(messages),
        "converged": int(not messages),
        "status": int(Status.NOT_CONVERGED if messages else Status.CONVERGED),
        "status_name": (Status.NOT_CONVERGED if messages else Status.CONVERGED).name,
        "xpcsnb_version": __version__,
        **settings,
        **thresholds.as_attrs(),
    }
    if problem.n_q is None:
        attrs["q"] = float(problem.info["q"])
    else:
        attrs["q_mode"] = "joint (physics shared over q; contrast/offset per (q, phi) row)"
    if problem.info.get("L") is not None:
        attrs["L"], attrs["L_units"] = float(problem.info["L"]), "Å"
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = attrs
    return tree

