"""Reports of NLSQ results: text and HTML tables that flag problems, a collapsible correlation matrix.

One rendering for every view: :class:`~xpcsnb.fit.result.FitReport` (``res.xpcs.report()``,
text and ``_repr_html_``), the command line's report page and the workbench's result table
(:mod:`xpcsnb.widgets.table`) all build on the functions here.

Flags (per free parameter, :func:`flag_parameters`)
---------------------------------------------------
``at lower bound`` / ``at upper bound``
    the value lies within ``bound_tol`` × (upper − lower) of a bound (the fit pushed it
    there: widen the bound or fix the parameter);
``badly determined (relative error 230 %)``
    ``stderr / |value|`` above ``rel_err_limit`` (default 1 = 100 %): the data do not
    constrain it (fix it, or fit more angles / a longer time range);
``no standard error``
    a non-finite standard error (singular covariance).

Units are text units (:func:`xpcsnb.core.units.pretty_unit`: ``Å²·s⁻¹⁻ᵅ``).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import xarray as xr

from ..core.units import pretty_unit
from .result import correlation_matrix, nlsq_name, nlsq_var

__all__ = ["CORR_SHOWN", "correlation_html", "correlations", "flag_parameters", "flagged_names",
           "parameter_table_html", "report_html", "report_text"]

#: Correlations below this magnitude are left out of the text report.
CORR_SHOWN = 0.5
#: Off-diagonal correlations above this magnitude are highlighted in the HTML matrix.
CORR_HIGH = 0.95
_RED, _AMBER = "#ffebe9", "#fff8c5"


def flag_parameters(res: xr.Dataset, *, rel_err_limit: float = 1.0, bound_tol: float = 1e-3) -> dict[str, list[str]]:
    """The problems of the free parameters of one NLSQ fit.

    Parameters
    ----------
    res : xarray.Dataset
        One NLSQ result (select one q or ROI of a stacked result first).
    rel_err_limit : float
        Relative standard error above which a parameter is "badly determined" (1 = 100 %).
    bound_tol : float
        Distance to a bound, as a fraction of (upper − lower), that counts as "at" it.

    Returns
    -------
    dict
        ``{name: [flags]}`` (``"at lower bound"``, ``"at upper bound"``, ``"badly determined
        (relative error 230 %)"``, ``"no standard error"``); unflagged names are left out.
    """
    if not (rel_err_limit > 0 and bound_tol >= 0):
        raise ValueError(f"rel_err_limit must be > 0 and bound_tol >= 0, got {rel_err_limit}, {bound_tol}")
    var = nlsq_var(res)
    if res[nlsq_name(var, "coefficients")].ndim != 1:
        raise ValueError(f"this result holds several fits (dims {res[nlsq_name(var, 'coefficients')].dims}); "
                         "select one first, e.g. res.isel(q=0)")
    out: dict[str, list[str]] = {}
    for name in res["param"].values:
        sel = {"param": name}
        if not bool(res[nlsq_name(var, "vary")].sel(sel)):
            continue
        v, e, lo, hi = (float(res[nlsq_name(var, f)].sel(sel)) for f in ("coefficients", "stderr", "lower", "upper"))
        flags = []
        tol = bound_tol * (hi - lo) if np.isfinite(hi - lo) else bound_tol * max(abs(v), 1e-300)
        if np.isfinite(lo) and v - lo <= tol:
            flags.append("at lower bound")
        elif np.isfinite(hi) and hi - v <= tol:
            flags.append("at upper bound")
        if not np.isfinite(e):
            flags.append("no standard error")
        elif v == 0 or e / abs(v) > rel_err_limit:
            rel = "∞" if v == 0 else f"{100 * e / abs(v):.0f} %"
            flags.append(f"badly determined (relative error {rel})")
        if flags:
            out[str(name)] = flags
    return out


def flagged_names(flags: dict[str, list[str]]) -> str:
    """One line naming flagged parameters (``"D0: at lower bound; alpha: ..."``) from :func:`flag_parameters`."""
    return "; ".join(f"{n}: {', '.join(f)}" for n, f in flags.items())


def _rows(res: xr.Dataset, var: str, flags: dict[str, list[str]]) -> list[tuple[str, ...]]:
    rows = []
    for n in res["param"].values:
        sel = dict(param=n)
        v, e, lo, hi = (float(res[nlsq_name(var, f)].sel(sel)) for f in ("coefficients", "stderr", "lower", "upper"))
        vary = bool(res[nlsq_name(var, "vary")].sel(sel))
        unit = pretty_unit(str(res["unit"].sel(sel).values))
        rel = f"{100 * abs(e / v):.2g} %" if vary and v != 0 and np.isfinite(e) else ""
        rows.append((str(n), f"{v:.6g}", f"{e:.3g}" if vary else "(fixed)", rel,
                     f"[{lo:.3g}, {hi:.3g}]" if vary else "", unit, ", ".join(flags.get(str(n), []))))
    return rows


def _summary(res: xr.Dataset, var: str) -> list[tuple[str, str]]:
    def get(field: str) -> Any:
        return res[nlsq_name(var, field)]

    return [
        ("model", f"{res.attrs.get('model')} (scaling: {res.attrs.get('scaling')})"),
        ("success", str(bool(get("success")))),
        ("message", str(get("message").values)),
        ("chi2 / chi2_red", f"{float(get('chi2')):.6g} / {float(get('chi2_red')):.6g}"),
        ("fit quality", str(res[nlsq_name(var, "fit_quality")].values) if nlsq_name(var, "fit_quality") in res
         else "not assessed"),
        ("starts", f"{res.attrs.get('n_starts')} ({res.attrs.get('start_method', '')})"),
        *([("units", f"t [{pretty_unit(res.attrs['dt_units'])}], q [{pretty_unit(res.attrs.get('q_units', '1/Å'))}]")]
          if "dt_units" in res.attrs else []),
        ("n_data / n_params", f"{int(get('n_data'))} / {int(get('n_params'))}"),
        ("evaluations", f"{int(get('n_function_evals'))} residual, {int(get('n_iterations'))} Jacobian"),
        ("weights / covariance", f"{res.attrs.get('weights')} / {res.attrs.get('covariance')}"),
        ("support", f"{res.attrs.get('support')}; diagonal {res.attrs.get('diagonal')}"),
    ]


def correlations(res: xr.Dataset, var: str, shown: float = CORR_SHOWN) -> list[tuple[str, str, float]]:
    """Pairs of free parameters with |correlation| ≥ ``shown``, strongest first."""
    corr = correlation_matrix(res).values
    names = [str(n) for n in res["param"].values]
    out = [(names[a], names[b], float(corr[a, b])) for a in range(len(names)) for b in range(a + 1, len(names))
           if np.isfinite(corr[a, b]) and abs(corr[a, b]) >= shown]
    return sorted(out, key=lambda t: -abs(t[2]))


def _blocks(res: xr.Dataset, var: str) -> list[tuple[str, xr.Dataset]] | None:
    """(label, single fit) per q or ROI of a stacked result; None for a single fit."""
    dims = res[nlsq_name(var, "coefficients")].dims
    if "q" in dims:
        return [(f"q = {float(qv):.6g} Å⁻¹", res.isel(q=a)) for a, qv in enumerate(res["q"].values)]
    if "roi" in dims:
        return [(f"roi {rv}", res.isel(roi=a)) for a, rv in enumerate(res["roi"].values)]
    return None


def report_text(res: xr.Dataset) -> str:
    """Plain-text report of an NLSQ result Dataset (one block per q or ROI for stacked results)."""
    var = nlsq_var(res)
    blocks = _blocks(res, var)
    if blocks is not None:
        return "\n\n".join(f"[[{label}]]\n" + report_text(one) for label, one in blocks)
    flags = flag_parameters(res)
    lines = ["[[NLSQ fit]]"] + [f"    {k:<22}{v}" for k, v in _summary(res, var)]
    if flags:
        lines.append(f"    {'flagged':<22}{len(flags)} parameter(s), see the flags column")
    lines.append("[[Parameters]]")
    head = ("name", "value", "stderr", "rel", "bounds", "unit", "flags")
    rows = [head] + _rows(res, var, flags)
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    for r in rows:
        lines.append(("    " + "  ".join(s.ljust(w) for s, w in zip(r, widths))).rstrip())
    corr = correlations(res, var)
    if corr:
        lines.append(f"[[Correlations]] (|r| < {CORR_SHOWN} not shown)")
        lines.extend(f"    C({a}, {b}) = {r:+.4f}" for a, b, r in corr)
    return "\n".join(lines)


def correlation_html(res: xr.Dataset, *, corr_limit: float = CORR_HIGH) -> str:
    """A collapsible (``<details>``) correlation matrix of the free parameters; |r| > ``corr_limit`` highlighted."""
    var = nlsq_var(res)
    free = [str(n) for n, f in zip(res["param"].values, res[nlsq_name(var, "vary")].values) if f]
    corr = correlation_matrix(res).sel(cov_i=free, cov_j=free).values
    n_high = int(np.sum(np.triu(np.abs(np.nan_to_num(corr)) > corr_limit, 1)))
    parts = [f"<details class='xpcsnb-correlation'><summary>correlation matrix ({len(free)} free parameters; "
             f"{n_high} pair(s) with |r| &gt; {corr_limit:g})</summary>"
             "<table style='border-collapse:collapse;font-variant-numeric:tabular-nums'><tr><th></th>"
             + "".join(f"<th>{html.escape(n)}</th>" for n in free) + "</tr>"]
    for i, a in enumerate(free):
        cells = []
        for j in range(len(free)):
            r = float(corr[i, j])
            hot = i != j and np.isfinite(r) and abs(r) > corr_limit
            cells.append(f"<td class='{'xpcsnb-corr-high' if hot else ''}' style='padding:0 4px;"
                         f"{'background:' + _RED + ';font-weight:bold' if hot else ''}'>"
                         f"{f'{r:+.2f}' if np.isfinite(r) else '—'}</td>")
        parts.append(f"<tr><th>{html.escape(a)}</th>{''.join(cells)}</tr>")
    parts.append("</table></details>")
    return "".join(parts)


def parameter_table_html(res: xr.Dataset, flags: dict[str, list[str]]) -> str:
    """The parameter table: value, ± stderr, relative error, bounds, unit, flags; flagged rows coloured."""
    var = nlsq_var(res)
    head = "".join(f"<th>{h}</th>" for h in ("name", "value", "± stderr", "rel. err", "bounds", "unit", "flags"))
    body = []
    for row in _rows(res, var, flags):
        f = flags.get(row[0], [])
        colour = _RED if any("bound" in x for x in f) else _AMBER if f else ""
        style = f" style='background:{colour}'" if colour else ""
        body.append(f"<tr class='{'xpcsnb-flagged' if f else ''}'{style}>"
                    + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    return (f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def report_html(res: xr.Dataset) -> str:
    """HTML report: summary, flagged parameter table and a collapsible correlation matrix (one per q or ROI)."""
    var = nlsq_var(res)
    blocks = _blocks(res, var)
    if blocks is not None:
        return "".join(f"<h4>{html.escape(label)}</h4>" + report_html(one) for label, one in blocks)
    ok = bool(res[nlsq_name(var, "success")])
    colour = "#1a7f37" if ok else "#cf222e"
    flags = flag_parameters(res)
    summ = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(v)}</td></tr>" for k, v in _summary(res, var))
    warn = (f"<div class='xpcsnb-flags' style='color:#9a6700'>⚠ {len(flags)} parameter(s) flagged: "
            f"{html.escape(flagged_names(flags))}</div>" if flags else "")
    return (f"<div><h4 style='color:{colour}'>NLSQ fit: {'success' if ok else 'FAILED'}</h4>"
            f"<table>{summ}</table>{warn}{parameter_table_html(res, flags)}{correlation_html(res)}</div>")
