"""``QMapView``: the detector image with its ROI partition drawn over it, for Jupyter.

The image is shown on a log scale (``log10`` of the counts, NaN and values ≤ 0 drawn as
the lowest colour), the ROI rings/sectors outlined in white (edges computed in the page
from the uint16 label map) and the selected ROI tinted red. A click on the map sends the
pixel (row, column) to the kernel (trait ``click``), which looks its label up in the
partition and selects that ROI; beside the map the ROI's g2(τ) (``g2=``), the
lag-averaged g2 of its C2 (``twotime=``) and its mean intensity against time
(``frames=``) are drawn as SVG.

With a :class:`~xpcsnb.core.partition.Geometry` (``geometry=``, or the attributes of
``xpcsnb.datasets.real_frames()``) the beam centre [px], the ring edges q [1/Å] and the
sector edges φ [deg] are editable: each edit rebuilds the partition with
:func:`xpcsnb.core.partition.partition` and the overlay follows. An invalid entry is
shown in red with its message; the previous partition stays.
"""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path
from typing import Any

import anywidget
import ipywidgets as widgets
import numpy as np
import traitlets
import xarray as xr

from ..core.errors import PartitionError
from ..core.partition import Geometry, Partition, partition
from .c2view import colormap_luts
from .cuts import g2_svg, lag_average, nice_ticks, with_download

__all__ = ["QMapView", "log_codes", "roi_intensity", "geometry_from_attrs", "trace_svg"]

_STATIC = Path(__file__).parent / "static"


def log_codes(image: np.ndarray) -> tuple[bytes, float, float]:
    """uint8 codes of ``log10(image)`` between its 1st and 99.9th percentiles (of values > 0).

    Returns ``(codes, lo, hi)`` with ``lo``/``hi`` the log10 limits; values ≤ 0 or NaN get code 0.
    """
    a = np.asarray(image, dtype=float)
    pos = a[np.isfinite(a) & (a > 0)]
    if pos.size == 0:
        return np.zeros(a.shape, np.uint8).tobytes(), 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(np.log10(pos), [1.0, 99.9]))
    if hi <= lo:
        hi = lo + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.log10(np.where(a > 0, a, np.nan))
    codes = np.round(255 * np.clip((la - lo) / (hi - lo), 0.0, 1.0))
    return np.nan_to_num(codes, nan=0.0).astype(np.uint8).tobytes(), lo, hi


def roi_intensity(frames: np.ndarray, labels: np.ndarray, n_roi: int) -> np.ndarray:
    """Mean intensity of each ROI in each frame, shape (n_frame, n_roi) [counts/px]."""
    f = np.asarray(frames, dtype=float)
    lab = np.asarray(labels).ravel()
    npix = np.bincount(lab, minlength=n_roi + 1)[1:].astype(float)
    flat = f.reshape(f.shape[0], -1)
    sums = np.stack([np.bincount(lab, weights=row, minlength=n_roi + 1)[1:] for row in flat])
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / npix


def geometry_from_attrs(attrs: dict[str, Any], shape: tuple[int, int]) -> Geometry | None:
    """The :class:`Geometry` of frames carrying ``distance``, ``pixel_size``, ``beam_center`` and
    ``wavelength`` or ``energy`` attributes (as ``real_frames()`` does); ``None`` when any is missing."""
    need = ("distance", "pixel_size", "beam_center")
    if not all(k in attrs for k in need) or not ("wavelength" in attrs or "energy" in attrs):
        return None
    return Geometry(shape=tuple(shape), beam_center=tuple(float(v) for v in attrs["beam_center"]),
                    distance=float(attrs["distance"]), pixel_size=attrs["pixel_size"],
                    wavelength=attrs.get("wavelength"), energy=None if "wavelength" in attrs else attrs["energy"])


