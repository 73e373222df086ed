"""Seeded simulator of speckle frames with a known field correlation g1.

Model (per pixel p, independent pixels, i.e. speckle size ≤ 1 px unless
``speckle_size`` is given):

* M independent complex Gaussian speckle modes E_m(p, t) with unit variance, each an
  AR(1) process in frame steps,
  ``E(t+1) = a_p E(t) + sqrt(1 − a_p²) w(t)``, ``w ~ CN(0, 1)``, ``a_p = exp(−Γ_p Δt)``;
  the first frame is drawn from the stationary distribution.
* Relaxation rate ``Γ_p = D q_p²`` [1/s] (Brownian motion, D [Å²/s], q [1/Å]), so the
  field correlation is ``g1(τ) = exp(−D q² τ)`` exactly on the frame grid.
* Intensity ``I(p, t) = m_p · mean_m |E_m(p, t)|²`` with mean count m_p [photons per
  pixel per frame]; counts ``~ Poisson(I)`` sampled at the frame instant (no
  exposure averaging).
* Hence ``g2(p, τ) = 1 + β exp(−2 D q_p² τ)`` for τ ≥ 1 frame, with contrast β = 1/M.

Note on conventions: the homodyne two-time model writes
``c1 = exp(−q²/2 ∫ D dt)`` and ``C2 = offset + contrast · c1²``, so its fitted ``D0``
equals ``2 D`` of this simulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import XpcsError
from ..core.frames import frames_from_array
from ..core.partition import Geometry, Partition

__all__ = ["SimulationError", "expected_g2", "iter_simulated_frames", "simulate_frames"]


class SimulationError(XpcsError):
    """Raised for invalid simulation parameters."""


def _q_map(q_map: Any, shape: tuple[int, int] | None) -> np.ndarray:
    if isinstance(q_map, Geometry):
        return q_map.q_map()
    if q_map is None:
        raise SimulationError("give q_map: a (H, W) array of q [1/Å] or a Geometry")
    q = np.asarray(q_map, dtype=float)
    if q.ndim != 2:
        raise SimulationError(f"q_map must be a 2-D (y, x) array [1/Å], got shape {q.shape}")
    if not np.all(np.isfinite(q)) or np.any(q < 0):
        raise SimulationError("q_map must be finite and >= 0 [1/Å]")
    if shape is not None and q.shape != tuple(shape):
        raise SimulationError(f"q_map has shape {q.shape}, expected {tuple(shape)}")
    return q


def _mean_map(mean_count: Any, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mean_count, dtype=float)
    if m.ndim == 0:
        m = np.full(shape, float(m))
    if m.shape != shape:
        raise SimulationError(f"mean_count must be a scalar or a {shape} map, got shape {m.shape}")
    if not np.all(np.isfinite(m)) or np.any(m < 0):
        raise SimulationError("mean_count must be finite and >= 0 [photons/pixel/frame]")
    return m


def _check_params(n_frames: int, D: float, frame_time: float, n_modes: int) -> None:
    if int(n_frames) != n_frames or n_frames < 2:
        raise SimulationError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    if not np.isfinite(D) or D < 0:
        raise SimulationError(f"D must be finite and >= 0 [Å²/s], got {D!r}")
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise SimulationError(f"frame_time must be finite and > 0 [s], got {frame_time!r}")
    if int(n_modes) != n_modes or n_modes < 1:
        raise SimulationError(f"n_modes must be an integer >= 1 (contrast = 1/n_modes), got {n_modes!r}")


def _smoother(speckle_size: float, shape: tuple[int, int]):
    """Return a function smoothing a white complex field to unit-variance speckles."""
    if speckle_size <= 0:
        raise SimulationError(f"speckle_size must be > 0 [px], got {speckle_size!r}")
    if speckle_size <= 1.0:
        return None
    from scipy.ndimage import gaussian_filter

    sigma = speckle_size / 2.0
    delta = np.zeros(shape)
    delta[shape[0] // 2, shape[1] // 2] = 1.0
    norm = np.sqrt(np.sum(gaussian_filter(delta, sigma, mode="wrap") ** 2))

    def smooth(w: np.ndarray) -> np.ndarray:
        re = gaussian_filter(w.real, sigma=(0, 0, sigma, sigma), mode="wrap")
        im = gaussian_filter(w.imag, sigma=(0, 0, sigma, sigma), mode="wrap")
        return (re + 1j * im) / norm

    return smooth


def iter_simulated_frames(
    n_frames: int,
    q_map: Any,
    *,
    D: float,
    frame_time: float,
    mean_count: Any = 1.0,
    n_modes: int = 2,
    speckle_size: float = 1.0,
    seed: int = 0,
    chunk: int = 256,
    dtype: Any = np.uint16,
) -> Iterator[np.ndarray]:
    """Yield simulated frames in chunks of at most ``chunk`` frames (bounded memory).

    The concatenation of the chunks is independent of ``chunk`` for a given ``seed``
    only through the random stream order, so use the same ``chunk`` to reproduce a
    stack. Parameters as in :func:`simulate_frames`.

    Yields
    ------
    ndarray, shape (n, H, W)
        Counts of the next ``n <= chunk`` frames.
    """
    q = _q_map(q_map, None)
    shape = q.shape
    _check_params(n_frames, D, frame_time, n_modes)
    m = _mean_map(mean_count, shape)
    dtype = np.dtype(dtype)
    if dtype.kind == "u" and np.any(m > 0.5 * np.iinfo(dtype).max / 10):
        raise SimulationError(f"mean_count too large for dtype {dtype}")
    smooth = _smoother(float(speckle_size), shape)
    rng = np.random.default_rng(seed)
    a = np.exp(-D * q**2 * frame_time)
    b = np.sqrt(1.0 - a**2)

    def cn(k: int) -> np.ndarray:
        w = (rng.standard_normal((k, n_modes, *shape)) + 1j * rng.standard_normal((k, n_modes, *shape))) / np.sqrt(2)
        return smooth(w) if smooth is not None else w

    e = cn(1)[0]
    done = 0
    while done < n_frames:
        k = min(int(chunk), n_frames - done)
        w = cn(k)
        inten = np.empty((k, *shape))
        for i in range(k):
            if done + i > 0:
                e = a * e + b * w[i]
            inten[i] = m * np.mean(e.real**2 + e.imag**2, axis=0)
        counts = rng.poisson(inten)
        if dtype.kind in "ui" and counts.max(initial=0) > np.iinfo(dtype).max:
            raise SimulationError(f"counts exceed the range of {dtype}")
        yield counts.astype(dtype)
        done += k


def simulate_frames(
    n_frames: int,
    q_map: Any,
    *,
    D: float,
    frame_time: float,
    mean_count: Any = 1.0,
    n_modes: int = 2,
    speckle_size: float = 1.0,
    seed: int = 0,
    dtype: Any = np.uint16,
) -> xr.DataArray:
    """Simulate a speckle frame stack with field correlation ``g1 = exp(−D q² τ)``.

    Parameters
    ----------
    n_frames : int
        Number of frames N (≥ 2).
    q_map : ndarray (H, W) or Geometry
        q of every pixel [1/Å].
    D : float
        Diffusion coefficient [Å²/s]; the relaxation rate is ``Γ = D q²`` [1/s].
    frame_time : float
        Frame period [s].
    mean_count : float or ndarray (H, W)
        Mean photons per pixel per frame.
    n_modes : int
        Speckle modes per pixel M; the contrast is β = 1/M.
    speckle_size : float
        Speckle diameter [px]; ≤ 1 gives independent pixels (the default).
    seed : int
        Seed of ``numpy.random.default_rng``.
    dtype : dtype
        Integer dtype of the counts.

    Returns
    -------
    xarray.DataArray
        Frames ``(frame, y, x)``; attrs carry the truth (``D``, ``beta``,
        ``n_modes``, ``seed``, ``mean_count`` when scalar).
    """
    chunks = list(
        iter_simulated_frames(
            n_frames, q_map, D=D, frame_time=frame_time, mean_count=mean_count, n_modes=n_modes,
            speckle_size=speckle_size, seed=seed, chunk=256, dtype=dtype,
        )
    )
    data = np.concatenate(chunks, axis=0)
    attrs: dict[str, Any] = {
        "simulation": "AR(1) complex Gaussian speckle, Poisson counts",
        "D": float(D), "D_units": "Å²/s", "beta": 1.0 / n_modes, "n_modes": int(n_modes),
        "speckle_size": float(speckle_size), "seed": int(seed),
        "g1": "exp(-D q^2 tau)",
    }
    if np.ndim(mean_count) == 0:
        attrs["mean_count"] = float(mean_count)
    return frames_from_array(data, frame_time=frame_time, attrs=attrs)


def expected_g2(
    rois: Partition,
    q_map: Any,
    lag: Any,
    *,
    D: float,
    frame_time: float,
    mean_count: Any = 1.0,
    n_modes: int = 2,
    level: Any = 0,
) -> np.ndarray:
    """Expected symmetric g2 of each ROI for frames from :func:`simulate_frames`.

    ``g2(P, τ) = n_P Σ_p m_p² (1 + β ḡ_p(τ)) / (Σ_p m_p)²`` with ``ḡ_p`` the
    squared field correlation ``exp(−2 D q_p² τ)`` averaged as the multi-tau scheme
    averages it: at level L frames are sums of 2^L frames, so the lag j·2^L sees
    ``Σ_d w(d) exp(−2Γ|τ + d|)`` with triangular weights ``w(d) = (2^L − |d|)/4^L``.
    The ratio-of-expectations is exact up to O(1/(N n_P)) noise terms.

    Parameters
    ----------
    rois : Partition
        The ROIs.
    q_map : ndarray (H, W) or Geometry
        q of every pixel [1/Å].
    lag : array_like of int, shape (n_tau,)
        Lags [frames].
    D, frame_time, mean_count, n_modes
        As in :func:`simulate_frames`.
    level : int or array_like of int, shape (n_tau,)
        Multi-tau level of each lag (0 for the linear correlators).

    Returns
    -------
    ndarray, shape (n_roi, n_tau)
    """
    q = _q_map(q_map, rois.shape)
    m = _mean_map(mean_count, rois.shape)
    lag = np.atleast_1d(np.asarray(lag, dtype=float))
    level = np.broadcast_to(np.asarray(level, dtype=int), lag.shape)
    beta = 1.0 / n_modes
    out = np.empty((rois.n_roi, lag.size))
    lab = rois.labels
    for r in range(rois.n_roi):
        sel = lab == r + 1
        mp, gam = m[sel], D * q[sel] ** 2 * frame_time  # Γ in 1/frame
        for k, (tau, lev) in enumerate(zip(lag, level)):
            n = 2 ** int(lev)
            d = np.arange(-(n - 1), n)
            w = (n - np.abs(d)) / n**2
            g1sq = np.exp(-2.0 * gam[:, None] * np.abs(tau + d)[None, :]) @ w
            out[r, k] = sel.sum() * np.sum(mp**2 * (1.0 + beta * g1sq)) / np.sum(mp) ** 2
    return out
