"""``C2View``: a canvas viewer of two-time correlations C2(t1, t2) for Jupyter.

Transport
---------
The current angle's matrix travels as a ``traitlets.Bytes`` buffer of **uint8**
(row-major, row 0 ↔ first t1, column 0 ↔ first t2): a value ``x`` is sent as
``round(254 · (clip(x, vmin, vmax) − vmin) / (vmax − vmin))`` and NaN as 255. The
browser applies a 256-entry colour table (``luts``, computed from matplotlib once) on a
``<canvas>``, so changing the colormap in the page needs no round trip. The default
limits ``vmin``/``vmax`` are the 1st and 99th percentiles of the values off the
diagonal t1 = t2, over all angles (one colour scale for every angle); for a signed
quantity (``symmetric=True``, e.g. residuals) they are ± the 99th percentile of |x|.

Matrices larger than ``max_size`` (default 1024) along an axis are shown as means of
f × f blocks, ``f = ceil(N / max_size)``; blocks at the far edges are partial, so every
frame contributes. The widget says so in its note line. The data are never changed.

Zoom and pan (wheel / drag / double-click to reset in the page, or :meth:`C2View.zoom`)
set ``window`` = [row0, row1, col0, col1] (data indices, half-open); the kernel then
re-samples only the visible window, so a 2000² map shows full detail once zoomed in.
Axes carry round ticks and labels ``t1 [s]``, ``t2 [s]``; the colour bar has ticks and
its label with the unit (Unicode, :func:`~xpcsnb.core.units.pretty_unit`); the
default limits are rounded outward (:func:`round_limits`). The size follows the window
up to ``size`` CSS px. :meth:`C2View.save_png` writes the figure (matplotlib); the page
has its own PNG button.

Hover read-out: t1, t2 and the value under the mouse. The value is exact (a float32
copy of the displayed matrix is sent along) when the displayed matrix has at most
``EXACT_HOVER_PIXELS`` pixels, otherwise it is the quantised value (shown with "≈").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets
import xarray as xr

from ..core.units import pretty_unit

__all__ = [
    "C2View",
    "COLORMAPS",
    "EXACT_HOVER_PIXELS",
    "block_mean",
    "colormap_luts",
    "decode_uint8",
    "display_limits",
    "encode_uint8",
    "round_limits",
]

#: Colour tables offered in the viewer (matplotlib names).
COLORMAPS: tuple[str, ...] = ("viridis", "magma", "cividis", "gray", "RdBu_r", "coolwarm")
#: Displayed matrices up to this many pixels also send float32 values for an exact hover read-out.
EXACT_HOVER_PIXELS = 512 * 512
#: Highest uint8 code of a finite value; code 255 marks NaN.
TOP_CODE = 254
NAN_CODE = 255
_STATIC = Path(__file__).parent / "static"


def colormap_luts(names: Sequence[str] = COLORMAPS) -> bytes:
    """RGB colour tables of matplotlib colormaps, 256 entries each.

    Returns
    -------
    bytes
        ``len(names) × 256 × 3`` uint8 values (name-major, then entry, then R, G, B).
    """
    import matplotlib

    tables = [matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] for name in names]
    return np.round(255 * np.asarray(tables)).astype(np.uint8).tobytes()


def display_limits(values: np.ndarray, *, symmetric: bool = False) -> tuple[float, float]:
    """Colour limits of C2-like data: robust percentiles off the diagonal.

    Parameters
    ----------
    values : ndarray, shape (n_phi, N, M)
        Matrices per angle; the diagonal (i == j) is left out.
    symmetric : bool
        ``False``: the 1st and 99th percentiles. ``True``: ``(−a, a)`` with ``a`` the
        99th percentile of ``|x|`` (for signed quantities such as residuals).

    Raises
    ------
    ValueError
        When no finite value lies off the diagonal.
    """
    n, m = values.shape[-2:]
    off = ~np.eye(n, m, dtype=bool) if n > 1 or m > 1 else np.ones((n, m), dtype=bool)
    x = values[:, off].ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        raise ValueError("no finite value off the diagonal to set the colour scale from")
    if symmetric:
        a = float(np.percentile(np.abs(x), 99))
        if a == 0:
            a = float(np.max(np.abs(x))) or 1.0
        return -a, a
    lo, hi = (float(v) for v in np.percentile(x, [1, 99]))
    if hi <= lo:  # (nearly) constant data: widen so that the scale is defined
        pad = max(abs(lo) * 1e-6, 1e-12)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def round_limits(lo: float, hi: float) -> tuple[float, float]:
    """``(lo, hi)`` widened outward to a round step (1, 2, 2.5 or 5 × 10^k, about a twentieth of the range)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return float(lo), float(hi)
    raw = (hi - lo) / 20
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return float(np.round(math.floor(lo / step + 1e-9) * step, 12)), float(np.round(math.ceil(hi / step - 1e-9) * step, 12))


