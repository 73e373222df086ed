"""Per-angle scaling of a normalised signal: ``C2 = offset_k + contrast_k · signal``.

:func:`model_c2` computes a model's C2 on a whole grid; :func:`parse_scaling_name` is
the one parser of scaling-parameter names.

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
from typing import TYPE_CHECKING, NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401

if TYPE_CHECKING:
    from .base import Grid, Model

__all__ = ["SCALING_MODES", "ScalingName", "apply_scaling", "base_name", "expand_scaling", "model_c2",
           "parse_scaling_name", "per_angle", "scaling_names"]

SCALING_MODES = ("individual", "shared", "fixed")


def _check_mode(mode: str) -> None:
    if mode not in SCALING_MODES:
        raise ValueError(f"unknown scaling {mode!r}; choose from {SCALING_MODES}")


def scaling_names(mode: str, n_phi: int, n_q: int | None = None) -> list[str]:
    """Names of the free scaling parameters: contrast(s) first, then offset(s).

    With ``n_q`` (a multi-q fit, rows = (q, φ) pairs, q-major) the individual names are
    ``contrast_q<a>_<k>`` / ``offset_q<a>_<k>`` for q index a and angle index k.
    """
    _check_mode(mode)
    if mode == "individual":
        if n_q is None:
            rows = [f"{k}" for k in range(n_phi)]
        else:
            rows = [f"q{a}_{k}" for a in range(n_q) for k in range(n_phi)]
        return [f"contrast_{r}" for r in rows] + [f"offset_{r}" for r in rows]
    if mode == "shared":
        return ["contrast", "offset"]
    return []


class ScalingName(NamedTuple):
    """A parsed scaling-parameter name: ``contrast``, ``contrast_<k>`` or ``contrast_q<a>_<k>``.

    Attributes
    ----------
    base : str
        ``"contrast"`` or ``"offset"``.
    q_index : int or None
        q index ``a`` of a multi-q row, else None.
    angle_index : int or None
        Angle index ``k`` (None for a shared scaling name).
    """

    base: str
    q_index: int | None
    angle_index: int | None


def parse_scaling_name(name: str) -> ScalingName | None:
    """Parse a scaling-parameter name; None when ``name`` is not one (a physics name).

    The one parser of these names: ``contrast`` → (contrast, None, None),
    ``offset_2`` → (offset, None, 2), ``contrast_q1_2`` → (contrast, 1, 2).
    """
    for base in ("contrast", "offset"):
        if name == base:
            return ScalingName(base, None, None)
        if name.startswith(base + "_"):
            tail = name[len(base) + 1:]
            if tail.isdigit():
                return ScalingName(base, None, int(tail))
            qpart, _, kpart = tail.rpartition("_")
            if qpart.startswith("q") and qpart[1:].isdigit() and kpart.isdigit():
                return ScalingName(base, int(qpart[1:]), int(kpart))
    return None


def base_name(name: str) -> str:
    """Registry name of a (possibly indexed) scaling parameter.

    ``contrast_2`` → ``contrast``, ``offset_q1_2`` → ``offset``; other names unchanged.
    """
    parsed = parse_scaling_name(name)
    return name if parsed is None else parsed.base


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


def model_c2(model: "Model", theta: jnp.ndarray, grid: "Grid", contrast: jnp.ndarray | float,
             offset: jnp.ndarray | float) -> jnp.ndarray:
    """Model C2 on the full grid: ``offset_k + contrast_k · signal(theta, grid)``.

    The one place where a model's C2 is computed on a whole (t1, t2) grid (simulation,
    evaluation on a Dataset's grid, a fit's model matrix). Pure JAX: it can be
    compiled with ``model`` as a static argument.

    Parameters
    ----------
    model : Model
        The model (its ``signal``).
    theta : array, shape (n_params,)
        Physics parameters in the order of ``model.parameters``.
    grid : Grid
        Times [s], angles [deg] and q [1/Å] of the rows.
    contrast, offset : float or array, shape (n_rows,)
        One value for every row or one per row (a row is an angle, or a (q, φ) pair).

    Returns
    -------
    array, shape (n_rows, N, N)
        Rows ↔ ``grid.phi``; within a row, matrix row i ↔ t1, column j ↔ t2.
    """
    n_rows = grid.phi.shape[0]
    c = jnp.broadcast_to(jnp.asarray(contrast, dtype=jnp.float64), (n_rows,))
    o = jnp.broadcast_to(jnp.asarray(offset, dtype=jnp.float64), (n_rows,))
    return apply_scaling(model.signal(jnp.asarray(theta, dtype=jnp.float64), grid), c, o)
