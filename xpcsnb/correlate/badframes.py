"""Bad frames and bad pixels: find them, exclude them from the correlators, record them.

Two robust outlier tests (median and MAD, never the mean and standard deviation that
the outliers themselves inflate):

* **frames** — the total ROI counts ``S(t)`` of each frame (beam loss, shutter,
  cosmic burst make it jump); frame t is bad when
  ``|S(t) − median(S)| > threshold · σ``, with ``σ = max(1.4826 · MAD(S), √median(S))``
  (the Poisson floor keeps a perfectly steady beam from flagging shot noise);
* **pixels** — the time-mean count ``m_p`` of each ROI pixel against the other pixels of
  its ROI (a ring or ring sector, where the speckle mean is flat); pixel p is hot
  (dead) when ``(m_p − median_P)/σ_P > threshold`` (``< −threshold``), with
  ``σ_P = max(1.4826 · MAD_P, √(median_P / N))`` (Poisson floor of a mean of N frames;
  a dead pixel, m_p = 0, is flagged once ``median_P · N > threshold²``).

Excluded frames are treated as **missing**, not as zero counts: the multi-tau
correlator drops every product that involves one (and every multi-tau level frame that
contains one) and normalises by the pairs that remain; a zero frame instead would pull
g2 down at every lag it enters. Excluded pixels leave their ROI (a mask). What was
excluded is always recorded on the result (:meth:`Exclusions.attrs`, variable
``frame_excluded``); nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import CorrelatorError
from ..core.partition import Partition, resolve_rois
from .stream import iter_roi_chunks, roi_layout

__all__ = ["DEFAULT_THRESHOLD", "Exclusions", "flag_frames", "flag_pixels", "resolve_exclusions", "scan_rois"]

#: Default outlier threshold in robust standard deviations.
DEFAULT_THRESHOLD = 6.0
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Exclusions:
    """Frames and pixels left out of a correlation, and how they were chosen.

    Attributes
    ----------
    frames : ndarray of int
        0-based indices of the excluded frames (sorted, unique).
    pixels : ndarray of int
        Flat detector indices (``y * W + x``) of the excluded ROI pixels.
    frame_method, pixel_method : str
        ``"none"``, ``"given"`` or ``"auto"``.
    threshold : float
        Outlier threshold [robust σ] of the automatic tests.
    """

    frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    pixels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    frame_method: str = "none"
    pixel_method: str = "none"
    threshold: float = DEFAULT_THRESHOLD

    def valid(self, n_frames: int) -> np.ndarray:
        """1.0 for a used frame, 0.0 for an excluded one, shape (n_frames,)."""
        v = np.ones(n_frames)
        v[self.frames] = 0.0
        return v

    def attrs(self) -> dict[str, Any]:
        """The record stored on a result's attributes."""
        return {
            "bad_frames": self.frames.astype(np.int64), "bad_frames_method": self.frame_method,
            "n_bad_frames": int(self.frames.size),
            "bad_pixels": self.pixels.astype(np.int64), "bad_pixels_method": self.pixel_method,
            "n_bad_pixels": int(self.pixels.size),
            "bad_threshold": float(self.threshold),
            "bad_frames_treatment": "excluded as missing (products with them dropped, normalised by the pairs left)",
        }

    def summary(self) -> str:
        """One line for reports and logs."""
        return (f"{self.frames.size} bad frame(s) ({self.frame_method}) {self.frames[:10].tolist()}"
                f"{' …' if self.frames.size > 10 else ''}; {self.pixels.size} bad pixel(s) ({self.pixel_method})")


def _robust(values: np.ndarray, floor: float | np.ndarray) -> tuple[float, float]:
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    return med, max(_MAD_TO_SIGMA * mad, float(floor))


def _check_threshold(threshold: Any) -> float:
    ok = isinstance(threshold, int | float | np.integer | np.floating) and not isinstance(threshold, bool)
    if not ok or not np.isfinite(threshold) or threshold <= 0:
        raise CorrelatorError(f"threshold must be a finite number > 0 (robust standard deviations), got {threshold!r}")
    return float(threshold)