def trace_svg(t: np.ndarray, y: np.ndarray, *, title: str = "", xlabel: str = "t [s]",
              ylabel: str = "I [counts/px]", width: int = 420, height: int = 200) -> str:
    """A small SVG line plot of ``y(t)`` on linear axes with round ticks."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    ok = np.isfinite(t) & np.isfinite(y)
    if ok.sum() < 2:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='200' height='30'><text x='4' y='20'>no data</text></svg>"
    x0, x1 = float(t[ok].min()), float(t[ok].max())
    y0, y1 = float(y[ok].min()), float(y[ok].max())
    pad = 0.05 * (y1 - y0 or abs(y1) or 1.0)
    y0, y1 = y0 - pad, y1 + pad
    x1 = x1 if x1 > x0 else x0 + 1.0
    ml, mr, mt, mb = 56, 10, 22, 34
    pw, ph = width - ml - mr, height - mt - mb

    def X(v: float) -> float:
        return ml + pw * (v - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return mt + ph * (1 - (v - y0) / (y1 - y0))

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' class='xpcsnb-trace' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' style='max-width:100%;height:auto;font:11px sans-serif'>",
           f"<rect x='{ml}' y='{mt}' width='{pw}' height='{ph}' fill='none' stroke='#888'/>",
           f"<text x='{ml}' y='14' font-weight='bold'>{html.escape(title)}</text>"]
    for v in nice_ticks(x0, x1, 5):
        out.append(f"<text x='{X(v):.1f}' y='{mt + ph + 14}' text-anchor='middle'>{v:g}</text>")
    for v in nice_ticks(y0, y1, 4):
        out.append(f"<text x='{ml - 6}' y='{Y(v) + 4:.1f}' text-anchor='end'>{v:g}</text>")
    out.append(f"<text x='{ml + pw / 2}' y='{height - 4}' text-anchor='middle'>{html.escape(xlabel)}</text>"
               f"<text transform='translate(12 {mt + ph / 2}) rotate(-90)' text-anchor='middle'>"
               f"{html.escape(ylabel)}</text>")
    pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in zip(t[ok], y[ok]))
    out.append(f"<polyline points='{pts}' fill='none' stroke='#0969da' stroke-width='1.2'/></svg>")
    return "".join(out)


def _parse_edges(text: str, name: str, unit: str) -> np.ndarray | None:
    """Comma/space separated increasing numbers; empty text → None."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        return None
    try:
        v = np.array([float(p) for p in parts])
    except ValueError:
        raise PartitionError(f"{name}: {text!r} is not a list of numbers [{unit}]; type e.g. '0.001, 0.002, 0.003'")
    if v.size < 2 or not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
        raise PartitionError(f"{name} must be at least two finite, strictly increasing values [{unit}], got {text!r}")
    return v


class _QMapCanvas(anywidget.AnyWidget):
    """The page part of :class:`QMapView` (canvas, outlines, click → ``click``)."""

    _esm = _STATIC / "qmapview.js"
    image = traitlets.Bytes(b"", help="uint8 codes of log10 intensity, row-major").tag(sync=True)
    labels = traitlets.Bytes(b"", help="uint16 ROI labels, row-major, 0 = unused").tag(sync=True)
    shape = traitlets.List(traitlets.Int(), [0, 0], help="(rows, columns)").tag(sync=True)
    lut = traitlets.Bytes(b"", help="256 × RGB colour table").tag(sync=True)
    selected = traitlets.Int(0, help="selected ROI label, 0 = none").tag(sync=True)
    click = traitlets.List(traitlets.Int(), [], help="page → kernel: clicked pixel [row, column]").tag(sync=True)
    size = traitlets.Int(420, help="largest on-screen edge [CSS px]").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    info = traitlets.Unicode("").tag(sync=True)


