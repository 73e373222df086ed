"""Variable projection of the per-row scaling (contrast, offset) of a two-time fit.

``C2 = offset_k + contrast_k · signal_k(θ)`` is linear in the 2 scaling parameters of each
row k. For given physics θ the best (contrast, offset) of a row is a weighted 2-parameter
least-squares solve; the nonlinear solver then sees only θ (Golub & Pereyra 1973; the
Jacobian is Kaufman's 1975 approximation, whose gradient ``Jᵀr`` is exact, so the
minimum is the same as that of the full problem).

How. Per row block the points give the columns ``M = [w·s, w, w·∂s/∂θ, w·y]``
(w = 1/σ). One Householder QR per row reduces M to its (m + 3) × (m + 3) R factor;
every quantity of the row is a linear combination of these columns, so everything
below is exact arithmetic on R:

* the row's scaling problem is ``min ‖T (c, o)ᵀ − g‖`` with T = R[:2, :2] and
  g = R[:2, −1], solved in closed form inside the bounds (the unconstrained optimum when
  it is feasible, else the best of the four edge optima, each a clipped 1-D solve — the
  exact active-set solution of a convex 2-variable box problem);
* the residual is ``R (−c, −o, 0, …, 1)ᵀ`` and the physics Jacobian at fixed scaling
  ``−c · R[:, 2:2+m]``; both are projected orthogonally to the *free* scaling directions
  (those not on a bound), which span rows 0 and 1 of R only.

The projected blocks of all rows are stacked and QR-compressed to (m + 1) rows, the form
:class:`~xpcsnb.fit.nlsq` hands to scipy. Results (values, stderr, covariance) are
computed afterwards from the full Jacobian at ``(θ, c*(θ), o*(θ))``.

References
----------
.. [1] G. H. Golub, V. Pereyra, SIAM J. Numer. Anal. 10, 413 (1973), doi:10.1137/0710036.
.. [2] L. Kaufman, BIT 15, 49 (1975), doi:10.1007/BF01932995.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from .problem import FitProblem, _qr_r

__all__ = ["chi2_many", "full_compressed", "full_x", "projectable", "projected", "scaling_bounds"]

_TINY = 1e-300


def projectable(problem: FitProblem) -> bool:
    """Whether the scaling of ``problem`` can be projected out (``individual`` scaling, rows in equal blocks)."""
    return (isinstance(problem, FitProblem) and problem.scaling == "individual" and problem._rows_blocked()
            and problem.n_physics_free > 0)


def scaling_bounds(problem: FitProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-row bounds ``(c_lo, c_hi, o_lo, o_hi)`` of the individual scaling parameters."""
    m, n_rows = problem.n_physics_free, problem.shape[0]
    lo, hi = np.asarray(problem.lower, float), np.asarray(problem.upper, float)
    return lo[m:m + n_rows], hi[m:m + n_rows], lo[m + n_rows:], hi[m + n_rows:]


def _cost(t00, t01, t11, g0, g1, c, o):
    return (t00 * c + t01 * o - g0) ** 2 + (t11 * o - g1) ** 2


def _box_2x2(r, bounds):
    """Per-row best (c, o) in the box and whether each is free (off its bounds), from the R factors."""
    c_lo, c_hi, o_lo, o_hi = bounds
    t00, t01, t11 = r[:, 0, 0], r[:, 0, 1], r[:, 1, 1]
    g0, g1 = r[:, 0, -1], r[:, 1, -1]
    safe = lambda d: jnp.where(jnp.abs(d) > _TINY, d, _TINY)  # noqa: E731
    o_u = g1 / safe(t11)
    c_u = (g0 - t01 * o_u) / safe(t00)
    inside = (c_u > c_lo) & (c_u < c_hi) & (o_u > o_lo) & (o_u < o_hi)
    cands = []  # (c, o, c_free, o_free, cost)
    for cb in (c_lo, c_hi):
        o = jnp.clip((t01 * (g0 - t00 * cb) + t11 * g1) / safe(t01**2 + t11**2), o_lo, o_hi)
        cands.append((cb, o, jnp.zeros_like(inside), (o > o_lo) & (o < o_hi)))
    for ob in (o_lo, o_hi):
        c = jnp.clip((g0 - t01 * ob) / safe(t00), c_lo, c_hi)
        cands.append((c, ob, (c > c_lo) & (c < c_hi), jnp.zeros_like(inside)))
    c_b, o_b, cf_b, of_b = cands[0]
    cost_b = _cost(t00, t01, t11, g0, g1, c_b, o_b)
    for c, o, cf, of in cands[1:]:
        cost = _cost(t00, t01, t11, g0, g1, c, o)
        better = cost < cost_b
        c_b, o_b = jnp.where(better, c, c_b), jnp.where(better, o, o_b)
        cf_b, of_b = jnp.where(better, cf, cf_b), jnp.where(better, of, of_b)
        cost_b = jnp.where(better, cost, cost_b)
    c = jnp.where(inside, c_u, c_b)
    o = jnp.where(inside, o_u, o_b)
    return c, o, inside | cf_b, inside | of_b


