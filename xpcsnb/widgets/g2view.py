"""``G2View``: g2(τ) curves with their fits and Γ(q), or cuts of a two-time map, for Jupyter.

One-time data (a g2 Dataset, :mod:`xpcsnb.core.g2`): every ROI's g2(τ) on a log τ axis,
coloured by q (viridis, low q dark), the fitted curves of a g2 NLSQ result
(:func:`xpcsnb.plot.g2.model_curves`) as lines; the selected ROI is drawn on top with
its error bars. Beside it Γ(q) on log–log axes from :func:`xpcsnb.fit.fit_rates` (points
with error bars and the fitted law) when the result has ``q``; selecting a ROI (the
drop-down, a click on a curve or a Γ point, :meth:`G2View.select`) highlights it in both.

Two-time data (a Dataset with ``c2(phi, t1, t2)``): a :class:`~xpcsnb.widgets.c2view.C2View`
of the map, the cut ``C2(t1 = age, t1 + τ)`` at the age chosen with the slider and the
lag-averaged g2 (:func:`~xpcsnb.widgets.cuts.lag_average`), with the model's cut and
lag average when a result with ``c2_model`` (or one :func:`xpcsnb.forward.evaluate`
accepts) is given. A click on the map (:class:`AgeMap`) sets the age to the t1 under the
pointer, the map's angle picker sets the angle of the cuts, and zooming the map moves the
age to the centre of the visible t1 window. Cuts are numpy slices of the
full-resolution matrix; the lag averages are cached per angle.
"""

from __future__ import annotations

import html
import math
from typing import Any

from pathlib import Path

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
import xarray as xr

from ..core.errors import G2Error
from ..core.units import pretty_unit
from ..fit.g2nlsq import check_fitted_on
from ..fit.rates import fit_rates
from ..plot.g2 import model_curves
from .c2view import C2View, colormap_luts
from .cuts import g2_svg, lag_average, nice_ticks, with_download

__all__ = ["AgeMap", "G2View", "SvgPick", "curves_svg", "rates_svg", "q_colours"]

_STATIC = Path(__file__).parent / "static"


class SvgPick(anywidget.AnyWidget):
    """An SVG figure whose elements with a ``data-row`` attribute can be clicked: the page sets ``picked``."""

    _esm = _STATIC / "svgpick.js"
    value = traitlets.Unicode("", help="the SVG markup").tag(sync=True)
    picked = traitlets.Int(-1, help="page → kernel: data-row of the clicked element").tag(sync=True)


def q_colours(q: np.ndarray) -> list[str]:
    """A viridis colour (``#rrggbb``) per value of ``q``, by rank of log q (NaN → grey)."""
    lut = np.frombuffer(colormap_luts(["viridis"]), dtype=np.uint8).reshape(256, 3)
    q = np.asarray(q, float)
    ok = np.isfinite(q) & (q > 0)
    out = ["#888888"] * q.size
    if ok.any():
        lq = np.log10(q[ok])
        span = float(lq.max() - lq.min()) or 1.0
        for i, v in zip(np.flatnonzero(ok), lq):
            r, g, b = lut[int(round(220 * (v - lq.min()) / span))]
            out[i] = f"#{r:02x}{g:02x}{b:02x}"
    return out


def _frame(width: int, height: int, title: str, cls: str) -> tuple[list[str], tuple[int, int, int, int]]:
    ml, mr, mt, mb = 56, 10, 22, 38
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='{cls}' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' style='max-width:100%;height:auto;font:11px sans-serif'>",
           f"<rect x='{ml}' y='{mt}' width='{width - ml - mr}' height='{height - mt - mb}' fill='none' stroke='#888'/>",
           f"<text x='{ml}' y='14' font-weight='bold'>{html.escape(title)}</text>"]
    return out, (ml, mt, width - ml - mr, height - mt - mb)


def _log_ticks(out: list[str], lo: float, hi: float, pos: Any, axis: str, box: tuple[int, int, int, int]) -> None:
    ml, mt, pw, ph = box
    for k in range(math.floor(lo), math.ceil(hi) + 1):
        if lo - 1e-9 <= k <= hi + 1e-9:
            p = pos(10.0 ** k)
            if axis == "x":
                out.append(f"<text x='{p:.1f}' y='{mt + ph + 15}' text-anchor='middle'>10<tspan dy='-4' "
                           f"font-size='8'>{k}</tspan></text>")
            else:
                out.append(f"<text x='{ml - 6}' y='{p + 4:.1f}' text-anchor='end'>10<tspan dy='-4' "
                           f"font-size='8'>{k}</tspan></text>")


