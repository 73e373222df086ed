r"""CMC (sharded NumPyro NUTS) on g2 problems: one posterior per ROI, through the two-time CMC machinery.

Each ROI's :class:`~xpcsnb.fit.g2problem.G2Problem` is presented to the CMC package as
point data (:class:`G2Points`: the valid (τ, ROI) points with ``predict_at``), so the
same priors (:func:`~xpcsnb.fit.cmc.reference.seeded_priors`), whitened sampling
coordinates (:func:`~xpcsnb.fit.cmc.reparam.build_spec`), shards, NUTS runner,
executors and consensus combination serve g2 fits. The likelihood is
Normal(g2 | model, g2_err) (or a sampled ``noise_sd`` without ``g2_err``); the priors are
the model's registry priors, or, with ``nlsq=``, truncated normals at the NLSQ value of
each ROI (sd ``prior_width`` × stderr). A g2 curve has tens of points, so one shard per
ROI is the default, and the ROIs share one compiled NUTS chain (:mod:`xpcsnb.fit.g2nuts`).
With ``rate_law=`` the joint fit over q is sampled instead (``xpcsnb.fit.g2jointcmc``).

Result
------
An :class:`xarray.DataTree`: ``/posterior`` (roi, chain, draw) for every free parameter
(and the model's derived quantities, e.g. ``gamma_fast``); ``/diagnostics`` ``r_hat``,
``ess_bulk``, ``ess_tail`` (roi, param), ``divergences`` (roi); ``/summary`` mean, sd
and 90 % interval (roi, param). Root attrs: ``model``, ``model_kind`` ("g2"),
``q_mode`` ("independent"), sampler settings, ``warnings`` ("" when every ROI passed
the thresholds of :mod:`xpcsnb.fit.diagnostics`) and ``converged``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401
from .._version import __version__
from .._warn import warn as _warn
from ..core.errors import G2Error
from ..core.g2 import validate_g2
from ..core.status import Status
from ..models.base import Model
from ..models.registry import Prior
from .diagnostics import THRESHOLDS, ConvergenceWarning, Thresholds, convergence_warnings, shard_diagnostics
from .g2nlsq import VAR, check_fitted_on, solve_all
from .g2problem import G2Problem, build_g2_problems, check_g2_model
from .priors import NLSQ_PRIOR_WIDTH
from .result import nlsq_name
from .spec import as_spec

__all__ = ["G2Points", "fit_g2_cmc"]


@dataclass(frozen=True)
class G2Points:
    """One ROI's g2 problem as the point data the CMC package samples (its FitProblem protocol).

    ``i`` is the lag index of each valid point, ``k`` the ROI row (0), ``j`` = ``i``
    (there is no second time); ``y``/``sigma`` the data and their errors there.
    """

    problem: G2Problem
    model: Model
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    x0: np.ndarray
    has_sigma: bool
    y: Any
    sigma: Any
    i: Any
    j: Any
    k: Any
    fixed_physics: dict[str, float]
    scaling: str = "none"
    n_q: int | None = None

    @classmethod
    def of(cls, problem: G2Problem) -> "G2Points":
        w = np.asarray(problem.w)
        k, i = np.nonzero(w > 0)
        y = np.asarray(problem.y)[k, i]
        sigma = 1.0 / w[k, i] if problem.has_sigma else np.ones_like(y)
        return cls(problem, problem.model, problem.names, problem.lower, problem.upper, problem.x0,
                   problem.has_sigma, jnp.asarray(y), jnp.asarray(sigma), jnp.asarray(i, dtype=jnp.int32),
                   jnp.asarray(i, dtype=jnp.int32), jnp.asarray(k, dtype=jnp.int32), dict(problem.fixed_physics))

    @property
    def n_free(self) -> int:
        return len(self.names)

    @property
    def n_data(self) -> int:
        return int(np.asarray(self.y).shape[0])

    @property
    def n_physics_free(self) -> int:
        return self.n_free

    def predict_at(self, x: Any, i: Any, j: Any, k: Any) -> jnp.ndarray:
        """Model g2 at lag indices ``i`` of ROI rows ``k``, shape (n,)."""
        return self.problem.predict(x)[k, i]

    def predict(self, x: Any) -> jnp.ndarray:
        return self.predict_at(x, self.i, self.j, self.k)

    def residuals(self, x: Any) -> jnp.ndarray:
        return (self.y - self.predict(x)) / self.sigma

    def numbers(self) -> dict[str, Any]:
        """None of a g2 problem's numbers is traced (see :mod:`xpcsnb.fit.cmc.traced`): its fixed values,
        parameter positions and lags are all in :meth:`structure`."""
        return {}

    def with_numbers(self, numbers: Mapping[str, Any]) -> "G2Points":
        return self

    def structure(self) -> tuple[Any, ...]:
        """What ROIs must share for one compiled chain to serve them: the model, the fixed values,
        parameter positions, lags, and the rate law with the ROIs' q (q enters a rate law only)."""
        pr = self.problem
        law = (pr.law_index, pr.q) if pr.law_col >= 0 else ()
        arrays = (np.asarray(a) for a in (pr.consts, pr.index, pr.tau, *law))
        return (pr.model.name, pr.model.signal, self.names, pr.law_col, self.has_sigma,
                tuple((a.dtype.str, a.shape, a.tobytes()) for a in arrays))


