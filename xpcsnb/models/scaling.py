"""Per-angle scaling of a normalised signal: ``C2 = offset_k + contrast_k · signal``.

Modes
-----
``individual``
    one contrast and one offset per angle (free parameters ``contrast_<k>``,
    ``offset_<k>``, k = angle index);
``shared``
    one contrast and one offset for all angles (``contrast``, ``offset``);
``fixed``
    given per-angle values, not fitted.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401

__all__ = ["SCALING_MODES", "scaling_names", "expand_scaling", "apply_scaling", "per_angle"]

SCALING_MODES = ("individual", "shared", "fixed")


def _check_mode(mode: str) -> None:
    if mode not in SCALING_MODES:
        raise ValueError(f"unknown scaling {mode!r}; choose from {SCALING_MODES}")


def scaling_names(mode: str, n_phi: int) -> list[str]:
    """Names of the free scaling parameters: contrast(s) first, then offset(s)."""
    _check_mode(mode)
    if mode == "individual":
        return [f"contrast_{k}" for k in range(n_phi)] + [f"offset_{k}" for k in range(n_phi)]
    if mode == "shared":
        return ["contrast", "offset"]
    return []


def base_name(name: str) -> str:
    """Registry name of a (possibly indexed) scaling parameter: ``contrast_2`` → ``contrast``."""
    head, _, tail = name.rpartition("_")
    return head if head in ("contrast", "offset") and tail.isdigit() else name


def expand_scaling(mode: str, values: jnp.ndarray, n_phi: int,
                   fixed: tuple[jnp.ndarray, jnp.ndarray] | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Per-angle ``(contrast, offset)``, each shape (n_phi,), from the free scaling values."""
    _check_mode(mode)
    if mode == "individual":
        return values[:n_phi], values[n_phi:2 * n_phi]
    if mode == "shared":
        return jnp.full((n_phi,), values[0]), jnp.full((n_phi,), values[1])
    if fixed is None:
        raise ValueError("scaling='fixed' needs the contrast and offset values")
    return fixed


def apply_scaling(signal: jnp.ndarray, contrast: jnp.ndarray, offset: jnp.ndarray,
                  k: jnp.ndarray | None = None) -> jnp.ndarray:
    """``offset + contrast · signal`` for a (n_phi, N, N) signal, or per point with angle index k."""
    if k is None:
        return offset[:, None, None] + contrast[:, None, None] * signal
    return offset[k] + contrast[k] * signal


def per_angle(name: str, value: float | Sequence[float] | np.ndarray, n_phi: int) -> np.ndarray:
    """Broadcast a scalar or one value per angle to shape (n_phi,), with a clear error."""
    v = np.atleast_1d(np.asarray(value, dtype=float))
    if v.size == 1:
        v = np.full(n_phi, float(v[0]))
    if v.shape != (n_phi,):
        raise ValueError(f"{name} must be a scalar or one value per angle ({n_phi}), got {v.size} values")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite, got {v.tolist()}")
    return v