def curves_svg(tau: np.ndarray, g2: np.ndarray, err: np.ndarray | None, model: np.ndarray | None,
               colours: list[str], selected: int, *, title: str = "", width: int = 460, height: int = 300) -> str:
    """SVG of g2 (n_roi, n_tau) on log τ [s]: points per ROI, model lines, the ``selected`` row on top with error bars."""
    tau, g2 = np.asarray(tau, float), np.asarray(g2, float)
    ok_t = tau > 0
    vals = g2[:, ok_t][np.isfinite(g2[:, ok_t])]
    if vals.size == 0:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='30'><text x='4' y='20'>no finite g2</text></svg>"
    y0, y1 = float(vals.min()), float(vals.max())
    pad = 0.05 * (y1 - y0 or abs(y1) or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    lx0, lx1 = math.log10(tau[ok_t].min()), math.log10(tau[ok_t].max())
    if lx1 <= lx0:
        lx0, lx1 = lx0 - 0.5, lx1 + 0.5
    out, box = _frame(width, height, title, "xpcsnb-g2curves")
    ml, mt, pw, ph = box

    def X(t: float) -> float:
        return ml + pw * (math.log10(t) - lx0) / (lx1 - lx0)

    def Y(v: float) -> float:
        return mt + ph * (1 - (min(max(v, y0), y1) - y0) / (y1 - y0))

    _log_ticks(out, lx0, lx1, X, "x", box)
    for v in nice_ticks(y0, y1, 4):
        out.append(f"<text x='{ml - 6}' y='{Y(v) + 4:.1f}' text-anchor='end'>{v:g}</text>")
    out.append(f"<text x='{ml + pw / 2}' y='{height - 4}' text-anchor='middle'>τ [s]</text>"
               f"<text transform='translate(12 {mt + ph / 2}) rotate(-90)' text-anchor='middle'>g₂(τ)</text>")
    order = [i for i in range(g2.shape[0]) if i != selected] + ([selected] if 0 <= selected < g2.shape[0] else [])
    for i in order:
        sel = i == selected
        ok = ok_t & np.isfinite(g2[i])
        op = "1" if sel or selected < 0 else "0.35"
        grp = [f"<g class='roi{' selected' if sel else ''}' data-row='{i}' opacity='{op}'>"]
        if sel and err is not None:
            e = np.asarray(err, float)[i]
            for t, v, s in zip(tau[ok], g2[i, ok], e[ok]):
                if np.isfinite(s) and s > 0:
                    grp.append(f"<line x1='{X(t):.1f}' x2='{X(t):.1f}' y1='{Y(v - s):.1f}' y2='{Y(v + s):.1f}' "
                               f"stroke='{colours[i]}'/>")
        r = 3.0 if sel else 1.8
        grp.extend(f"<circle cx='{X(t):.1f}' cy='{Y(v):.1f}' r='{r}' fill='{colours[i]}'/>"
                   for t, v in zip(tau[ok], g2[i, ok]))
        if model is not None:
            m = np.asarray(model, float)[i]
            pts = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in zip(tau[ok_t], m[ok_t]) if np.isfinite(v))
            grp.append(f"<polyline class='xpcsnb-g2-model' points='{pts}' fill='none' stroke="
                       f"'{'#cf222e' if sel else colours[i]}' stroke-width='{2.2 if sel else 1.0}'/>")
        out.append("".join(grp) + "</g>")
    out.append("</svg>")
    return "".join(out)


