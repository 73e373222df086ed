"""NLSQ results: a :class:`~xpcsnb.fit.solution.Solution` as a plain Dataset, its report, save/load.

Naming
------
Every variable of a fit of the data variable ``{var}`` (``c2`` for two-time fits, ``g2``
for one-time fits) is named ``{var}_nlsq_<field>`` (:func:`nlsq_name`), in the style of
``Dataset.curvefit``:

``{var}_nlsq_coefficients(param)``, ``_stderr(param)``, ``_initial(param)``,
``_lower(param)``, ``_upper(param)``, ``_vary(param)``, ``_covariance(cov_i, cov_j)``
(NaN rows/columns for fixed parameters), and the scalars ``_chi2``, ``_chi2_red``,
``_n_data``, ``_n_params``, ``_success``, ``_status`` (a :class:`~xpcsnb.core.status.Status`
code, its name in the ``meaning`` attribute), ``_message``, ``_n_iterations``,
``_n_function_evals``; since issue 20 also ``_fit_quality`` ("acceptable" / "poor" /
"not assessed", :mod:`xpcsnb.fit.quality`), ``_starts(start, param)`` and
``_start_chi2(start)`` (every start of the full-data fit; attribute ``start_method``) and
the attribute ``t_range`` (first and last time [s]; these are optional when reading); on demand ``{var}_model`` and ``{var}_residual`` (phi, t1, t2).
A ``scaling="fixed"`` fit also holds its inputs ``contrast_fixed`` and ``offset_fixed``.

``param`` lists the physics parameters (registry order, fixed ones included with
``vary = False``) followed by the free scaling parameters (``contrast_<k>`` /
``offset_<k>`` for angle index k, whose angle is the ``phi`` coordinate).

Multi-q results
---------------
A joint fit of a multi-q Dataset (shared physics) has a ``q`` coordinate (dim ``q``)
instead of a ``q`` attribute, and its per-row scaling parameters are named
``contrast_q<a>_<k>`` / ``offset_q<a>_<k>`` for q index a (coordinate ``q``) and angle
index k (coordinate ``phi``); ``c2_model`` and ``c2_residual`` are (q, phi, t1, t2).
The independent per-q mode (:func:`concat_q`) stacks single-q results along a ``q``
dimension: every variable gains a leading ``q`` dimension, and the per-fit attributes
``condition_number``, ``elapsed_s`` and ``n_starts`` become the variables
``{var}_nlsq_condition_number`` (etc.) over ``q``.

Reports
-------
:class:`FitReport` shows a result as text (``str``) or HTML (``_repr_html_``), lmfit
style, rendered by :mod:`xpcsnb.fit.report` (flags, units, correlation matrix);
``res.xpcs.report()`` returns one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._warn import warn
from .._version import __version__
from ..core.errors import XpcsError
from ..io.results import load_result, save_result
from ..models import registry
from ..models.scaling import base_name
from .solution import Solution

__all__ = ["FitReport", "NLSQResult", "add_model", "as_result", "concat_q", "correlation_matrix", "load_nlsq",
           "nlsq_name", "nlsq_var",
           "parameter_values", "save_nlsq", "solution_to_dataset"]

#: ``kind`` of NLSQ result files (:mod:`xpcsnb.io.results`).
KIND = "nlsq"
#: The ``{var}_nlsq_<field>`` variables every NLSQ result holds.
FIELDS = ("coefficients", "stderr", "initial", "lower", "upper", "vary", "covariance", "chi2", "chi2_red", "n_data",
          "n_params", "success", "status", "message", "n_iterations", "n_function_evals")
#: Variables added by issue 20 (optional when reading older results).
OPTIONAL_FIELDS = ("fit_quality", "starts", "start_chi2")
#: Per-fit attributes that :func:`concat_q` turns into variables over q.
_PER_FIT = ("condition_number", "elapsed_s", "n_starts", "start_method")


def _version() -> str:
    return __version__


def nlsq_name(var: str, field: str) -> str:
    """The result variable of ``field`` in an NLSQ fit of ``var``: ``{var}_nlsq_{field}``."""
    return f"{var}_nlsq_{field}"


def nlsq_var(res: Any) -> str:
    """The fitted variable of an NLSQ result (``"c2"`` for ``c2_nlsq_coefficients``).

    Raises
    ------
    XpcsError
        If ``res`` is not a Dataset with exactly one ``*_nlsq_coefficients`` variable and
        every other ``{var}_nlsq_*`` field of :func:`solution_to_dataset`.
    """
    if not isinstance(res, xr.Dataset):
        raise XpcsError(f"an NLSQ result is an xarray.Dataset (from fit_nlsq or load_nlsq), got {type(res).__name__}")
    found = [str(n)[: -len("_nlsq_coefficients")] for n in res.data_vars if str(n).endswith("_nlsq_coefficients")]
    if len(found) != 1:
        what = f"several ({found})" if found else "no"
        raise XpcsError(f"not an NLSQ result: it has {what} '*_nlsq_coefficients' variables "
                        f"(variables: {sorted(map(str, res.data_vars))[:8]}); fit first, e.g. "
                        "res = ds.xpcs.fit_nlsq('static')")
    var = found[0]
    missing = [nlsq_name(var, f) for f in FIELDS if nlsq_name(var, f) not in res]
    if missing or "unit" not in res.coords:
        raise XpcsError(f"not a result of xpcsnb.fit_nlsq: {var}_nlsq_coefficients is there but "
                        f"{missing or ['the unit coordinate']} are missing (other results have their own save and "
                        "report: xpcsnb.io.save_xsvs, xpcsnb.fit.save_cmc)")
    return var


def solution_to_dataset(problem: Any, solution: Solution, ds: xr.Dataset, var: str = "c2") -> xr.Dataset:
    """The result Dataset of ``solution`` (of :func:`xpcsnb.fit.nlsq.solve` on ``problem``, built from ``ds``).

    Parameters
    ----------
    problem : FitProblem
    solution : Solution
    ds : xarray.Dataset
        The fitted Dataset (for the ``phi`` coordinate).
    var : str
        The fitted variable; names the result's variables (``{var}_nlsq_*``).
    """
    mdl = problem.model
    model = mdl.name
    phys = mdl.parameters
    names = [p.name for p in phys] + [n for n in problem.names if n not in {p.name for p in phys}]
    pos = {n: k for k, n in enumerate(problem.names)}
    P = len(names)
    coef, err, init, lo, hi = (np.full(P, np.nan) for _ in range(5))
    vary = np.zeros(P, dtype=bool)
    cov = np.full((P, P), np.nan)
    units = []
    for a, name in enumerate(names):
        units.append(registry.get(mdl, base_name(name)).unit)
        if name in pos:
            k = pos[name]
            coef[a], err[a], init[a] = solution.x[k], solution.stderr[k], solution.x_start[k]
            lo[a], hi[a], vary[a] = problem.lower[k], problem.upper[k], True
            for b, other in enumerate(names):
                if other in pos:
                    cov[a, b] = solution.cov[k, pos[other]]
        else:
            coef[a] = init[a] = problem.fixed_physics[name]
    t_unit, q_unit = _data_units(ds)
    units = [_in_data_units(u, t_unit, q_unit) for u in units]
    pdim = ("param",)
    status = solution.status
    values: dict[str, tuple[Any, ...]] = {
        "coefficients": (pdim, coef, {"long_name": "best-fit parameter values"}),
        "stderr": (pdim, err, {"long_name": "standard errors (sqrt of the covariance diagonal)"}),
        "initial": (pdim, init, {"long_name": "starting values of the best start"}),
        "lower": (pdim, lo, {"long_name": "lower bounds"}),
        "upper": (pdim, hi, {"long_name": "upper bounds"}),
        "vary": (pdim, vary, {"long_name": "parameter was free"}),
        "covariance": (("cov_i", "cov_j"), cov, {"long_name": "parameter covariance"}),
        "chi2": ((), solution.chi2, {"long_name": "sum of squared weighted residuals"}),
        "chi2_red": ((), solution.chi2_red, {"long_name": "chi2 / (n_data - n_params)"}),
        "n_data": ((), solution.n_data),
        "n_params": ((), solution.n_params),
        "success": ((), bool(solution.success)),
        "status": ((), int(status), {"meaning": str(status.name)}),
        "message": ((), str(solution.message)),
        "n_iterations": ((), solution.njev, {"long_name": "Jacobian evaluations of the best start"}),
        "n_function_evals": ((), solution.nfev),
    }
    data_vars = {nlsq_name(var, f): values[f] for f in FIELDS}
    data_vars[nlsq_name(var, "fit_quality")] = ((), str(getattr(solution, "fit_quality", "not assessed")), {
        "long_name": "statistical fit quality: chi2_red within its expected range for the data's sigma",
        "meaning": "acceptable | poor | not assessed (no sigma)"})
    starts = np.full((solution.n_starts, P), np.nan)
    for a, name in enumerate(names):
        if name in pos:
            starts[:, a] = solution.starts[:, pos[name]]
    data_vars[nlsq_name(var, "starts")] = (("start", "param"), starts, {
        "long_name": "every start of the full-data fit (scaling of projected fits: data-quantile guesses)"})
    data_vars[nlsq_name(var, "start_chi2")] = (("start",), 2.0 * solution.start_costs,
                                               {"long_name": "chi2 reached from each start"})
    coords = {
        "param": ("param", names),
        "cov_i": ("cov_i", names),
        "cov_j": ("cov_j", names),
        "unit": ("param", units),
        "phi": ("phi", ds["phi"].values, {"units": "deg"}),
        "start": ("start", np.arange(solution.n_starts)),
    }
    multi_q = getattr(problem, "n_q", None) is not None
    if multi_q:
        coords["q"] = ("q", np.asarray(problem.info["q"]), {"long_name": "scattering vector", "units": "1/Å"})
    tol = solution.tolerances
    attrs = {
        "model": model,
        "scaling": problem.scaling,
        "solver": "scipy.optimize.least_squares(method='trf', loss='linear', x_scale='jac'), jax.jacfwd Jacobian",
        "loss": "linear (chi2)",
        "diagonal": "excluded (t1 == t2 never enters the residuals)",
        "support": problem.support,
        "weights": "1/sigma from the data" if problem.has_sigma else "unweighted (sigma = 1)",
        "covariance": "scaled by chi2_red" if solution.scale_covar else "absolute sigma (not rescaled)",
        "condition_number": float(solution.cond),
        "n_starts": solution.n_starts,
        "start_method": str(getattr(solution, "start_note", "")),
        "ftol": tol["ftol"], "xtol": tol["xtol"], "gtol": tol["gtol"], "max_nfev": tol["max_nfev"],
        "elapsed_s": float(solution.elapsed_s),
        "q_units": q_unit,
        "dt": problem.info["dt"], "dt_units": t_unit,
        "t_range": [float(problem.grid.t[0]), float(problem.grid.t[-1])],
        "time_convention": problem.model.time_convention,
        "xpcsnb_version": _version(),
    }
    if not multi_q:
        attrs["q"] = problem.info["q"]
    if problem.info.get("default_fixed"):
        attrs["default_fixed"] = ", ".join(problem.info["default_fixed"])
    if problem.info.get("L") is not None:
        attrs["L"] = problem.info["L"]
        attrs["L_units"] = "Å"
    if problem.fixed_scaling is not None:
        sdims = ("q", "phi") if multi_q else ("phi",)
        data_vars["contrast_fixed"] = (sdims, problem.rows_to_dataset_shape(problem.fixed_scaling[0]))
        data_vars["offset_fixed"] = (sdims, problem.rows_to_dataset_shape(problem.fixed_scaling[1]))
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def _data_units(ds: xr.Dataset) -> tuple[str, str]:
    """The data's time and q units (``t1`` units, ``q_units`` attr); ``("s", "1/Å")`` by default."""
    return str(ds["t1"].attrs.get("units", "s")), str(ds.attrs.get("q_units", "1/Å"))


