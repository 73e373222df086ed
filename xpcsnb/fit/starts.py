"""Data-driven starts: the start search runs on a coarse subset of the data, the full fit starts from it.

A two-time fit of 3 × 1000² has 1.5 M residuals; one residual + Jacobian costs ~0.2 s, while
the physics is fixed by far fewer points. :func:`coarse_problem` keeps, in every row, the
pairs whose first time index is a multiple of a stride s and whose lag belongs to a
log-spaced set (1, 2, 3, 4, 6, 8, 11, …, N − 1, stretched per t1 so that the rows together
cover every lag: :func:`coarse_indices`): short lags carry the fast decay, long lags the
baseline, every s-th t1 the ageing. It is the *same* problem (same model, grid,
σ, bounds) on ~:data:`COARSE_POINTS_PER_ROW` points per row, so each evaluation is
~100× cheaper and its minimum lies within a few stderr of the full one. The engine
(:func:`xpcsnb.fit.nlsq.solve`) runs every start (default, mirrored and multi-start ones)
there, and :func:`data_start` turns the coarse solutions into the full fit's starts; the
full fit then converges in a few Jacobians. Nothing here knows a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from scipy.stats import qmc

from .problem import FitProblem
from .projection import chi2_many, projectable

__all__ = ["COARSE_POINTS_PER_ROW", "COARSE_MIN_FACTOR", "SCREEN_CANDIDATES", "SCREEN_KEEP", "coarse_indices",
           "coarse_problem", "data_start", "design", "mirror_positions", "mirrored", "screen", "start_design"]

#: Target number of points per row of the coarse problem.
COARSE_POINTS_PER_ROW = 4000
#: Candidate physics points screened by χ² on the coarse problem (:func:`screen`).
SCREEN_CANDIDATES = 256
#: ... of which the best become solver starts.
SCREEN_KEEP = 3
#: Points evaluated at once when :func:`data_start` ranks starts on the full data (bounds the memory).
FULL_BATCH = 2
#: A problem is coarsened only when it has this many times more points per row than the target.
COARSE_MIN_FACTOR = 4


def mirror_positions(problem: FitProblem) -> list[int]:
    """Positions in ``problem.names`` of the free parameters the model declares mirror-symmetric."""
    return [problem.names.index(m.parameter) for m in problem.model.start_symmetries
            if m.parameter in problem.names]


def mirrored(problem: Any, x: np.ndarray, k: int, sign: float) -> np.ndarray:
    """``x`` with parameter k → sign·x[k] (sign·¼ of its bound range when x[k] is 0), clipped to the bounds."""
    out = x.copy()
    v = x[k] if x[k] != 0 else 0.25 * (problem.upper[k] - problem.lower[k])
    out[k] = np.clip(sign * v, problem.lower[k], problem.upper[k])
    return out


def start_design(problem: FitProblem, n_starts: int | None, seed: int | None) -> np.ndarray:
    """Starting points of the fit.

    ``n_starts=None`` (default): the default start, with every free mirror parameter of
    the model (:attr:`~xpcsnb.models.base.Model.start_symmetries`) moved to +¼ of its
    bound range when it starts at 0. :func:`~xpcsnb.fit.nlsq.solve` then adds, per mirror parameter, a
    start from the first solution with that parameter's sign flipped: for a parameter
    in which the model is (nearly) even, both signs fit almost equally well and a single
    start can roll into the wrong one; starting the mirror from the solution (rather than
    from the initial point) keeps the other parameters near their optimum, so it
    converges in a few iterations when the mirror minimum exists.
    ``n_starts=k``: the default start plus a seeded Latin hypercube of k − 1 points in
    the physics bounds (positive ranges spanning more than two decades sampled
    log-uniformly; scaling parameters keep their data-based start).
    """
    x0 = problem.x0
    if n_starts is None:
        for k in mirror_positions(problem):
            x0 = mirrored(problem, x0, k, 1.0)
        return x0[None]
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    starts = [x0]
    if n_starts > 1:
        m = problem.n_physics_free
        pts = design(problem.lower, problem.upper, n_starts - 1, seed)
        pts[:, m:] = x0[m:]
        starts.extend(pts)
    return np.asarray(starts)


def _lags(n: int) -> np.ndarray:
    """Log-spaced lags 1 … n − 1 (every lag up to 4, then steps of ~ 30 %)."""
    out = {1, 2, 3, 4}
    lag = 4.0
    while lag < n - 1:
        lag *= 1.3
        out.add(min(int(round(lag)), n - 1))
    return np.array(sorted(v for v in out if v < n))


def coarse_indices(i: np.ndarray, j: np.ndarray, n: int, per_row: int = COARSE_POINTS_PER_ROW) -> np.ndarray:
    """Positions in one row block (t1 index ``i``, t2 index ``j``) of the coarse subset (see the module doc).

    Every kept t1 has its own log-spaced lag set: above lag 4 the set is stretched by
    1.3^g with g ∈ [0, 1) a golden-ratio sequence over the kept t1, so that together the
    rows sample every lag range evenly and a signal oscillating in the lag is not aliased
    (as one lag set shared by all rows would do at long lags)."""
    lags = _lags(n)
    both_sides = bool(np.any(j < i))
    per_t1 = lags.size * (2 if both_sides else 1)
    stride = max(1, int(np.ceil(n * per_t1 / per_row)))
    starts = np.arange(0, n, stride)
    shift = 1.3 ** ((np.arange(starts.size) * 0.6180339887498949) % 1.0)
    table = np.zeros((n, n), dtype=bool)  # table[t1 index, lag]
    long = lags > 4
    for a, t1 in enumerate(starts):
        table[t1, lags[~long]] = True
        table[t1, np.clip(np.round(lags[long] * shift[a]).astype(int), 1, n - 1)] = True
    keep = table[i, np.abs(j - i)]
    return np.flatnonzero(keep)


def coarse_problem(problem: FitProblem, per_row: int = COARSE_POINTS_PER_ROW) -> FitProblem | None:
    """The same problem on a coarse subset of each row's points, or None when the rows are small.

    Needs the support ordered row by row in equal blocks (as
    :func:`~xpcsnb.fit.problem.build_problem` makes it); returns None otherwise.
    """
    if not isinstance(problem, FitProblem):  # other problem kinds (g2) are small: no coarse stage
        return None
    n_rows, n, _ = problem.shape
    size = problem.n_data // n_rows
    if size <= COARSE_MIN_FACTOR * per_row or not problem._rows_blocked():
        return None
    i, j = np.asarray(problem.i[:size]), np.asarray(problem.j[:size])
    pos = coarse_indices(i, j, n, per_row)
    if pos.size == 0 or pos.size * 2 > size:
        return None
    idx = (np.arange(n_rows)[:, None] * size + pos[None, :]).ravel()
    take = jnp.asarray(idx)
    return dataclasses.replace(problem, y=problem.y[take], sigma=problem.sigma[take], i=problem.i[take],
                               j=problem.j[take], k=problem.k[take])


def data_start(objective: Any, best: Any, sols: Sequence[Any], dchi2: float, full: FitProblem | None = None,
               starts: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """Starts of the full fit (solver coordinates) from the coarse fit's solutions, and a note.

    The coarse best, plus every other coarse solution at a distinct point (relative to the
    bound widths, > 1e-3) whose χ² is within ``dchi2`` of the best's: competing minima
    that the coarse data cannot separate are resolved on the full data.

    With ``full`` (the full problem, scaling projectable) and ``starts`` (the coarse search's
    starting points): the coarse subset can mislead (e.g. a signal oscillating in the lag,
    sampled at log-spaced lags), so these solutions and starts are ranked by their χ² on the
    full data (scaling projected out, one evaluation each, no derivatives); a start better
    there than every kept solution is added in front.
    """
    if best is None:
        raise FloatingPointError("the residuals are not finite at any starting point; check the data and bounds")
    width = np.asarray(objective.upper, float) - np.asarray(objective.lower, float)
    out = [np.asarray(best.x)]
    for sol in sols:
        if sol is None or sol is best or not np.isfinite(sol.cost) or 2 * (sol.cost - best.cost) >= dchi2:
            continue
        if all(np.max(np.abs(np.asarray(sol.x) - x) / width) > 1e-3 for x in out):
            out.append(np.asarray(sol.x))
    n_coarse = len(sols)
    note = (f"starts: the full fit started from {len(out)} solution(s) of the start search on a coarse subset "
            f"of the data ({n_coarse} coarse start(s))")
    if full is not None and starts is not None and len(starts) and projectable(full) and not objective.laws:
        starts = np.atleast_2d(np.asarray(starts, float))
        chi2 = chi2_many(full, np.vstack([np.asarray(out), starts]), batch=FULL_BATCH)
        n_sol = len(out)
        k = int(np.argmin(chi2[n_sol:]))
        if chi2[n_sol + k] < np.min(chi2[:n_sol]):
            out.insert(0, starts[k])
            note += (f"; coarse start {k} fits the full data better (χ² {chi2[n_sol + k]:.6g}) than every coarse "
                     f"solution ({np.min(chi2[:n_sol]):.6g}), so the full fit also started from it")
    return np.asarray(out), note


def design(lower: np.ndarray, upper: np.ndarray, n: int, seed: int | None) -> np.ndarray:
    """A seeded Latin hypercube of ``n`` points in the box; positive ranges spanning more than two
    decades are sampled log-uniformly."""
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    u = qmc.LatinHypercube(d=lo.size, seed=np.random.default_rng(seed)).random(n)
    logscale = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) > 100.0)
    safe_lo, safe_hi = np.where(logscale, lo, 1.0), np.where(logscale, hi, 1.0)
    log = np.exp(np.log(safe_lo) + u * (np.log(safe_hi) - np.log(safe_lo)))
    return np.where(logscale, log, lo + u * (hi - lo))


def _rate_law_design(problem: FitProblem, cand: np.ndarray, seed: int | None) -> np.ndarray:
    """``cand`` with every fully free rate law ``r(t) = a·basis(t, e) + c`` of the model resampled as a
    positive rate: the rate at the middle time, R = a·basis(t_m, e) + c, log-uniform over the prefactor's
    bound range (times basis(t_m, e)), a share f ∈ [0, 1) of it in the offset c, e from ``cand``."""
    names = list(problem.names[:problem.n_physics_free])
    t = np.asarray(problem.grid.t, float)
    t_m = float(t[t.size // 2])
    rng = np.random.default_rng(None if seed is None else seed + 1)
    out = cand.copy()
    for law in problem.model.rate_laws:
        if not all(n in names for n in (law.prefactor, law.exponent, law.offset)):
            continue
        a, e, c = names.index(law.prefactor), names.index(law.exponent), names.index(law.offset)
        lo_a, hi_a = problem.lower[a], problem.upper[a]
        if not lo_a > 0:
            continue
        basis = np.asarray(jax.vmap(lambda ev: law.basis(jnp.asarray([t_m]), ev)[0])(jnp.asarray(out[:, e])))
        log_r = rng.uniform(np.log(lo_a), np.log(hi_a), size=out.shape[0])
        rate = np.exp(log_r) * basis
        share = rng.uniform(0.0, 1.0, size=out.shape[0]) ** 2
        out[:, a] = np.clip(rate * (1 - share) / np.where(basis > 0, basis, 1.0), lo_a, hi_a)
        out[:, c] = np.clip(rate * share, problem.lower[c], problem.upper[c])
    return out


def screen(problem: FitProblem, first: np.ndarray, n_candidates: int = SCREEN_CANDIDATES,
           keep: int = SCREEN_KEEP, seed: int | None = 0) -> np.ndarray:
    """Physics starts from the data: the ``keep`` best of ``first`` and ``n_candidates`` Latin-hypercube
    points in the physics bounds, ranked by χ² with the per-row scaling projected out.

    ``first`` (rows: physics points, e.g. the default start) is always kept in front.
    Returns ``first`` unchanged when the scaling cannot be projected.
    """
    first = np.atleast_2d(np.asarray(first, float))
    if not projectable(problem) or n_candidates < 1:
        return first
    m = problem.n_physics_free
    cand = design(problem.lower[:m], problem.upper[:m], n_candidates, seed)
    cand = _rate_law_design(problem, cand, seed)
    chi2 = chi2_many(problem, cand)
    order = np.argsort(chi2)
    best = [cand[a] for a in order[:keep] if np.isfinite(chi2[a])]
    return np.vstack([first] + [b[None] for b in best])
