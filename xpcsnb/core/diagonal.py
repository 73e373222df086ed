"""Diagonal correction of measured two-time correlations.

The diagonal ``C[i, i]`` of a measured C2 carries the shot-noise spike (a pixel's
intensity correlated with itself). The 8-ID-I viewer and the homodyne loader replace
it by the mean of its nearest off-diagonal neighbours::

    s_i    = ½ (C[i, i+1] + C[i+1, i])          i = 0 … N−2
    diag_0 = s_0,   diag_{N−1} = s_{N−2},   diag_i = ½ (s_{i−1} + s_i) otherwise

Only the diagonal changes; every off-diagonal value is kept bit for bit.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = ["DIAGONAL_MODES", "neighbour_mean_diagonal", "correct_diagonal", "apply_diagonal_mode"]

#: Diagonal treatments accepted by the readers. ``"nan"`` is deliberately absent:
#: NaN is not a valid value in the two-time data model.
DIAGONAL_MODES: tuple[str, ...] = ("correct", "raw")

DiagonalMode = Literal["correct", "raw"]


def _as_stack(c2: Any) -> np.ndarray:
    a = np.asarray(c2)
    if not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"c2 must be numeric, got dtype {a.dtype}")
    if a.ndim < 2:
        raise ValueError(f"c2 must have at least 2 dimensions (..., t1, t2), got shape {a.shape}")
    if a.shape[-1] != a.shape[-2]:
        raise ValueError(f"c2 must be square in its last two axes, got {a.shape[-2]} x {a.shape[-1]}")
    if a.shape[-1] < 2:
        raise ValueError(f"diagonal correction needs at least 2 frames, got {a.shape[-1]}")
    return a


def neighbour_mean_diagonal(c2: Any) -> np.ndarray:
    """Return the neighbour-mean replacement for the diagonal of ``c2``.

    Parameters
    ----------
    c2 : array_like, shape (..., N, N)
        Two-time correlation (dimensionless), N ≥ 2.

    Returns
    -------
    ndarray, shape (..., N)
        ``diag_i`` of the module docstring (float64).
    """
    a = _as_stack(c2).astype(np.float64, copy=False)
    n = a.shape[-1]
    i = np.arange(n - 1)
    s = 0.5 * (a[..., i, i + 1] + a[..., i + 1, i])
    diag = np.empty(a.shape[:-1], dtype=np.float64)
    diag[..., 0] = s[..., 0]
    diag[..., n - 1] = s[..., n - 2]
    if n > 2:
        diag[..., 1:-1] = 0.5 * (s[..., :-1] + s[..., 1:])
    return diag


def correct_diagonal(c2: Any) -> np.ndarray:
    """Return a float64 copy of ``c2`` with the diagonal replaced by the neighbour mean.

    Parameters
    ----------
    c2 : array_like, shape (..., N, N)
        Two-time correlation (dimensionless), N ≥ 2. It is not modified.

    Returns
    -------
    ndarray, shape (..., N, N)
        Copy with ``out[..., i, i] = diag_i`` (module docstring); off-diagonal values
        are unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> c = np.array([[9.0, 1.0, 2.0], [1.0, 9.0, 3.0], [2.0, 3.0, 9.0]])
    >>> np.diag(correct_diagonal(c)).tolist()
    [1.0, 2.0, 3.0]
    """
    out = np.array(_as_stack(c2), dtype=np.float64, copy=True)
    n = out.shape[-1]
    idx = np.arange(n)
    out[..., idx, idx] = neighbour_mean_diagonal(out)
    return out


def apply_diagonal_mode(c2: Any, mode: str) -> np.ndarray:
    """Apply a named diagonal treatment (``"correct"`` or ``"raw"``) and return float64.

    Raises
    ------
    ValueError
        For any other mode (``"nan"`` included: NaN is invalid in the data model).
    """
    if mode == "correct":
        return correct_diagonal(c2)
    if mode == "raw":
        return np.array(_as_stack(c2), dtype=np.float64, copy=True)
    extra = " (NaN is not allowed in the two-time data model)" if mode == "nan" else ""
    raise ValueError(f"diagonal must be one of {DIAGONAL_MODES}, got {mode!r}{extra}")
