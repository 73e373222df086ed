"""Seeded simulator of XSVS exposure series with known contrast, dynamics and counts.

Each frame is an independent speckle realisation. Pixel ``i`` of ROI ``r`` in a frame of
exposure ``T`` receives the integrated intensity ``I ~ Gamma(shape=M, scale=μ/M)`` with
``M = 1/β(T)`` and ``β(T) = β0·b(Γ_r T)`` the single-exponential contrast decay of
:func:`xpcsnb.xsvs.dynamics.contrast_exponential` (or the stretched form), and its count
is ``K ~ Poisson(I)``: exactly the negative binomial ``NB(μ, M)``.

The Gamma law with ``M = 1/β(T)`` modes is the standard approximation of the
time-integrated speckle intensity (the exact integrated-intensity law is not Gamma, but
has the same first two moments, which is all β(T) is defined by).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..core.partition import Partition
from .dynamics import contrast_exponential, contrast_stretched
from .series import XsvsError

__all__ = ["simulate_series"]


def simulate_series(
    rois: Partition | np.ndarray,
    exposure: Any,
    *,
    n_frames: int | Any = 50,
    beta0: float | Any = 0.25,
    rate: float | Any = 0.0,
    stretch: float = 1.0,
    mean_count: float | Any = 1.0,
    drift: float = 0.0,
    flat_field: np.ndarray | None = None,
    seed: int = 0,
    as_mapping: bool = False,
) -> xr.DataArray | dict[float, np.ndarray]:
    """Simulate photon-count frames for a set of exposure times.

    Parameters
    ----------
    rois : Partition or ndarray of int, shape (H, W)
        ROI labels (0 = unused). Unused pixels get Poisson counts of mean ``mean_count``
        of the first ROI.
    exposure : array_like, shape (E,)
        Exposure times [s].
    n_frames : int or array_like of int, shape (E,)
        Frames per exposure (ragged counts need ``as_mapping=True``).
    beta0 : float or array_like, shape (R,)
        Static contrast per ROI.
    rate : float or array_like, shape (R,)
        Relaxation rate Γ [1/s] per ROI (``|g1|² = exp(−2(Γτ)^stretch)``); 0 = static.
    stretch : float
        Stretching exponent γ (1 = single exponential).
    mean_count : float or array_like, shape (E,) or (E, R)
        Mean count per pixel and frame K̄ [photons].
    drift : float
        Relative linear drift of the intensity over the frames of each exposure:
        frame f has mean ``K̄·(1 + drift·(f/(F−1) − ½))``.
    flat_field : ndarray, shape (H, W), optional
        Relative pixel efficiency multiplying the intensity.
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    as_mapping : bool
        Return ``{T: frames}`` instead of a DataArray.

    Returns
    -------
    DataArray (exposure, frame, y, x) of int32, or dict
        The DataArray carries the true parameters in ``attrs`` and the ``exposure``
        coordinate [s].
    """
    labels = rois.labels if isinstance(rois, Partition) else np.asarray(rois)
    if labels.ndim != 2 or labels.max() < 1:
        raise XsvsError("rois must be a 2-D label map with at least one ROI")
    T = np.atleast_1d(np.asarray(exposure, dtype=float))
    if np.any(T <= 0) or not np.all(np.isfinite(T)):
        raise XsvsError(f"exposure times must be finite and > 0, got {T.tolist()}")
    E, R = T.size, int(labels.max())
    nf = np.broadcast_to(np.asarray(n_frames, dtype=int), (E,))
    if np.any(nf < 1):
        raise XsvsError("n_frames must be >= 1")
    if not as_mapping and np.unique(nf).size != 1:
        raise XsvsError("ragged n_frames need as_mapping=True")
    b0 = np.broadcast_to(np.asarray(beta0, float), (R,))
    gam = np.broadcast_to(np.asarray(rate, float), (R,))
    mc = np.asarray(mean_count, float)
    mc = np.broadcast_to(mc[:, None] if mc.ndim == 1 else mc, (E, R))
    if np.any(b0 < 0) or np.any(gam < 0) or np.any(mc < 0):
        raise XsvsError("beta0, rate and mean_count must be >= 0")
    if stretch == 1.0:
        beta_t = contrast_exponential(T[:, None], b0[None, :], gam[None, :])
    else:
        with np.errstate(divide="ignore"):
            tau = np.where(gam > 0, 1.0 / np.where(gam > 0, gam, 1.0), np.inf)
        beta_t = np.where(gam[None, :] > 0,
                          contrast_stretched(T[:, None], b0[None, :], np.where(np.isfinite(tau), tau, 1.0)[None, :],
                                             stretch),
                          b0[None, :])
    rng = np.random.default_rng(seed)
    lab0 = np.where(labels > 0, labels - 1, 0)
    eff = np.ones(labels.shape) if flat_field is None else np.asarray(flat_field, float)
    out = {}
    for e in range(E):
        F = int(nf[e])
        ramp = 1.0 + drift * (np.arange(F) / max(F - 1, 1) - 0.5)
        mu = mc[e][lab0][None] * ramp[:, None, None] * eff[None]
        beta_pix = np.where(labels > 0, beta_t[e][lab0], 0.0)[None]
        with np.errstate(divide="ignore", invalid="ignore"):
            intensity = np.where(beta_pix > 0,
                                 rng.gamma(np.where(beta_pix > 0, 1.0 / np.maximum(beta_pix, 1e-300), 1.0),
                                           size=(F,) + labels.shape) * beta_pix * mu,
                                 mu)
        out[float(T[e])] = rng.poisson(intensity).astype(np.int32)
    if as_mapping:
        return out
    data = np.stack([out[float(t)] for t in T])
    attrs = {"simulated": "gamma speckle intensity (M = 1/beta(T)) + Poisson counting",
             "beta0": b0.tolist(), "rate": gam.tolist(), "stretch": float(stretch),
             "drift": float(drift), "seed": int(seed), "units": "photons"}
    return xr.DataArray(
        data, dims=("exposure", "frame", "y", "x"),
        coords={"exposure": ("exposure", T, {"units": "s"}), "frame": np.arange(int(nf[0]))},
        attrs=attrs, name="frames")