def rates_svg(rates: xr.Dataset, colours: list[str], selected: int, *, width: int = 360, height: int = 300) -> str:
    """SVG of Γ(q) on log–log axes: per-ROI rates with error bars, the fitted law, the ``selected`` ROI ringed."""
    q, g, e = (np.asarray(rates[n].values, float) for n in ("q", "gamma", "gamma_err"))
    ok = np.isfinite(q) & (q > 0) & np.isfinite(g) & (g > 0)
    if not ok.any():
        return "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='30'><text x='4' y='20'>no usable Γ</text></svg>"
    qc, gc = np.asarray(rates["q_curve"].values, float), np.asarray(rates["gamma_curve"].values, float)
    lo_e = np.where(np.isfinite(e) & (e > 0) & (g - e > 0), g - e, g)
    ys = np.concatenate([lo_e[ok], (g + np.nan_to_num(e))[ok], gc[gc > 0]])
    lx0, lx1 = math.log10(q[ok].min()) - 0.05, math.log10(q[ok].max()) + 0.05
    ly0, ly1 = math.log10(ys.min()) - 0.1, math.log10(ys.max()) + 0.1
    law = f"D = {float(rates['D']):.3g} {pretty_unit(str(rates['D'].attrs.get('units', '')))}"
    out, box = _frame(width, height, f"Γ(q): {law}", "xpcsnb-rates")
    ml, mt, pw, ph = box

    def X(v: float) -> float:
        return ml + pw * (math.log10(v) - lx0) / (lx1 - lx0)

    def Y(v: float) -> float:
        return mt + ph * (1 - (math.log10(v) - ly0) / (ly1 - ly0))

    _log_ticks(out, lx0, lx1, X, "x", box)
    _log_ticks(out, ly0, ly1, Y, "y", box)
    out.append(f"<text x='{ml + pw / 2}' y='{height - 4}' text-anchor='middle'>q [Å⁻¹]</text>"
               f"<text transform='translate(12 {mt + ph / 2}) rotate(-90)' text-anchor='middle'>Γ [s⁻¹]</text>")
    pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(qc, gc) if a > 0 and b > 0)
    out.append(f"<polyline class='xpcsnb-rates-fit' points='{pts}' fill='none' stroke='#cf222e' stroke-width='1.5'/>")
    for i in np.flatnonzero(ok):
        if np.isfinite(e[i]) and e[i] > 0:
            out.append(f"<line x1='{X(q[i]):.1f}' x2='{X(q[i]):.1f}' y1='{Y(lo_e[i]):.1f}' y2='{Y(g[i] + e[i]):.1f}' "
                       f"stroke='{colours[i]}'/>")
        sel = i == selected
        out.append(f"<circle class='roi{' selected' if sel else ''}' data-row='{i}' cx='{X(q[i]):.1f}' "
                   f"cy='{Y(g[i]):.1f}' r='{5 if sel else 3}' fill='{colours[i]}'"
                   + (" stroke='#cf222e' stroke-width='2'" if sel else "") + "/>")
    out.append("</svg>")
    return "".join(out)


def _age_map_esm() -> str:
    """c2view.js with its default export replaced by the click-to-pick wrapper of agepick.js."""
    base = (_STATIC / "c2view.js").read_text()
    marker = "export default { render };"
    if marker not in base:
        raise RuntimeError("static/c2view.js no longer ends with 'export default { render };'; update AgeMap")
    return base.replace(marker, "") + "\n" + (_STATIC / "agepick.js").read_text()


class AgeMap(C2View):
    """A :class:`C2View` whose page also reports a click on the map: ``pick_row`` = the t1 row under the pointer."""

    _esm = _age_map_esm()
    pick_row = traitlets.Int(-1, help="page → kernel: t1 row (data index) of a click on the map").tag(sync=True)