class QMapView(widgets.HBox):
    """Detector image (log scale) with the ROI partition over it; click a ROI to see its curves.

    Parameters
    ----------
    image : array_like or xarray.DataArray, shape (H, W) or (n_frame, H, W)
        Detector image [counts]; a frame stack is averaged over its first axis.
    partition : Partition
        The ROI partition (labels of shape (H, W)).
    g2 : xarray.Dataset, optional
        A g2 Dataset whose ``roi`` values are the partition's labels.
    twotime : xarray.DataArray or Dataset, optional
        C2 with dims ``(roi, t1, t2)`` (``roi`` = labels); its lag average is shown.
    frames : array_like or xarray.DataArray, shape (n_frame, H, W), optional
        Frames for the intensity-vs-time trace of the selected ROI; a DataArray's
        ``frame_time`` attribute [s] sets the time axis (else frame index).
    geometry : Geometry, optional
        Makes beam centre, ring and sector edges editable; taken from the attributes of
        ``image`` or ``frames`` when they carry it.
    mask : array_like of bool, shape (H, W), optional
        Pixels used when the partition is rebuilt.
    size : int
        Largest on-screen edge of the map [CSS px].
    """

    def __init__(self, image: Any, partition: Partition, *, g2: xr.Dataset | None = None,
                 twotime: Any = None, frames: Any = None, geometry: Geometry | None = None,
                 mask: Any = None, size: int = 420) -> None:
        img = np.asarray(image, dtype=float)
        if img.ndim == 3:
            img = np.nanmean(img, axis=0)
        if img.ndim != 2:
            raise ValueError(f"image must be (H, W) or (n_frame, H, W), got shape {np.shape(image)}")
        if not isinstance(partition, Partition):
            raise TypeError(f"partition must be an xpcsnb.core.partition.Partition, got {type(partition).__name__}")
        if partition.shape != img.shape:
            raise ValueError(f"the partition's shape {partition.shape} differs from the image's {img.shape}")
        if partition.n_roi >= 65535:
            raise ValueError(f"QMapView shows up to 65534 ROIs, the partition has {partition.n_roi}")
        if geometry is None:
            for src in (image, frames):
                if isinstance(src, xr.DataArray) and geometry is None:
                    geometry = geometry_from_attrs(dict(src.attrs), img.shape)
        if geometry is not None and tuple(geometry.shape) != img.shape:
            raise ValueError(f"the geometry's shape {geometry.shape} differs from the image's {img.shape}")
        self._image = img
        self._partition = partition
        self._geometry = geometry
        self._mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._g2 = g2
        self._twotime = self._check_twotime(twotime)
        self._frames = None if frames is None else np.asarray(frames)
        if self._frames is not None and (self._frames.ndim != 3 or self._frames.shape[1:] != img.shape):
            raise ValueError(f"frames must be (n_frame, {img.shape[0]}, {img.shape[1]}), got {self._frames.shape}")
        ft = frames.attrs.get("frame_time") if isinstance(frames, xr.DataArray) else None
        self._frame_t = (np.arange(0 if frames is None else len(self._frames)) * (ft or 1.0))
        self._frame_unit = "s" if ft else "frame"
        self._trace: np.ndarray | None = None

        codes, lo, hi = log_codes(img)
        self.canvas = _QMapCanvas(image=codes, shape=list(img.shape), lut=colormap_luts(["viridis"]), size=size,
                                  title=f"log₁₀ I: {lo:.2f} … {hi:.2f} (click a ROI)")
        self.canvas.observe(self._on_click, names="click")
        self.canvas.observe(self._on_selected, names="selected")
        self.curves = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.message = widgets.HTML()
        self.controls = self._make_controls()
        right = widgets.VBox([self.curves, self.controls, self.message], layout=widgets.Layout(flex="1 1 300px", min_width="260px"))
        super().__init__([self.canvas, right], layout=widgets.Layout(flex_flow="row wrap"))
        self._set_partition(partition)

    # -- public API -------------------------------------------------------------------
    @property
    def partition(self) -> Partition:
        """The partition shown (rebuilt by :meth:`set_qmap`)."""
        return self._partition

    @property
    def selected(self) -> int:
        """Label of the selected ROI (0 = none)."""
        return self.canvas.selected

    def select(self, label: int) -> None:
        """Select the ROI ``label`` (1 … n_roi, 0 = none)."""
        label = int(label)
        if not 0 <= label <= self._partition.n_roi:
            raise ValueError(f"ROI label must be in [0, {self._partition.n_roi}], got {label}")
        self.canvas.selected = label

    def click(self, row: int, col: int) -> int:
        """Act as a click on pixel (row, column): select its ROI and return the label."""
        self.canvas.click = [int(row), int(col)]
        return self.selected

    def set_qmap(self, *, beam_center: tuple[float, float] | None = None, q_edges: Any = None,
                 phi_edges: Any = "keep") -> Partition:
        """Rebuild the partition from the geometry with a new beam centre ``(x, y)`` [px], ring
        edges [1/Å] and/or sector edges [deg] (``None``: no sectors); the overlay follows.

        Raises
        ------
        PartitionError
            Without a geometry, or when the new edges give no valid partition.
        """
        if self._geometry is None:
            raise PartitionError("this QMapView has no Geometry; pass geometry=Geometry(...) to edit the q-map")
        geom = self._geometry if beam_center is None else dataclasses.replace(
            self._geometry, beam_center=tuple(float(v) for v in beam_center))
        qe = self._partition.q_edges if q_edges is None else np.asarray(q_edges, dtype=float)
        if qe is None:
            raise PartitionError("the partition has no q_edges; give q_edges [1/Å]")
        pe = self._partition.phi_edges if isinstance(phi_edges, str) and phi_edges == "keep" else phi_edges
        new = partition(geom.q_map(), qe, phi_map=None if pe is None else geom.phi_map(),
                        phi_edges=pe, mask=self._mask, allow_empty=True)
        if new.n_roi == 0:
            raise PartitionError("no pixel falls inside these edges; widen the ring edges or move the beam centre")
        self._geometry = geom
        self._set_partition(new)
        return new

    # -- internals --------------------------------------------------------------------
    @staticmethod
    def _check_twotime(tt: Any) -> xr.DataArray | None:
        if tt is None:
            return None
        if isinstance(tt, xr.Dataset):
            tt = tt["c2"]
        if not isinstance(tt, xr.DataArray) or set(tt.dims) != {"roi", "t1", "t2"}:
            raise ValueError("twotime must be a C2 DataArray (or Dataset with 'c2') with dims (roi, t1, t2)")
        return tt.transpose("roi", "t1", "t2")

    def _make_controls(self) -> widgets.Widget:
        g, p = self._geometry, self._partition
        if g is None:
            return widgets.HTML("<i>q-map parameters are editable with a Geometry (geometry=...)</i>")
        fmt = lambda v: "" if v is None else ", ".join(f"{x:.6g}" for x in v)  # noqa: E731
        self.cx = widgets.FloatText(g.beam_center[0], description="centre x [px]", continuous_update=False)
        self.cy = widgets.FloatText(g.beam_center[1], description="centre y [px]", continuous_update=False)
        self.rings = widgets.Text(fmt(p.q_edges), description="rings q [Å⁻¹]", continuous_update=False,
                                  layout=widgets.Layout(width="95%"))
        self.sectors = widgets.Text(fmt(p.phi_edges), description="sectors φ [°]", continuous_update=False,
                                    placeholder="none", layout=widgets.Layout(width="95%"))
        for w in (self.cx, self.cy, self.rings, self.sectors):
            w.style.description_width = "initial"
            w.observe(self._on_edit, names="value")
        return widgets.VBox([widgets.HBox([self.cx, self.cy]), self.rings, self.sectors])

    def _on_edit(self, _change: Any = None) -> None:
        try:
            qe = _parse_edges(self.rings.value, "ring edges", "1/Å")
            pe = _parse_edges(self.sectors.value, "sector edges", "deg")
            self.set_qmap(beam_center=(self.cx.value, self.cy.value), q_edges=qe, phi_edges=pe)
        except (PartitionError, ValueError) as err:
            self.message.value = f"<span style='color:#cf222e'>⚠ {html.escape(str(err))}</span>"
            return
        self.message.value = ""

    def _set_partition(self, p: Partition) -> None:
        self._partition = p
        self._trace = None if self._frames is None else roi_intensity(self._frames, p.labels, p.n_roi)
        self.canvas.labels = np.asarray(p.labels, dtype=np.uint16).tobytes()
        self.canvas.info = f"{p.n_roi} ROIs"
        if self.canvas.selected > p.n_roi:
            self.canvas.selected = 0
        self._draw_curves()

    def _on_click(self, change: Any) -> None:
        rc = change["new"]
        if len(rc) != 2:
            return
        r, c = rc
        h, w = self._image.shape
        if 0 <= r < h and 0 <= c < w:
            self.canvas.selected = int(self._partition.labels[r, c])

    def _on_selected(self, _change: Any) -> None:
        self._draw_curves()

    def _roi_text(self, k: int) -> str:
        p = self._partition
        txt = f"ROI {k}: q = {p.q[k - 1]:.4g} Å⁻¹"
        if np.isfinite(p.phi[k - 1]):
            txt += f", φ = {p.phi[k - 1]:.3g}°"
        return txt + f", {int(p.npix[k - 1])} px"

    def _draw_curves(self) -> None:
        k = self.canvas.selected
        if k == 0:
            self.canvas.info = f"{self._partition.n_roi} ROIs"
            self.curves.value = "<i>click a ROI on the map</i>"
            return
        self.canvas.info = self._roi_text(k)
        parts = []
        if self._g2 is not None:
            rois = self._g2["roi"].values
            if k in rois:
                cut = self._g2.sel(roi=k)
                parts.append(g2_svg(self._g2["tau"].values, cut["g2"].values, title=f"g2 — ROI {k}"))
            else:
                parts.append(f"<div>no g2 for ROI {k}</div>")
        if self._twotime is not None and k in self._twotime["roi"].values:
            c2 = self._twotime.sel(roi=k)
            tau, g = lag_average(c2.values, c2["t2"].values)
            parts.append(g2_svg(tau, g, title=f"lag-averaged C2 — ROI {k}"))
        if self._trace is not None:
            parts.append(trace_svg(self._frame_t, self._trace[:, k - 1], title=f"intensity — ROI {k}",
                                   xlabel=f"t [{self._frame_unit}]"))
        self.curves.value = "".join(f"<div class='xpcsnb-qmap-curve'>{with_download(s, f'roi{k}_{n}.svg') if s.startswith('<svg') else s}</div>"
                                    for n, s in enumerate(parts)) or \
            f"<div>{html.escape(self._roi_text(k))} (no g2, twotime or frames given)</div>"