def _reference(res: xr.Dataset | None, r: int, pr: G2Problem, sol: Any) -> Any:
    """The NLSQ reference of ROI r: from ``res`` (seeds the priors) or the internal solution ``sol``."""
    from .cmc.reference import NlsqReference

    names = list(pr.names)
    if res is None:
        if not np.all(np.isfinite(sol.x)):
            return None
        return NlsqReference(names=tuple(names), values=np.asarray(sol.x), stderr=np.asarray(sol.stderr),
                             covariance=np.asarray(sol.cov), source=f"internal NLSQ fit ({sol.status.name})",
                             seeds_priors=False, scaling="none")
    one = res.isel(roi=r)
    if not bool(one[nlsq_name(VAR, "success")]):
        raise G2Error(f"the NLSQ result failed for ROI {r} ({one[nlsq_name(VAR, 'message')].values}); it cannot seed "
                      "the priors: refit it, or leave it out of rois=")
    coef = one[nlsq_name(VAR, "coefficients")].sel(param=names).values
    err = one[nlsq_name(VAR, "stderr")].sel(param=names).values
    cov = one[nlsq_name(VAR, "covariance")].sel(cov_i=names, cov_j=names).values
    return NlsqReference(names=tuple(names), values=np.asarray(coef, float), stderr=np.asarray(err, float),
                         covariance=np.asarray(cov, float), source="nlsq= result", seeds_priors=True,
                         scaling="none")


