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
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import xarray as xr

from ..models import registry
from ..models.scaling import base_name

__all__ = ["NLSQResult", "as_result", "parameter_values"]


def _version() -> str:
    from .. import __version__

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
            "q": problem.info["q"], "q_units": "1/Å",
            "dt": problem.info["dt"], "dt_units": "s",
            "time_convention": problem.model.time_convention,
            "xpcsnb_version": _version(),
        }
        if problem.info.get("L") is not None:
            attrs["L"] = problem.info["L"]
            attrs["L_units"] = "Å"
        if problem.fixed_scaling is not None:
            data_vars["contrast_fixed"] = ("phi", problem.fixed_scaling[0])
            data_vars["offset_fixed"] = ("phi", problem.fixed_scaling[1])
        return cls(data_vars, coords=coords, attrs=attrs)

    def with_model(self, problem: Any, ds: xr.Dataset) -> "NLSQResult":
        """Add ``c2_model`` and ``c2_residual`` = (data − model)/σ (phi, t1, t2)."""
        x = np.array([float(self["c2_nlsq_coefficients"].sel(param=n)) for n in problem.names])
        full = np.asarray(problem.predict_full(x))
        sigma = ds["sigma"].values if "sigma" in ds else 1.0
        out = self.copy()
        dims = ("phi", "t1", "t2")
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


def parameter_values(res: xr.Dataset) -> dict[str, float]:
    """``{name: value}`` of an NLSQ result (free and fixed parameters)."""
    coef = res["c2_nlsq_coefficients"]
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
    """Plain-text report of an NLSQ result Dataset."""
    lines = ["[[NLSQ fit]]"] + [f"    {k:<22}{v}" for k, v in _summary(res)] + ["[[Parameters]]"]
    head = ("name", "value", "stderr", "rel", "bounds", "unit")
    rows = [head] + _rows(res)
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    for r in rows:
        lines.append("    " + "  ".join(s.ljust(w) for s, w in zip(r, widths)))
    return "\n".join(lines)


def report_html(res: xr.Dataset) -> str:
    """HTML report: summary and parameter table (value ± stderr, bounds)."""
    ok = bool(res["success"])
    colour = "#1a7f37" if ok else "#cf222e"
    summ = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in _summary(res))
    head = "".join(f"<th>{h}</th>" for h in ("name", "value", "± stderr", "rel. err", "bounds", "unit"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in _rows(res))
    return (f"<div><h4 style='color:{colour}'>NLSQ fit: {'success' if ok else 'FAILED'}</h4>"
            f"<table>{summ}</table><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
