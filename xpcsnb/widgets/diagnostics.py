"""``Diagnostics``: the convergence of a CMC result at a glance, and what to do about it.

* a table of R-hat, bulk and tail ESS per parameter for every shard and the worst over
  shards (the convergence verdict is taken on the shards, see
  :mod:`xpcsnb.fit.diagnostics`), with the combined posterior's mean, sd and 90 %
  interval; a table of divergences and the smallest E-BFMI per shard. Values past the
  result's thresholds (``threshold_*`` attrs: R-hat > 1.01, ESS < 400, divergences > 0,
  E-BFMI < 0.3 by default) are coloured red (class ``xpcsnb-diag-bad``), the others green;
* the stored warnings as a list, each with what to do;
* figures (:mod:`~xpcsnb.widgets.cmcfigures`) of the chosen parameters (by default the
  worst converged, highest R-hat first): trace and rank plots of one shard's chains, a
  pair plot of the combined draws, the posterior against the prior and the NLSQ estimate.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import xarray as xr

from ..core.units import pretty_unit
from ..fit.diagnostics import THRESHOLDS
from ..fit.priors import BoundedPrior
from ..models.parameters import PRIOR_KINDS, Prior
from .cmcfigures import draws_by_label, pair_png, posterior_png, trace_rank_png

__all__ = ["Diagnostics", "REMEDIES", "parse_priors", "remedy"]

_BAD = "background:#ffebe9;color:#cf222e;font-weight:bold"
_GOOD = "color:#1a7f37"
#: What to do for each kind of warning (matched on the start of the message).
REMEDIES: Mapping[str, str] = {
    "R-hat": "the chains disagree: run longer (num_warmup, num_samples), check for several modes, "
             "tighten the priors or bounds",
    "ess_bulk": "too few effective draws: raise num_samples (or num_chains)",
    "ess_tail": "the tails are poorly sampled: raise num_samples; check the priors' tails",
    "shard": "divergent transitions: raise target_accept (e.g. 0.9–0.95), check the priors and bounds",
    "E-BFMI": "poor energy exploration: longer warm-up; check for a parameter with a very wide or "
              "one-sided posterior",
}
_PRIOR_LINE = re.compile(r"^(?P<name>[^:]+): (?P<kind>\w+)(?:\(loc=(?P<loc>[^,]+), scale=(?P<scale>[^)]+)\))? "
                         r"on \[(?P<lo>[^,]+), (?P<hi>[^\]]+)\] \((?P<source>\w+)\)$")


def remedy(message: str) -> str:
    """What to do about one stored convergence warning ("" when unknown)."""
    if "E-BFMI" in message:
        return REMEDIES["E-BFMI"]
    if "divergent" in message:
        return REMEDIES["shard"]
    for key in ("R-hat", "ess_bulk", "ess_tail"):
        if message.startswith(key):
            return REMEDIES[key]
    return ""


def parse_priors(tree: xr.DataTree) -> dict[str, BoundedPrior]:
    """The priors stored in a CMC result's ``priors`` attr (lines of :meth:`BoundedPrior.describe`)."""
    out: dict[str, BoundedPrior] = {}
    for line in str(tree.attrs.get("priors", "")).splitlines():
        m = _PRIOR_LINE.match(line.strip())
        if m is None or m["kind"] not in PRIOR_KINDS:
            continue
        try:
            loc = float(m["loc"]) if m["loc"] else 0.0
            scale = float(m["scale"]) if m["scale"] else 1.0
            out[m["name"].strip()] = BoundedPrior(Prior(m["kind"], loc, scale), float(m["lo"]), float(m["hi"]),
                                                  m["source"])
        except ValueError:
            continue
    return out


