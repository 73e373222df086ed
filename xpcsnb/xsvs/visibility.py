"""`visibility`: exposure series + ROIs → one Dataset of histograms and contrast estimates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import xarray as xr

from .._numeric import check_int
from ..core.partition import Partition, PartitionError, resolve_rois
from .contrast import STATUS_FLAGS, beta_lowcount, beta_ratio, beta_variance, fit_beta_ml
from .series import XsvsError, as_exposure_series
from .statistics import frame_statistics, pixel_table

__all__ = ["visibility"]

MASK_POLARITY = "1 = pixel used, 0 = excluded (same convention as xpcsnb.correlate.partition)"

FLAT_FIELD_METHOD = (
    "raw integer counts are histogrammed; the flat field F is normalised to unit mean per ROI "
    "(f = F/<F>_roi) and used (i) as the pixel weight w = 1/f in the variance estimator and "
    "(ii) as the expected count K_f*f_g of flat-field quantile group g in the ML likelihood; "
    "beta_ratio and beta_lowcount ignore it"
)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("xpcsnb")
    except Exception:  # pragma: no cover - source tree without install
        return "unknown"


def _rois(rois: Any, mask: Any, shape: tuple[int, int]) -> Partition:
    try:
        return resolve_rois(rois, shape, mask)
    except PartitionError as err:
        raise XsvsError(f"invalid ROIs or mask: {err}") from err


def _pad(arrays: list[np.ndarray], n_frames: int, n_k: int | None, fill: Any, dtype: Any = float) -> np.ndarray:
    """Stack per-exposure arrays (F_e, R[, n_k_e]) into (E, R, F[, n_k]) of ``dtype``."""
    n_roi = arrays[0].shape[1]
    shape = (len(arrays), n_roi, n_frames) + (() if n_k is None else (n_k,))
    out = np.full(shape, fill, dtype=dtype)
    for e, a in enumerate(arrays):
        a = np.moveaxis(a, 0, 1)  # (R, F_e, ...)
        if n_k is None:
            out[e, :, : a.shape[1]] = a
        else:
            out[e, :, : a.shape[1], : a.shape[2]] = a
    return out


def visibility(
    series: Any,
    rois: Any,
    *,
    exposure: Any | None = None,
    mask: Any | None = None,
    flat_field: Any | None = None,
    k_max: int | None = None,
    ratio_k: int = 0,
    flat_groups: int = 32,
    beta_max: float = 10.0,
    block_size: int = 16,
    progress: bool = True,
) -> xr.Dataset:
    """Photon statistics and speckle contrast per exposure time and ROI.

    Parameters
    ----------
    series : DataArray, mapping or sequence
        Photon-count frames: a DataArray ``(exposure, frame, y, x)`` with an ``exposure``
        coordinate [s], a mapping ``{T [s]: (frame, y, x) frames}`` (frame counts may
        differ), or a sequence of stacks with ``exposure=``. See
        :func:`xpcsnb.xsvs.series.as_exposure_series`.
    rois : Partition or array_like of int, shape (H, W)
        A :class:`xpcsnb.correlate.Partition` (q rings, optional phi sectors) or an integer
        label map (0 = unused, 1 … n).
    exposure : array_like, optional
        Exposure times [s] when the data do not carry them (never guessed).
    mask : array_like of bool, shape (H, W), optional
        True/1 = pixel used, False/0 = excluded (stored with the results).
    flat_field : array_like, shape (H, W), optional
        Relative pixel efficiency. Counts are never divided by it; see Notes.
    k_max : int, optional
        Largest photon count to histogram; a larger count raises. Default: the largest
        count in the data (nothing is truncated), up to
        :data:`~xpcsnb.xsvs.statistics.K_MAX_LIMIT` photons and
        :data:`~xpcsnb.xsvs.statistics.HIST_BYTES_MAX` bytes of histograms per exposure
        (a hot pixel beyond raises, naming the pixel).
    ratio_k : int
        Lower bin ``k`` of the exact-ratio estimator ``P(k)/P(k+1)`` (default 0).
    flat_groups : int
        Flat-field quantile groups in the ML likelihood (ignored without flat field).
    beta_max : float
        Upper bound of the ML contrast.
    block_size : int
        Frames read and histogrammed at once.
    progress : bool
        Show a progress bar over exposures (``tqdm.auto``).

    Returns
    -------
    xarray.Dataset
        Dims ``exposure``, ``roi``, ``frame``, ``k``, ``y``, ``x``. Variables: ``counts``
        (per-frame histograms n_k), ``P``/``P_err`` (frame-averaged probability and its
        standard error of the mean), ``mean_count``/``mean_count_err`` and
        ``mean_count_trace`` (K̄ per frame), ``beta``/``beta_err``/``M``/``fit_status``
        (ML negative-binomial fit; ``fit_status`` holds :class:`~xpcsnb.core.status.Status`
        codes: CONVERGED, POISSON_LIMIT, AT_BOUND or NO_DATA), ``beta_ratio``, ``beta_variance``, ``beta_lowcount``
        (with ``_err``), ``frame_valid``, ``n_frames``, ``npix``, ``labels``, ``mask``,
        ``static_image`` and ``flat_field`` when given.

    Raises
    ------
    XsvsError
        Bad frames (NaN, negative or non-integer counts), exposure times missing or not
        matching the frame stacks, a mask/flat field/label map of the wrong shape, an
        empty ROI.

    Notes
    -----
    The flat field ``F`` is normalised to unit mean over each ROI, ``f = F/⟨F⟩``; pixel
    ``i`` is modelled as NB with mean ``K̄_f·f_i``. The histograms hold raw counts. The
    variance estimator weights pixel ``i`` by ``1/f_i`` (exact); the ML fit uses the
    expected counts ``K̄_f·f_g`` of ``flat_groups`` quantile groups (the rms spread of
    ``f`` within the groups is stored as ``attrs["flat_field_group_spread"]``; its effect
    on β is of order its square). ``beta_ratio`` and ``beta_lowcount`` ignore the
    flat field (a pixel-efficiency spread ``σ_f`` raises them by about ``σ_f²``).
    """
    from tqdm.auto import tqdm

    if k_max is not None:
        k_max = check_int("k_max", k_max, 2, error=XsvsError)
    ratio_k = check_int("ratio_k", ratio_k, 0, error=XsvsError)
    block_size = check_int("block_size", block_size, error=XsvsError)
    flat_groups = check_int("flat_groups", flat_groups, error=XsvsError)
    if not (isinstance(beta_max, int | float | np.integer | np.floating) and np.isfinite(beta_max) and beta_max > 0):
        raise XsvsError(f"beta_max must be a finite contrast > 0, got {beta_max!r}")
    ser = as_exposure_series(series, exposure)
    shape = ser.shape
    part = _rois(rois, mask, shape)
    used_mask = np.ones(shape, bool) if mask is None else np.asarray(mask).astype(bool)
    ff = None if flat_field is None else np.asarray(flat_field, dtype=float)
    table = pixel_table(part.labels, ff, flat_groups)

    stats = []
    for e in tqdm(range(ser.exposure.size), desc="XSVS histograms", unit="exposure", disable=not progress):
        what = f"exposure {ser.exposure[e]:g} s"
        stats.append(frame_statistics(ser.blocks(e, block_size), table, int(ser.n_frames[e]), shape,
                                      k_max=k_max, what=what))

    n_frames = ser.n_frames
    F = int(n_frames.max())
    n_k = max(3, ratio_k + 2, max(s.counts.shape[2] for s in stats))
    if k_max is not None:
        n_k = int(k_max) + 1
    valid = np.arange(F)[None, :] < n_frames[:, None]  # (E, F)
    counts = _pad([s.counts for s in stats], F, n_k, 0, np.int32)  # (E, R, F, n_k); n_k ≤ npix < 2^31
    sum_w = _pad([s.sum_w for s in stats], F, None, 0.0)
    sum_w2 = _pad([s.sum_w2 for s in stats], F, None, 0.0)
    sum_ww = _pad([s.sum_ww for s in stats], F, None, 0.0)
    group_sum = np.stack([np.pad(np.moveaxis(s.group_sum, 0, 1), [(0, 0), (0, F - s.group_sum.shape[0]), (0, 0)])
                          for s in stats])  # (E, R, F, G)
    npix = table.npix.astype(float)
    vmask = valid[:, None, :]  # (E, 1, F)
    nf = n_frames[:, None].astype(float)

    kk = np.arange(n_k)
    trace = np.where(vmask, counts @ kk / npix[None, :, None], np.nan)
    mean_count = np.nanmean(trace, axis=-1)
    mean_count_err = np.nanstd(trace, axis=-1, ddof=1) / np.sqrt(nf)
    # frame mean and standard error of P_f(k) = n_f(k)/N_pix; padded frames hold zeros
    P = np.empty((counts.shape[0], counts.shape[1], n_k))
    P_err = np.empty_like(P)
    for e in range(counts.shape[0]):  # one exposure at a time bounds the float temporaries
        p_f = counts[e, :, : n_frames[e]] / npix[:, None, None]  # (R, F_e, n_k)
        P[e] = p_f.mean(axis=1)
        P_err[e] = p_f.std(axis=1, ddof=1) / np.sqrt(n_frames[e])

    ml = fit_beta_ml(counts, group_sum, table.group_npix, table.group_flat, valid, beta_max=beta_max)
    mean_f = np.where(vmask, trace, 0.0)
    b_ratio, b_ratio_err = beta_ratio(counts, mean_f, vmask, k=int(ratio_k))
    b_var, b_var_err = beta_variance(sum_w, sum_w2, sum_ww, npix[None, :, None], vmask)
    b_low, b_low_err = beta_lowcount(counts, npix[None, :, None], vmask)
    with np.errstate(divide="ignore"):
        M = np.where(ml.beta > 0, 1.0 / np.where(ml.beta > 0, ml.beta, 1.0), np.inf)
    M = np.where(np.isnan(ml.beta), np.nan, M)
    image_sum = np.sum([s.image_sum for s in stats], axis=0).reshape(shape)
    static = image_sum / float(np.sum(n_frames * ser.exposure))

    one = {"units": "1"}
    ER = ("exposure", "roi")
    data_vars = {
        "counts": (ER + ("frame", "k"), counts,
                   {"units": "pixels", "long_name": "pixels with k photons per frame (n_k)"}),
        "frame_valid": (("exposure", "frame"), valid, {"units": "1", "long_name": "frame present (ragged series)"}),
        "n_frames": ("exposure", n_frames, {"units": "1", "long_name": "frames per exposure"}),
        "npix": ("roi", table.npix, {"units": "pixels", "long_name": "pixels per ROI"}),
        "mean_count_trace": (ER + ("frame",), trace, {"units": "photons", "long_name": "mean count per pixel K_f"}),
        "mean_count": (ER, mean_count, {"units": "photons", "long_name": "frame-averaged mean count per pixel"}),
        "mean_count_err": (ER, mean_count_err, {"units": "photons", "long_name": "standard error of mean_count"}),
        "P": (ER + ("k",), P, {**one, "long_name": "frame-averaged probability P(K=k)"}),
        "P_err": (ER + ("k",), P_err, {**one, "long_name": "standard error of the mean of P over frames"}),
        "beta": (ER, ml.beta, {**one, "long_name": "contrast 1/M, maximum-likelihood negative binomial"}),
        "beta_err": (ER, ml.beta_err, {**one, "long_name": "stderr of beta from the observed information"}),
        "M": (ER, M, {**one, "long_name": "number of modes 1/beta (inf = Poisson limit)"}),
        "fit_status": (ER, ml.status, {**one, "long_name": "ML fit status (xpcsnb.core.status.Status)",
                                       **STATUS_FLAGS}),
        "beta_ratio": (ER, b_ratio, {**one, "long_name": f"exact-ratio contrast from P({ratio_k})/P({ratio_k + 1})",
                                     "ratio_k": int(ratio_k)}),
        "beta_ratio_err": (ER, b_ratio_err, {**one, "long_name": "jackknife stderr of beta_ratio"}),
        "beta_variance": (ER, b_var, {**one, "long_name": "moment contrast (<K^2>-<K>^2-<K>)/<K>^2"}),
        "beta_variance_err": (ER, b_var_err, {**one, "long_name": "jackknife stderr of beta_variance"}),
        "beta_lowcount": (ER, b_low, {**one, "long_name": "approximate R-1 = 2P2(1-P1)/P1^2 - 1 (biased high)",
                                      "bias": "exactly R = (1+beta)(1+K/M)^M (1-P(1)); R-1 > beta by O(K)"}),
        "beta_lowcount_err": (ER, b_low_err, {**one, "long_name": "jackknife stderr of beta_lowcount"}),
        "labels": (("y", "x"), part.labels, {"units": "1", "long_name": "ROI label (0 = unused)"}),
        "mask": (("y", "x"), used_mask, {"units": "1", "long_name": "detector mask", "polarity": MASK_POLARITY}),
        "static_image": (("y", "x"), static, {"units": "photons/s", "long_name": "mean count rate per pixel"}),
    }
    if ff is not None:
        data_vars["flat_field"] = (("y", "x"), ff, {"units": "1", "long_name": "flat field as given"})
    coords = {
        "exposure": ("exposure", ser.exposure, {"units": "s", "long_name": "exposure time T"}),
        "roi": ("roi", np.arange(1, table.n_roi + 1), {"units": "1", "long_name": "ROI label"}),
        "q": ("roi", part.q, {"units": "1/Å", "long_name": "q of the ROI"}),
        "phi": ("roi", part.phi, {"units": "deg", "long_name": "azimuth of the ROI"}),
        "frame": ("frame", np.arange(F), {"units": "1"}),
        "k": ("k", kk, {"units": "photons", "long_name": "photon count K"}),
    }
    import scipy

    attrs = {
        "title": "XSVS photon statistics and speckle contrast",
        "xpcsnb_version": _version(),
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "mask_polarity": MASK_POLARITY,
        "contrast_method": "maximum-likelihood negative binomial in beta=1/M, K_f fixed to the frame mean; "
                           "stderr from the observed information",
        "beta_max": float(beta_max),
        "flat_field_used": int(ff is not None),
    }
    if ff is not None:
        attrs["flat_field_method"] = FLAT_FIELD_METHOD
        attrs["flat_field_groups"] = int(table.group_npix.shape[1])
        attrs["flat_field_group_spread"] = table.group_spread
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
