"""Convergence diagnostics of the CMC engine: thresholds in one place, warnings as data.

Every shard of a CMC run is an ordinary multi-chain NUTS run, so its R-hat, bulk and
tail ESS (ArviZ 1.x, rank-normalised), divergences and E-BFMI are meaningful; the
combined (consensus) draws are weighted averages of shard draws and are summarised, but
the convergence verdict is taken on the shards.

:data:`THRESHOLDS` holds the one set of default limits (R-hat ≤ 1.01, bulk and tail
ESS ≥ 400, no divergent transition, E-BFMI ≥ 0.3). :func:`convergence_warnings` turns a
diagnostics Dataset into readable sentences that are stored in the result (and raised as
:class:`ConvergenceWarning` by the engine), never only logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr

__all__ = [
    "Thresholds",
    "THRESHOLDS",
    "ConvergenceWarning",
    "flatten_draws",
    "shard_diagnostics",
    "stack_diagnostics",
    "convergence_warnings",
]


@dataclass(frozen=True)
class Thresholds:
    """Limits a converged run must meet.

    Attributes
    ----------
    r_hat_max : float
        Largest acceptable rank-normalised split R-hat.
    ess_min : float
        Smallest acceptable bulk and tail effective sample size (per shard).
    divergences_max : int
        Largest acceptable number of divergent transitions per shard.
    bfmi_min : float
        Smallest acceptable energy Bayesian fraction of missing information per chain.
    """

    r_hat_max: float = 1.01
    ess_min: float = 400.0
    divergences_max: int = 0
    bfmi_min: float = 0.3

    def as_attrs(self) -> dict[str, float]:
        """The limits as a flat dict (for result attrs)."""
        return {f"threshold_{k}": float(v) for k, v in asdict(self).items()}


#: The default limits (R-hat ≤ 1.01, ESS ≥ 400, 0 divergences, E-BFMI ≥ 0.3).
THRESHOLDS = Thresholds()


class ConvergenceWarning(UserWarning):
    """A CMC shard failed a convergence threshold (see :data:`THRESHOLDS`)."""


def flatten_draws(posterior: xr.Dataset) -> tuple[list[str], np.ndarray]:
    """Parameter labels and draws (chain, draw, param) of a posterior Dataset.

    Scalar variables keep their name; a vector variable ``contrast`` (phi) becomes
    ``contrast_0``, ``contrast_1``, ... (the angle index), and one over (q, phi) becomes
    ``contrast_q0_0``, ``contrast_q0_1``, ... (q index, angle index), as in NLSQ results.
    """
    labels: list[str] = []
    cols: list[np.ndarray] = []
    for name, da in posterior.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        arr = da.transpose("chain", "draw", *extra).values
        if not extra:
            labels.append(str(name))
            cols.append(arr)
            continue
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        if extra == ["q", "phi"]:
            n_phi = da.sizes["phi"]
            suffixes = [f"q{idx // n_phi}_{idx % n_phi}" for idx in range(flat.shape[-1])]
        else:
            suffixes = [str(idx) for idx in range(flat.shape[-1])]
        for idx, suffix in enumerate(suffixes):
            labels.append(f"{name}_{suffix}")
            cols.append(flat[..., idx])
    return labels, np.stack(cols, axis=-1)


def _flat_dataset(labels: list[str], values: dict[str, np.ndarray]) -> xr.Dataset:
    return xr.Dataset({k: ("param", v) for k, v in values.items()}, coords={"param": labels})


def shard_diagnostics(posterior: xr.Dataset, sample_stats: xr.Dataset) -> xr.Dataset:
    """R-hat, bulk/tail ESS per parameter; divergences and E-BFMI of one shard.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws with dims (chain, draw, ...).
    sample_stats : xarray.Dataset
        With ``energy`` and ``diverging`` (chain, draw).

    Returns
    -------
    xarray.Dataset
        ``r_hat``, ``ess_bulk``, ``ess_tail`` (param); ``divergences`` (); ``bfmi`` (chain).
    """
    import arviz as az

    labels, draws = flatten_draws(posterior)
    flat = xr.Dataset({lab: (("chain", "draw"), draws[..., n]) for n, lab in enumerate(labels)})
    rhat = az.rhat(flat, method="rank")
    bulk = az.ess(flat, method="bulk")
    tail = az.ess(flat, method="tail")
    out = _flat_dataset(labels, {
        "r_hat": np.array([float(rhat[lab]) for lab in labels]),
        "ess_bulk": np.array([float(bulk[lab]) for lab in labels]),
        "ess_tail": np.array([float(tail[lab]) for lab in labels]),
    })
    out["divergences"] = ((), int(sample_stats["diverging"].values.sum()))
    bfmi = az.bfmi(sample_stats[["energy"]])["energy"].values
    out["bfmi"] = (("chain",), np.asarray(bfmi, dtype=float))
    out["r_hat"].attrs["long_name"] = "rank-normalised split R-hat"
    out["ess_bulk"].attrs["long_name"] = "bulk effective sample size"
    out["ess_tail"].attrs["long_name"] = "tail effective sample size"
    out["divergences"].attrs["long_name"] = "divergent transitions after warm-up"
    out["bfmi"].attrs["long_name"] = "energy Bayesian fraction of missing information"
    return out


def stack_diagnostics(per_shard: Iterable[xr.Dataset]) -> xr.Dataset:
    """Concatenate per-shard diagnostics along a new ``shard`` dimension."""
    per_shard = list(per_shard)
    out = xr.concat(per_shard, dim="shard")
    return out.assign_coords(shard=np.arange(len(per_shard)))


def _list(items: list[str]) -> str:
    return ", ".join(items)


def convergence_warnings(diag: xr.Dataset, thresholds: Thresholds = THRESHOLDS,
                         n_draws: int | None = None) -> list[str]:
    """Readable sentences for every threshold a shard fails.

    Parameters
    ----------
    diag : xarray.Dataset
        Output of :func:`stack_diagnostics` (dims shard, param, chain).
    thresholds : Thresholds
    n_draws : int, optional
        Post-warm-up draws per shard (for the divergence fraction in the message).

    Returns
    -------
    list of str
        Empty when every shard passes.
    """
    out: list[str] = []
    params = [str(p) for p in diag["param"].values]

    def per_param(var: str, bad: np.ndarray, worst: np.ndarray, rel: str, limit: float) -> None:
        hits = [f"{p} ({worst[n]:.4g})" for n, p in enumerate(params) if bad[:, n].any()]
        if hits:
            shards = sorted({int(s) for s in np.flatnonzero(bad.any(axis=1))})
            out.append(f"{var} {rel} {limit:g} in shard(s) {shards} for {_list(hits)} (worst value per parameter)")

    r = diag["r_hat"].transpose("shard", "param").values
    per_param("R-hat", ~(r <= thresholds.r_hat_max), np.nanmax(r, axis=0), ">", thresholds.r_hat_max)
    for name in ("ess_bulk", "ess_tail"):
        e = diag[name].transpose("shard", "param").values
        per_param(name, ~(e >= thresholds.ess_min), np.nanmin(e, axis=0), "<", thresholds.ess_min)
    div = diag["divergences"].values
    for s in np.flatnonzero(div > thresholds.divergences_max):
        of = f" of {n_draws} draws" if n_draws else ""
        out.append(f"shard {s}: {int(div[s])} divergent transitions{of} (limit {thresholds.divergences_max}); "
                   "raise target_accept or check the priors/bounds")
    b = diag["bfmi"].transpose("shard", "chain").values
    for s, c in zip(*np.nonzero(~(b >= thresholds.bfmi_min))):
        out.append(f"shard {s}, chain {c}: E-BFMI {b[s, c]:.3g} < {thresholds.bfmi_min:g} "
                   "(the momentum resampling explores the energy poorly)")
    return out