def _in_data_units(unit: str, t_unit: str, q_unit: str) -> str:
    """A registry unit (in s and Å) restated for data in other time units or with an arbitrary q.

    With time in frames, ``s`` becomes ``frame``; with q in arbitrary units, lengths (Å) become
    ``(1/q)``, so ``D0`` of data in frames with a placeholder q reads ``(1/q)²/frame^(1+alpha)``.
    """
    import re

    if t_unit != "s":
        unit = re.sub(r"(?<![A-Za-z])s(?![A-Za-z])", t_unit, unit)
    if q_unit != "1/Å":
        unit = unit.replace("Å", "(1/q)")
    return unit


def add_model(res: xr.Dataset, problem: Any, ds: xr.Dataset, var: str = "c2") -> xr.Dataset:
    """A copy of ``res`` with ``{var}_model`` and ``{var}_residual`` = (data − model)/σ on the data's grid."""
    coef = res[nlsq_name(var, "coefficients")]
    x = np.array([float(coef.sel(param=n)) for n in problem.names])
    full = problem.rows_to_dataset_shape(np.asarray(problem.predict_full(x)))
    dims = ds[var].dims
    sigma = ds["sigma"].transpose(*dims).values if "sigma" in ds else 1.0
    out = res.copy()
    out[f"{var}_model"] = (dims, full, {"long_name": f"model {var.upper()}", "units": "1"})
    out[f"{var}_residual"] = (dims, (ds[var].values - full) / sigma,
                              {"long_name": "weighted residual (data - model)/sigma", "units": "1"})
    return out.assign_coords(t1=ds["t1"], t2=ds["t2"])


