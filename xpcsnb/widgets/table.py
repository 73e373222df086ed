"""The fit result as the workbench shows it: the flagged parameter table, the correlation matrix, exports.

The table and its flags are those of the text/HTML reports (:mod:`xpcsnb.fit.report`:
parameters at a bound, relative errors above 100 %, no standard error; a collapsible
correlation matrix with |r| > 0.95 marked; units as text units, ``Å²·s⁻¹⁻ᵅ``). Exports of
the parameter table: CSV (:func:`parameters_csv`), JSON (:func:`parameters_json`) and
NetCDF (:func:`parameters_dataset`, written atomically by :func:`save_parameters`, read
back by :func:`load_parameters`).
"""

from __future__ import annotations

import html
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..fit.report import correlation_html, flag_parameters, flagged_names, parameter_table_html
from ..fit.result import correlation_matrix as _full_correlation
from ..fit.result import nlsq_name, nlsq_var
from ..io.results import load_result, save_result

__all__ = ["correlation_matrix", "flag_parameters", "load_parameters", "parameters_csv", "parameters_dataset",
           "parameters_json", "result_table_html", "save_parameters"]

#: ``kind`` of parameter-table files (:mod:`xpcsnb.io.results`).
PARAMETERS_KIND = "nlsq-parameters"


def _one_fit(res: xr.Dataset) -> str:
    var = nlsq_var(res)
    if res[nlsq_name(var, "coefficients")].ndim != 1:
        raise ValueError(f"this result holds several fits (dims {res[nlsq_name(var, 'coefficients')].dims}); "
                         "select one with res.isel(q=i)")
    return var


def correlation_matrix(res: xr.Dataset) -> xr.DataArray:
    """Correlation coefficients of the free parameters (dims ``cov_i``, ``cov_j``; units 1).

    The free-parameter block of ``xpcsnb.fit.result.correlation_matrix``.
    """
    var = _one_fit(res)
    free = [str(n) for n, f in zip(res["param"].values, res[nlsq_name(var, "vary")].values) if f]
    out = _full_correlation(res).sel(cov_i=free, cov_j=free)
    out.name = "correlation"
    out.attrs = {"long_name": "parameter correlation", "units": "1"}
    return out


def result_table_html(res: xr.Dataset, *, rel_err_limit: float = 1.0, bound_tol: float = 1e-3,
                      corr_limit: float = 0.95, stale: bool = False) -> str:
    """HTML: summary line, parameter table with flags (coloured rows) and a collapsible correlation matrix.

    Parameters
    ----------
    res : xarray.Dataset
        One NLSQ result.
    rel_err_limit, bound_tol
        Passed to :func:`~xpcsnb.fit.report.flag_parameters`.
    corr_limit : float
        Off-diagonal ``|r|`` above which a correlation is highlighted.
    stale : bool
        Show an "out of date" banner (the settings changed after this fit).
    """
    var = _one_fit(res)
    flags = flag_parameters(res, rel_err_limit=rel_err_limit, bound_tol=bound_tol)
    ok = bool(res[nlsq_name(var, "success")])
    chi2 = float(res[nlsq_name(var, "chi2_red")])
    parts = ["<div class='xpcsnb-result-table'>"]
    if stale:
        parts.append("<div class='xpcsnb-stale' style='background:#fff8c5;border-left:4px solid #d4a72c;"
                     "padding:2px 6px'><b>out of date</b>: the settings changed after this fit; fit again</div>")
    parts.append(f"<div><b>NLSQ fit: {'success' if ok else 'not converged'}</b> — model "
                 f"<code>{html.escape(str(res.attrs.get('model', '?')))}</code>, χ²_red = {chi2:.4g}, "
                 f"{html.escape(str(res[nlsq_name(var, 'message')].values))}</div>")
    if flags:
        parts.append(f"<div class='xpcsnb-flags' style='color:#9a6700'>⚠ {len(flags)} parameter(s) flagged: "
                     f"{html.escape(flagged_names(flags))}</div>")
    parts += [parameter_table_html(res, flags), correlation_html(res, corr_limit=corr_limit), "</div>"]
    return "".join(parts)


def _records(res: xr.Dataset) -> list[dict[str, Any]]:
    var = _one_fit(res)
    flags = flag_parameters(res)
    rows = []
    for name in res["param"].values:
        sel = {"param": name}
        rows.append({"parameter": str(name),
                     **{f: float(res[nlsq_name(var, f)].sel(sel)) for f in ("coefficients", "stderr", "lower",
                                                                              "upper")},
                     "vary": bool(res[nlsq_name(var, "vary")].sel(sel)), "unit": str(res["unit"].sel(sel).values),
                     "flags": "; ".join(flags.get(str(name), []))})
    return rows


def parameters_csv(res: xr.Dataset) -> str:
    """The parameter table as CSV text (parameter, value, stderr, bounds, vary, unit, flags)."""
    import csv

    buf = io.StringIO()
    rows = _records(res)
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def parameters_json(res: xr.Dataset) -> str:
    """The parameter table and the fit summary as JSON text (non-finite numbers as null)."""
    var = _one_fit(res)

    def clean(x: Any) -> Any:
        return None if isinstance(x, float) and not np.isfinite(x) else x

    rows = [{k: clean(v) for k, v in r.items()} for r in _records(res)]
    summary = {"model": str(res.attrs.get("model", "")), "success": bool(res[nlsq_name(var, "success")]),
               "chi2_red": clean(float(res[nlsq_name(var, "chi2_red")])),
               "message": str(res[nlsq_name(var, "message")].values)}
    return json.dumps({"fit": summary, "parameters": rows}, indent=1)


def parameters_dataset(res: xr.Dataset) -> xr.Dataset:
    """The parameter table as a Dataset over ``param``: coefficients, stderr, lower, upper, vary, flags.

    ``unit`` is a coordinate (the result's units); the attributes hold the model, the
    scaling, ``chi2_red``, ``success`` and ``message`` of the fit.
    """
    var = _one_fit(res)
    rows = _records(res)
    names = [r["parameter"] for r in rows]
    data = {f: ("param", np.array([r[f] for r in rows], dtype=float), {"long_name": long})
            for f, long in (("coefficients", "best-fit parameter values"), ("stderr", "standard errors"),
                            ("lower", "lower bounds"), ("upper", "upper bounds"))}
    data["vary"] = ("param", np.array([r["vary"] for r in rows], dtype=bool), {"long_name": "parameter was free"})
    data["flags"] = ("param", np.array([r["flags"] for r in rows], dtype=object),
                     {"long_name": "problems (at a bound, relative error > 100 %), '' if none"})
    attrs = {"model": str(res.attrs.get("model", "")), "scaling": str(res.attrs.get("scaling", "")),
             "chi2_red": float(res[nlsq_name(var, "chi2_red")]), "success": int(bool(res[nlsq_name(var, "success")])),
             "message": str(res[nlsq_name(var, "message")].values), "fitted_variable": var}
    return xr.Dataset(data, coords={"param": ("param", names), "unit": ("param", [r["unit"] for r in rows])},
                      attrs=attrs)


def save_parameters(res: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the parameter table (:func:`parameters_dataset`) to NetCDF-4 atomically; never overwrites unasked.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    return save_result(parameters_dataset(res), path, kind=PARAMETERS_KIND, overwrite=overwrite)


def load_parameters(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a parameter table written by :func:`save_parameters` (kind-checked, fully into memory)."""
    return load_result(path, kind=PARAMETERS_KIND)