def _project_top(block, r, c_free, o_free):
    """``block`` (rows, m+3, k) with its rows 0, 1 projected orthogonally to the free scaling columns of R."""
    u1 = jnp.stack([r[:, 0, 0], jnp.zeros_like(r[:, 0, 0])], axis=-1)   # contrast column (rows 0, 1)
    u2 = jnp.stack([r[:, 0, 1], r[:, 1, 1]], axis=-1)                    # offset column
    eye = jnp.eye(2)

    def single(u):
        return eye - u[:, :, None] * u[:, None, :] / jnp.maximum(jnp.sum(u * u, axis=-1), _TINY)[:, None, None]

    both = jnp.zeros((r.shape[0], 2, 2))
    p2 = jnp.where((c_free & o_free)[:, None, None], both,
                   jnp.where(c_free[:, None, None], single(u1),
                             jnp.where(o_free[:, None, None], single(u2), jnp.broadcast_to(eye, both.shape))))
    top = jnp.einsum("rab,rbk->rak", p2, block[:, :2])
    return jnp.concatenate([top, block[:, 2:]], axis=1)


def _chunked_factors(columns, y, sigma, i, j, k, n_rows, width, chunk):
    """Every row's R factor of the column block ``columns(y, sigma, i, j, k)`` (points, width), built
    ``chunk`` points at a time (a QR update per chunk: ``R ← R factor of [R; chunk's columns]``), so
    that no array of the whole row's size times ``width`` is ever formed. The last chunk of a row
    overlaps the previous one; its repeated points are zeroed."""
    size = y.shape[0] // n_rows
    n_chunks = -(-size // chunk)
    rows = tuple(a.reshape(n_rows, size) for a in (y, sigma, i, j, k))

    def one_row(arrays):
        if n_chunks == 1:
            return _qr_r(columns(*arrays))

        def step(r, c):
            start = jnp.minimum(c * chunk, size - chunk)
            part = tuple(jax.lax.dynamic_slice(a, (start,), (chunk,)) for a in arrays)
            fresh = (start + jnp.arange(chunk)) >= c * chunk
            cols = jnp.where(fresh[:, None], columns(*part), 0.0)
            return _qr_r(jnp.concatenate([r, cols], axis=0)), None

        r, _ = jax.lax.scan(step, jnp.zeros((width, width), y.dtype), jnp.arange(n_chunks))
        return r

    return jax.lax.map(one_row, rows)


#: Points per chunk of a row's QR (see :func:`_chunked_factors`): bounds the memory of one evaluation.
CHUNK = 1 << 19


def _row_factors(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, signal, n_rows):
    """Every row's R factor of ``[w·s, w, w·∂s/∂θ, w·y]``, shape (rows, m+3, m+3)."""
    m = free_physics.shape[0]

    def columns(y_, sigma_, i_, j_, k_):
        def physics_signal(xp_):
            return signal(theta_fixed.at[free_physics].set(xp_), grid, i_, j_, k_)

        s, ds = physics_signal(xp), jax.jacfwd(physics_signal)(xp)
        w = 1.0 / sigma_
        return jnp.concatenate([(w * s)[:, None], w[:, None], w[:, None] * ds, (w * y_)[:, None]], axis=1)

    return _chunked_factors(columns, y, sigma, i, j, k, n_rows, m + 3, CHUNK)


def _projected_impl(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, bounds, *, signal, n_rows):
    m = free_physics.shape[0]
    r = _row_factors(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, signal, n_rows)
    c, o, c_free, o_free = _box_2x2(r, bounds)
    jac = -c[:, None, None] * r[:, :, 2:2 + m]
    res = r[:, :, m + 2] - c[:, None] * r[:, :, 0] - o[:, None] * r[:, :, 1]
    block = _project_top(jnp.concatenate([jac, res[:, :, None]], axis=2), r, c_free, o_free)
    rf = _qr_r(block.reshape(-1, m + 1))[:m + 1]
    return rf[:, m], rf[:, :m], c, o, r


def _full_impl(r, c, o):
    """R factor of the full problem's ``[J | r]`` at ``(θ, c, o)`` from the row factors of
    :func:`_row_factors`: every column of a row's block is a combination of the row's columns
    ``[w·s, w, w·∂s/∂θ, w·y]``, so the row's R factor times that combination is an orthogonal
    image of the block; the stacked images get one QR."""
    n_rows, q = r.shape[0], r.shape[1]
    m = q - 3
    p = m + 2 * n_rows
    eye = jnp.eye(n_rows)
    jac = -c[:, None, None] * r[:, :, 2:2 + m]
    d_contrast = -r[:, :, 0][:, :, None] * eye[:, None, :]
    d_offset = -r[:, :, 1][:, :, None] * eye[:, None, :]
    res = r[:, :, m + 2] - c[:, None] * r[:, :, 0] - o[:, None] * r[:, :, 1]
    stacked = jnp.concatenate([jac, d_contrast, d_offset, res[:, :, None]], axis=2).reshape(-1, p + 1)
    rf = _qr_r(stacked)[:p + 1]
    return rf[:, p], rf[:, :p]


_full = jax.jit(_full_impl)


def full_compressed(factors: Any, contrast: Any, offset: Any) -> tuple[np.ndarray, np.ndarray]:
    """Compressed residuals and Jacobian ``(r̃, J̃)`` of the *full* problem (physics, then every row's
    contrast, then every row's offset) at the physics of ``factors`` and the scaling ``(contrast,
    offset)``, as :meth:`~xpcsnb.fit.problem.FitProblem.compressed` gives them (same ``J̃ᵀJ̃``,
    ``J̃ᵀr̃``, ``r̃ᵀr̃``), from the row factors that :func:`projected` returns: no pass over the data."""
    r_t, j_t = _full(jnp.asarray(factors), jnp.asarray(contrast), jnp.asarray(offset))
    return np.asarray(r_t), np.asarray(j_t)


def _scaling_impl(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, bounds, *, signal, n_rows):
    # the first two rows of R (all the 2 × 2 solve uses) do not depend on the ∂s/∂θ columns
    c, o, _, _ = _box_2x2(_value_factors(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, signal, n_rows),
                          bounds)
    return c, o


def _value_factors(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, signal, n_rows):
    """Every row's R factor of ``[w·s, w, w·y]`` (no derivatives), shape (rows, 3, 3)."""
    def columns(y_, sigma_, i_, j_, k_):
        s = signal(theta_fixed.at[free_physics].set(xp), grid, i_, j_, k_)
        w = 1.0 / sigma_
        return jnp.stack([w * s, w, w * y_], axis=1)

    return _chunked_factors(columns, y, sigma, i, j, k, n_rows, 3, CHUNK)


_projected = jax.jit(_projected_impl, static_argnames=("signal", "n_rows"))
_scaling = jax.jit(_scaling_impl, static_argnames=("signal", "n_rows"))


def _args(problem: FitProblem, xp: Any) -> tuple[Any, ...]:
    bounds = tuple(jnp.asarray(b) for b in scaling_bounds(problem))
    return (jnp.asarray(xp, dtype=jnp.float64), jnp.asarray(problem.theta_fixed), jnp.asarray(problem.free_physics),
            problem.grid, problem.y, problem.sigma, problem.i, problem.j, problem.k, bounds)


def projected(problem: FitProblem, xp: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compressed projected residuals and Kaufman Jacobian at physics ``xp``.

    Returns
    -------
    r_t : ndarray, shape (m + 1,)
        With ``r_tᵀr_t`` = χ² at ``(xp, c*(xp), o*(xp))``.
    j_t : ndarray, shape (m + 1, m)
        ``j_tᵀj_t`` = Kaufman's Gauss–Newton matrix, ``j_tᵀr_t`` = ½ the exact gradient of χ².
    contrast, offset : ndarray, shape (n_rows,)
        The best scaling of every row in its bounds.
    factors : ndarray, shape (n_rows, m + 3, m + 3)
        Every row's R factor of ``[w·s, w, w·∂s/∂θ, w·y]`` (for :func:`full_compressed`).
    """
    out = _projected(*_args(problem, xp), signal=problem.model.signal, n_rows=problem.shape[0])
    return tuple(np.asarray(a) for a in out)  # type: ignore[return-value]


def full_x(problem: FitProblem, xp: Any) -> np.ndarray:
    """The full free vector ``(xp, contrast*(xp), offset*(xp))`` in ``problem.names`` order."""
    c, o = _scaling(*_args(problem, xp), signal=problem.model.signal, n_rows=problem.shape[0])
    return np.concatenate([np.asarray(xp, float), np.asarray(c), np.asarray(o)])


def _cost_impl(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, bounds, *, signal, n_rows):
    r = _value_factors(xp, theta_fixed, free_physics, grid, y, sigma, i, j, k, signal, n_rows)  # (rows, 3, 3)
    c, o, _, _ = _box_2x2(r, bounds)
    res = r[:, :, 2] - c[:, None] * r[:, :, 0] - o[:, None] * r[:, :, 1]
    return jnp.sum(res**2)


def _costs_impl(xps, *args, signal, n_rows):
    return jax.vmap(lambda xp: _cost_impl(xp, *args, signal=signal, n_rows=n_rows))(xps)


_costs = jax.jit(_costs_impl, static_argnames=("signal", "n_rows"))


def chi2_many(problem: FitProblem, xps: np.ndarray, batch: int = 64) -> np.ndarray:
    """χ² at many physics points (rows of ``xps``) with the scaling projected out; inf where not finite."""
    xps = np.atleast_2d(np.asarray(xps, dtype=float))
    out = []
    for a in range(0, xps.shape[0], batch):
        chunk = xps[a:a + batch]
        pad = batch - chunk.shape[0]
        full = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)]) if pad else chunk
        args = _args(problem, full[0])
        v = np.asarray(_costs(jnp.asarray(full), *args[1:], signal=problem.model.signal, n_rows=problem.shape[0]))
        out.append(v[:chunk.shape[0]])
    v = np.concatenate(out)
    return np.where(np.isfinite(v), v, np.inf)