def concat_q(results: list[xr.Dataset], q: np.ndarray) -> xr.Dataset:
    """Stack single-q results (independent per-q fits) along a new ``q`` dimension.

    Parameters
    ----------
    results : list of xarray.Dataset
        One single-q NLSQ result per q, all of the same variable and ``param`` list.
    q : array, shape (n_q,)
        The q values [1/Å], in the order of ``results``.
    """
    q = np.asarray(q, dtype=float)
    if len(results) != q.size or not results:
        raise ValueError(f"need one result per q: {len(results)} results for {q.size} q values")
    var = nlsq_var(results[0])
    parts = []
    for r in results:
        extra = {nlsq_name(var, a): ((), r.attrs[a]) for a in _PER_FIT if a in r.attrs}
        parts.append(r.assign(extra).drop_attrs(deep=False))
    out = xr.concat(parts, dim="q", data_vars="all", coords="minimal", compat="override")
    out = out.assign_coords(q=("q", q, {"long_name": "scattering vector", "units": "1/Å"}))
    attrs = {k: v for k, v in results[0].attrs.items() if k not in _PER_FIT + ("q",)}
    attrs["q_mode"] = "independent (one fit per q, physics not shared)"
    out.attrs = attrs
    return out


def parameter_values(res: xr.Dataset) -> dict[str, float]:
    """``{name: value}`` of an NLSQ result (free and fixed parameters)."""
    coef = res[nlsq_name(nlsq_var(res), "coefficients")]
    if coef.ndim != 1:
        raise ValueError(f"this result has dims {coef.dims}; select one fit first, e.g. res.isel(q=0)")
    return {str(n): float(v) for n, v in zip(coef["param"].values, coef.values)}


