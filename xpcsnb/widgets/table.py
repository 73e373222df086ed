"""The fit result as the workbench shows it: a parameter table that flags problems, a correlation matrix.

Flags (per free parameter of an NLSQ result Dataset, ``{var}_nlsq_*``):

``at bound``
    the value lies within ``bound_tol`` × (upper − lower) of a bound (the fit pushed it
    there: widen the bound or fix the parameter);
``badly determined``
    relative standard error ``stderr / |value|`` above ``rel_err_limit`` (default 1 =
    100 %), or a non-finite standard error (the data do not constrain it: fix it, or
    fit more angles / a longer time range).

The correlation matrix is ``cov_ij / sqrt(cov_ii cov_jj)`` over the free parameters;
entries with ``|r| > corr_limit`` (default 0.95) are highlighted. Units are shown with
:func:`~xpcsnb.widgets.editor.pretty_unit`.
"""

from __future__ import annotations

import html
import io
import json
from typing import Any

import numpy as np
import xarray as xr

from ..fit.result import nlsq_name, nlsq_var
from ..models import get_model
from ..models.registry import get as registry_get
from ..models.scaling import parse_scaling_name
from .editor import pretty_unit

__all__ = ["correlation_matrix", "flag_parameters", "parameters_csv", "parameters_json", "result_table_html"]

_RED, _AMBER = "#ffebe9", "#fff8c5"


def _one_fit(res: xr.Dataset) -> str:
    var = nlsq_var(res)
    if "q" in res[nlsq_name(var, "coefficients")].dims:
        raise ValueError("this result holds several q fits; select one with res.isel(q=i)")
    return var


def _unit(res: xr.Dataset, name: str) -> str:
    model = str(res.attrs.get("model", ""))
    try:
        base = parse_scaling_name(name).base if parse_scaling_name(name) else name  # type: ignore[union-attr]
        return registry_get(get_model(model), base).unit
    except Exception:  # an unknown model name in the attributes: show no unit rather than fail
        return ""


def flag_parameters(res: xr.Dataset, *, rel_err_limit: float = 1.0, bound_tol: float = 1e-3) -> dict[str, list[str]]:
    """``{name: [flags]}`` of the free parameters (flags: ``"at lower bound"``, ``"at upper bound"``,
    ``"badly determined (relative error 230 %)"``, ``"no standard error"``); unflagged names are left out."""
    if not (rel_err_limit > 0 and bound_tol >= 0):
        raise ValueError(f"rel_err_limit must be > 0 and bound_tol >= 0, got {rel_err_limit}, {bound_tol}")
    var = _one_fit(res)
    out: dict[str, list[str]] = {}
    for name in res["param"].values:
        sel = {"param": name}
        if not bool(res[nlsq_name(var, "vary")].sel(sel)):
            continue
        v, e = (float(res[nlsq_name(var, f)].sel(sel)) for f in ("coefficients", "stderr"))
        lo, hi = (float(res[nlsq_name(var, f)].sel(sel)) for f in ("lower", "upper"))
        flags = []
        tol = bound_tol * (hi - lo)
        if v - lo <= tol:
            flags.append("at lower bound")
        elif hi - v <= tol:
            flags.append("at upper bound")
        if not np.isfinite(e):
            flags.append("no standard error")
        elif v == 0 or e / abs(v) > rel_err_limit:
            rel = "∞" if v == 0 else f"{100 * e / abs(v):.0f} %"
            flags.append(f"badly determined (relative error {rel})")
        if flags:
            out[str(name)] = flags
    return out


def correlation_matrix(res: xr.Dataset) -> xr.DataArray:
    """Correlation coefficients of the free parameters (dims ``cov_i``, ``cov_j``)."""
    var = _one_fit(res)
    free = [str(n) for n, f in zip(res["param"].values, res[nlsq_name(var, "vary")].values) if f]
    cov = res[nlsq_name(var, "covariance")].sel(cov_i=free, cov_j=free)
    sd = np.sqrt(np.diag(cov.values))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov.values / np.outer(sd, sd)
    out = cov.copy(data=r)
    out.name = "correlation"
    out.attrs = {"long_name": "parameter correlation", "units": "1"}
    return out


def _fmt(x: float) -> str:
    if not np.isfinite(x):
        return "—"
    return f"{x:.5g}"


def result_table_html(res: xr.Dataset, *, rel_err_limit: float = 1.0, bound_tol: float = 1e-3,
                      corr_limit: float = 0.95, stale: bool = False) -> str:
    """HTML: summary line, parameter table with flags (coloured rows) and a collapsible correlation matrix."""
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
        parts.append(f"<div style='color:#9a6700'>⚠ {len(flags)} parameter(s) flagged: "
                     + html.escape("; ".join(f"{n}: {', '.join(f)}" for n, f in flags.items())) + "</div>")
    parts.append("<table style='border-collapse:collapse'><tr><th>parameter</th><th>value</th><th>± error</th>"
                 "<th>rel. error</th><th>bounds</th><th>unit</th><th>flags</th></tr>")
    for name in res["param"].values:
        name = str(name)
        sel = {"param": name}
        v, e, lo, hi = (float(res[nlsq_name(var, f)].sel(sel)) for f in ("coefficients", "stderr", "lower", "upper"))
        free = bool(res[nlsq_name(var, "vary")].sel(sel))
        f = flags.get(name, [])
        colour = _RED if any("bound" in x for x in f) else _AMBER if f else ""
        rel = f"{100 * e / abs(v):.3g} %" if free and np.isfinite(e) and v != 0 else "—"
        parts.append(
            f"<tr class='{'xpcsnb-flagged' if f else ''}' style='background:{colour}'>"
            f"<td><b>{html.escape(name)}</b></td><td>{_fmt(v)}</td><td>{_fmt(e) if free else 'fixed'}</td>"
            f"<td>{rel}</td><td>{'[' + _fmt(lo) + ', ' + _fmt(hi) + ']' if free else '—'}</td>"
            f"<td>{html.escape(pretty_unit(_unit(res, name)))}</td><td>{html.escape(', '.join(f))}</td></tr>")
    parts.append("</table>")
    corr = correlation_matrix(res)
    names = [str(n) for n in corr["cov_i"].values]
    n_high = int(np.sum(np.triu(np.abs(corr.values) > corr_limit, 1)))
    parts.append(f"<details class='xpcsnb-correlation'><summary>correlation matrix ({len(names)} free parameters; "
                 f"{n_high} pair(s) with |r| &gt; {corr_limit:g})</summary>"
                 "<table style='border-collapse:collapse;font-variant-numeric:tabular-nums'><tr><th></th>"
                 + "".join(f"<th>{html.escape(n)}</th>" for n in names) + "</tr>")
    for i, a in enumerate(names):
        cells = []
        for j in range(len(names)):
            r = float(corr.values[i, j])
            hot = i != j and np.isfinite(r) and abs(r) > corr_limit
            cells.append(f"<td class='{'xpcsnb-corr-high' if hot else ''}' style='padding:0 4px;"
                         f"{'background:' + _RED + ';font-weight:bold' if hot else ''}'>{r:+.2f}</td>")
        parts.append(f"<tr><th>{html.escape(a)}</th>{''.join(cells)}</tr>")
    parts.append("</table></details></div>")
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
                     "vary": bool(res[nlsq_name(var, "vary")].sel(sel)), "unit": _unit(res, str(name)),
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