def _thresholds(tree: xr.DataTree) -> dict[str, float]:
    a = tree.attrs
    return {"r_hat_max": float(a.get("threshold_r_hat_max", THRESHOLDS.r_hat_max)),
            "ess_min": float(a.get("threshold_ess_min", THRESHOLDS.ess_min)),
            "divergences_max": float(a.get("threshold_divergences_max", THRESHOLDS.divergences_max)),
            "bfmi_min": float(a.get("threshold_bfmi_min", THRESHOLDS.bfmi_min))}


def _cell(value: float, ok: bool, fmt: str = "{:.4g}") -> str:
    text = "nan" if not np.isfinite(value) else fmt.format(value)
    cls = "xpcsnb-diag-ok" if ok else "xpcsnb-diag-bad"
    return f"<td class='{cls}' style='{_GOOD if ok else _BAD};padding:1px 6px;text-align:right'>{text}</td>"


class Diagnostics(widgets.VBox):
    """Convergence table, warnings and figures of a CMC result.

    Parameters
    ----------
    posterior : xarray.DataTree
        Result of :func:`xpcsnb.fit.cmc.fit_cmc` (or :func:`~xpcsnb.fit.cmc.load_cmc`).
    nlsq : xarray.Dataset, optional
        NLSQ result of the same data: its values ± stderr are drawn on the posteriors.
    priors : dict, optional
        ``{name: BoundedPrior}`` to draw (default: parsed from the result's ``priors`` attr).
    n_worst : int
        How many parameters are chosen for the figures at first (worst R-hat first).

    Attributes
    ----------
    table : ipywidgets.HTML
        The convergence tables (cells classed ``xpcsnb-diag-bad`` / ``xpcsnb-diag-ok``).
    warnings_html : ipywidgets.HTML
        The stored warnings with what to do.
    params : ipywidgets.SelectMultiple
        Parameters shown in the figures.
    shard : ipywidgets.Dropdown
        Shard whose chains the trace/rank plot shows.
    trace, pair, versus : ipywidgets.Image
        Trace/rank, pair and posterior-against-prior/NLSQ figures (PNG).
    """

    def __init__(self, posterior: xr.DataTree, *, nlsq: xr.Dataset | None = None,
                 priors: Mapping[str, BoundedPrior] | None = None, n_worst: int = 3, **kwargs: Any) -> None:
        if not isinstance(posterior, xr.DataTree) or not {"posterior", "diagnostics"} <= set(posterior.children):
            raise ValueError("Diagnostics needs the DataTree of fit_cmc or load_cmc (with 'posterior' and "
                             f"'diagnostics' groups), got {type(posterior).__name__}")
        self.tree = posterior
        self.limits = _thresholds(posterior)
        self.diag = posterior["diagnostics"].to_dataset()
        self.shards = sorted(int(k.split("_")[1]) for k in posterior.children if k.startswith("shard_"))
        self.combined = draws_by_label(posterior["posterior"].to_dataset())
        self.units = self._units(posterior["posterior"].to_dataset())
        self.priors = dict(priors) if priors is not None else parse_priors(posterior)
        self.nlsq = self._nlsq_values(nlsq)
        labels = list(self.combined)
        r_hat = self.diag["r_hat"].max("shard").sel(param=labels).values
        worst = [labels[i] for i in np.argsort(-np.nan_to_num(r_hat, nan=np.inf), kind="stable")]
        self.worst = worst

        self.header = widgets.HTML(self._header())
        self.table = widgets.HTML(self._table())
        self.table.add_class("xpcsnb-diag-table")
        self.warnings_html = widgets.HTML(self._warnings())
        self.warnings_html.add_class("xpcsnb-diag-warnings")
        self.params = widgets.SelectMultiple(options=worst, value=tuple(worst[:max(1, min(n_worst, len(worst)))]),
                                             rows=min(6, len(worst)), description="parameters",
                                             layout=widgets.Layout(width="auto", min_width="220px"))
        self.shard = widgets.Dropdown(options=[(f"shard {s}", s) for s in self.shards],
                                      value=self.shards[0] if self.shards else None, description="trace of",
                                      layout=widgets.Layout(width="auto"))
        self.trace = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.pair = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.versus = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
        self.figure_error = widgets.HTML("")
        for img, cls in ((self.trace, "xpcsnb-diag-trace"), (self.pair, "xpcsnb-diag-pair"),
                         (self.versus, "xpcsnb-diag-versus")):
            img.add_class(cls)
        self.params.observe(lambda _: self.draw(), names="value")
        self.shard.observe(lambda _: self.draw(), names="value")
        figures = widgets.Tab(children=[self.trace, self.pair, self.versus])
        for i, t in enumerate(("trace & rank", "pairs", "posterior vs prior / NLSQ")):
            figures.set_title(i, t)
        controls = widgets.HBox([self.params, self.shard], layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([self.header, self.table, self.warnings_html, controls, self.figure_error, figures],
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("xpcsnb-diagnostics")
        self.draw()

    # ------------------------------------------------------------------ public
    @property
    def bad_cells(self) -> int:
        """Number of table cells past a threshold."""
        return self.table.value.count("xpcsnb-diag-bad")

    def draw(self) -> None:
        """Redraw the figures for the chosen parameters and shard."""
        names = list(self.params.value)
        self.figure_error.value = ""
        if not names:
            self.figure_error.value = "<i>choose at least one parameter</i>"
            return
        if self.shards:
            shard = self.tree[f"shard_{self.shard.value}/posterior"].to_dataset()
            self.trace.value = trace_rank_png(draws_by_label(shard), names, title=f"shard {self.shard.value}",
                                              units=self.units)
        self.versus.value = posterior_png(self.combined, names, priors=self.priors, nlsq=self.nlsq, units=self.units)
        pair_names = names if len(names) >= 2 else self.worst[:2]
        if len(pair_names) >= 2:
            self.pair.value = pair_png(self.combined, pair_names)

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _units(post: xr.Dataset) -> dict[str, str]:
        out = {}
        for label in draws_by_label(post):
            var = label if label in post else label.rsplit("_", 1)[0].split("_q")[0]
            out[label] = str(post[var].attrs.get("units", "")) if var in post else ""
        return out

    def _nlsq_values(self, nlsq: xr.Dataset | None) -> dict[str, tuple[float, float]]:
        if nlsq is None:
            return {}
        if not isinstance(nlsq, xr.Dataset) or "c2_nlsq_coefficients" not in nlsq:
            raise ValueError("nlsq= must be an NLSQ result Dataset with 'c2_nlsq_coefficients'")
        names = [str(n) for n in nlsq["param"].values]
        err = nlsq["c2_nlsq_stderr"].values if "c2_nlsq_stderr" in nlsq else np.full(len(names), np.nan)
        return {n: (float(v), float(e)) for n, v, e in zip(names, np.ravel(nlsq["c2_nlsq_coefficients"].values), err)}

    def _header(self) -> str:
        a = self.tree.attrs
        ok = bool(a.get("converged", 0))
        verdict = ("<span style='color:#1a7f37'>✓ every shard passes the thresholds</span>" if ok else
                   f"<span style='color:#cf222e'>✗ {len(self._messages())} convergence problem(s)</span>")
        return (f"<b>CMC diagnostics</b> — model <code>{html.escape(str(a.get('model', '?')))}</code>, "
                f"{len(self.shards)} shard(s) × {a.get('num_chains', '?')} chains × {a.get('num_samples', '?')} "
                f"draws ({html.escape(str(a.get('executor', '')))}, {float(a.get('wall_time_s', np.nan)):.1f} s): "
                f"{verdict}")

    def _messages(self) -> list[str]:
        return [m for m in str(self.tree.attrs.get("warnings", "")).split("\n") if m]

    def _table(self) -> str:
        lim = self.limits
        d = self.diag
        labels = [str(p) for p in d["param"].values]
        summary = self.tree["summary"].to_dataset() if "summary" in self.tree.children else None
        head = "".join(f"<th colspan='3'>shard {s}</th>" for s in self.shards)
        sub = "<th>R-hat</th><th>ESS bulk</th><th>ESS tail</th>" * (len(self.shards) + 1)
        rows = []
        for p in labels:
            cells = []
            for s in range(d.sizes["shard"]):
                r, eb, et = (float(d[v].isel(shard=s).sel(param=p)) for v in ("r_hat", "ess_bulk", "ess_tail"))
                cells += [_cell(r, r <= lim["r_hat_max"]), _cell(eb, eb >= lim["ess_min"], "{:.0f}"),
                          _cell(et, et >= lim["ess_min"], "{:.0f}")]
            r, eb, et = (float(d["r_hat"].sel(param=p).max()), float(d["ess_bulk"].sel(param=p).min()),
                         float(d["ess_tail"].sel(param=p).min()))
            cells += [_cell(r, r <= lim["r_hat_max"]), _cell(eb, eb >= lim["ess_min"], "{:.0f}"),
                      _cell(et, et >= lim["ess_min"], "{:.0f}")]
            post = ""
            if summary is not None and p in summary["param"].values:
                row = summary.sel(param=p)
                post = "".join(f"<td style='padding:1px 6px;text-align:right'>{float(row[v]):.5g}</td>"
                               for v in ("mean", "sd", "eti90_lb", "eti90_ub") if v in row)
            unit = pretty_unit(self.units.get(p, ""))
            unit_txt = f" [{html.escape(unit)}]" if unit else ""
            rows.append(f"<tr><th style='text-align:left'>{html.escape(p)}{unit_txt}</th>{''.join(cells)}{post}</tr>")
        post_head = ("<th rowspan='2'>mean</th><th rowspan='2'>sd</th><th rowspan='2'>5 %</th><th rowspan='2'>95 %</th>"
                     if summary is not None else "")
        param_table = ("<table style='border-collapse:collapse;font-size:12px'>"
                       f"<tr><th rowspan='2'>parameter</th>{head}<th colspan='3'>worst over shards</th>{post_head}</tr>"
                       f"<tr>{sub}</tr>{''.join(rows)}</table>")
        shard_rows = []
        for s in range(d.sizes["shard"]):
            div = float(d["divergences"].isel(shard=s))
            bfmi = float(np.nanmin(d["bfmi"].isel(shard=s).values))
            shard_rows.append(f"<tr><th>shard {s}</th>{_cell(div, div <= lim['divergences_max'], '{:.0f}')}"
                              f"{_cell(bfmi, bfmi >= lim['bfmi_min'], '{:.3g}')}</tr>")
        shard_table = ("<table style='border-collapse:collapse;font-size:12px;margin-top:6px'>"
                       "<tr><th></th><th>divergences</th><th>E-BFMI (min over chains)</th></tr>"
                       f"{''.join(shard_rows)}</table>")
        limits = (f"<div style='color:#57606a;font-size:11px'>thresholds: R-hat ≤ {lim['r_hat_max']:g}, "
                  f"ESS ≥ {lim['ess_min']:g}, divergences ≤ {lim['divergences_max']:g}, "
                  f"E-BFMI ≥ {lim['bfmi_min']:g}</div>")
        return f"<div style='overflow-x:auto;max-width:100%'>{param_table}{shard_table}{limits}</div>"

    def _warnings(self) -> str:
        msgs = self._messages()
        if not msgs:
            return "<span style='color:#1a7f37'>No convergence warning.</span>"
        items = "".join(f"<li>{html.escape(m)}<br><i style='color:#57606a'>what to do: {html.escape(remedy(m))}</i>"
                        "</li>" for m in msgs)
        return f"<b>Warnings</b><ul style='margin:2px 0'>{items}</ul>"
