"""NLSQ results as an xarray Dataset in the style of ``Dataset.curvefit``.

Variables
---------
``c2_nlsq_coefficients(param)``, ``c2_nlsq_stderr(param)``, ``c2_nlsq_initial(param)``,
``c2_nlsq_lower(param)``, ``c2_nlsq_upper(param)``, ``c2_nlsq_vary(param)``,
``c2_nlsq_covariance(cov_i, cov_j)`` (NaN rows/columns for fixed parameters),
``chi2``, ``chi2_red``, ``n_data``, ``n_params``, ``success``, ``status``, ``message``,
``n_iterations``; on demand ``c2_model`` and ``c2_residual`` (phi, t1, t2).

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
``condition_number`` and ``elapsed_s`` become variables over ``q``.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import xarray as xr

from .._version import __version__
from ..models import registry
from ..models.scaling import base_name

__all__ = ["NLSQResult", "as_result", "parameter_values", "concat_q"]


def _version() -> str:
    return __version__


class NLSQResult(xr.Dataset):
    """An NLSQ fit result: a Dataset with a fit report (`report`, `_repr_html_`)."""

    __slots__ = ()

    @classmethod
    def from_solution(cls, problem: Any, sol: dict[str, Any], ds: xr.Dataset) -> "NLSQResult":
        """Assemble the result Dataset from a :class:`FitProblem` and a solution of :func:`solve`."""
        model = problem.model.name
        phys = registry.MODELS[model]
        names = [p.name for p in phys] + [n for n in problem.names if n not in {p.name for p in phys}]
        pos = {n: k for k, n in enumerate(problem.names)}
        P = len(names)
        coef = np.full(P, np.nan)
        err = np.full(P, np.nan)
        init = np.full(P, np.nan)
        lo = np.full(P, np.nan)
        hi = np.full(P, np.nan)
        vary = np.zeros(P, dtype=bool)
        cov = np.full((P, P), np.nan)
        units = []
        for a, name in enumerate(names):
            units.append(registry.get(model, base_name(name)).unit)
            if name in pos:
                k = pos[name]
                coef[a], err[a], init[a] = sol["x"][k], sol["stderr"][k], sol["x_start"][k]
                lo[a], hi[a], vary[a] = problem.lower[k], problem.upper[k], True
                for b, other in enumerate(names):
                    if other in pos:
                        cov[a, b] = sol["cov"][k, pos[other]]
            else:
                coef[a] = init[a] = problem.fixed_physics[name]
        pdim = ("param",)
        data_vars = {
            "c2_nlsq_coefficients": (pdim, coef, {"long_name": "best-fit parameter values"}),
            "c2_nlsq_stderr": (pdim, err, {"long_name": "standard errors (sqrt of the covariance diagonal)"}),
            "c2_nlsq_initial": (pdim, init, {"long_name": "starting values of the best start"}),
            "c2_nlsq_lower": (pdim, lo, {"long_name": "lower bounds"}),
            "c2_nlsq_upper": (pdim, hi, {"long_name": "upper bounds"}),
            "c2_nlsq_vary": (pdim, vary, {"long_name": "parameter was free"}),
            "c2_nlsq_covariance": (("cov_i", "cov_j"), cov, {"long_name": "parameter covariance"}),
            "chi2": ((), sol["chi2"], {"long_name": "sum of squared weighted residuals"}),
            "chi2_red": ((), sol["chi2_red"], {"long_name": "chi2 / (n_data - n_params)"}),
            "n_data": ((), sol["n_data"]),
            "n_params": ((), sol["n_params"]),
            "success": ((), bool(sol["success"])),
            "status": ((), int(sol["status"]), {"meaning": str(sol["status"].name)}),
            "message": ((), str(sol["message"])),
            "n_iterations": ((), sol["njev"], {"long_name": "Jacobian evaluations of the best start"}),
            "n_function_evals": ((), sol["nfev"]),
        }
        coords = {
            "param": ("param", names),
            "cov_i": ("cov_i", names),
            "cov_j": ("cov_j", names),
            "unit": ("param", units),
            "phi": ("phi", ds["phi"].values, {"units": "deg"}),
        }
        multi_q = getattr(problem, "n_q", None) is not None
        if multi_q:
            coords["q"] = ("q", np.asarray(problem.info["q"]), {"long_name": "scattering vector", "units": "1/Å"})
        attrs = {
            "model": model,
            "scaling": problem.scaling,
            "solver": "scipy.optimize.least_squares(method='trf', loss='linear', x_scale='jac'), jax.jacfwd Jacobian",
            "loss": "linear (chi2)",
            "diagonal": "excluded (t1 == t2 never enters the residuals)",
            "support": problem.support,
            "weights": "1/sigma from the data" if problem.has_sigma else "unweighted (sigma = 1)",
            "covariance": "scaled by chi2_red" if sol["scale_covar"] else "absolute sigma (not rescaled)",
            "condition_number": float(sol["cond"]),
            "n_starts": sol["n_starts"],
            "ftol": sol["ftol"], "xtol": sol["xtol"], "gtol": sol["gtol"], "max_nfev": sol["max_nfev"],
            "elapsed_s": float(sol["elapsed_s"]),
            "q_units": "1/Å",
            "dt": problem.info["dt"], "dt_units": "s",
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
        return cls(data_vars, coords=coords, attrs=attrs)

    def with_model(self, problem: Any, ds: xr.Dataset) -> "NLSQResult":
        """Add ``c2_model`` and ``c2_residual`` = (data − model)/σ (phi, t1, t2)."""
        x = np.array([float(self["c2_nlsq_coefficients"].sel(param=n)) for n in problem.names])
        full = problem.rows_to_dataset_shape(np.asarray(problem.predict_full(x)))
        dims = ds["c2"].dims
        sigma = ds["sigma"].transpose(*dims).values if "sigma" in ds else 1.0
        out = self.copy()
        out["c2_model"] = (dims, full, {"long_name": "model C2", "units": "1"})
        out["c2_residual"] = (dims, (ds["c2"].values - full) / sigma,
                              {"long_name": "weighted residual (data - model)/sigma", "units": "1"})
        return out.assign_coords(t1=ds["t1"], t2=ds["t2"])

    # ------------------------------------------------------------------ reporting
    @property
    def best_values(self) -> dict[str, float]:
        """Best-fit values by parameter name (free and fixed)."""
        return parameter_values(self)

    def report(self) -> str:
        """Plain-text fit report (lmfit style)."""
        return report_text(self)

    def _repr_html_(self) -> str:
        return report_html(self)


def as_result(ds: xr.Dataset) -> NLSQResult:
    """View a Dataset read back from NetCDF as an :class:`NLSQResult` (for the report)."""
    if "c2_nlsq_coefficients" not in ds:
        raise ValueError("not an NLSQ result: no 'c2_nlsq_coefficients' variable")
    return NLSQResult(ds.data_vars, coords=ds.coords, attrs=ds.attrs)


def concat_q(results: list[xr.Dataset], q: np.ndarray) -> NLSQResult:
    """Stack single-q results (independent per-q fits) along a new ``q`` dimension.

    Parameters
    ----------
    results : list of NLSQResult
        One single-q result per q, all with the same ``param`` list.
    q : array, shape (n_q,)
        The q values [1/Å], in the order of ``results``.
    """
    q = np.asarray(q, dtype=float)
    if len(results) != q.size or not results:
        raise ValueError(f"need one result per q: {len(results)} results for {q.size} q values")
    per_fit = ("condition_number", "elapsed_s", "n_starts")
    parts = []
    for r in results:
        r = xr.Dataset(r.data_vars, coords=r.coords, attrs=r.attrs)
        extra = {a: ((), r.attrs[a]) for a in per_fit if a in r.attrs}
        parts.append(r.assign(extra).drop_attrs(deep=False))
    out = xr.concat(parts, dim="q", data_vars="all", coords="minimal", compat="override")
    out = out.assign_coords(q=("q", q, {"long_name": "scattering vector", "units": "1/Å"}))
    attrs = {k: v for k, v in results[0].attrs.items() if k not in per_fit + ("q",)}
    attrs["q_mode"] = "independent (one fit per q, physics not shared)"
    out.attrs = attrs
    return NLSQResult(out.data_vars, coords=out.coords, attrs=out.attrs)


def parameter_values(res: xr.Dataset) -> dict[str, float]:
    """``{name: value}`` of an NLSQ result (free and fixed parameters)."""
    coef = res["c2_nlsq_coefficients"]
    if coef.ndim != 1:
        raise ValueError(f"this result has dims {coef.dims}; select one fit first, e.g. res.isel(q=0)")
    return {str(n): float(v) for n, v in zip(coef["param"].values, coef.values)}


def _rows(res: xr.Dataset) -> list[tuple[str, str, str, str, str, str]]:
    rows = []
    for n in res["param"].values:
        sel = dict(param=n)
        v = float(res["c2_nlsq_coefficients"].sel(sel))
        e = float(res["c2_nlsq_stderr"].sel(sel))
        vary = bool(res["c2_nlsq_vary"].sel(sel))
        lo, hi = float(res["c2_nlsq_lower"].sel(sel)), float(res["c2_nlsq_upper"].sel(sel))
        unit = str(res["unit"].sel(sel).values)
        rel = f"{100 * abs(e / v):.2g} %" if vary and v != 0 and np.isfinite(e) else ""
        rows.append((str(n), f"{v:.6g}", f"{e:.3g}" if vary else "(fixed)", rel,
                     f"[{lo:.3g}, {hi:.3g}]" if vary else "", unit))
    return rows


def _summary(res: xr.Dataset) -> list[tuple[str, str]]:
    return [
        ("model", f"{res.attrs.get('model')} (scaling: {res.attrs.get('scaling')})"),
        ("success", str(bool(res["success"]))),
        ("message", str(res["message"].values)),
        ("chi2 / chi2_red", f"{float(res['chi2']):.6g} / {float(res['chi2_red']):.6g}"),
        ("n_data / n_params", f"{int(res['n_data'])} / {int(res['n_params'])}"),
        ("evaluations", f"{int(res['n_function_evals'])} residual, {int(res['n_iterations'])} Jacobian"),
        ("weights / covariance", f"{res.attrs.get('weights')} / {res.attrs.get('covariance')}"),
        ("support", f"{res.attrs.get('support')}; diagonal {res.attrs.get('diagonal')}"),
    ]


def report_text(res: xr.Dataset) -> str:
    """Plain-text report of an NLSQ result Dataset (one block per q for per-q results)."""
    if "q" in res["c2_nlsq_coefficients"].dims:
        return "\n\n".join(f"[[q = {float(qv):.6g} 1/Å]]\n" + report_text(res.isel(q=a))
                           for a, qv in enumerate(res["q"].values))
    lines = ["[[NLSQ fit]]"] + [f"    {k:<22}{v}" for k, v in _summary(res)] + ["[[Parameters]]"]
    head = ("name", "value", "stderr", "rel", "bounds", "unit")
    rows = [head] + _rows(res)
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    for r in rows:
        lines.append("    " + "  ".join(s.ljust(w) for s, w in zip(r, widths)))
    return "\n".join(lines)


def report_html(res: xr.Dataset) -> str:
    """HTML report: summary and parameter table (value ± stderr, bounds); one per q for per-q results."""
    if "q" in res["c2_nlsq_coefficients"].dims:
        return "".join(f"<h4>q = {float(qv):.6g} 1/Å</h4>" + report_html(res.isel(q=a))
                       for a, qv in enumerate(res["q"].values))
    ok = bool(res["success"])
    colour = "#1a7f37" if ok else "#cf222e"
    summ = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in _summary(res))
    head = "".join(f"<th>{h}</th>" for h in ("name", "value", "± stderr", "rel. err", "bounds", "unit"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in _rows(res))
    return (f"<div><h4 style='color:{colour}'>NLSQ fit: {'success' if ok else 'FAILED'}</h4>"
            f"<table>{summ}</table><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