def flag_frames(frame_sums: Any, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """0-based indices of the frames whose total count is an outlier (module docstring).

    Parameters
    ----------
    frame_sums : array_like, shape (n_frames,) or (n_roi, n_frames)
        Counts per frame (summed over ROIs when 2-D).
    threshold : float
        Outlier threshold [robust σ].
    """
    th = _check_threshold(threshold)
    s = np.asarray(frame_sums, dtype=float)
    if s.ndim == 2:
        s = s.sum(axis=0)
    if s.ndim != 1 or s.size < 3:
        raise CorrelatorError(f"frame_sums must hold at least 3 frames (frame,) or (roi, frame), got shape {s.shape}")
    med, sigma = _robust(s, np.sqrt(max(np.median(s), 1.0)))
    return np.flatnonzero(np.abs(s - med) > th * sigma)


def flag_pixels(pixel_mean: Any, labels: Any, n_frames: int, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Flat indices of the hot or dead pixels of every ROI (module docstring).

    Parameters
    ----------
    pixel_mean : array_like, shape (H, W)
        Mean counts per frame of each pixel (only ROI pixels are used).
    labels : array_like of int, shape (H, W)
        ROI labels (0 = unused).
    n_frames : int
        Frames averaged into ``pixel_mean`` (the Poisson floor).
    threshold : float
        Outlier threshold [robust σ].
    """
    th = _check_threshold(threshold)
    m = np.asarray(pixel_mean, dtype=float).ravel()
    lab = np.asarray(labels).ravel()
    if m.size != lab.size:
        raise CorrelatorError(f"pixel_mean has {m.size} pixels but the ROI map {lab.size}")
    bad = []
    for r in np.unique(lab[lab > 0]):
        pix = np.flatnonzero(lab == r)
        med, sigma = _robust(m[pix], np.sqrt(max(np.median(m[pix]), 1.0 / n_frames) / n_frames))
        bad.append(pix[np.abs(m[pix] - med) > th * sigma])
    return np.sort(np.concatenate(bad)) if bad else np.zeros(0, dtype=int)


def scan_rois(frames: xr.DataArray, part: Partition, *, chunk: int = 256,
              progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the ROI pixels: counts per ROI and frame, and each pixel's mean.

    Returns
    -------
    frame_sums : ndarray, shape (n_roi, n_frames)
        Summed counts of each ROI in each frame.
    pixel_mean : ndarray, shape (H, W)
        Mean counts per frame of each ROI pixel (0 outside the ROIs).
    """
    lay = roi_layout(part)
    n = int(frames.shape[0])
    sums = np.zeros((part.n_roi, n))
    total = np.zeros(lay.index.size)
    for s, x in iter_roi_chunks(frames, lay, chunk, progress=progress, desc="bad-frame scan"):
        xf = x.astype(np.float64, copy=False)
        total += xf.sum(axis=0)
        np.add.at(sums, (lay.roi_of_col[:, None], np.arange(s, s + x.shape[0])[None, :]), xf.T)
    mean = np.zeros(int(np.prod(part.shape)))
    mean[lay.index] = total / n
    return sums, mean.reshape(part.shape)


def _given_frames(bad_frames: Any, n: int) -> np.ndarray:
    idx = np.asarray(bad_frames)
    ok = idx.ndim == 1 and (idx.size == 0 or (idx.dtype.kind in "iu"))
    if not ok or (idx.size and (idx.min() < 0 or idx.max() >= n)):
        raise CorrelatorError(f"bad_frames must be 'auto', None or a list of 0-based frame indices in 0 … {n - 1}, "
                              f"got {bad_frames!r}")
    return np.unique(idx.astype(int))


def _given_pixels(bad_pixels: Any, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(bad_pixels)
    if m.shape != tuple(shape) or m.dtype != bool:
        raise CorrelatorError(f"bad_pixels must be 'auto', None or a boolean (y, x) mask of shape {tuple(shape)} "
                              f"(True = bad), got {getattr(m, 'dtype', type(bad_pixels))} of shape {m.shape}")
    return np.flatnonzero(m.ravel())


def resolve_exclusions(frames: xr.DataArray, part: Partition, bad_frames: Any = None, bad_pixels: Any = None, *,
                       threshold: float = DEFAULT_THRESHOLD, chunk: int = 256,
                       progress: bool = False) -> tuple[Partition, Exclusions]:
    """The partition without the bad pixels, and the :class:`Exclusions` of a correlator call.

    Parameters
    ----------
    frames : DataArray (frame, y, x)
        Validated frames.
    part : Partition
        The ROI partition.
    bad_frames : None, "auto" or sequence of int
        Frames to exclude: none, found by :func:`flag_frames` (one extra pass over the
        ROI pixels), or the given 0-based indices.
    bad_pixels : None, "auto" or bool array (H, W)
        Pixels to exclude: none, found by :func:`flag_pixels`, or a mask (True = bad).
    threshold : float
        Outlier threshold [robust σ] of the automatic tests.
    """
    th = _check_threshold(threshold)
    n = int(frames.shape[0])
    auto_f = isinstance(bad_frames, str)
    auto_p = isinstance(bad_pixels, str)
    for name, v in (("bad_frames", bad_frames), ("bad_pixels", bad_pixels)):
        if isinstance(v, str) and v != "auto":
            raise CorrelatorError(f"{name} must be 'auto', None or explicit values, got {v!r}")
    sums = mean = None
    if auto_f or auto_p:
        sums, mean = scan_rois(frames, part, chunk=chunk, progress=progress)
    if bad_pixels is None:
        pixels, pm = np.zeros(0, dtype=int), "none"
    elif auto_p:
        pixels, pm = flag_pixels(mean, part.labels, n, th), "auto"
    else:
        pixels, pm = _given_pixels(bad_pixels, part.shape), "given"
    if pixels.size:
        keep = np.ones(int(np.prod(part.shape)), dtype=bool)
        keep[pixels] = False
        pixels = pixels[part.labels.ravel()[pixels] > 0]  # only ROI pixels are recorded
        part = resolve_rois(part, part.shape, keep.reshape(part.shape))
    if bad_frames is None:
        fr, fm = np.zeros(0, dtype=int), "none"
    elif auto_f:
        fr, fm = flag_frames(sums, th), "auto"
    else:
        fr, fm = _given_frames(bad_frames, n), "given"
    if fr.size >= n - 1:
        raise CorrelatorError(f"{fr.size} of {n} frames are bad: nothing left to correlate; "
                              "check the data or raise the threshold")
    return part, Exclusions(fr, pixels, fm, pm, th)
