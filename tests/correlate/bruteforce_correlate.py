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
