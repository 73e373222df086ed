"""Numerical helpers shared by every floor (NumPy only: no xarray, no JAX).

:func:`covariance` is the one least-squares covariance of xpcsnb: NLSQ fits and XSVS
dynamics report the same condition number, zero columns and degenerate combinations,
and neither falls back silently to a pseudo-inverse. :func:`check_int` is the one check
of an integer argument (chunk sizes, lags, bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["COND_FAIL", "COND_WARN", "check_int", "covariance"]

#: Condition number of the correlation matrix above which the covariance is flagged.
COND_WARN = 1e10
#: ... and above which it is treated as singular (NaN covariance).
COND_FAIL = 1e15


def covariance(jtj: np.ndarray, names: Sequence[str]) -> tuple[np.ndarray, float, list[str], list[str]]:
    """``(JᵀJ)⁻¹`` of a least-squares fit, with what makes it unreliable.

    The inverse is formed in the correlation form ``D⁻¹ JᵀJ D⁻¹`` (``D`` the square roots
    of the diagonal) so that parameters of very different scales do not inflate the
    condition number.

    Parameters
    ----------
    jtj : ndarray, shape (P, P)
        ``JᵀJ`` of the (σ-weighted) residuals at the solution.
    names : sequence of str, length P
        Parameter names (used in the returned lists).

    Returns
    -------
    cov : ndarray, shape (P, P)
        The covariance [parameter units²]; all NaN when a column of J is zero or the
        correlation matrix is singular (condition number > :data:`COND_FAIL` or not finite).
    cond : float
        Condition number of the correlation matrix (inf with a zero column).
    zero_columns : list of str
        Parameters whose Jacobian column is all zero (the data do not constrain them).
    degenerate : list of str
        When ``cond > COND_WARN``: the parameters with weight > 0.2 in the eigenvector
        of the smallest eigenvalue (the poorly determined combination); else empty.
    """
    d = np.sqrt(np.diag(jtj))
    zero = [names[k] for k in np.flatnonzero(d == 0)]
    if zero:
        return np.full_like(jtj, np.nan), np.inf, zero, []
    corr = jtj / np.outer(d, d)
    w, v = np.linalg.eigh(corr)
    cond = float(w[-1] / w[0]) if w[0] > 0 else np.inf
    degenerate: list[str] = []
    if cond > COND_WARN:
        vec = v[:, 0]
        degenerate = [names[k] for k in np.flatnonzero(np.abs(vec) > 0.2)]
    if not np.isfinite(cond) or cond > COND_FAIL:
        return np.full_like(jtj, np.nan), cond, [], degenerate
    cov = np.linalg.inv(corr) / np.outer(d, d)
    return cov, cond, [], degenerate


def check_int(name: str, value: Any, minimum: int = 1, *, power_of_two: bool = False,
              error: type[Exception] = ValueError) -> int:
    """``value`` as an int ≥ ``minimum`` (and a power of two if asked).

    Integral floats (``64.0``) are accepted; bools, strings, NaN and fractions raise
    ``error`` with a message naming ``name``.
    """
    ok = (isinstance(value, int | np.integer | float | np.floating) and not isinstance(value, bool | np.bool_)
          and bool(np.isfinite(value)) and int(value) == value and value >= minimum)
    if ok and power_of_two:
        ok = int(value) & (int(value) - 1) == 0
    if not ok:
        what = "a power of two" if power_of_two else "an integer"
        raise error(f"{name} must be {what} >= {minimum}, got {value!r}")
    return int(value)
