"""Linear-lag g2(roi, τ) for every lag τ = 1 … max_lag frames (short series).

Same definitions and normalisations as :mod:`xpcsnb.correlate.multitau` at level 0,
evaluated at every lag: the per-pixel sums ``G2(p, τ) = Σ_t I_p(t) I_p(t+τ)`` come
from a zero-padded FFT of each pixel's time series (JAX, float64), rounded to the
nearest integer when the counts are integers (exact, since the FFT error is far below
0.5 there). The ROI pixels of the whole series are held in memory (N × n_pix × 8
bytes), so this is meant for short series; use :func:`~xpcsnb.correlate.multitau`
for long ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401  (float64)
from .ladder import Ladder
from .multitau import NORMALIZATIONS, _dataset, normalize_g2
from .stream import CorrelatorError, check_choice, check_int, iter_roi_chunks, resolve_input, roi_layout

__all__ = ["g2_linear"]


def _pixel_autocorr(x: np.ndarray, max_lag: int, integer: bool, block: int = 2048) -> np.ndarray:
    """Σ_t x[t, p] x[t+τ, p] for τ = 1 … max_lag, shape (max_lag, n_pix)."""
    import jax
    import jax.numpy as jnp

    n = x.shape[0]
    nfft = 1 << int(np.ceil(np.log2(2 * n)))

    @jax.jit
    def acf(xb):
        f = jnp.fft.rfft(xb, n=nfft, axis=0)
        return jnp.fft.irfft(f.real**2 + f.imag**2, n=nfft, axis=0)[1: max_lag + 1]

    out = np.empty((max_lag, x.shape[1]))
    for s in range(0, x.shape[1], block):
        out[:, s: s + block] = np.asarray(acf(jnp.asarray(x[:, s: s + block])))
    return np.rint(out) if integer else out


def g2_linear(
    frames: Any,
    rois: Any,
    *,
    frame_time: float | None = None,
    max_lag: int | None = None,
    normalization: str = "symmetric",
    mask: Any | None = None,
    chunk: int = 256,
    progress: bool = True,
) -> xr.Dataset:
    """g2(roi, τ) at every lag 1 … ``max_lag`` frames.

    Parameters
    ----------
    frames : DataArray (frame, y, x) or array_like (N, H, W)
        Counts.
    rois : Partition or array_like of int (H, W)
        ROI labels (0 = unused).
    frame_time : float, optional
        Frame period [s]; default the frames' attribute.
    max_lag : int, optional
        Largest lag [frames], < N; default N − 1.
    normalization : {"symmetric", "ratio"}
        As in :func:`~xpcsnb.correlate.multitau`.
    mask : array_like of bool (H, W), optional
        True = pixel used.
    chunk : int
        Frames read per block.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    xarray.Dataset
        Same layout as :func:`~xpcsnb.correlate.multitau` (``level`` = 0 everywhere,
        ``attrs["ladder"] = "linear"``).
    """
    check_choice("normalization", normalization, NORMALIZATIONS)
    chunk = check_int("chunk", chunk)
    da, ft, part = resolve_input(frames, rois, frame_time, mask)
    n = int(da.shape[0])
    max_lag = check_int("max_lag", n - 1 if max_lag is None else max_lag)
    if max_lag >= n:
        raise CorrelatorError(f"fewer frames than lags: max_lag={max_lag} needs at least {max_lag + 1} frames, got {n}")
    lay = roi_layout(part, block=1)
    x = np.empty((n, lay.index.size))
    for s, xc in iter_roi_chunks(da, lay, chunk, progress=progress, desc="g2 linear"):
        x[s: s + xc.shape[0]] = xc
    g2p = _pixel_autocorr(x, max_lag, np.dtype(da.dtype).kind in "ui")
    bounds = np.cumsum(np.concatenate([[0], lay.npix]))
    num = np.add.reduceat(g2p, bounds[:-1], axis=1).T
    mean = num / lay.npix[:, None]
    owner = np.repeat(np.arange(lay.npix.size), lay.npix)
    ss = np.add.reduceat((g2p - mean[owner].T) ** 2, bounds[:-1], axis=1).T
    trace = np.add.reduceat(x, bounds[:-1], axis=1).T
    ladder = Ladder(scheme="linear", num_bufs=0, n_frames=n, levels=(tuple(range(1, max_lag + 1)),))
    g2, g2_err = normalize_g2({"num": num, "ss": ss, "trace": trace}, ladder, part.npix, normalization)
    ds = _dataset(g2, g2_err, trace / part.npix[:, None], ladder, part, da, ft, normalization)
    ds.attrs["correlator"] = "xpcsnb.correlate.g2_linear"
    del ds.attrs["num_bufs"], ds.attrs["num_levels"]
    return ds
