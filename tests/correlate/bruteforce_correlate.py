"""Independent brute-force NumPy correlators: the definitions written out literally."""

from __future__ import annotations

import numpy as np


def level_frames(x: np.ndarray, level: int) -> np.ndarray:
    """Frames summed over 2**level consecutive frames, from the first frame on."""
    n = 2**level
    m = x.shape[0] // n
    return x[: m * n].reshape(m, n, *x.shape[1:]).sum(axis=1)


def g2_bruteforce(frames: np.ndarray, labels: np.ndarray, lags_by_level, normalization="symmetric"):
    """g2 (n_roi, n_tau) and err over the (level, lag) list, literally from the formulas."""
    x = np.asarray(frames, dtype=np.float64)
    n_roi = int(labels.max())
    out, err = [], []
    for level, lag in lags_by_level:
        xl = level_frames(x, level)
        nl = xl.shape[0]
        row, erow = [], []
        for r in range(1, n_roi + 1):
            pix = xl[:, labels == r]  # (nl, n_p)
            a, b = pix[: nl - lag], pix[lag:]
            n_p = pix.shape[1]
            if normalization == "symmetric":
                norm = a.mean() * b.mean()
                per_pixel = (a * b).mean(axis=0) / norm
            else:
                norm = np.sum(a.mean(axis=1) * b.mean(axis=1))
                per_pixel = (a * b).sum(axis=0) / norm
            row.append(per_pixel.mean())
            erow.append(per_pixel.std(ddof=1) / np.sqrt(n_p))
        out.append(row)
        err.append(erow)
    return np.array(out).T, np.array(err).T


def c2_bruteforce(frames: np.ndarray, labels: np.ndarray, roi: int) -> np.ndarray:
    """C2 = n_p Σ_p I_p(t1) I_p(t2) / (Σ_p I_p(t1) Σ_p I_p(t2)) with explicit loops over t1."""
    x = np.asarray(frames, dtype=np.float64)[:, labels == roi]
    n, n_p = x.shape
    s = x.sum(axis=1)
    c2 = np.empty((n, n))
    for i in range(n):
        c2[i] = n_p * (x * x[i]).sum(axis=1) / (s[i] * s)
    return c2


def small_setup(n_frames=600, size=40, n_q=3, n_phi=1, mean_count=1.5, seed=3, D=None):
    """A small simulated stack with a (q, phi) partition (cached by the caller)."""
    import xpcsnb.correlate as xc

    geom = xc.Geometry((size, size), (size / 2 - 0.5, size / 2 - 0.5), 5.0, 75e-6, energy=12.0)
    q = geom.q_map()
    edges = np.linspace(0.3, 0.95, n_q + 1) * q.max()
    if n_phi > 1:
        part = xc.partition(q, edges, phi_map=geom.phi_map(), phi_edges=np.linspace(-180, 180, n_phi + 1))
    else:
        part = xc.partition(q, edges)
    # a decay of ~0.05 .. 0.3 per frame across the rings
    if D is None:
        D = 0.15 / (np.mean(edges) ** 2) / 1e-3
    frames = xc.simulate_frames(n_frames, q, D=D, frame_time=1e-3, mean_count=mean_count, n_modes=2, seed=seed)
    return frames, part, q, D