def block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    """Means of ``factor × factor`` blocks of a 2-D array (last axis blocks along 1-D).

    The array is padded with NaN to a multiple of ``factor`` and the blocks averaged
    ignoring the padding, so edge blocks are partial means: every element counts once.
    A 1-D array is averaged in blocks of ``factor`` the same way (used for time axes).
    NaN in the input also stays out of its block's mean; an all-NaN block gives NaN.
    """
    if factor < 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    a = np.asarray(a, dtype=np.float64)
    if factor == 1:
        return a.copy()
    if a.ndim == 1:
        pad = (-a.size) % factor
        padded = np.concatenate([a, np.full(pad, np.nan)]).reshape(-1, factor)
        return _nanmean(padded, axis=1)
    if a.ndim != 2:
        raise ValueError(f"block_mean takes a 1-D or 2-D array, got {a.ndim}-D")
    h, w = a.shape
    ph, pw = (-h) % factor, (-w) % factor
    padded = np.pad(a, ((0, ph), (0, pw)), constant_values=np.nan)
    blocks = padded.reshape((h + ph) // factor, factor, (w + pw) // factor, factor)
    return _nanmean(blocks, axis=(1, 3))


def _nanmean(a: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    finite = np.isfinite(a)
    count = finite.sum(axis=axis)
    total = np.where(finite, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def encode_uint8(a: np.ndarray, vmin: float, vmax: float) -> bytes:
    """Quantise ``a`` to uint8 codes on [vmin, vmax]: 0 … 254 for values (clipped), 255 for NaN."""
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
        raise ValueError(f"colour limits must be finite with vmin < vmax, got ({vmin}, {vmax})")
    a = np.asarray(a, dtype=np.float64)
    codes = np.full(a.shape, NAN_CODE, dtype=np.uint8)
    finite = np.isfinite(a)
    scaled = (np.clip(a[finite], vmin, vmax) - vmin) * (TOP_CODE / (vmax - vmin))
    codes[finite] = np.rint(scaled).astype(np.uint8)
    return codes.tobytes()


def decode_uint8(buf: bytes, shape: Sequence[int], vmin: float, vmax: float) -> np.ndarray:
    """Inverse of :func:`encode_uint8` up to quantisation (code 255 → NaN)."""
    codes = np.frombuffer(buf, dtype=np.uint8).reshape(tuple(shape))
    out = vmin + codes.astype(np.float64) * ((vmax - vmin) / TOP_CODE)
    out[codes == NAN_CODE] = np.nan
    return out


def _as_stack(data: xr.Dataset | xr.DataArray, var: str) -> xr.DataArray:
    """The (phi, t1, t2) DataArray to show, with a clear error for anything else."""
    if isinstance(data, xr.Dataset):
        if var not in data:
            raise ValueError(f"the Dataset has no variable {var!r} (variables: {list(data.data_vars)})")
        data = data[var]
    if not isinstance(data, xr.DataArray):
        raise TypeError(f"C2View shows an xarray Dataset or DataArray, got {type(data).__name__}")
    if "q" in data.dims:
        raise ValueError("this C2 has a q dimension; select one q first, e.g. ds.isel(q=0)")
    if data.dims == ("t1", "t2"):
        if "phi" not in data.coords or data["phi"].ndim != 0:
            raise ValueError("a 2-D (t1, t2) matrix needs a scalar 'phi' coordinate [deg]")
        data = data.expand_dims("phi")
    if set(data.dims) != {"phi", "t1", "t2"}:
        raise ValueError(f"C2View needs dims (phi, t1, t2), got {data.dims}")
    data = data.transpose("phi", "t1", "t2")
    for name in ("phi", "t1", "t2"):
        if name not in data.coords:
            raise ValueError(f"C2View needs a {name!r} coordinate")
    if not np.issubdtype(data.dtype, np.number):
        raise ValueError(f"C2 must be numeric, got dtype {data.dtype}")
    return data


class C2View(anywidget.AnyWidget):
    """Interactive C2(t1, t2) canvas: one angle at a time, colour table applied in the browser.

    Parameters
    ----------
    data : xarray.Dataset or xarray.DataArray
        A two-time Dataset (its ``var``, default ``"c2"``) or a DataArray with dims
        ``(phi, t1, t2)`` (or ``(t1, t2)`` with a scalar ``phi``) and coordinates
        ``t1``, ``t2`` [s or frame] and ``phi`` [deg]. NaN values are shown grey and
        counted in the note line.
    var : str
        Variable of a Dataset to show.
    title : str, optional
        Heading; default: the variable's ``long_name`` or name.
    colormap : str
        One of :data:`COLORMAPS`; default ``"viridis"`` (``"RdBu_r"`` when symmetric).
    symmetric : bool
        Colour limits symmetric about 0 (signed data such as residuals).
    max_size : int
        Largest displayed size along an axis [pixels]; larger matrices are shown as
        block means (see the module doc).
    exact_hover : bool, optional
        Send float32 values for an exact hover read-out; default: when the displayed
        matrix has at most ``EXACT_HOVER_PIXELS`` (``xpcsnb.widgets.c2view``) pixels.
    size : int
        Largest on-screen edge of the image [CSS pixels]; smaller when the window is narrow.

    Examples
    --------
    >>> from xpcsnb.datasets import load
    >>> view = C2View(load("static"))   # doctest: +SKIP
    >>> view.phi_index = 1               # show the second angle
    >>> view.colormap = "magma"          # recoloured in the browser
    """

    _esm = _STATIC / "c2view.js"
    _css = _STATIC / "c2view.css"

    image = traitlets.Bytes(b"", help="uint8 codes of the displayed matrix (see module doc)").tag(sync=True)
    values = traitlets.Bytes(b"", help="float32 copy of the displayed matrix, or empty").tag(sync=True)
    shape = traitlets.List(traitlets.Int(), [0, 0], help="(rows ↔ t1, columns ↔ t2) of image").tag(sync=True)
    vmin = traitlets.Float(0.0, help="value of code 0").tag(sync=True)
    vmax = traitlets.Float(1.0, help="value of code 254").tag(sync=True)
    colormap = traitlets.Enum(COLORMAPS, default_value="viridis").tag(sync=True)
    colormaps = traitlets.List(traitlets.Unicode(), list(COLORMAPS)).tag(sync=True)
    luts = traitlets.Bytes(b"", help="256 × RGB uint8 per entry of colormaps").tag(sync=True)
    t1 = traitlets.List(traitlets.Float(), [], help="t1 of each displayed row").tag(sync=True)
    t2 = traitlets.List(traitlets.Float(), [], help="t2 of each displayed column").tag(sync=True)
    time_unit = traitlets.Unicode("s").tag(sync=True)
    phi = traitlets.List(traitlets.Float(), [], help="angles [deg]").tag(sync=True)
    phi_index = traitlets.Int(0, help="index of the angle shown").tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("C2", help="name of the value in the hover read-out").tag(sync=True)
    note = traitlets.Unicode("", help="display remarks: downsampling, NaN count").tag(sync=True)
    size = traitlets.Int(360, help="largest on-screen edge [CSS px]").tag(sync=True)
    full_shape = traitlets.List(traitlets.Int(), [0, 0], help="(t1, t2) size of the data").tag(sync=True)
    window = traitlets.List(traitlets.Int(), [0, 0, 0, 0],
                            help="visible [row0, row1, col0, col1] in data indices (half-open)").tag(sync=True)
    unit = traitlets.Unicode("", help="unit of the values (Unicode), shown on the colour bar").tag(sync=True)
    q = traitlets.Float(None, allow_none=True, help="q [1/Å], shown in the title").tag(sync=True)
    limit_request = traitlets.Dict({}, help="page → kernel: {'vmin', 'vmax'} or {'auto': True}").tag(sync=True)

    def __init__(
        self,
        data: xr.Dataset | xr.DataArray,
        *,
        var: str = "c2",
        title: str | None = None,
        colormap: str | None = None,
        symmetric: bool = False,
        max_size: int = 1024,
        exact_hover: bool | None = None,
        size: int = 360,
        **kwargs: Any,
    ) -> None:
        if max_size < 16:
            raise ValueError(f"max_size must be >= 16 pixels, got {max_size}")
        self._max_size = int(max_size)
        self._exact_hover = exact_hover
        self._stack: np.ndarray = np.zeros((1, 2, 2))
        self._factor = 1
        self._quiet = False
        self._symmetric = symmetric
        super().__init__(luts=colormap_luts(), size=int(size), **kwargs)
        self.set_data(data, var=var, title=title, symmetric=symmetric,
                      colormap=colormap or ("RdBu_r" if symmetric else "viridis"))

    # ------------------------------------------------------------------ data
    def set_data(
        self,
        data: xr.Dataset | xr.DataArray,
        *,
        var: str = "c2",
        title: str | None = None,
        symmetric: bool = False,
        colormap: str | None = None,
    ) -> None:
        """Show new data (same rules as the constructor); keeps the angle index when it still exists."""
        da = _as_stack(data, var)
        stack = np.asarray(da.values, dtype=np.float64)
        n_finite = int(np.isfinite(stack).sum())
        if n_finite == 0:
            raise ValueError("every value is NaN/inf: nothing to show")
        vmin, vmax = round_limits(*display_limits(stack, symmetric=symmetric))
        h, w = stack.shape[1:]
        self._stack, self._symmetric = stack, symmetric
        self._t1_all = np.asarray(da["t1"].values, dtype=float)
        self._t2_all = np.asarray(da["t2"].values, dtype=float)
        n_bad = stack.size - n_finite
        self._nan_note = f"{n_bad} non-finite value(s) shown grey" if n_bad else ""
        q = da.attrs.get("q", data.attrs.get("q") if isinstance(data, xr.Dataset) else None)
        if q is None and "q" in da.coords and da["q"].ndim == 0:
            q = float(da["q"].values)
        name = str(da.attrs.get("long_name") or da.name or var)
        self._quiet = True
        try:
            with self.hold_sync():
                self.phi = [float(p) for p in da["phi"].values]
                if self.phi_index >= len(self.phi):
                    self.phi_index = 0
                self.full_shape = [h, w]
                self.window = [0, h, 0, w]
                self.time_unit = pretty_unit(str(da["t1"].attrs.get("units", ""))) or str(
                    da["t1"].attrs.get("units", ""))
                self.unit = pretty_unit(str(da.attrs.get("units", "1")))
                self.q = None if q is None else float(q)
                self.vmin, self.vmax = vmin, vmax
                self.title = name if title is None else title
                self.label = str(da.name or var)
                if colormap is not None:
                    self.colormap = colormap
        finally:
            self._quiet = False
        self._refresh()

    def set_limits(self, vmin: float, vmax: float) -> None:
        """Set both colour limits at once (``vmin < vmax``, finite); re-sends the image."""
        vmin, vmax = float(vmin), float(vmax)
        if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
            raise ValueError(f"colour limits must be finite with vmin < vmax, got ({vmin}, {vmax})")
        self._quiet = True
        try:
            self.vmin, self.vmax = vmin, vmax
        finally:
            self._quiet = False
        self._refresh()

    def auto_limits(self, percentiles: tuple[float, float] = (1.0, 99.0)) -> tuple[float, float]:
        """Colour limits from percentiles (off the diagonal, all angles), rounded; applied and returned.

        For a symmetric view the upper percentile of ``|x|`` sets ``(−a, a)``.
        """
        lo_p, hi_p = (float(p) for p in percentiles)
        if not 0 <= lo_p < hi_p <= 100:
            raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles}")
        n, m = self._stack.shape[1:]
        off = ~np.eye(n, m, dtype=bool) if n > 1 or m > 1 else np.ones((n, m), dtype=bool)
        x = self._stack[:, off].ravel()
        x = x[np.isfinite(x)]
        if self._symmetric:
            a = float(np.percentile(np.abs(x), hi_p)) or float(np.max(np.abs(x))) or 1.0
            lo, hi = round_limits(-a, a)
            a = max(-lo, hi)
            lo, hi = -a, a
        else:
            lo, hi = (float(v) for v in np.percentile(x, [lo_p, hi_p]))
            if hi <= lo:
                lo, hi = display_limits(self._stack)
            lo, hi = round_limits(lo, hi)
        self.set_limits(lo, hi)
        return lo, hi

    def zoom(self, t1: tuple[float, float] | None = None, t2: tuple[float, float] | None = None) -> None:
        """Show the time ranges ``t1``/``t2`` [time unit] (None: the whole axis); re-samples that window."""
        def rng(t: np.ndarray, lim: tuple[float, float] | None) -> tuple[int, int]:
            if lim is None:
                return 0, t.size
            lo, hi = sorted(float(v) for v in lim)
            i0, i1 = int(np.searchsorted(t, lo, "left")), int(np.searchsorted(t, hi, "right"))
            if i1 - i0 < 2:
                raise ValueError(f"the range {lim} holds fewer than 2 frames of the axis [{t[0]:g}, {t[-1]:g}]")
            return i0, i1
        self.window = [*rng(self._t1_all, t1), *rng(self._t2_all, t2)]

    def reset_zoom(self) -> None:
        """Show the whole map."""
        h, w = self._stack.shape[1:]
        self.window = [0, h, 0, w]

    @property
    def downsample_factor(self) -> int:
        """Edge of the averaged blocks of the current window (1: shown at full resolution)."""
        return self._factor

    def displayed(self) -> np.ndarray:
        """The visible window of the current angle as displayed (block means when downsampled), float64."""
        r0, r1, c0, c1 = self.window
        return block_mean(self._stack[self.phi_index, r0:r1, c0:c1], self._factor)

    def save_png(self, path: str, *, dpi: int = 150) -> None:
        """Write the current view as a PNG figure (image, labelled axes and colour bar; matplotlib)."""
        from matplotlib.figure import Figure

        r0, r1, c0, c1 = self.window
        fig = Figure(figsize=(5.2, 4.4), dpi=dpi)
        ax = fig.add_subplot()
        t1, t2 = self._t1_all[r0:r1], self._t2_all[c0:c1]
        im = ax.imshow(self.displayed(), origin="lower", cmap=self.colormap, vmin=self.vmin, vmax=self.vmax,
                       extent=(t2[0], t2[-1], t1[0], t1[-1]), aspect="auto", interpolation="nearest")
        u = f" [{self.time_unit}]" if self.time_unit else ""
        ax.set_xlabel(f"t2{u}")
        ax.set_ylabel(f"t1{u}")
        ax.set_title(self.full_title())
        fig.colorbar(im, ax=ax, label=self.label + (f" [{self.unit}]" if self.unit else ""))
        fig.savefig(path)

    def full_title(self) -> str:
        """The title with the angle and q, as shown in the page."""
        parts = [self.title, f"φ = {self.phi[self.phi_index]:g}°" if self.phi else ""]
        if self.q is not None:
            parts.append(f"q = {self.q:.4g} Å⁻¹")
        return ", ".join(p for p in parts if p)

    # ------------------------------------------------------------------ sync
    @traitlets.validate("phi_index")
    def _check_phi_index(self, proposal: Any) -> int:
        k = int(proposal["value"])
        n = len(self.phi) if self.phi else self._stack.shape[0]
        if not 0 <= k < n:
            raise traitlets.TraitError(f"phi_index must be in [0, {n - 1}], got {k}")
        return k

    @traitlets.validate("vmin", "vmax")
    def _check_limit(self, proposal: Any) -> float:
        v = float(proposal["value"])
        if not np.isfinite(v):
            raise traitlets.TraitError(f"{proposal['trait'].name} must be finite, got {v}")
        if not self._quiet:
            lo, hi = (v, self.vmax) if proposal["trait"].name == "vmin" else (self.vmin, v)
            if not lo < hi:
                raise traitlets.TraitError(f"need vmin < vmax, got ({lo}, {hi}); use set_limits() to set both")
        return v

    @traitlets.validate("window")
    def _check_window(self, proposal: Any) -> list[int]:
        w = [int(v) for v in proposal["value"]]
        h, wd = self._stack.shape[1:]
        if len(w) != 4:
            raise traitlets.TraitError(f"window must be [row0, row1, col0, col1], got {w}")
        r0, r1 = max(0, min(w[0], h - 1)), min(h, max(w[1], 0))
        c0, c1 = max(0, min(w[2], wd - 1)), min(wd, max(w[3], 0))
        if r1 - r0 < 2 or c1 - c0 < 2:  # never a window below 2 × 2 (or a reversed one)
            r0, r1 = (max(0, min(r0, h - 2)), max(0, min(r0, h - 2)) + min(2, h)) if r1 - r0 < 2 else (r0, r1)
            c0, c1 = (max(0, min(c0, wd - 2)), max(0, min(c0, wd - 2)) + min(2, wd)) if c1 - c0 < 2 else (c0, c1)
        return [r0, r1, c0, c1]

    @traitlets.observe("limit_request")
    def _on_limit_request(self, change: Any) -> None:
        req = change["new"] or {}
        try:
            if req.get("auto"):
                self.auto_limits()
            elif "vmin" in req and "vmax" in req:
                self.set_limits(float(req["vmin"]), float(req["vmax"]))
            else:
                return
            self.note = self._notes()
        except (TypeError, ValueError) as exc:
            self.note = f"colour limits not changed: {exc}"

    @traitlets.observe("phi_index", "vmin", "vmax", "window")
    def _on_view_change(self, change: Any) -> None:
        if not self._quiet:
            self._refresh()

    def _notes(self) -> str:
        r0, r1, c0, c1 = self.window
        notes = []
        if self._factor > 1:
            notes.append(f"downsampled for display: {r1 - r0}×{c1 - c0} → {len(self.t1)}×{len(self.t2)} "
                         f"({self._factor}×{self._factor} block means; zoom in for full detail); "
                         "the data are unchanged")
        if self._nan_note:
            notes.append(self._nan_note)
        return "; ".join(notes)

    def _refresh(self) -> None:
        r0, r1, c0, c1 = self.window
        self._factor = max(1, math.ceil(max(r1 - r0, c1 - c0) / self._max_size))
        shown = self.displayed()
        send_values = (shown.size <= EXACT_HOVER_PIXELS) if self._exact_hover is None else self._exact_hover
        with self.hold_sync():
            self.t1 = block_mean(self._t1_all[r0:r1], self._factor).tolist()
            self.t2 = block_mean(self._t2_all[c0:c1], self._factor).tolist()
            self.note = self._notes()
            self.shape = list(shown.shape)
            self.image = encode_uint8(shown, self.vmin, self.vmax)
            self.values = shown.astype(np.float32).tobytes() if send_values else b""