def save_nlsq(res: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write an NLSQ result to NetCDF-4 atomically (:func:`xpcsnb.io.results.save_result`, kind ``"nlsq"``).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    XpcsError
        If ``res`` is not an NLSQ result.
    """
    nlsq_var(res)
    return save_result(res, path, kind=KIND, overwrite=overwrite)


def load_nlsq(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read an NLSQ result written by :func:`save_nlsq` (fully into memory; the file is closed).

    Raises
    ------
    ValueError
        If the file holds another kind of result or was not written by xpcsnb.
    """
    res = load_result(path, kind=KIND)
    nlsq_var(res)
    return res


# ---------------------------------------------------------------------- reports
class FitReport:
    """The report of an NLSQ result: ``str(report)`` is text, ``_repr_html_`` a table (lmfit style).

    Parameters
    ----------
    res : xarray.Dataset
        An NLSQ result (one fit, a joint multi-q fit, or independent per-q fits: one
        block per q).

    Attributes
    ----------
    result : xarray.Dataset
        The result shown.
    """

    def __init__(self, res: xr.Dataset) -> None:
        self.var = nlsq_var(res)
        self.result = res

    def __str__(self) -> str:
        from .report import report_text

        return report_text(self.result)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        from .report import report_html

        return report_html(self.result)

    def report(self) -> str:
        """The plain-text report (``str(self)``)."""
        return str(self)


class NLSQResult(FitReport):
    """Deprecated: fit results are plain Datasets; use :class:`FitReport` (``res.xpcs.report()``).

    ``NLSQResult(res)`` (or the Dataset constructor's ``data_vars, coords, attrs``) wraps
    the Dataset in a :class:`FitReport`; it is no Dataset subclass any more.
    """

    def __init__(self, data_vars: Any = None, coords: Any = None, attrs: Any = None) -> None:
        warn("NLSQResult is deprecated: fit results are plain Datasets; use FitReport(res) or "
             "res.xpcs.report() for the report", DeprecationWarning)
        res = data_vars if isinstance(data_vars, xr.Dataset) else xr.Dataset(data_vars, coords=coords, attrs=attrs)
        super().__init__(res)


def as_result(ds: xr.Dataset) -> FitReport:
    """Deprecated: the :class:`FitReport` of an NLSQ result Dataset (``ds.xpcs.report()``).

    Checks that ``ds`` is an NLSQ result; ``as_result(ds).report()`` still gives the text.
    """
    warn("as_result is deprecated: results are plain Datasets; use res.xpcs.report() or FitReport(res)",
         DeprecationWarning)
    return FitReport(ds)


def correlation_matrix(res: xr.Dataset) -> xr.DataArray:
    """The parameter correlation matrix ``cov_ij / (σ_i σ_j)`` of a single NLSQ result (NaN for fixed ones)."""
    var = nlsq_var(res)
    cov = res[nlsq_name(var, "covariance")]
    sd = np.sqrt(np.diag(cov.values))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov.values / np.outer(sd, sd)
    return xr.DataArray(corr, dims=cov.dims, coords=cov.coords, name=nlsq_name(var, "correlation"),
                        attrs={"long_name": "parameter correlation"})
