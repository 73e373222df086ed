"""Multi-tau g2(roi, τ) from detector frames, streamed in chunks, in JAX.

Definitions (P an ROI of n_P pixels, level-L frames X_L = sums of 2^L frames,
n_L = N >> L of them, lag j in level-L frames, τ = j·2^L frames, n_L − j pairs):

* per pixel ``G2(p, τ) = Σ_{t=0}^{n_L−1−j} X_L(p, t) X_L(p, t+j)``, the ROI sums
  ``s_L(t) = Σ_{p∈P} X_L(p, t)``;
* ``normalization="symmetric"`` (scikit-beam; boost-corr with static map = dynamic map)::

      g2 = ⟨⟨I(t)I(t+τ)⟩_p⟩_t / (⟨⟨I(t)⟩_p⟩_past ⟨⟨I(t)⟩_p⟩_future)
         = n_P (n_L − j) Σ_p G2(p) / (Σ_{t<n_L−j} s_L(t) · Σ_{t≥j} s_L(t))

  all three time means over the same n_L − j pairs;
* ``normalization="ratio"`` (dynamix, xpcs-correlator)::

      g2 = Σ_t ⟨I(t)I(t+τ)⟩_p / Σ_t ⟨I(t)⟩_p⟨I(t+τ)⟩_p = n_P Σ_p G2(p) / Σ_t s_L(t) s_L(t+j);

* ``g2_err`` is the standard error of the mean over pixels: g2 is the pixel mean of
  ``c · G2(p)`` (c the normalisation above divided by Σ_p G2), and
  ``g2_err = c · std_p(G2(p)) / √n_P`` (sample std, ddof = 1). Unlike boost-corr's
  per-pixel ``G2/(IP·IF)`` this never divides by a pixel's own (often zero) intensity.

Algorithm: the ROI pixels are gathered into blocks of ``block`` columns (each block
inside one ROI, padded with zero-weight columns). Frames arrive in chunks of
``T = 2^k`` frames; one jitted kernel runs over the blocks (``lax.map`` on CPU so a
block stays in cache, ``vmap`` on accelerators) and, per block, forms the levels
0 … k−1 inside the chunk, adds the lagged products of each level to float64
per-pixel accumulators and keeps the last ``max lag`` frames of each level as carry.
The chunk's level-k frame feeds a second stage (levels k … 2k−1) with its own chunk
buffer, and so on. All sums are float64; integer counts are summed exactly (< 2^53).

References
----------
K. Schätzel, "Noise on photon correlation data. I. Autocorrelation functions",
Quantum Opt. 2, 287–305 (1990), doi:10.1088/0954-8998/2/4/002 (the symmetric
normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401  (float64)
from .ladder import LADDERS, Ladder, _level_lags, multitau_ladder
from ..core.g2 import g2 as make_g2
from ..core.partition import Partition
from .badframes import DEFAULT_THRESHOLD, resolve_exclusions
from .stream import CorrelatorError, RoiLayout, check_choice, check_int, iter_roi_chunks, resolve_input, roi_layout

__all__ = ["NORMALIZATIONS", "MultiTauAccumulator", "multitau"]

#: Names of the g2 normalisations.
NORMALIZATIONS = ("symmetric", "ratio")


def _map_blocks(fn, xs):
    import jax
    from jax import lax

    if jax.default_backend() == "cpu":
        return lax.map(fn, xs)
    return jax.vmap(fn)(xs)


@partial(jax.jit, static_argnames=("lags", "first", "emit"), donate_argnums=(0,))
def _stage_kernel(state, x, weight, n_valid, valid, *, lags, first, emit):
    """One chunk of one stage: update accumulators and carries of its levels.

    Parameters
    ----------
    state : tuple of (carry (nb, K_l, B), acc (nb, n_lags_l, B)) per level
    x : (T, nb·B) raw counts (first stage) or (nb, T, B) float64 level frames
    weight : (nb, B) float64, 1 = real pixel, 0 = padding
    n_valid : int32 scalar, valid frames in ``x`` (the rest is zero padding)
    valid : (T,) float64, 1 = frame used, 0 = excluded (missing; ``xpcsnb.correlate.badframes``)
    lags : tuple of tuple of int, lags of each level of this stage (level units)
    first : bool, ``x`` is a raw chunk
    emit : bool, return the frames of the level after the last one (pair sums) for the next stage
    """
    import jax.numpy as jnp

    nb, block = weight.shape
    if first:
        t = x.shape[0]
        xb = jnp.transpose(x.reshape(t, nb, block), (1, 0, 2))
    else:
        xb = x
        t = x.shape[1]

    vs = [valid]  # validity of the level frames: a level frame is missing if any frame in it is
    for _ in range(len(lags) - (0 if emit else 1)):
        vs.append(vs[-1].reshape(-1, 2).prod(axis=1))

    def body(args):
        carries, accs, xk, w = args
        y = xk.astype(jnp.float64) * w[None, :] * vs[0][:, None]
        fsum = jnp.sum(y, axis=1) if first else None
        new_c, new_a = [], []
        for lev, (lag_l, carry, acc) in enumerate(zip(lags, carries, accs)):
            kmax = carry.shape[0]
            tl = t >> lev
            z = jnp.concatenate([carry, y], axis=0)
            prods = [jnp.sum(z[kmax:] * z[kmax - j: kmax - j + tl], axis=0) for j in lag_l]
            new_a.append(acc + jnp.stack(prods))
            new_c.append(z[-kmax:])
            if lev + 1 < len(lags) or emit:
                pad = (jnp.arange(tl // 2) < (n_valid >> (lev + 1))).astype(jnp.float64)
                y = y.reshape(tl // 2, 2, block).sum(axis=1) * (pad * vs[lev + 1])[:, None]
        out = y if emit else None
        return tuple(new_c), tuple(new_a), out, fsum

    carries = tuple(c for c, _ in state)
    accs = tuple(a for _, a in state)
    new_c, new_a, out, fsum = _map_blocks(body, (carries, accs, xb, weight))
    return tuple(zip(new_c, new_a)), out, fsum, (vs[-1] if emit else None)


@partial(jax.jit, donate_argnums=(0,))
def _push(buf, frames, pos):
    return jax.lax.dynamic_update_slice_in_dim(buf, frames, pos, axis=1)


@dataclass
class _Stage:
    first_level: int
    lags: tuple[tuple[int, ...], ...]
    state: Any
    emit: bool
    buf: Any = None
    vbuf: Any = None
    count: int = 0


class MultiTauAccumulator:
    """Streaming multi-tau accumulator: feed chunks of gathered ROI pixels, then finish.

    Use :func:`multitau` unless frames arrive incrementally (e.g. live from a
    detector); then call :meth:`update` with consecutive chunks of exactly ``chunk``
    frames (the last may be shorter) and :meth:`result` once.

    Parameters
    ----------
    layout : RoiLayout
        Pixel layout (see ``xpcsnb.correlate.stream.roi_layout``), blocks of B columns.
    ladder : Ladder
        The lag ladder (built for the total number of frames).
    chunk : int
        Frames per chunk T, a power of two ≥ 2.
    """

    def __init__(self, layout: RoiLayout, ladder: Ladder, chunk: int = 64, levels_per_stage: int = 3) -> None:
        import jax.numpy as jnp

        self.layout, self.ladder = layout, ladder
        self.chunk = check_int("chunk", chunk, 2, power_of_two=True)
        self.k = min(check_int("levels_per_stage", levels_per_stage), self.chunk.bit_length() - 1)
        self.n_out = self.chunk >> self.k  # frames a full chunk hands to the next stage
        nb, block = layout.n_blocks, layout.block
        self.weight = jnp.asarray(layout.weight.reshape(nb, block))
        # Every stage computes the full lag set of its levels (the ladder's truncation
        # at the last levels is applied in result()), so all stages after the first
        # share one compiled kernel.
        n_stages = -(-ladder.n_levels // self.k)
        full = [tuple(_level_lags(ladder.scheme, ladder.num_bufs, lev)) for lev in range(n_stages * self.k)]
        self.full_levels = full
        self.stages: list[_Stage] = []
        for s0 in range(0, n_stages * self.k, self.k):
            lags = tuple(full[s0: s0 + self.k])
            state = tuple(
                (jnp.asarray(np.zeros((nb, max(lg), block))), jnp.asarray(np.zeros((nb, len(lg), block)))) for lg in lags
            )
            self.stages.append(_Stage(s0, lags, state, emit=True))
        self._last = n_stages - 1
        for st in self.stages[1:]:
            st.buf = jnp.asarray(np.zeros((nb, self.chunk, block)))
        for st in self.stages[1:]:
            st.vbuf = jnp.asarray(np.ones(self.chunk))
        self.frame_sums: list[tuple[Any, int]] = []
        self.n_seen = 0

    def _run(self, i: int, x: Any, n_valid: int, first: bool, valid: Any) -> None:
        import jax.numpy as jnp

        st = self.stages[i]
        st.state, out, fsum, vout = _stage_kernel(
            st.state, x, self.weight, jnp.int32(n_valid), valid, lags=st.lags, first=first, emit=st.emit
        )
        if first:
            self.frame_sums.append((fsum, n_valid))
        if st.emit and i < self._last:
            nxt = self.stages[i + 1]
            nxt.buf = _push(nxt.buf, out, nxt.count)
            nxt.vbuf = jax.lax.dynamic_update_slice_in_dim(nxt.vbuf, vout, nxt.count, axis=0)
            nxt.count += n_valid >> self.k
            if nxt.count == self.chunk:
                buf, nxt.buf, nxt.count = nxt.buf, jnp.asarray(np.zeros(nxt.buf.shape)), 0
                vbuf, nxt.vbuf = nxt.vbuf, jnp.asarray(np.ones(self.chunk))
                self._run(i + 1, buf, self.chunk, first=False, valid=vbuf)

    def update(self, x: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Add the next ``n ≤ chunk`` frames, ``x`` of shape (n, n_cols) in layout order;
        ``valid`` (n,): 1 = frame used, 0 = excluded as missing (default all used)."""
        n = x.shape[0]
        if n > self.chunk or n < 1:
            raise CorrelatorError(f"a chunk must hold 1 … {self.chunk} frames, got {n}")
        if self.n_seen % self.chunk:
            raise CorrelatorError("only the last chunk may be shorter than `chunk` frames")
        if self.n_seen + n > self.ladder.n_frames:
            raise CorrelatorError(f"more frames than the ladder was built for ({self.ladder.n_frames})")
        v = np.ones(self.chunk)
        if valid is not None:
            v[:n] = np.asarray(valid, dtype=float)
        if n < self.chunk:
            x = np.concatenate([x, np.zeros((self.chunk - n, x.shape[1]), dtype=x.dtype)])
        self._run(0, x, n, first=True, valid=v)
        self.n_seen += n

    def _finish_stages(self) -> None:
        for i, st in enumerate(self.stages[1:], start=1):
            if st.count:  # the partial chunk: its valid pair sums still feed the next stage
                buf, st.buf, n, st.count = st.buf, None, st.count, 0
                self._run(i, buf, n, first=False, valid=st.vbuf)

    def result(self) -> dict[str, np.ndarray]:
        """Per-ROI sums: ``num`` and ``ss`` (Σ_p and Σ_p (G2 − mean)²), ``trace`` (n_roi, N)."""
        if self.n_seen != self.ladder.n_frames:
            raise CorrelatorError(f"got {self.n_seen} frames, the ladder was built for {self.ladder.n_frames}")
        self._finish_stages()
        lay = self.layout
        nb, block = lay.n_blocks, lay.block
        n_roi_sel = lay.npix.size
        owner = np.searchsorted(np.unique(lay.roi_of_block), lay.roi_of_block)
        cols = []  # (stage, level in stage, index in the full lag set) of each ladder lag
        for lev, lags in enumerate(self.ladder.levels):
            for j in lags:
                cols.append((lev // self.k, lev % self.k, self.full_levels[lev].index(j)))
        host = [[np.asarray(a) for _, a in st.state] for st in self.stages]
        g2 = np.stack([host[s][lv][:, c] for s, lv, c in cols], axis=1)  # (nb, n_lag, B)
        w = lay.weight.reshape(nb, 1, block)
        num = np.zeros((n_roi_sel, g2.shape[1]))
        np.add.at(num, owner, g2.sum(axis=2))
        mean = num / lay.npix[:, None]
        dev = (g2 - mean[owner][:, :, None]) ** 2 * w
        ss = np.zeros_like(num)
        np.add.at(ss, owner, dev.sum(axis=2))
        fs = np.concatenate([np.asarray(f)[:, :n] for f, n in self.frame_sums], axis=1)  # (nb, N)
        trace = np.zeros((n_roi_sel, fs.shape[1]))
        np.add.at(trace, owner, fs)
        return {"num": num, "ss": ss, "trace": trace}


def _level_trace(trace: np.ndarray, level: int) -> np.ndarray:
    """ROI sums of level-L frames: pair sums from the first frame, repeated L times."""
    s = trace
    for _ in range(level):
        m = s.shape[1] // 2
        s = s[:, : 2 * m].reshape(s.shape[0], m, 2).sum(axis=2)
    return s


def normalize_g2(sums: dict[str, np.ndarray], ladder: Ladder, npix: np.ndarray, normalization: str,
                 valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """g2 and g2_err (n_roi, n_tau) from the accumulated sums (see the module docstring).

    ``valid`` (n_frames,): 1 = frame used, 0 = excluded (missing): a level frame that
    contains an excluded frame is missing too, and the time means run over the pairs
    (t, t + j) of which both frames are present."""
    num, ss, trace = sums["num"], sums["ss"], sums["trace"]
    n = npix[:, None].astype(float)
    denom = np.empty_like(num)
    v = np.ones(trace.shape[1]) if valid is None else np.asarray(valid, dtype=float)
    none_left = np.zeros(num.shape[1], dtype=bool)  # lags without a pair of present frames: g2 = NaN
    col = 0
    for lev, lags in enumerate(ladder.levels):
        vl = v
        for _ in range(lev):
            vl = vl[: vl.size // 2 * 2].reshape(-1, 2).prod(axis=1)
        s = _level_trace(trace, lev) * vl
        nl = s.shape[1]
        for j in lags:
            pairs = nl - j
            none_left[col] = not np.any(vl[:pairs] * vl[j:])
            if normalization == "symmetric":
                both = vl[:pairs] * vl[j:]
                past, future = (s[:, :pairs] * vl[j:]).sum(axis=1), (s[:, j:] * vl[:pairs]).sum(axis=1)
                denom[:, col] = past * future / (n[:, 0] * max(both.sum(), 1.0))
            else:
                denom[:, col] = np.sum(s[:, :pairs] * s[:, j:], axis=1) / n[:, 0]
            col += 1
    denom[:, none_left] = np.nan
    bad = ~(denom > 0) & ~none_left
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise CorrelatorError(
            f"ROI {r} has no counts over the frames used at lag {int(ladder.lag[c])} frame(s): g2 is undefined "
            "(empty or dark ROI; check the mask, the ROI map or the exposure)"
        )
    g2 = num / denom
    std = np.sqrt(ss / np.maximum(n - 1, 1))
    g2_err = std * n / denom / np.sqrt(n)
    return g2, g2_err


def _roi_coords(part: Partition) -> dict[str, Any]:
    return {
        "roi": ("roi", np.arange(1, part.n_roi + 1), {"long_name": "ROI label", "units": "1"}),
        "q": ("roi", np.asarray(part.q, dtype=float), {"long_name": "scattering vector", "units": "1/Å"}),
        "phi": ("roi", np.asarray(part.phi, dtype=float), {"long_name": "azimuthal angle", "units": "deg"}),
        "npix": ("roi", part.npix, {"long_name": "pixels per ROI", "units": "1"}),
    }


def _pick_block(npix: np.ndarray, block: int | None) -> int:
    """Kernel block width: 128 columns (a block stays in L1/L2), smaller for tiny ROIs."""
    if block is not None:
        return check_int("block", block)
    # padding per ROI is < block: keep it below ~1/4 of the smallest ROI
    b = int(2 ** np.floor(np.log2(max(npix.min() / 4, 8))))
    return int(min(b, 128))


def multitau(
    frames: Any,
    rois: Any,
    *,
    frame_time: float | None = None,
    num_bufs: int = 8,
    num_levels: int | None = None,
    ladder: str = "skbeam",
    normalization: str = "symmetric",
    mask: Any | None = None,
    chunk: int = 64,
    block: int | None = None,
    levels_per_stage: int = 3,
    progress: bool = True,
    bad_frames: Any = None,
    bad_pixels: Any = None,
    bad_threshold: float = DEFAULT_THRESHOLD,
) -> xr.Dataset:
    """Multi-tau g2(roi, τ) of a frame stack.

    Parameters
    ----------
    frames : DataArray (frame, y, x) or array_like (N, H, W)
        Counts; lazy (dask/HDF5) stacks are streamed in chunks.
    rois : Partition or array_like of int (H, W)
        ROI labels (0 = unused); a :class:`~xpcsnb.correlate.Partition` also carries
        (q, phi) of each ROI.
    frame_time : float, optional
        Frame period [s]; default the frames' ``frame_time`` attribute.
    num_bufs : int
        Buffers per level (even); see ``xpcsnb.correlate.ladder``.
    num_levels : int, optional
        Number of levels; default as many as the frames allow.
    ladder : {"skbeam", "aps"}
        Lag ladder scheme.
    normalization : {"symmetric", "ratio"}
        g2 normalisation (module docstring).
    mask : array_like of bool (H, W), optional
        True = pixel used; removes pixels from the ROIs.
    chunk : int
        Frames per chunk (power of two). Memory: one raw chunk (chunk × H × W of the
        stack's dtype) + its gathered ROI pixels + the accumulators (≈ 8 bytes ×
        ROI pixels × (n_lags + 2·num_bufs·n_levels)).
    block : int, optional
        Pixels per kernel block (default from the ROI sizes, ≤ 512).
    levels_per_stage : int
        Levels computed per kernel call (a speed knob: the results do not depend on it).
    progress : bool
        Show a tqdm progress bar.
    bad_frames : None, "auto" or sequence of int
        Frames to exclude as missing (``xpcsnb.correlate.badframes``): none, the
        outliers of the total ROI counts (one extra pass over the ROI pixels), or these
        0-based indices. Products involving them are dropped and g2 is normalised by
        the pairs left (never by zero-filled frames); a lag with no pair of present
        frames left is NaN.
    bad_pixels : None, "auto" or bool array (H, W)
        Pixels to exclude: none, the hot/dead outliers of their ROI, or a mask (True = bad).
    bad_threshold : float
        Outlier threshold [robust σ] of the automatic tests.

    Returns
    -------
    xarray.Dataset
        The g2 Dataset of the data model (:func:`xpcsnb.core.g2.g2`): ``g2(roi, tau)``,
        ``g2_err(roi, tau)``, coords ``tau`` [s] (= lag·frame_time), ``roi`` (the
        1-based ROI labels), ``q(roi)`` [1/Å] and ``phi(roi)`` [deg] when the partition
        carries them (finite, q > 0; a bare label map has neither); plus
        ``intensity(roi, frame)`` [counts per pixel per frame] and coords ``lag``
        [frames], ``level``, ``npix(roi)``, ``t(frame)`` [s]; with ``bad_frames`` or
        ``bad_pixels`` also ``frame_excluded(frame)`` and the record of
        ``Exclusions.attrs`` (``xpcsnb.correlate.badframes``) in the attributes.
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_choice("ladder", ladder, LADDERS)
    chunk = check_int("chunk", chunk, 2, power_of_two=True)
    da, ft, part = resolve_input(frames, rois, frame_time, mask)
    n_frames = int(da.shape[0])
    lad = multitau_ladder(n_frames, num_bufs, ladder, num_levels)
    excl = None
    if bad_frames is not None or bad_pixels is not None:
        part, excl = resolve_exclusions(da, part, bad_frames, bad_pixels, threshold=bad_threshold, chunk=chunk,
                                        progress=progress)
    valid = np.ones(n_frames) if excl is None else excl.valid(n_frames)
    lay = roi_layout(part, block=_pick_block(part.npix, block))
    acc = MultiTauAccumulator(lay, lad, chunk, levels_per_stage)
    for s0, x in iter_roi_chunks(da, lay, chunk, progress=progress, desc="multi-tau"):
        acc.update(x, valid[s0: s0 + x.shape[0]])
    sums = acc.result()
    g2, g2_err = normalize_g2(sums, lad, part.npix, normalization, valid)
    ds = _dataset(g2, g2_err, sums["trace"] / part.npix[:, None], lad, part, da, ft, normalization)
    if excl is not None:
        ds["intensity"] = ds["intensity"].where(valid > 0)  # missing, not zero
        ds["frame_excluded"] = ("frame", valid == 0, {"long_name": "frame excluded from the correlation"})
        ds.attrs.update(excl.attrs())
    return ds


def _known(v: np.ndarray, positive: bool = False) -> np.ndarray | None:
    """``v`` when every value is finite (and > 0 with ``positive``), else None (not known)."""
    v = np.asarray(v, dtype=float)
    ok = np.all(np.isfinite(v)) and (not positive or np.all(v > 0))
    return v if ok else None


def _dataset(g2, g2_err, intensity, lad: Ladder, part: Partition, da: xr.DataArray, ft: float, normalization: str) -> xr.Dataset:
    """The g2 Dataset of the data model (:func:`xpcsnb.core.g2.g2`) plus the correlator's extras:
    ``intensity(roi, frame)``, ``lag(tau)``, ``level(tau)``, ``npix(roi)``, ``t(frame)``."""
    attrs = {
        "correlator": "xpcsnb.correlate.multitau",
        "normalization": normalization,
        "ladder": lad.scheme,
        "num_bufs": lad.num_bufs,
        "num_levels": lad.n_levels,
        "n_frames": lad.n_frames,
        "frame_time": ft,
        "frame_time_units": "s",
        "exposure": float(da.attrs.get("exposure", ft)),
        "exposure_units": "s",
        "g2_err": "standard error of the pixel mean: std_p(G2(p)) * norm / sqrt(npix)",
    }
    for k in ("source", "dataset"):
        if k in da.attrs:
            attrs[k] = da.attrs[k]
    ds = make_g2(
        g2, tau=lad.lag * ft, g2_err=g2_err, q=_known(part.q, positive=True), phi=_known(part.phi),
        roi=np.arange(1, part.n_roi + 1), attrs=attrs,
    )
    ds["roi"].attrs["long_name"] = "ROI label (1-based, as in the partition)"
    ds["intensity"] = (("roi", "frame"), intensity, {"long_name": "mean counts per pixel", "units": "counts"})
    return ds.assign_coords(
        lag=("tau", lad.lag, {"long_name": "lag", "units": "frames"}),
        level=("tau", lad.level, {"long_name": "multi-tau level (frames summed in 2**level)", "units": "1"}),
        npix=("roi", part.npix, {"long_name": "pixels per ROI", "units": "1"}),
        t=("frame", ft * np.arange(intensity.shape[1]), {"long_name": "frame start time", "units": "s"}),
    )
