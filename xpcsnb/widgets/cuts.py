"""g2(τ) cuts of C2 maps for the workbench, drawn as small SVG figures (no plotting library, no round trip).

:func:`lag_average` is the one-time g2 of a two-time map: the mean of each off-diagonal
``C2[i, i + k]`` over ``i`` (lag ``τ_k = t2[k] − t2[0]``, k ≥ 1; the diagonal t1 = t2 is
left out, as in the fits). :func:`g2_svg` draws the data (points) and, after a fit, the
model's lag average (line) on a log τ axis with round ticks.
"""

from __future__ import annotations

import html
import math

import numpy as np

from ..core.units import pretty_unit

__all__ = ["g2_svg", "lag_average", "nice_ticks"]


def lag_average(c2: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, g2)`` of a square (N, N) C2 map on the time grid ``t`` [s]; NaN entries are skipped."""
    c2 = np.asarray(c2, dtype=float)
    t = np.asarray(t, dtype=float)
    n = c2.shape[0]
    if c2.ndim != 2 or c2.shape[1] != n or t.shape != (n,):
        raise ValueError(f"lag_average needs a square (N, N) map and N times, got {c2.shape} and {t.shape}")
    tau = t[1:] - t[0]
    g2 = np.array([np.nanmean(np.diagonal(c2, k)) if np.isfinite(np.diagonal(c2, k)).any() else np.nan
                   for k in range(1, n)])
    return tau, g2


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values (1, 2, 2.5, 5 × 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 12) for k in range(int((hi - first) / step + 1e-9) + 1)]


def g2_svg(tau: np.ndarray, g2: np.ndarray, model: np.ndarray | None = None, *, title: str = "",
           width: int = 420, height: int = 260, time_unit: str = "s") -> str:
    """An SVG figure of g2(τ): points (data), a line (model), log τ axis in ``time_unit``, labelled axes."""
    tau, g2 = np.asarray(tau, float), np.asarray(g2, float)
    ok = (tau > 0) & np.isfinite(g2)
    if not ok.any():
        return "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='30'><text x='4' y='20'>no finite g2</text></svg>"
    ys = [g2[ok]] + ([np.asarray(model, float)[ok]] if model is not None else [])
    y_all = np.concatenate([y[np.isfinite(y)] for y in ys])
    y0, y1 = float(y_all.min()), float(y_all.max())
    pad = 0.05 * (y1 - y0 or abs(y1) or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    lx0, lx1 = math.log10(tau[ok].min()), math.log10(tau[ok].max())
    if lx1 <= lx0:
        lx0, lx1 = lx0 - 0.5, lx1 + 0.5
    ml, mr, mt, mb = 56, 10, 22, 38
    pw, ph = width - ml - mr, height - mt - mb

    def X(t: float) -> float:
        return ml + pw * (math.log10(t) - lx0) / (lx1 - lx0)

    def Y(v: float) -> float:
        return mt + ph * (1 - (v - y0) / (y1 - y0))

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='xpcsnb-g2cut' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' style='max-width:100%;height:auto;font:11px sans-serif'>",
           f"<rect x='{ml}' y='{mt}' width='{pw}' height='{ph}' fill='none' stroke='#888'/>",
           f"<text x='{ml}' y='14' font-weight='bold'>{html.escape(title)}</text>"]
    for k in range(math.floor(lx0), math.ceil(lx1) + 1):
        if lx0 - 1e-9 <= k <= lx1 + 1e-9:
            x = X(10.0 ** k)
            out.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{mt + ph}' y2='{mt + ph + 4}' stroke='#444'/>"
                       f"<text x='{x:.1f}' y='{mt + ph + 15}' text-anchor='middle'>10<tspan dy='-4' "
                       f"font-size='8'>{k}</tspan></text>")
    for v in nice_ticks(y0, y1, 4):
        y = Y(v)
        out.append(f"<line x1='{ml - 4}' x2='{ml}' y1='{y:.1f}' y2='{y:.1f}' stroke='#444'/>"
                   f"<text x='{ml - 6}' y='{y + 4:.1f}' text-anchor='end'>{v:g}</text>")
    out.append(f"<text x='{ml + pw / 2}' y='{height - 4}' text-anchor='middle'>τ [{html.escape(pretty_unit(time_unit) or time_unit)}]</text>"
               f"<text transform='translate(12 {mt + ph / 2}) rotate(-90)' text-anchor='middle'>g₂(τ)</text>")
    for t, v in zip(tau[ok], g2[ok]):
        out.append(f"<circle cx='{X(t):.1f}' cy='{Y(v):.1f}' r='2.2' fill='#0969da'/>")
    if model is not None:
        m = np.asarray(model, float)
        pts = " ".join(f"{X(t):.1f},{Y(v):.1f}" for t, v in zip(tau[ok], m[ok]) if np.isfinite(v))
        out.append(f"<polyline class='xpcsnb-g2-model' points='{pts}' fill='none' stroke='#cf222e' stroke-width='1.8'/>"
                   f"<text x='{ml + pw - 4}' y='{mt + 12}' text-anchor='end' fill='#cf222e'>— fit</text>")
    out.append(f"<text x='{ml + pw - 4}' y='{mt + 24}' text-anchor='end' fill='#0969da'>● data</text></svg>")
    return "".join(out)


#: In-page rasteriser of a download link's figure: the ``<svg>`` just before the link's ``<div>`` is
#: drawn on a canvas at twice its size on white and saved as PNG (no kernel round trip, so it
#: works the same in JupyterLab, Notebook 7 and Voila; an inline handler, since the HTML
#: panes run no ``<script>``).
_PNG_ONCLICK = (
    "var s=this.parentNode.previousElementSibling,n=this.getAttribute('download');"
    "if(!s||s.tagName.toLowerCase()!=='svg')return false;"
    "var r=s.getBoundingClientRect(),w=Math.round(r.width||s.width.baseVal.value),"
    "h=Math.round(r.height||s.height.baseVal.value),i=new Image();"
    "i.onload=function(){var c=document.createElement('canvas');c.width=2*w;c.height=2*h;"
    "var g=c.getContext('2d');g.fillStyle='#fff';g.fillRect(0,0,c.width,c.height);"
    "g.drawImage(i,0,0,c.width,c.height);var a=document.createElement('a');a.download=n;"
    "a.href=c.toDataURL('image/png');document.body.appendChild(a);a.click();a.remove();};"
    "i.src='data:image/svg+xml;base64,'+btoa(unescape(encodeURIComponent("
    "new XMLSerializer().serializeToString(s))));return false;"
)


def with_download(svg: str, name: str) -> str:
    """``svg`` followed by its export links: the SVG itself as ``name`` and a PNG drawn in the page.

    The PNG (``name`` with ``.png``) is rasterised by the browser from the figure shown, at
    twice its CSS size on a white background.
    """
    import base64

    data = base64.b64encode(svg.encode()).decode()
    png = name.rsplit(".", 1)[0] + ".png"
    return (f"{svg}<div><a class='xpcsnb-download' download='{html.escape(name, quote=True)}' "
            f"href='data:image/svg+xml;base64,{data}'>⬇ {html.escape(name)}</a> "
            f"<a class='xpcsnb-download-png' download='{html.escape(png, quote=True)}' href='#' "
            f"onclick=\"{_PNG_ONCLICK}\">⬇ {html.escape(png)}</a></div>")