def fit_g2_cmc(
    ds: xr.Dataset,
    model: str | Model,
    *,
    nlsq: xr.Dataset | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    fixed: Mapping[str, float] | None = None,
    priors: Mapping[str, Prior] | None = None,
    prior_width: float = NLSQ_PRIOR_WIDTH,
    rois: Sequence[int] | None = None,
    rate_law: str | None = None,
    p: float | None = None,
    num_warmup: int = 300,
    num_samples: int = 500,
    num_chains: int = 2,
    dense_mass: bool = True,
    target_accept: float = 0.8,
    max_tree_depth: int = 8,
    init_radius: float = 2.0,
    seed: int = 0,
    thresholds: Thresholds = THRESHOLDS,
    progress: bool = False,
    warn: bool = True,
) -> xr.DataTree:
    """Posterior of a g2 model for each ROI by NUTS (the CMC machinery, one shard per ROI).

    Parameters
    ----------
    ds : xarray.Dataset
        A g2 Dataset (:func:`xpcsnb.g2`).
    model : str or G2Model
        A g2 model (the same as ``nlsq``'s).
    nlsq : xarray.Dataset, optional
        A g2 NLSQ result of the same model (``g2.xpcs.fit_nlsq``): seeds each ROI's priors
        and the sampler's coordinates (its bounds and fixed parameters are used unless
        given here). Without it, an internal NLSQ fit centres the sampler.
    bounds, fixed : dict, optional
        As in :func:`xpcsnb.fit.g2nlsq.fit_g2_nlsq`.
    priors : dict, optional
        ``{name: Prior}`` overriding the priors of every ROI.
    prior_width : float
        Width of the NLSQ-seeded priors in NLSQ standard errors.
    rois : sequence of int, optional
        Positions of the ROIs to sample (default all; with ``nlsq=`` every ROI whose NLSQ fit succeeded,
        the others named in a warning and in ``attrs["rois_not_sampled"]``).
    rate_law : {None, "diffusive", "power"}
        Sample the joint fit over q with Γ(q) = D·q² or D·q^p instead
        (``xpcsnb.fit.g2jointcmc``; centred by an internal joint NLSQ fit, so ``nlsq=``
        and ``rois=`` are refused).
    p : float, optional
        Exponent held fixed with ``rate_law="power"``.
    num_warmup, num_samples, num_chains, dense_mass, target_accept, max_tree_depth, init_radius, seed
        NUTS settings as in :func:`xpcsnb.fit.cmc.fit_cmc`.
    thresholds : Thresholds
        Convergence limits.
    progress : bool
        tqdm bars.
    warn : bool
        Also raise each convergence problem as a :class:`ConvergenceWarning`.

    Returns
    -------
    xarray.DataTree
        See the module doc.

    Raises
    ------
    G2Error
        For a Dataset that is not g2, a two-time model, an NLSQ result of another model or
        of another Dataset, or a failed NLSQ fit of a sampled ROI.
    """
    from .cmc.reference import seeded_priors
    from .cmc.reparam import build_spec
    from .cmc.shards import Sampler
    from .g2nuts import ChainRunner, padded_data

    t_start = time.perf_counter()
    validate_g2(ds)
    mdl = check_g2_model(model)
    for name, v, lo in (("num_samples", num_samples, 4), ("num_chains", num_chains, 2), ("num_warmup", num_warmup, 0)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise G2Error(f"{name} must be an integer >= {lo}, got {v!r}")
    if nlsq is not None:
        if not isinstance(nlsq, xr.Dataset) or nlsq_name(VAR, "coefficients") not in nlsq:
            raise G2Error("nlsq= must be a g2 NLSQ result (g2.xpcs.fit_nlsq(...)) with 'g2_nlsq_coefficients'")
        if nlsq.attrs.get("model") != mdl.name:
            raise G2Error(f"nlsq= is a fit of model {nlsq.attrs.get('model')!r}, not {mdl.name!r}")
        if nlsq.attrs.get("q_mode") != "independent":
            raise G2Error("nlsq= is a joint (rate-law) fit; g2 CMC samples each ROI: seed it with an independent fit")
        if nlsq.sizes["roi"] != ds.sizes["roi"]:
            raise G2Error(f"nlsq= has {nlsq.sizes['roi']} ROIs but the Dataset has {ds.sizes['roi']}")
        check_fitted_on(ds, nlsq, "nlsq=")
        if bounds is None:
            lo_, hi_ = nlsq[nlsq_name(VAR, "lower")].isel(roi=0), nlsq[nlsq_name(VAR, "upper")].isel(roi=0)
            vary = nlsq[nlsq_name(VAR, "vary")].isel(roi=0).values
            bounds = {str(n): (float(a), float(b)) for n, a, b, v in
                      zip(nlsq["param"].values, lo_.values, hi_.values, vary) if v}
        if fixed is None:
            vary = nlsq[nlsq_name(VAR, "vary")].isel(roi=0).values
            coef = nlsq[nlsq_name(VAR, "coefficients")].isel(roi=0).values
            fixed = {str(n): float(c) for n, c, v in zip(nlsq["param"].values, coef, vary)
                     if not v and n in mdl.parameter_names}
    spec = as_spec(None, bounds=bounds, fixed=fixed)
    sampler = Sampler(num_warmup, num_samples, num_chains, dense_mass, float(target_accept), max_tree_depth,
                      float(init_radius))
    if rate_law is not None:
        if nlsq is not None or rois is not None:
            raise G2Error("a joint g2 CMC (rate_law=) samples every ROI and is centred by its own joint NLSQ fit: "
                          "drop nlsq= and rois=")
        from .g2jointcmc import sample_joint

        (joint,) = build_g2_problems(ds, mdl, spec, rate_law=rate_law, p=p)
        post, diag, summary, msgs, source = sample_joint(joint, ds, sampler, priors=priors, seed=seed,
                                                         thresholds=thresholds, progress=progress)
        if warn:
            for m in msgs:
                warnings.warn(m, ConvergenceWarning, stacklevel=2)
        return _tree(post, diag, summary, msgs, mdl, joint, sampler, seed,
                     f"priors= or registry, D lognormal around the joint NLSQ value; sampler centred by the {source}",
                     t_start, q_mode="joint", rate_law=rate_law)
    if p is not None:
        raise G2Error("p= is the exponent of a rate law; pass rate_law='power' with it")
    problems = build_g2_problems(ds, mdl, spec)
    chosen = list(range(len(problems))) if rois is None else [int(r) for r in rois]
    if not chosen or any(not 0 <= r < len(problems) for r in chosen):
        raise G2Error(f"rois must be positions 0 … {len(problems) - 1}, got {rois!r}")
    skipped: list[int] = []
    if nlsq is not None and rois is None:  # every ROI whose NLSQ fit can seed its priors
        ok = nlsq[nlsq_name(VAR, "success")].values.astype(bool)
        skipped = [r for r in chosen if not ok[r]]
        chosen = [r for r in chosen if ok[r]]
        if not chosen:
            raise G2Error("the NLSQ fit of every ROI in nlsq= failed, so none can seed the priors: refit "
                          "(other bounds=, fixed=, another model), or drop nlsq= to centre each ROI by its own fit")
        if skipped:
            codes = nlsq[nlsq_name(VAR, "status")].values
            why = [f"{r} ({Status(int(codes[r])).name})" for r in skipped]
            _warn(f"ROI(s) at position(s) {', '.join(why)} not sampled: their NLSQ fit in nlsq= failed, so it cannot "
                  "seed their priors; the others are. Refit them (other bounds=, fixed=) or choose ROIs with rois=")
    for r in chosen:
        if problems[r].n_data <= problems[r].n_free:
            raise G2Error(f"ROI {r} has {problems[r].n_data} valid point(s) for {problems[r].n_free} parameter(s); "
                          "drop it (rois=)")
    internal: dict[int, Any] = {}
    if nlsq is None:  # the internal NLSQ fits centring the sampler, all ROIs at once (lockstep)
        _, sols = solve_all([problems[r] for r in chosen], {})
        internal = dict(zip(chosen, sols))
    keys = jax.random.split(jax.random.key(seed), len(problems))
    prepared = []
    for r in chosen:
        pr = problems[r]
        pts = G2Points.of(pr)
        reference = _reference(nlsq, r, pr, internal.get(r))
        prior_map = seeded_priors(mdl, pts.names, pts.lower, pts.upper, priors=priors, reference=reference,
                                  width=prior_width)
        sspec, _ = build_spec(pts, prior_map, reference, 1, follow_rate_laws=False)  # one shard: a curve is small
        prepared.append((r, pr, pts, sspec))
    size = max(pts.n_data for _, _, pts, _ in prepared)  # every ROI padded to one length: one compiled chain
    runner = ChainRunner(sampler)
    posts, diags = [], []
    messages: list[str] = []
    rois_iter: Any = prepared
    if progress:
        from tqdm.auto import tqdm

        rois_iter = tqdm(prepared, desc="g2 CMC ROIs")
    for r, pr, pts, sspec in rois_iter:
        data = padded_data(pts, size)
        chain_keys = jax.random.split(jax.random.split(keys[r])[0], num_chains)
        per_chain, sites = [], []
        for c in range(num_chains):
            out, _, finite, site = runner(sspec, chain_keys[c], data)
            if not bool(finite):
                raise FloatingPointError(f"ROI {r}, chain {c}: the log-density is not finite at the end of sampling; "
                                         "check the data, bounds and priors")
            per_chain.append([np.asarray(a) for a in out])
            sites.append({n: np.asarray(v) for n, v in site.items()})
        _, energy, n_steps, accept, diverging, potential = (np.stack(a) for a in zip(*per_chain))
        draws = {n: np.stack([s_[n] for s_ in sites]) for n in sites[0]}
        post = _posterior(mdl, pr, draws)
        stats = xr.Dataset({n: (("chain", "draw"), v) for n, v in {
            "energy": energy, "n_steps": n_steps, "acceptance_rate": accept, "diverging": diverging,
            "lp": -potential}.items()})
        diag = shard_diagnostics(post[list(pts.names)], stats)
        msgs = convergence_warnings(diag.expand_dims(shard=[0]), thresholds, n_draws=num_chains * num_samples)
        messages += [f"ROI {r}: {m}" for m in msgs]
        posts.append(post)
        diags.append(diag)
    if warn:
        for m in messages:
            warnings.warn(m, ConvergenceWarning, stacklevel=2)
    roi = ds["roi"].values[chosen]
    posterior = xr.concat(posts, dim="roi").assign_coords(roi=("roi", roi))
    diagnostics = xr.concat(diags, dim="roi").assign_coords(roi=("roi", roi))
    for c in ("q", "phi"):
        if c in ds.coords:
            posterior = posterior.assign_coords({c: ("roi", ds[c].values[chosen], ds[c].attrs)})
    flat = posterior.stack(sample=("chain", "draw"))
    names = list(posterior.data_vars)
    arr = np.stack([flat[n].transpose("roi", "sample").values for n in names], axis=1)  # (roi, param, sample)
    summary = xr.Dataset({
        "mean": (("roi", "param"), arr.mean(-1)), "sd": (("roi", "param"), arr.std(-1, ddof=1)),
        "eti90_lb": (("roi", "param"), np.quantile(arr, 0.05, axis=-1)),
        "eti90_ub": (("roi", "param"), np.quantile(arr, 0.95, axis=-1)),
    }, coords={"roi": roi, "param": names})
    source = "nlsq= result" if nlsq is not None else "registry (sampler centred by an internal NLSQ fit)"
    tree = _tree(posterior, diagnostics, summary, messages, mdl, problems[0], sampler, seed, source, t_start,
                 q_mode="independent", rate_law=None)
    if skipped:
        tree.attrs["rois_not_sampled"] = f"{ds['roi'].values[skipped].tolist()} (their NLSQ fit in nlsq= failed)"
    return tree



def _tree(posterior: xr.Dataset, diagnostics: xr.Dataset, summary: xr.Dataset, messages: list[str], mdl: Model,
          problem: G2Problem, sampler: Any, seed: int, source: str, t_start: float, *, q_mode: str,
          rate_law: str | None) -> xr.DataTree:
    tree = xr.DataTree.from_dict({"posterior": posterior, "diagnostics": diagnostics, "summary": summary})
    tree.attrs = {
        "inference_library": "numpyro",
        "engine": ("xpcsnb CMC machinery (NumPyro NUTS), one shard per ROI, one compiled chain for all ROIs"
                   if q_mode == "independent" else "xpcsnb CMC machinery (NumPyro NUTS), one shard of all ROIs"),
        "model": mdl.name, "model_kind": "g2", "q_mode": q_mode,
        "likelihood": "Normal(g2, g2_err)" if problem.has_sigma else "Normal(g2, noise_sd), noise_sd sampled",
        "num_warmup": sampler.num_warmup, "num_samples": sampler.num_samples, "num_chains": sampler.num_chains,
        "seed": int(seed), "priors_from": source,
        "warnings": "\n".join(messages), "converged": int(not messages),
        "wall_time_s": time.perf_counter() - t_start, "xpcsnb_version": __version__,
    }
    if rate_law is not None:
        tree.attrs["rate_law"] = rate_law
    return tree


def _posterior(mdl: Any, pr: G2Problem, draws: Mapping[str, np.ndarray]) -> xr.Dataset:
    """Draws {name: (chain, draw)} of one ROI, with the model's derived quantities added."""
    units = {p.name: p.unit for p in mdl.parameters}
    data = {n: (("chain", "draw"), np.asarray(draws[n]), {"units": units.get(n, "1")}) for n in pr.names}
    if "noise_sd" in draws:
        data["noise_sd"] = (("chain", "draw"), np.asarray(draws["noise_sd"]), {"units": "1"})
    if mdl.derived:
        x = np.stack([np.asarray(draws[n]) for n in pr.names], axis=-1)
        shape = x.shape[:2]
        rep = np.asarray(jax.vmap(pr.reported)(jnp.asarray(x.reshape(-1, x.shape[-1]))))[:, 0, :]
        for a, d in enumerate(mdl.derived):
            data[d.parameter.name] = (("chain", "draw"), rep[:, len(mdl.parameters) + a].reshape(shape),
                                      {"units": d.parameter.unit})
    return xr.Dataset(data, coords={"chain": np.arange(next(iter(draws.values())).shape[0]),
                                    "draw": np.arange(next(iter(draws.values())).shape[1])})
