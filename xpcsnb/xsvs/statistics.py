"""Photon statistics per frame and ROI: integer histograms and count moments.

For every frame ``f`` and ROI ``r`` the histogram ``n[f, r, k]`` counts the ROI pixels
with exactly ``k`` photons. It is computed for a whole block of frames with one
:func:`numpy.bincount` on the combined index ``(f·n_roi + r)·n_k + k`` (no Python loop
over frames or ROIs). Counts stay raw integers: nothing is divided or rounded.

Flat field
----------
A flat field ``F`` (relative pixel efficiency) is normalised to unit mean over the pixels
of each ROI, ``f_i = F_i / ⟨F⟩_roi``, so the ROI mean count ``K̄`` keeps its meaning. Pixel
``i`` then has expected count ``K̄_f·f_i``. The histograms ignore ``f``. It enters

* the variance estimator through the per-pixel weight ``w_i = 1/f_i``: the moments
  ``Σ K w``, ``Σ (K w)²`` and ``Σ K w²`` per frame (see
  :func:`xpcsnb.xsvs.contrast.beta_variance`), and
* the maximum-likelihood fit through the expected counts ``K̄_f·f_g`` of flat-field groups
  ``g`` (pixels binned by ``f`` into quantile groups); this needs the photon sums
  ``S[f, r, g] = Σ_{i∈(r,g)} K_i`` accumulated here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .series import XsvsError, check_counts

__all__ = ["HIST_BYTES_MAX", "K_MAX_LIMIT", "PixelTable", "FrameStatistics", "pixel_table", "frame_statistics"]

#: Largest photon count a histogram holds (its bins enter every contrast fit).
K_MAX_LIMIT = 1 << 16
#: Largest per-frame histogram of one exposure (frames × ROIs × bins, int64) [bytes].
HIST_BYTES_MAX = 1 << 30


def _check_bins(n_k: int, n_frames: int, n_roi: int, what: str, cause: str) -> None:
    """Raise when histograms of ``n_k`` bins exceed :data:`K_MAX_LIMIT` or :data:`HIST_BYTES_MAX`."""
    k_cap = min(K_MAX_LIMIT, HIST_BYTES_MAX // (8 * n_frames * n_roi) - 1)
    if n_k - 1 > k_cap:
        need = 8.0 * n_frames * n_roi * n_k
        raise XsvsError(
            f"{what}: {cause}, but the histograms stop at {k_cap} photons here (at most {K_MAX_LIMIT} photons and "
            f"{HIST_BYTES_MAX / 2**30:g} GiB per exposure; {need / 2**30:.3g} GiB asked for {n_frames} frames × "
            f"{n_roi} ROIs). XSVS counts a few photons per pixel: mask hot or saturated pixels (mask=) "
            "or check the frames"
        )


@dataclass(frozen=True)
class PixelTable:
    """The used pixels of the detector, their ROI and flat-field weights.

    Attributes
    ----------
    index : ndarray of int, shape (P,)
        Flat indices (into ``H·W``) of the used pixels (label > 0).
    roi : ndarray of int, shape (P,)
        Zero-based ROI index of each used pixel.
    n_roi : int
        Number of ROIs.
    npix : ndarray of int, shape (n_roi,)
        Pixels per ROI.
    flat : ndarray of float, shape (P,) or None
        Flat field normalised to unit mean per ROI (None without flat field).
    group : ndarray of int, shape (P,) or None
        Flat-field group of each pixel (0 … n_groups-1).
    group_npix : ndarray of int, shape (n_roi, n_groups)
        Pixels per (ROI, group); ``(n_roi, 1)`` equal to ``npix`` without flat field.
    group_flat : ndarray of float, shape (n_roi, n_groups)
        Mean normalised flat field per (ROI, group) (1 without flat field; 0 where empty).
    group_spread : float
        Pixel-weighted rms standard deviation of ``f`` inside the groups (0 without flat
        field): the size of the grouping approximation (its effect on β is of order its
        square).
    """

    index: np.ndarray
    roi: np.ndarray
    n_roi: int
    npix: np.ndarray
    flat: np.ndarray | None
    group: np.ndarray | None
    group_npix: np.ndarray
    group_flat: np.ndarray
    group_spread: float


def pixel_table(labels: np.ndarray, flat_field: np.ndarray | None = None, n_groups: int = 32) -> PixelTable:
    """Index the used pixels of a label map and normalise the flat field per ROI.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        ROI labels 1 … n_roi, 0 = unused; every label must have a pixel.
    flat_field : ndarray of float, shape (H, W), optional
        Relative pixel efficiency (any scale); must be finite and > 0 on used pixels.
    n_groups : int
        Number of flat-field quantile groups for the likelihood (≥ 1).

    Returns
    -------
    PixelTable
    """
    flat_labels = labels.ravel()
    index = np.flatnonzero(flat_labels > 0)
    roi = flat_labels[index].astype(np.int64) - 1
    n_roi = int(labels.max())
    npix = np.bincount(roi, minlength=n_roi)
    if np.any(npix < 2):
        bad = (np.flatnonzero(npix < 2) + 1).tolist()
        raise XsvsError(f"ROI(s) {bad[:10]} have fewer than 2 pixels")
    if flat_field is None:
        return PixelTable(index, roi, n_roi, npix, None, None, npix[:, None].copy(),
                          np.ones((n_roi, 1)), 0.0)
    ff = np.asarray(flat_field, dtype=float)
    if ff.shape != labels.shape:
        raise XsvsError(f"flat_field has shape {ff.shape} but the frames are {labels.shape}")
    fp = ff.ravel()[index]
    if not np.all(np.isfinite(fp)) or np.any(fp <= 0):
        raise XsvsError("flat_field must be finite and > 0 on every used pixel (mask bad pixels instead)")
    if int(n_groups) < 1:
        raise XsvsError(f"n_groups must be >= 1, got {n_groups}")
    mean = np.bincount(roi, weights=fp, minlength=n_roi) / npix
    f = fp / mean[roi]
    n_groups = int(n_groups)
    edges = np.quantile(f, np.linspace(0.0, 1.0, n_groups + 1)[1:-1])
    group = np.searchsorted(edges, f, side="right")
    cell = roi * n_groups + group
    g_n = np.bincount(cell, minlength=n_roi * n_groups)
    g_s = np.bincount(cell, weights=f, minlength=n_roi * n_groups)
    g_s2 = np.bincount(cell, weights=f * f, minlength=n_roi * n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_mean = np.where(g_n > 0, g_s / np.maximum(g_n, 1), 0.0)
        g_var = np.where(g_n > 0, g_s2 / np.maximum(g_n, 1) - g_mean**2, 0.0)
    spread = np.sqrt(np.sum(g_n * np.clip(g_var, 0, None)) / np.sum(g_n))
    return PixelTable(index, roi, n_roi, npix, f, group, g_n.reshape(n_roi, n_groups),
                      g_mean.reshape(n_roi, n_groups), float(spread))


@dataclass
class FrameStatistics:
    """Per-frame photon statistics of one exposure.

    Attributes
    ----------
    counts : ndarray of int, shape (F, n_roi, n_k)
        ``counts[f, r, k]`` = number of ROI-``r`` pixels with ``k`` photons in frame ``f``.
    sum_w, sum_w2, sum_ww : ndarray, shape (F, n_roi)
        ``Σ K w``, ``Σ (K w)²`` and ``Σ K w²`` over the ROI pixels, ``w = 1/f`` (f = 1
        without flat field, so these are ``Σ K``, ``Σ K²``, ``Σ K``).
    group_sum : ndarray, shape (F, n_roi, n_groups)
        Photon sums per flat-field group (``Σ K`` per ROI without flat field).
    image_sum : ndarray, shape (H·W,)
        Sum of all frames per pixel (float, for the static image).
    """

    counts: np.ndarray
    sum_w: np.ndarray
    sum_w2: np.ndarray
    sum_ww: np.ndarray
    group_sum: np.ndarray
    image_sum: np.ndarray


def _block_base(n_frames: int, roi: np.ndarray, n_roi: int, n_k: int) -> np.ndarray:
    """Combined-index offsets ``(f·n_roi + r)·n_k`` of a block, shape (F, P), intp."""
    return (np.arange(n_frames, dtype=np.intp)[:, None] * n_roi + roi.astype(np.intp)[None, :]) * n_k


def _histogram_block(k: np.ndarray, base: np.ndarray, n_roi: int, n_k: int) -> np.ndarray:
    """Histogram a block ``k`` (F, P) of integer counts < n_k: returns (F, n_roi, n_k) int64.

    One :func:`numpy.bincount` over the combined index ``(f·n_roi + r)·n_k + k``
    (``base`` from :func:`_block_base`), no loop over frames or ROIs.
    """
    n_frames = k.shape[0]
    index = np.add(base, k, casting="unsafe", dtype=np.intp)
    return np.bincount(index.ravel(), minlength=n_frames * n_roi * n_k).reshape(n_frames, n_roi, n_k)


def frame_statistics(blocks, table: PixelTable, n_frames: int, shape: tuple[int, int], *,
                     k_max: int | None = None, what: str = "frames") -> FrameStatistics:
    """Histogram and moment sums of one exposure, block by block.

    Parameters
    ----------
    blocks : iterable of (int, ndarray)
        ``(first_frame, block)`` with ``block`` of shape ``(F, H, W)``.
    table : PixelTable
        Used pixels, ROIs and flat-field weights.
    n_frames : int
        Total number of frames of the exposure.
    shape : (int, int)
        Detector shape.
    k_max : int, optional
        Largest photon count kept; a larger count raises. None: grows with the data.
    what : str
        Description for error messages.

    Returns
    -------
    FrameStatistics
        ``counts`` has ``n_k = k_max + 1`` bins, or ``1 + max count`` when ``k_max`` is None.
    """
    n_roi = table.n_roi
    n_groups = table.group_npix.shape[1]
    n_k = 1 if k_max is None else int(k_max) + 1
    _check_bins(n_k, n_frames, n_roi, what, f"k_max={k_max}")
    counts = np.zeros((n_frames, n_roi, n_k), dtype=np.int64)
    sum_w = np.zeros((n_frames, n_roi))
    sum_w2 = np.zeros((n_frames, n_roi))
    sum_ww = np.zeros((n_frames, n_roi))
    group_sum = np.zeros((n_frames, n_roi, n_groups))
    image_sum = np.zeros(shape[0] * shape[1])
    bases: dict[tuple[int, int], np.ndarray] = {}
    for start, block in blocks:
        if block.shape[1:] != tuple(shape):
            raise XsvsError(f"{what}: frame shape {block.shape[1:]} differs from {shape}")
        nb = block.shape[0]
        flat_block = block.reshape(nb, -1)
        k = check_counts(np.take(flat_block, table.index, axis=1), f"{what}, frames {start}-{start + nb - 1}")
        image_sum += flat_block.sum(axis=0, dtype=float)
        kmax_block = int(k.max()) if k.size else 0
        if kmax_block >= n_k:
            f, p = np.unravel_index(int(np.argmax(k)), k.shape)
            y, x = np.unravel_index(int(table.index[p]), shape)
            where = f"a pixel has {kmax_block} photons (frame {start + f}, pixel y={y}, x={x})"
            if k_max is not None:
                raise XsvsError(f"{what}: {where} > k_max={k_max}; pass a larger k_max or k_max=None (automatic)")
            _check_bins(kmax_block + 1, n_frames, n_roi, what, where)
            counts = np.concatenate(
                [counts, np.zeros((n_frames, n_roi, kmax_block + 1 - n_k), dtype=np.int64)], axis=2)
            n_k = kmax_block + 1
        sl = slice(start, start + nb)
        if (nb, n_k) not in bases:
            bases = {(nb, n_k): _block_base(nb, table.roi, n_roi, n_k)}
        counts[sl] = _histogram_block(k, bases[(nb, n_k)], n_roi, n_k)
        kk = np.arange(n_k, dtype=float)
        if table.flat is None:
            s1 = counts[sl] @ kk
            sum_w[sl] = s1
            sum_ww[sl] = s1
            sum_w2[sl] = counts[sl] @ (kk * kk)
            group_sum[sl, :, 0] = s1
        else:
            w = 1.0 / table.flat
            fr = (np.arange(nb)[:, None] * n_roi + table.roi[None, :]).ravel()
            kw = (k * w[None, :]).ravel()
            size = nb * n_roi
            sum_w[sl] = np.bincount(fr, weights=kw, minlength=size).reshape(nb, n_roi)
            sum_w2[sl] = np.bincount(fr, weights=kw * kw, minlength=size).reshape(nb, n_roi)
            sum_ww[sl] = np.bincount(fr, weights=(k * (w * w)[None, :]).ravel(), minlength=size).reshape(nb, n_roi)
            gc = (np.arange(nb)[:, None] * (n_roi * n_groups)
                  + (table.roi * n_groups + table.group)[None, :]).ravel()
            group_sum[sl] = np.bincount(gc, weights=k.ravel().astype(float),
                                        minlength=nb * n_roi * n_groups).reshape(nb, n_roi, n_groups)
    return FrameStatistics(counts, sum_w, sum_w2, sum_ww, group_sum, image_sum)