class G2View(widgets.VBox):
    """g2(τ) per ROI with fits and Γ(q) (one-time), or age cuts of C2 with a C2View (two-time).

    Parameters
    ----------
    g2 : xarray.Dataset
        A g2 Dataset (``g2(roi, tau)``, optional ``g2_err``, ``q(roi)``) or a two-time
        Dataset (``c2(phi, t1, t2)`` or ``c2(t1, t2)``).
    result : xarray.Dataset, optional
        One-time: a g2 NLSQ result (``g2_nlsq_*`` over ``roi``, ``attrs["model"]``).
        Two-time: a fit result with ``c2_model`` or one :func:`xpcsnb.forward.evaluate` takes.
    size : int
        Largest edge of the C2 map [CSS px] (two-time).
    """

    def __init__(self, g2: xr.Dataset, result: xr.Dataset | None = None, *, size: int = 360) -> None:
        if not isinstance(g2, xr.Dataset):
            raise TypeError(f"G2View shows an xarray Dataset (g2 or two-time), got {type(g2).__name__}")
        self.data, self.result = g2, result
        self.message = widgets.HTML()
        if "g2" in g2:
            self.mode = "onetime"
            children = self._build_onetime()
        elif "c2" in g2:
            self.mode = "twotime"
            children = self._build_twotime(size)
        else:
            raise G2Error(f"G2View needs a 'g2' (one-time) or 'c2' (two-time) variable; got {list(g2.data_vars)}")
        super().__init__(children + [self.message])

    # -- one-time ---------------------------------------------------------------------
    def _build_onetime(self) -> list[widgets.Widget]:
        ds = self.data
        if ds["g2"].dims != ("roi", "tau"):
            raise G2Error(f"G2View needs g2 with dims (roi, tau) (select one t_age first), got {ds['g2'].dims}")
        self._rois = ds["roi"].values
        q = ds["q"].values.astype(float) if "q" in ds.coords else np.full(self._rois.size, np.nan)
        self._q = q
        self._colours = q_colours(q) if np.isfinite(q).any() else q_colours(np.arange(1, self._rois.size + 1))
        self._err = ds["g2_err"].values if "g2_err" in ds else None
        if isinstance(self.result, xr.Dataset) and "g2_nlsq_chi2" in self.result:
            check_fitted_on(ds, self.result, "result=")
        self._model = None if self.result is None else model_curves(self.result, ds["tau"].values, self._rois)
        self.rates: xr.Dataset | None = None
        if self.result is not None and np.isfinite(q).all():
            try:
                res = self.result
                if "q" not in res.coords:
                    res = res.assign_coords(q=("roi", q))
                param = "gamma" if "gamma" in [str(p) for p in res["param"].values] else "gamma_slow"
                self.rates = fit_rates(res, param=param)
            except G2Error as err:
                self.message.value = f"<span style='color:#9a6700'>Γ(q) not fitted: {html.escape(str(err))}</span>"
        labels = [(f"ROI {r}" + (f" — q = {qq:.4g} Å⁻¹" if np.isfinite(qq) else ""), i)
                  for i, (r, qq) in enumerate(zip(self._rois, q))]
        self.roi = widgets.Dropdown(options=labels, value=0, description="ROI")
        self.roi.observe(lambda _c: self._draw_onetime(), names="value")
        self.curves = SvgPick()
        self.rates_plot = SvgPick()
        for pane in (self.curves, self.rates_plot):
            pane.observe(self._on_pick, names="picked")
        self._draw_onetime()
        return [self.roi, widgets.HBox([self.curves, self.rates_plot], layout=widgets.Layout(flex_flow="row wrap"))]

    def _on_pick(self, change: Any) -> None:
        row = int(change["new"])
        if 0 <= row < self._rois.size:
            self.roi.value = row
        change["owner"].picked = -1  # the next click on the same row is a change again

    def _draw_onetime(self) -> None:
        k = int(self.roi.value)
        self.curves.value = with_download(curves_svg(self.data["tau"].values, self.data["g2"].values, self._err,
                                                     self._model, self._colours, k, title=self.roi.label),
                                          "g2_curves.svg")
        if self.rates is not None:
            self.rates_plot.value = with_download(rates_svg(self.rates, self._colours, k), "gamma_of_q.svg")

    @property
    def selected(self) -> Any:
        """The selected ROI label (one-time) or the age index (two-time)."""
        return self._rois[int(self.roi.value)] if self.mode == "onetime" else int(self.age.value)

    def select(self, roi: Any) -> None:
        """Select the ROI whose ``roi`` coordinate is ``roi`` (one-time) or the age index ``roi`` (two-time)."""
        if self.mode == "twotime":
            self.age.value = int(roi)
            return
        hits = np.flatnonzero(self._rois == roi)
        if hits.size == 0:
            raise ValueError(f"no ROI {roi!r}; the data have {self._rois.tolist()}")
        self.roi.value = int(hits[0])

    # -- two-time ---------------------------------------------------------------------
    def _build_twotime(self, size: int) -> list[widgets.Widget]:
        c2 = self.data["c2"]
        if c2.dims == ("t1", "t2"):
            c2 = c2.expand_dims("phi")
        if set(c2.dims) != {"phi", "t1", "t2"}:
            raise G2Error(f"G2View needs c2 with dims (phi, t1, t2), got {c2.dims}; select one q first")
        self._c2 = c2.transpose("phi", "t1", "t2")
        self._model_c2 = self._twotime_model()
        self.map = AgeMap(self.data, size=size)
        n = self._c2.sizes["t1"]
        self._t = self._c2["t1"].values.astype(float)
        self._t_unit = pretty_unit(str(self._c2["t1"].attrs.get("units", "s"))) or "s"
        self.age = widgets.IntSlider(value=0, min=0, max=max(n - 2, 0), description="age t1",
                                     continuous_update=False, readout=False)
        self.age_label = widgets.Label()
        self._lag_cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        self.age.observe(lambda _c: self._draw_twotime(), names="value")
        self.map.observe(lambda _c: self._draw_twotime(), names="phi_index")
        self.map.observe(self._on_window, names="window")
        self.map.observe(self._on_pick_row, names="pick_row")
        self.cut = widgets.HTML()
        self.lagavg = widgets.HTML()
        self._draw_twotime()
        return [widgets.HBox([self.map, widgets.VBox([widgets.HBox([self.age, self.age_label]), self.cut,
                                                      self.lagavg])], layout=widgets.Layout(flex_flow="row wrap"))]

    def _twotime_model(self) -> np.ndarray | None:
        res = self.result
        if res is None:
            return None
        if "c2_model" in res:
            m = res["c2_model"]
        else:
            from ..forward import evaluate

            if "model" not in res.attrs:
                raise G2Error("the result has neither c2_model nor attrs['model']; fit with return_model=True")
            m = evaluate(self.data, res.attrs["model"], res)["c2"]
        if m.dims == ("t1", "t2"):
            m = m.expand_dims("phi")
        m = m.transpose("phi", "t1", "t2")
        if m.shape != self._c2.shape:
            raise G2Error(f"the model's shape {m.shape} differs from the data's {self._c2.shape}")
        return m.values

    def _on_pick_row(self, change: Any) -> None:
        row = int(change["new"])
        if row >= 0:
            self.age.value = min(row, self.age.max)
            self.map.pick_row = -1  # the next click on the same row is a change again

    def _on_window(self, change: Any) -> None:
        r0, r1 = change["new"][:2]
        if r1 > r0:
            self.age.value = min(max((r0 + r1) // 2, 0), self.age.max)

    def _lag(self, which: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        key = (which, k)
        if key not in self._lag_cache:
            a = self._c2.values[k] if which == "data" else self._model_c2[k]  # type: ignore[index]
            self._lag_cache[key] = lag_average(a, self._t)
        return self._lag_cache[key]

    def cut_at(self, i: int, k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(tau, c2, model)`` of the row cut ``C2(t1_i, t1_i + τ)`` at angle index ``k`` (default: the map's)."""
        k = self.map.phi_index if k is None else int(k)
        tau = self._t[i + 1:] - self._t[i]
        data = self._c2.values[k, i, i + 1:]
        model = None if self._model_c2 is None else self._model_c2[k, i, i + 1:]
        return tau, data, model

    def lag_averaged(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(tau, g2, model)``: the lag-averaged g2 of the data (and of the model, else None) at angle index ``k``.

        ``k`` defaults to the map's angle; see ``xpcsnb.widgets.cuts.lag_average``.
        """
        if self.mode != "twotime":
            raise ValueError("lag averages are of two-time data; this view shows one-time g2")
        k = self.map.phi_index if k is None else int(k)
        if not 0 <= k < self._c2.shape[0]:
            raise ValueError(f"angle index {k} is out of range: the data have {self._c2.shape[0]} angle(s)")
        tau, g = self._lag("data", k)
        return tau, g, None if self._model_c2 is None else self._lag("model", k)[1]

    def _draw_twotime(self) -> None:
        k, i = self.map.phi_index, int(self.age.value)
        phi = float(self._c2["phi"].values[k])
        u = self._t_unit
        self.age_label.value = f"t1 = {self._t[i]:.4g} {u}, φ = {phi:g}°"
        tau, d, m = self.cut_at(i, k)
        self.cut.value = with_download(g2_svg(tau, d, m, title=f"C2 cut at t1 = {self._t[i]:.4g} {u}", time_unit=u),
                                       "c2_cut.svg")
        tau, g, mg = self.lag_averaged(k)
        self.lagavg.value = with_download(g2_svg(tau, g, mg, title=f"lag-averaged g2, φ = {phi:g}°", time_unit=u),
                                          "g2_lag_average.svg")
