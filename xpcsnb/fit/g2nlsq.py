r"""NLSQ fits of one-time g2 Datasets: every ROI independently, or all ROIs jointly with Γ(q) = D·q^p.

Both modes build :class:`~xpcsnb.fit.g2problem.G2Problem` objects and solve them with
the engine of the two-time fits (:func:`xpcsnb.fit.nlsq.solve`: bounded trust region,
exact JAX Jacobians, the same :class:`~xpcsnb.fit.solution.Solution` and
:class:`~xpcsnb.core.status.Status`).

``q_mode="independent"`` (default)
    One solve per ROI. The per-ROI problems have identical shapes (excluded points keep
    their place with weight 0), so ONE compiled residual/Jacobian function serves every
    ROI; the loop over ROIs only runs scipy's trust region. (A single block-diagonal
    problem over all ROIs would share one trust region and one stopping rule, so a slow
    or failing ROI would hold back or spoil the others, and its status would not be per
    ROI.)
``rate_law="diffusive" | "power"`` (``q_mode="joint"``)
    One problem over all ROIs: the model's rate parameter Γ_r = D·q_r^p, per-ROI
    ``baseline``/``contrast``, every other parameter (``stretch``, ...) shared.

Result
------
The same ``{var}_nlsq_<field>`` names as two-time fits (:func:`xpcsnb.fit.result.nlsq_name`,
var = ``g2``), with a leading ``roi`` dimension: ``g2_nlsq_coefficients(roi, param)``,
``_stderr``, ``_initial``, ``_lower``, ``_upper``, ``_vary`` (roi, param),
``_covariance(roi, cov_i, cov_j)``, and per ROI ``_chi2``, ``_chi2_red``, ``_n_data``,
``_n_params``, ``_success``, ``_status``, ``_message``, ``_n_iterations``,
``_n_function_evals``, ``_n_excluded`` (points rejected by
:func:`~xpcsnb.core.g2.valid_points`). ``param`` lists the model's parameters and then its
derived quantities (the double exponential's ``gamma_fast``, ``vary`` False, stderr by
the delta method). A joint fit reports the rate Γ_r = D·q_r^p of each ROI under the
rate's name (``vary`` False, stderr by the delta method), its χ² per ROI, one status for
all, and ``g2_nlsq_law_coefficients(law_param)`` / ``g2_nlsq_law_stderr(law_param)``
for ``D`` [Å^p/s] and ``p``. Coordinates ``roi``, ``q(roi)`` [1/Å] and ``phi(roi)`` [deg]
where the data have them; attrs ``model``, ``q_mode``, ``rate_law``.

A fit never reports success with a non-finite stderr of a free or derived parameter (status
``SINGULAR_COVARIANCE`` or ``NONFINITE``) or with a free parameter on its bound (status
``AT_BOUND``: the value is not an estimate and its stderr means nothing).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..core.errors import G2Error
from ..core.g2 import validate_g2
from ..core.status import Status
from ..models.base import Model
from .dask_tasks import check_client, run_tasks, split_for
from .g2batch import solve_lockstep
from .g2problem import G2Problem, build_g2_problems, check_g2_model
from .nlsq import _blas_controller, solve
from .result import nlsq_name
from .solution import Solution
from .spec import FitSpec, as_spec

__all__ = ["VAR", "check_fitted_on", "fit_g2_nlsq", "g2_model_curves", "solve_all"]

#: The fitted data variable (names the result's variables, ``g2_nlsq_*``).
VAR = "g2"
_Q_MODES = ("independent", "joint")


def _finish(problem: G2Problem, sol: Solution) -> Solution:
    """Refuse success with a non-finite stderr of a free or derived parameter, or with an estimate on a bound.

    A g2 parameter on its bound (a rate at 1e-8 1/s, a contrast at 1) is no estimate and its
    stderr means nothing: such fits get ``AT_BOUND`` (not a success), so that Γ(q) fits
    (:func:`xpcsnb.fit.rates.fit_rates`) skip them.
    """
    if not sol.success:
        return sol
    rep_cov = _reported_cov(problem, sol)
    if not (np.all(np.isfinite(sol.stderr)) and np.all(np.isfinite(np.diagonal(rep_cov, axis1=1, axis2=2)))):
        return dataclasses.replace(sol, status=Status.SINGULAR_COVARIANCE,
                                   message=sol.message + "; non-finite standard error: not reported as a success")
    if sol.at_bound:
        return dataclasses.replace(sol, status=Status.AT_BOUND,
                                   message=sol.message + "; an estimate on its bound is not reported as a success "
                                   "(widen the bounds with bounds=, or fix the parameter with fixed=)")
    return sol


def _reported_cov(problem: G2Problem, sol: Solution) -> np.ndarray:
    jac = np.asarray(problem.reported_jacobian(sol.x))  # (n_roi, K, p)
    return np.einsum("rkp,pq,rlq->rkl", jac, np.asarray(sol.cov), jac)


def _no_data(problem: G2Problem, why: str) -> Solution:
    p = problem.n_free
    nan = np.full(p, np.nan)
    return Solution(names=problem.names, x=nan, x_start=problem.x0, stderr=nan, cov=np.full((p, p), np.nan),
                    chi2=np.nan, chi2_red=np.nan, n_data=problem.n_data, n_params=p, status=Status.NO_DATA,
                    message=why, nfev=0, njev=0, cond=np.nan, at_bound=(), starts=problem.x0[None],
                    start_costs=np.array([np.inf]), scale_covar=False, elapsed_s=0.0,
                    tolerances={"ftol": np.nan, "xtol": np.nan, "gtol": np.nan, "max_nfev": 0})


def _solve(problem: G2Problem, options: Mapping[str, Any]) -> Solution:
    if problem.n_data <= problem.n_free:
        return _no_data(problem, f"{problem.n_data} valid point(s) for {problem.n_free} free parameter(s): "
                                 "not fitted (no data)")
    try:
        sol = solve(problem, **options)
    except FloatingPointError as exc:
        p = problem.n_free
        return dataclasses.replace(_no_data(problem, str(exc)), status=Status.NONFINITE,
                                   cov=np.full((p, p), np.nan))
    return _finish(problem, sol)


def solve_all(problems: Sequence[G2Problem], options: Mapping[str, Any]) -> tuple[list[G2Problem], list[Solution]]:
    """Solve every problem; return the problems (with the start that won) and their solutions.

    Independent one-ROI problems are solved in lockstep (:mod:`xpcsnb.fit.g2batch`: one
    batched evaluation per step of all ROIs). With the default start (``n_starts`` None),
    an ROI whose fit did not end in a success is fitted again from the model's
    alternative starts (:attr:`~xpcsnb.models.onetime.G2Model.alternatives`), and the
    lowest χ² is kept; its message says so.
    """
    problems = list(problems)

    def one(pr: G2Problem) -> Solution:
        return _solve(pr, options)

    with _blas_controller().limit(limits=1, user_api="blas"):  # once for all threads (see g2batch)
        sols = solve_lockstep(problems, one)
        if options.get("n_starts") is not None:
            return problems, sols
        retry = [(r, x) for r, (pr, s) in enumerate(zip(problems, sols)) if not s.success and s.status != Status.NO_DATA
                 for x in pr.info.get("alternatives", ())]
        if not retry:
            return problems, sols
        tried = [dataclasses.replace(problems[r], x0=np.asarray(x)) for r, x in retry]
        more = solve_lockstep(tried, one)
    first = list(sols)
    n_tried = {r: 1 + len(problems[r].info.get("alternatives", ())) for r, _ in retry}
    for (r, _), pr, s in zip(retry, tried, more):
        if np.isfinite(s.chi2) and not s.chi2 >= sols[r].chi2 * (1.0 - 1e-9):
            problems[r], sols[r] = pr, s
    for r in n_tried:
        s0 = first[r]
        note = (f"best of {n_tried[r]} starts: the data-driven start ended {s0.status.name} at chi2 = {s0.chi2:.6g}, so "
                "the model's alternative starts were tried")
        if sols[r] is not s0:
            note += f" and one reached chi2 = {sols[r].chi2:.6g} (initial holds that start)"
        sols[r] = dataclasses.replace(sols[r], message=f"{sols[r].message}; {note}")
    return problems, sols


def fit_g2_nlsq(
    ds: xr.Dataset,
    model: str | Model,
    *,
    spec: FitSpec | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    q_mode: str | None = None,
    rate_law: str | None = None,
    p: float | None = None,
    n_starts: int | None = None,
    seed: int | None = 0,
    max_nfev: int | None = None,
    scale_covar: bool | None = None,
    throw: bool = False,
    client: Any = None,
) -> xr.Dataset:
    """Fit a g2 model to every ROI of a g2 Dataset by bounded nonlinear least squares.

    Parameters
    ----------
    ds : xarray.Dataset
        A g2 Dataset (:func:`xpcsnb.g2`): ``g2(roi, tau)``, optional ``g2_err`` (the
        weights; without it the covariance is scaled by χ²_red), ``q(roi)`` [1/Å].
    model : {"single_exponential", "stretched_exponential", "double_exponential"} or G2Model
    spec : FitSpec, optional
        ``bounds``/``initial``/``fixed`` by parameter name, applied to every ROI; or give
        them as keywords. Starts not given come from the data
        (:func:`xpcsnb.models.onetime.initial_g2_guess`).
    q_mode : {"independent", "joint"}, optional
        Default ``"independent"`` (one fit per ROI); ``"joint"`` needs ``rate_law``.
    rate_law : {None, "diffusive", "power"}
        Joint fit over q with Γ(q) = D·q² or D·q^p (p free, or held at ``p``).
    p : float, optional
        Exponent held fixed with ``rate_law="power"``.
    n_starts, seed, max_nfev, scale_covar
        See ``xpcsnb.fit.nlsq.solve``.
    throw : bool
        Raise :class:`RuntimeError` if any ROI's fit failed.
    client : dask.distributed.Client, optional
        Run the fit as Dask tasks on this client: independent ROIs in contiguous groups,
        one per worker thread (``xpcsnb.fit.dask_tasks.split_for``), a joint fit as
        one task. Same numbers as the in-process run (default).

    Returns
    -------
    xarray.Dataset
        ``g2_nlsq_*`` variables over ``roi`` (module doc).

    Raises
    ------
    G2Error
        For a Dataset that is not a g2 Dataset, a two-time model, or inconsistent options.
    """
    validate_g2(ds)
    mdl = check_g2_model(model)
    if q_mode is None:
        q_mode = "joint" if rate_law is not None else "independent"
    if q_mode not in _Q_MODES:
        raise G2Error(f"q_mode must be one of {_Q_MODES}, got {q_mode!r}")
    if q_mode == "joint" and rate_law is None:
        raise G2Error("q_mode='joint' shares Γ(q) over the ROIs: pass rate_law='diffusive' or 'power'")
    if q_mode == "independent" and rate_law is not None:
        raise G2Error(f"rate_law={rate_law!r} fits all ROIs jointly; drop q_mode='independent'")
    spec = as_spec(spec, bounds=bounds, initial=initial, fixed=fixed)
    check_client(client)
    options = {"n_starts": n_starts, "seed": seed, "max_nfev": max_nfev, "scale_covar": scale_covar}
    if rate_law is not None or client is None:
        res = run_tasks(_fit_local, [(ds, mdl, spec, rate_law, p, options)], client)[0]
    else:
        groups = split_for(ds.sizes["roi"], client)
        res = _concat_roi(run_tasks(_fit_local, [(ds.isel(roi=g), mdl, spec, None, None, options)
                                                 for g in groups], client))
    if throw and not bool(res[nlsq_name(VAR, "success")].all()):
        bad = res["roi"].values[~res[nlsq_name(VAR, "success")].values]
        raise RuntimeError(f"g2 NLSQ fit failed for ROI(s) {bad.tolist()}")
    return res


def _fit_local(ds: xr.Dataset, model: Model, spec: FitSpec, rate_law: str | None, p: float | None,
               options: Mapping[str, Any]) -> xr.Dataset:
    """The whole fit of ``ds`` in this process (one Dask task with ``client=``)."""
    problems = build_g2_problems(ds, model, spec, rate_law=rate_law, p=p)
    problems, sols = solve_all(problems, options)
    return _to_dataset(ds, problems, sols)


def _concat_roi(parts: Sequence[xr.Dataset]) -> xr.Dataset:
    """Independent results of groups of ROIs as one result (the layout of a fit of all at once)."""
    if len(parts) == 1:
        return parts[0]
    out = xr.concat(parts, dim="roi", data_vars="minimal", coords="minimal", compat="override",
                    combine_attrs="override")
    return out.assign_attrs(excluded_points=int(sum(p.attrs["excluded_points"] for p in parts)))


def _param_list(problem: G2Problem) -> tuple[list[str], list[str]]:
    mdl = problem.model
    names = [p.name for p in mdl.parameters] + [d.parameter.name for d in mdl.derived]
    units = [p.unit for p in mdl.parameters] + [d.parameter.unit for d in mdl.derived]
    return names, units


def _per_roi(problem: G2Problem, sol: Solution) -> dict[str, np.ndarray]:
    """Reported values, stderr, start, bounds, vary and covariance of each ROI of one solution."""
    mdl = problem.model
    n_roi = problem.y.shape[0]
    names, _ = _param_list(problem)
    K = len(names)
    x = np.where(np.isfinite(sol.x), sol.x, problem.x0)
    values = np.asarray(problem.reported(x))
    start = np.asarray(problem.reported(problem.x0))
    if sol.status == Status.NO_DATA:
        values = np.full_like(values, np.nan)
        cov = np.full((n_roi, K, K), np.nan)
    else:
        cov = _reported_cov(problem, sol)
    lo = np.full((n_roi, K), np.nan)
    hi = np.full((n_roi, K), np.nan)
    vary = np.zeros((n_roi, K), bool)
    index = problem.index
    for c, prm in enumerate(mdl.parameters):
        if c == problem.law_col:
            continue
        for r in range(n_roi):
            k = int(index[r, c])
            if k < problem.n_free:
                lo[r, c], hi[r, c], vary[r, c] = problem.lower[k], problem.upper[k], True
    return {"values": values, "start": start, "cov": cov, "lower": lo, "upper": hi, "vary": vary}


def _roi_chi2(problem: G2Problem, sol: Solution) -> np.ndarray:
    if not np.all(np.isfinite(sol.x)):
        return np.full(problem.y.shape[0], np.nan)
    r = np.asarray(problem.residuals(sol.x)).reshape(problem.y.shape)
    return np.sum(r * r, axis=1)


def _to_dataset(ds: xr.Dataset, problems: list[G2Problem], sols: list[Solution]) -> xr.Dataset:
    names, units = _param_list(problems[0])
    K = len(names)
    parts = [_per_roi(pr, s) for pr, s in zip(problems, sols)]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n_roi = cat["values"].shape[0]
    joint = len(problems) == 1 and problems[0].info["q_mode"] == "joint"
    with np.errstate(invalid="ignore"):
        stderr = np.sqrt(np.clip(np.diagonal(cat["cov"], axis1=1, axis2=2), 0, None))
    stderr = np.where(np.isfinite(np.diagonal(cat["cov"], axis1=1, axis2=2)), stderr, np.nan)
    # vary: whether the parameter was fitted for this ROI (derived ones and a law's rate: False)
    n_valid = np.concatenate([pr.n_valid for pr in problems])
    n_tau = ds.sizes["tau"]

    def per_fit(f: Any) -> np.ndarray:
        vals = [f(pr, s) for pr, s in zip(problems, sols)]
        if joint:
            return np.broadcast_to(np.asarray(vals[0]), (n_roi,)).copy()
        return np.asarray(vals).reshape(n_roi)

    chi2_roi = np.concatenate([_roi_chi2(pr, s) for pr, s in zip(problems, sols)])
    if joint:
        sol = sols[0]
        n_par = np.full(n_roi, sol.n_params)
        dof = n_valid - sol.n_params / n_roi
        chi2_red = np.where(dof > 0, chi2_roi / np.where(dof > 0, dof, 1), np.nan)  # shared parameters split evenly
    else:
        n_par = np.array([s.n_params for s in sols])
        chi2_red = np.array([s.chi2_red for s in sols])
    status = per_fit(lambda pr, s: int(s.status))
    dims = ("roi",)
    pdim = ("roi", "param")
    data_vars: dict[str, Any] = {
        "coefficients": (pdim, cat["values"], {"long_name": "best-fit parameter values"}),
        "stderr": (pdim, stderr, {"long_name": "standard errors (sqrt of the covariance diagonal)"}),
        "initial": (pdim, cat["start"], {"long_name": "starting values"}),
        "lower": (pdim, cat["lower"], {"long_name": "lower bounds (NaN: not fitted)"}),
        "upper": (pdim, cat["upper"], {"long_name": "upper bounds (NaN: not fitted)"}),
        "vary": (pdim, cat["vary"], {"long_name": "parameter was free"}),
        "covariance": (("roi", "cov_i", "cov_j"), cat["cov"], {"long_name": "parameter covariance"}),
        "chi2": (dims, chi2_roi, {"long_name": "sum of squared weighted residuals of the ROI"}),
        "chi2_red": (dims, chi2_red, {"long_name": "chi2 / (n_data - n_params) of the ROI"}),
        "n_data": (dims, n_valid.astype(np.int64), {"long_name": "valid points fitted"}),
        "n_params": (dims, n_par.astype(np.int64)),
        "success": (dims, np.array([Status(v).success for v in status])),
        "status": (dims, status.astype(np.int64),
                   {"meaning": ", ".join(f"{m.value}: {m.name}" for m in Status)}),
        "message": (dims, per_fit(lambda pr, s: str(s.message)).astype(str)),
        "n_iterations": (dims, per_fit(lambda pr, s: s.njev).astype(np.int64),
                         {"long_name": "Jacobian evaluations of the best start"}),
        "n_function_evals": (dims, per_fit(lambda pr, s: s.nfev).astype(np.int64)),
        "n_excluded": (dims, (n_tau - n_valid).astype(np.int64),
                       {"long_name": "points excluded (non-finite g2, g2_err non-finite or <= 0)"}),
    }
    out = {nlsq_name(VAR, k): v for k, v in data_vars.items()}
    coords: dict[str, Any] = {
        "roi": ds["roi"], "param": ("param", names), "cov_i": ("cov_i", names), "cov_j": ("cov_j", names),
        "unit": ("param", units),
    }
    for c in ("q", "phi"):
        if c in ds.coords:
            coords[c] = ds[c]
    mdl = problems[0].model
    attrs: dict[str, Any] = {
        "model": mdl.name,
        "model_kind": "g2",
        "q_mode": "joint" if joint else "independent",
        "solver": "scipy.optimize.least_squares(method='trf', loss='linear', x_scale='jac'), jax.jacfwd Jacobian",
        "weights": "1/g2_err from the data" if problems[0].has_sigma else "unweighted (g2_err absent)",
        "covariance": "scaled by chi2_red" if sols[0].scale_covar else "absolute sigma (not rescaled)",
        "excluded_points": int(np.sum(n_tau - n_valid)),
        "time_convention": mdl.time_convention,
        "xpcsnb_version": __version__,
    }
    if joint:
        pr, sol = problems[0], sols[0]
        law = pr.info["law_parameters"]
        vals = pr.values(sol.x if np.all(np.isfinite(sol.x)) else pr.x0)
        pos = {n: k for k, n in enumerate(pr.names)}
        lv = np.array([vals.get(n, np.nan) for n in ("D", "p")])
        le = np.array([sol.stderr[pos[n]] if n in pos else 0.0 for n in ("D", "p")])
        d_unit = "Å²/s" if "p" not in pos and lv[1] == 2.0 else f"Å^{lv[1]:.4g}/s"
        out[nlsq_name(VAR, "law_coefficients")] = (("law_param",), lv, {"long_name": f"{mdl.rate} = D·q^p"})
        out[nlsq_name(VAR, "law_stderr")] = (("law_param",), le, {"long_name": "standard errors (0: held)"})
        coords["law_param"] = ("law_param", ["D", "p"])
        coords["law_unit"] = ("law_param", [d_unit, law["p"].unit])
        attrs.update(rate_law=pr.info["rate_law"], rate_parameter=str(mdl.rate), chi2=float(sol.chi2),
                     chi2_red=float(sol.chi2_red), n_data=int(sol.n_data), n_params=int(sol.n_params),
                     shared=", ".join(n for n in pr.names if "_r" not in n or n in ("D", "p")),
                     per_roi=", ".join(mdl.per_roi))
    return xr.Dataset(out, coords=coords, attrs=attrs)


def g2_model_curves(res: xr.Dataset, tau: Any) -> xr.DataArray:
    """The fitted g2 of every ROI of a g2 NLSQ result on lag times ``tau`` [s], dims (roi, tau)."""
    mdl = check_g2_model(str(res.attrs.get("model")))
    coef = res[nlsq_name(VAR, "coefficients")].sel(param=list(mdl.parameter_names)).transpose("roi", "param")
    import jax
    import jax.numpy as jnp

    t = jnp.asarray(np.asarray(tau, float))
    curves = np.asarray(jax.vmap(mdl.signal, in_axes=(0, None))(jnp.asarray(coef.values), t))
    return xr.DataArray(curves, dims=("roi", "tau"), coords={"roi": res["roi"], "tau": np.asarray(tau, float)},
                        name="g2_model", attrs={"units": "1"})


#: Relative χ² difference above which a result was not fitted to the data at hand (:func:`check_fitted_on`).
CHI2_MATCH_RTOL = 1e-6


def check_fitted_on(ds: xr.Dataset, res: xr.Dataset, what: str = "the fit result") -> None:
    """Raise :class:`~xpcsnb.core.errors.G2Error` unless ``res`` is a fit of ``ds``'s data.

    For every ROI of ``ds`` the χ² of the result's coefficients on ``ds``'s valid points
    (weights 1/g2_err when ``ds`` has them) must equal the result's own ``g2_nlsq_chi2``
    within a relative :data:`CHI2_MATCH_RTOL`: a result of other data (another file,
    absorber, age window or ROI numbering) seeding priors or drawn over these data would
    give a wrong answer without a sign. ROIs the result did not fit (NaN χ²) are skipped.
    """
    from ..core.g2 import valid_points

    missing = np.setdiff1d(ds["roi"].values, res["roi"].values)
    if missing.size:
        raise G2Error(f"{what} has no ROI {missing.tolist()} of the data (its ROIs are "
                      f"{res['roi'].values.tolist()}); use the result of this g2 Dataset")
    sub = res.sel(roi=ds["roi"].values)
    stored = sub[nlsq_name(VAR, "chi2")].values
    model = g2_model_curves(sub, ds["tau"].values).values
    mask = valid_points(ds).mask.transpose("roi", "tau").values
    g2v = ds["g2"].transpose("roi", "tau").values
    w = 1.0 / ds["g2_err"].transpose("roi", "tau").values if "g2_err" in ds else np.ones_like(g2v)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        chi2 = np.sum(np.where(mask, ((g2v - model) * w) ** 2, 0.0), axis=1)
    check = np.isfinite(stored)
    off = check & ~(np.abs(chi2 - stored) <= CHI2_MATCH_RTOL * np.maximum(np.abs(stored), 1.0))
    if np.any(off):
        r = int(np.flatnonzero(off)[0])
        raise G2Error(f"{what} was not fitted to these data: at its coefficients ROI {ds['roi'].values[r]} has "
                      f"chi2 = {chi2[r]:.6g} on these data, the result says {stored[r]:.6g} "
                      f"({int(off.sum())} of {int(check.sum())} fitted ROIs differ); use the NLSQ result of this "
                      "g2 Dataset")
