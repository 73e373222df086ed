"""Numerical primitives every two-time model shares: cumulative trapezoid, smooth |x|, sinc.

All functions are pure JAX and differentiable everywhere (``jnp.where`` guards keep
gradients finite at the switching points).
"""

from __future__ import annotations

import jax.numpy as jnp

from .. import _jax  # noqa: F401  (float64)

__all__ = ["cumulative_trapezoid", "smooth_abs", "safe_sinc", "pair_difference", "SMOOTH_ABS_EPS"]

#: ε² of the smooth absolute value sqrt(x² + ε²): the diagonal of an integral is 1e-6.
SMOOTH_ABS_EPS = 1e-12


def cumulative_trapezoid(f: jnp.ndarray, step: float | jnp.ndarray = 1.0) -> jnp.ndarray:
    """Cumulative trapezoid integral on a uniform grid, starting at 0.

    ``S_0 = 0``, ``S_k = step · Σ_{m<k} ½ (f_m + f_{m+1})``.

    Parameters
    ----------
    f : array, shape (N,)
        Integrand on the grid.
    step : float
        Grid step (1 gives the integral in step units).

    Returns
    -------
    array, shape (N,)
    """
    trap = 0.5 * (f[:-1] + f[1:])
    return jnp.concatenate([jnp.zeros((1,), dtype=f.dtype), step * jnp.cumsum(trap)])


def smooth_abs(x: jnp.ndarray) -> jnp.ndarray:
    """Smooth absolute value ``sqrt(x² + 1e-12)`` (1e-6 at 0, differentiable)."""
    return jnp.sqrt(x * x + SMOOTH_ABS_EPS)


def pair_difference(s: jnp.ndarray, i: jnp.ndarray | None = None, j: jnp.ndarray | None = None) -> jnp.ndarray:
    """``s[j] − s[i]`` for all pairs (matrix, row i ↔ t1) or for given index pairs.

    Parameters
    ----------
    s : array, shape (N,)
        Cumulative integral on the grid.
    i, j : int arrays, shape (n,), optional
        Index pairs (t1, t2). Without them the full (N, N) matrix ``s[j] − s[i]`` is
        returned with rows ↔ i.
    """
    if i is None:
        return s[None, :] - s[:, None]
    return s[j] - s[i]


def safe_sinc(x: jnp.ndarray) -> jnp.ndarray:
    """Unnormalised sinc ``sin(x)/x`` (not ``numpy.sinc``), series ``1 − x²/6 + x⁴/120`` for |x| < 1e-4."""
    x2 = x * x
    near = 1.0 - x2 / 6.0 + x2 * x2 / 120.0
    small = jnp.abs(x) < 1e-4
    safe_x = jnp.where(small, 1.0, x)
    return jnp.where(small, near, jnp.sin(safe_x) / safe_x)
