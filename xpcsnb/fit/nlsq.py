"""Bounded nonlinear least squares with exact JAX Jacobians.

Solver: :func:`scipy.optimize.least_squares` (trust-region reflective, ``method="trf"``,
native box bounds, ``loss="linear"`` so that the minimised cost is exactly ½χ²) with the
Jacobian computed by forward-mode JAX (``jax.jacfwd``) — exact, not finite differences.

Compressed form. TRF uses the residuals r (n points) and the Jacobian J only through
the cost ½rᵀr, the gradient Jᵀr and the Gauss–Newton matrix JᵀJ: the singular values
and right vectors of J and the projections Uᵀr of its SVD are those of any matrix with
the same JᵀJ, and ``x_scale="jac"`` uses the column norms. scipy is therefore handed
the equivalent (p + 1)-point problem ``[J̃ | r̃]`` = R factor of a QR decomposition of
``[J | r]`` (:meth:`~xpcsnb.fit.problem.FitProblem.compressed`): same cost, gradient
and Gauss–Newton matrix at every point, with the accuracy of a QR (not of normal
equations), so TRF takes the same steps. The one difference is TRF's rank threshold
``eps·m·s_max``, which now uses m = p + 1 rows. The QR is computed in the same compiled
JAX pass as the Jacobian (batched per row of the data, so the per-row scaling columns
cost nothing extra): the n × p Jacobian is never copied to NumPy and scipy's
per-iteration SVD is (p + 1) × p instead of n × p (at 3 × 1000², 1.5 M × 20). The
price is one Jacobian per residual evaluation, including rejected trial steps.

Threads. The QR runs in LAPACK (OpenBLAS), whose own thread pool fights XLA's for the
cores; :func:`solve` limits BLAS to one thread while it runs (``threadpoolctl``; XLA
keeps all cores for the Jacobian).

Fewer steps (issue 20). With ``individual`` scaling the per-row contrast/offset are
solved in closed form inside each evaluation (:mod:`~xpcsnb.fit.projection`); for large
data every start runs first on a coarse subset, with χ²-screened data-driven starts
(:mod:`~xpcsnb.fit.starts`), and the full fit starts from its solution in rate-law valley
coordinates (:mod:`~xpcsnb.fit.valley`). Results and covariances are always those of the
full problem at the solution.

Mirror starts. A model may declare start symmetries
(:attr:`~xpcsnb.models.base.Model.start_symmetries`, a :class:`~xpcsnb.models.base.Mirror`
per parameter in which it is even or nearly so); the engine knows no parameter by name.
With the default start, each declared free parameter at 0 starts at +¼ of its bound
range, and after the first solution the fit also starts from that solution with the
parameter's sign flipped (see :func:`solve`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import xarray as xr
from threadpoolctl import ThreadpoolController

from .. import _jax  # noqa: F401
from .._numeric import COND_FAIL, COND_WARN, covariance
from ..models.base import Model
from .problem import FitProblem, build_problem
from .projection import full_compressed, full_x, projectable, projected
from .quality import fit_quality
from .starts import coarse_problem, data_start, mirror_positions, mirrored, screen, start_design
from .dask_tasks import run_tasks
from .valley import LAW_ARRAYS, LawMap, follow_laws, law_maps, unfollow_laws
from .result import add_model, concat_q, solution_to_dataset
from .solution import Solution, Status
from .spec import FitSpec, as_spec

__all__ = ["Status", "fit_nlsq", "solve"]



#: The fitted data variable (names the result's variables, ``c2_nlsq_*``).
VAR = "c2"

#: Two minima whose χ² differ by less than this are reported as competing (see :func:`solve`).
COMPETING_DCHI2 = 9.0


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """The thread-pool controller, built once: ``threadpool_limits`` rescans the loaded libraries on
    every call (~10–20 ms), which dominated fits of small problems solved many times (g2 per ROI)."""
    return ThreadpoolController()


class _Objective:
    """What scipy sees: compressed residuals and Jacobian (see the module doc), cached per point.

    With ``projection`` (:mod:`~xpcsnb.fit.projection`) the solver's vector is the free
    physics only and every evaluation solves the per-row scaling in closed form; otherwise
    it is the whole free vector. With ``laws`` (:class:`~xpcsnb.fit.valley.LawMap`) the
    prefactor and offset of each fully free rate law are measured from its valley
    (unbounded there; the parameters are clipped to their bounds). ``fun(x)`` returns
    ``r̃`` (p + 1,) and caches ``J̃`` for ``jac(x)``; both come from one compiled pass. The
    last :data:`CACHE` points are kept, with what :meth:`full` and :meth:`compressed_full`
    need, so that the solution costs no further pass over the data.
    """

    #: Evaluated points kept (the solver's best point is among the last few it evaluated).
    CACHE = 32

    def __init__(self, problem: FitProblem, projection: bool, laws: Sequence[LawMap] = ()) -> None:
        self.problem = problem
        self.projection = projection
        self.laws = tuple(laws)
        self.m = problem.n_physics_free if projection else problem.n_free
        self.lower, self.upper = problem.lower[:self.m].copy(), problem.upper[:self.m].copy()
        for law in self.laws:
            self.lower[[law.pre, law.off]] = -np.inf
            self.upper[[law.pre, law.off]] = np.inf
        self._law_static = tuple((law.pre, law.exp, law.off, law.basis) for law in self.laws)
        self._law_arrays = tuple(tuple(jnp.asarray(getattr(law, f)) for f in LAW_ARRAYS) for law in self.laws)
        self._cache: dict[bytes, tuple[Any, ...]] = {}
        self._pinned: dict[bytes, np.ndarray] = {}

    def pin(self, u: np.ndarray) -> None:
        """Keep :meth:`full` of ``u`` (a start or a solution) beyond the evaluation cache."""
        key = np.asarray(u, dtype=float).tobytes()
        if key not in self._pinned:
            self._pinned[key] = self.full(u)

    def _params(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Parameters (clipped to their bounds) of solver coordinates u, and d params/du (None: identity)."""
        if not self.laws:
            return np.asarray(u, dtype=float), None
        x, dxdu = _follow(jnp.asarray(u, dtype=jnp.float64), jnp.asarray(self.problem.lower[:self.m]),
                          jnp.asarray(self.problem.upper[:self.m]), self._law_arrays, static=self._law_static)
        return np.asarray(x), np.asarray(dxdu)

    def _evaluate(self, u: np.ndarray) -> tuple[Any, ...]:
        key = np.asarray(u, dtype=float).tobytes()
        if key in self._cache:
            self._cache[key] = self._cache.pop(key)  # most recently used last
        else:
            x, dxdu = self._params(u)
            extra: tuple[Any, ...] = ()
            if self.projection:
                r_t, j_t, c, o, factors = projected(self.problem, x)
                extra = (x, c, o, factors)
            else:
                r_t, j_t = (np.asarray(a) for a in self.problem.compressed(jnp.asarray(x)))
            if dxdu is not None:
                j_t = j_t @ dxdu
            self._cache[key] = (r_t, j_t) + extra
            while len(self._cache) > self.CACHE:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]

    def fun(self, x: np.ndarray) -> np.ndarray:
        return self._evaluate(x)[0]

    def jac(self, x: np.ndarray, *args: Any) -> np.ndarray:
        return self._evaluate(x)[1]

    def reduce(self, x: np.ndarray) -> np.ndarray:
        """Solver coordinates of full free vector(s) ``x``."""
        u = np.asarray(x, dtype=float)[..., :self.m]
        if self.laws:
            u = np.asarray(jax.vmap(lambda v: unfollow_laws(v, self.laws))(jnp.asarray(np.atleast_2d(u))))
            u = u.reshape(np.shape(x)[:-1] + (self.m,))
        return u

    def full(self, u: np.ndarray) -> np.ndarray:
        """The full free vector at solver coordinates ``u`` (scaling solved when projected)."""
        if not self.projection:
            return self._params(u)[0]
        key = np.asarray(u, dtype=float).tobytes()
        if key in self._pinned:
            return self._pinned[key]
        hit = self._cache.get(key)
        if hit is not None:
            x, c, o = hit[2:5]
            return np.concatenate([x, c, o])
        return full_x(self.problem, self._params(u)[0])

    def compressed_full(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``problem.compressed`` (full free vector: all parameters, no valley map) at solver coordinates
        ``u``; from the cached evaluation when there is one."""
        hit = self._cache.get(np.asarray(u, dtype=float).tobytes())
        if hit is not None and self.projection:
            return full_compressed(hit[5], hit[3], hit[4])
        if hit is not None and not self.projection and not self.laws:
            return hit[0], hit[1]
        return tuple(np.asarray(a) for a in self.problem.compressed(jnp.asarray(self.full(u))))  # type: ignore


@functools.partial(jax.jit, static_argnames=("static",))
def _follow(u: jnp.ndarray, lo: jnp.ndarray, hi: jnp.ndarray, arrays: tuple, *, static: tuple) -> tuple:
    """Parameters (clipped to ``[lo, hi]``) at valley coordinates ``u`` and their Jacobian d params/du;
    compiled once per law structure (the maps' arrays are arguments, so each fit reuses it)."""
    laws = tuple(LawMap(pre, exp, off, basis, *arr) for (pre, exp, off, basis), arr in zip(static, arrays))

    def to_x(v: jnp.ndarray) -> jnp.ndarray:
        return jnp.clip(follow_laws(v, laws), lo, hi)

    return to_x(u), jax.jacfwd(to_x)(u)


def _run_starts(objective: _Objective, starts: Any, *, ftol: float, xtol: float,
                gtol: float, max_nfev: int) -> tuple[Any, list[Any]]:
    """TRF from every start; the solution with the lowest cost (None if no start is finite) and every
    start's solution (None where the residuals are not finite at the start)."""
    best = None
    sols: list[Any] = []
    for x_start in starts:
        x_start = np.clip(x_start, objective.lower, objective.upper)
        r0 = objective.fun(x_start)
        if not np.all(np.isfinite(r0)):
            sols.append(None)
            continue
        objective.pin(x_start)
        sol = scipy.optimize.least_squares(
            objective.fun, x_start, jac=objective.jac, bounds=(objective.lower, objective.upper), method="trf",
            loss="linear", x_scale="jac", ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev,
        )
        sol.x_start = x_start
        objective.pin(sol.x)
        sols.append(sol)
        if best is None or sol.cost < best.cost:
            best = sol
    return best, sols


def _competing_minima(best: Any, sols: Sequence[Any], stderr: np.ndarray, names: Sequence[str],
                      params: Any = np.asarray) -> list[str]:
    """Messages for other starts that ended at a distinct minimum whose χ² is within
    :data:`COMPETING_DCHI2` of the best: some parameter differs by more than 3 stderr.
    ``params`` maps a solver vector to the parameters."""
    out = []
    if not np.all(np.isfinite(stderr)) or np.any(stderr <= 0):
        return out
    for k, sol in enumerate(sols):
        if sol is None or sol is best or not np.isfinite(sol.cost):
            continue
        dchi2 = 2.0 * (float(sol.cost) - float(best.cost))
        xs, xb = params(sol.x), params(best.x)
        z = (xs - xb) / stderr
        if dchi2 < COMPETING_DCHI2 and np.max(np.abs(z)) > 3.0:
            far = np.argsort(-np.abs(z))[:3]
            diffs = ", ".join(f"{names[a]} = {xs[a]:.6g} vs {xb[a]:.6g}" for a in far if abs(z[a]) > 3.0)
            out.append(f"start {k} ended at a distinct minimum only Δχ² = {dchi2:.3g} worse ({diffs}): the data "
                       "barely distinguish them; inspect both (initial=, n_starts=) or sample the posterior (CMC)")
    return out


def _valley_maps(problem: FitProblem, x: np.ndarray) -> tuple[LawMap, ...]:
    """:class:`~xpcsnb.fit.valley.LawMap` of every fully free rate law at ``x`` (full free vector), with
    the ridge set by the stderr of ``problem`` there; () when they are not finite."""
    r_t, j_t = (np.asarray(a) for a in problem.compressed(jnp.asarray(x)))
    if not (np.all(np.isfinite(j_t)) and np.all(np.isfinite(r_t))):
        return ()
    cov = covariance(j_t.T @ j_t, problem.names)[0]
    noise = None if problem.has_sigma else float(np.sqrt(r_t @ r_t / max(problem.n_data - problem.n_free, 1)))
    if noise is not None:
        cov = cov * noise**2
    sd = np.sqrt(np.abs(np.diag(cov)))
    return law_maps(problem, x, sd, noise)


def _search(objective: _Objective, starts: np.ndarray, mirrors: Sequence[int], progress: bool,
            **opts: Any) -> tuple[Any, list[Any], np.ndarray]:
    """TRF from ``starts`` (solver coordinates), then from the best solution mirrored in each parameter of
    ``mirrors``; the best solution, every solution and every start run."""
    iterator: Any = starts
    if progress and len(starts) > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(starts, desc="NLSQ starts")
    best, sols = _run_starts(objective, iterator, **opts)
    for k in mirrors:
        if best is None:
            break
        x_mirror = mirrored(objective, np.asarray(best.x), k, -1.0)
        best_m, sols_m = _run_starts(objective, [x_mirror], **opts)
        sols = sols + sols_m
        starts = np.vstack([starts, x_mirror[None]])
        if best_m is not None and best_m.cost < best.cost:
            best_m.from_solution = True  # it starts at a minimum's mirror: not moving is no failure
            best = best_m
    return best, sols, starts


def solve(
    problem: FitProblem,
    *,
    n_starts: int | None = None,
    seed: int | None = 0,
    max_nfev: int | None = None,
    ftol: float = 1e-8,
    xtol: float = 1e-8,
    gtol: float = 1e-8,
    scale_covar: bool | None = None,
    projection: bool = True,
    coarse: bool = True,
    valley: bool = True,
    progress: bool = False,
) -> Solution:
    """Minimise ``Σ residuals²`` of ``problem`` in its bounds.

    Parameters
    ----------
    problem : FitProblem
    n_starts : int, optional
        None: the default start, then one start per free mirror parameter of the model
        (:attr:`~xpcsnb.models.base.Model.start_symmetries`) from the first solution with
        that parameter's sign flipped; k: the default start plus a seeded
        Latin-hypercube design of k − 1 points. The lowest χ² is kept.
    seed : int, optional
        Seed of the multi-start design.
    max_nfev : int, optional
        Cap on residual evaluations per start (default 100·n_free).
    ftol, xtol, gtol : float
        Tolerances of :func:`scipy.optimize.least_squares`.
    scale_covar : bool, optional
        Scale the covariance by χ²_red; default: True without ``sigma``, False with it.
    projection : bool
        Solve the ``individual`` per-row scaling in closed form inside each evaluation
        (variable projection, :mod:`~xpcsnb.fit.projection`); the solver then moves the
        physics only. Values, stderr and covariance are those of the full problem.
    coarse : bool
        For large data, first run the whole start search on a coarse subset of the
        points (:func:`~xpcsnb.fit.starts.coarse_problem`) and start the full fit from its
        solution (:func:`~xpcsnb.fit.starts.data_start`).
    valley : bool
        After a coarse start search (with projection), move every fully free rate law in
        valley coordinates (:mod:`~xpcsnb.fit.valley`) built at the coarse solution.
    progress : bool
        Show a tqdm bar over starts.

    Returns
    -------
    Solution
        Best values, covariance, χ², the :class:`~xpcsnb.core.status.Status`, the fit
        quality and a message naming every problem found. ``nfev``/``njev`` count the
        full-data evaluations of the best start; ``starts`` holds every start run on the
        full data (full free vectors).

    Raises
    ------
    FloatingPointError
        If the residuals are not finite at any start.
    """
    max_nfev = max_nfev or 100 * max(problem.n_free, 1)
    opts = {"ftol": ftol, "xtol": xtol, "gtol": gtol, "max_nfev": max_nfev}
    objective = _Objective(problem, projection and projectable(problem))
    mirrors = mirror_positions(problem) if n_starts is None else []  # more starts, from the first solution
    t0 = time.perf_counter()
    with _blas_controller().limit(limits=1, user_api="blas"):
        design = objective.reduce(start_design(problem, n_starts, seed))
        small = coarse_problem(problem) if coarse else None
        coarse_note = ""
        if objective.projection and n_starts is None:  # data-driven starts: the best of many candidates by χ² (coarse data if large)
            design = screen(problem if small is None else small, design, seed=seed)
        if small is not None:
            coarse_obj = _Objective(small, objective.projection)
            c_best, c_sols, c_starts = _search(coarse_obj, design, mirrors, progress, **opts)
            scale = problem.n_data / small.n_data  # χ² differences grow with the number of points
            design, coarse_note = data_start(coarse_obj, c_best, c_sols, COMPETING_DCHI2 / scale,
                                             problem if objective.projection else None, c_starts)
            if valley and objective.projection:
                objective = _Objective(problem, True, _valley_maps(small, coarse_obj.full(design[0])))
            design = objective.reduce(np.array([coarse_obj.full(d) for d in design]))
            best, sols, starts = _search(objective, design, [], False, **opts)
        else:
            best, sols, starts = _search(objective, design, mirrors, progress, **opts)
        if best is None:
            raise FloatingPointError("the residuals are not finite at any starting point; check the data and bounds")
        x = objective.full(best.x)
        x_start = objective.full(best.x_start)
        if small is not None:  # large data: from the cached row factors, no further pass over the data
            r_t, j_t = objective.compressed_full(best.x)
        else:  # small data: one more pass costs nothing and keeps the previous engine's bits
            r_t, j_t = (np.asarray(a) for a in problem.compressed(jnp.asarray(x)))
    elapsed = time.perf_counter() - t0
    sol = _assess(problem, objective, best, sols, x, x_start, r_t, j_t, scale_covar, max_nfev)
    all_cost = [float(s.cost) if s is not None else np.inf for s in sols]
    full_starts = np.array([np.concatenate([st, problem.x0[objective.m:]]) for st in starts])
    out = Solution(
        names=problem.names, x=x, x_start=x_start, starts=full_starts, start_costs=np.asarray(all_cost),
        nfev=int(best.nfev), njev=int(best.njev) if best.njev is not None else 0, elapsed_s=elapsed,
        tolerances=opts, start_note=coarse_note or "the full fit ran every start", **sol,
    )
    if objective.projection and (not out.success or out.fit_quality == "poor"):
        # safety net: the projected path can end in a worse local minimum (seen for heterodyne from a
        # user start); the previous engine (all parameters, no coarse search) from the same starts decides
        other = solve(problem, n_starts=n_starts, seed=seed, max_nfev=max_nfev, ftol=ftol, xtol=xtol, gtol=gtol,
                      scale_covar=scale_covar, projection=False, coarse=False, valley=False, progress=progress)
        if other.chi2 < out.chi2 * (1.0 - 1e-9):
            return dataclasses.replace(other, start_note="the projected fit ended worse (χ² = "
                                       f"{out.chi2:.6g}); refitted without projection: {other.start_note}",
                                       elapsed_s=out.elapsed_s + other.elapsed_s)
    return out


def _assess(problem: FitProblem, objective: _Objective, best: Any, sols: Sequence[Any], x: np.ndarray,
            x_start: np.ndarray, r_t: np.ndarray, j_t: np.ndarray, scale_covar: bool | None,
            max_nfev: int) -> dict[str, Any]:
    """Covariance, χ², status, fit quality and message of the solution ``x`` (full free vector)."""
    jtj, rr = j_t.T @ j_t, float(r_t @ r_t)
    n, p = problem.n_data, problem.n_free
    chi2 = float(rr)
    dof = n - p
    chi2_red = chi2 / dof if dof > 0 else np.nan
    finite = bool(np.isfinite(rr) and np.all(np.isfinite(jtj)))
    cov, cond, zero_cols, degenerate = (covariance(jtj, problem.names) if finite
                                        else (np.full((p, p), np.nan), np.nan, [], []))
    if scale_covar is None:
        scale_covar = not problem.has_sigma
    if scale_covar and np.isfinite(chi2_red):
        cov = cov * chi2_red
    stderr = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(p, np.nan)

    msgs = [str(best.message)]
    status = Status.CONVERGED
    if not finite:
        status = Status.NONFINITE
        msgs.append("non-finite residuals or Jacobian at the solution")
    elif zero_cols:
        status = Status.ZERO_JACOBIAN_COLUMN
        msgs.append(f"the data do not constrain {zero_cols}: their Jacobian columns are all zero")
    elif best.status == 0:
        status = Status.MAX_EVALUATIONS
        msgs.append(f"stopped at the evaluation limit max_nfev={max_nfev} before converging")
    elif np.array_equal(best.x, best.x_start) and not getattr(best, "from_solution", False):
        status = Status.DID_NOT_MOVE
        msgs.append("the parameters did not move from the start")
    elif not np.all(np.isfinite(cov)):
        status = Status.SINGULAR_COVARIANCE
        msgs.append(f"singular covariance (condition number {cond:.3g})"
                    + (f"; degenerate combination of {degenerate}" if degenerate else ""))
    width = np.asarray(problem.upper, float) - np.asarray(problem.lower, float)
    undetermined = [problem.names[k] for k in np.flatnonzero(np.isfinite(stderr) & (stderr > width))]
    if status == Status.CONVERGED and undetermined:
        status = Status.UNDETERMINED
        msgs.append(f"the data do not determine {undetermined}: the stderr exceeds the width of the bounds, so "
                    "the solution is one point of a flat valley, not an estimate; fix them, narrow the bounds or "
                    "start elsewhere")
    if status == Status.CONVERGED and degenerate:
        msgs.append(f"near-singular covariance (condition number {cond:.3g}): {degenerate} are strongly "
                    "correlated; their stderr are large; consider fixing one")
    m = objective.m
    on_bound = np.zeros(p, dtype=bool)
    on_bound[:m] = best.active_mask != 0
    on_bound |= (x <= problem.lower) | (x >= problem.upper)
    at_bound = [problem.names[k] for k in np.flatnonzero(on_bound)]
    if at_bound:
        msgs.append(f"at a bound: {at_bound} (stderr there is not meaningful)")
    msgs.extend(_competing_minima(best, sols, stderr[:m], problem.names[:m], lambda u: objective._params(u)[0]))
    quality, note = fit_quality(chi2_red, dof, problem.has_sigma)
    if note:
        msgs.append(note)
    if problem.model.diagnose is not None:
        mp = problem.n_physics_free
        msgs.extend(problem.model.diagnose(problem.values(x), dict(zip(problem.names, stderr.tolist())),
                                           frozenset(problem.names[:mp])))
    return {"stderr": stderr, "cov": cov, "chi2": chi2, "chi2_red": chi2_red, "n_data": n, "n_params": p,
            "status": status, "message": "; ".join(msgs), "cond": cond, "at_bound": at_bound,
            "scale_covar": bool(scale_covar), "fit_quality": quality}




def fit_nlsq(
    ds: xr.Dataset,
    model: str | Model,
    *,
    spec: FitSpec | None = None,
    scaling: str | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    initial: Mapping[str, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    free: Sequence[str] | None = None,
    contrast: float | Sequence[float] | None = None,
    offset: float | Sequence[float] | None = None,
    q_mode: str = "joint",
    n_starts: int | None = None,
    seed: int | None = 0,
    max_nfev: int | None = None,
    scale_covar: bool | None = None,
    projection: bool = True,
    return_model: bool = False,
    throw: bool = False,
    progress: bool = False,
    client: Any = None,
) -> xr.Dataset:
    """Fit a two-time model to a two-time Dataset by bounded nonlinear least squares.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (:func:`xpcsnb.twotime`); ``sigma`` weights the residuals.
    model : {"static", "laminar_flow", "heterodyne"}
    spec : FitSpec, optional
        The whole set-up at once (:class:`~xpcsnb.fit.spec.FitSpec`, e.g.
        ``FitSpec.from_nlsq(previous)``), instead of the keywords below.
    scaling : {"individual", "shared", "fixed"}
        Per-angle contrast/offset (see ``xpcsnb.models.scaling``); default
        ``"individual"``.
    bounds, initial, fixed, free, contrast, offset
        See :class:`~xpcsnb.fit.spec.FitSpec`: ``bounds={name: (lower, upper)}``,
        ``initial={name: value}``, ``fixed={name: value}`` (inside the registry bounds),
        ``free=[name, ...]``. Model-specific default-fixed parameters (heterodyne:
        ``f2 = 0``, exactly degenerate with ``f0``) stay fixed unless named in ``free``.
    q_mode : {"joint", "independent"}
        For a multi-q Dataset (q, phi, t1, t2): ``"joint"`` fits all q at once with
        shared physics and per-(q, φ) scaling (``contrast_q<a>_<k>``); ``"independent"``
        fits each q on its own with the same set-up and stacks the results along ``q``
        (:func:`xpcsnb.fit.result.concat_q`). Ignored without a q dimension.
    n_starts : int, optional
        See ``xpcsnb.fit.nlsq.solve`` (default: the start and the mirrored starts the model declares).
    seed : int
        Seed of the multi-start design.
    max_nfev : int, optional
        Residual-evaluation cap per start.
    scale_covar : bool, optional
        Scale the covariance by χ²_red (default: only when ``ds`` has no ``sigma``).
    projection : bool
        Solve the per-angle contrast/offset in closed form inside each evaluation
        (variable projection; ``individual`` scaling only); same minimum and error bars.
    return_model : bool
        Add ``c2_model`` and ``c2_residual`` (phi, t1, t2) to the result.
    throw : bool
        Raise :class:`RuntimeError` instead of returning a failed result.
    progress : bool
        Progress bar over starts.
    client : dask.distributed.Client, optional
        With ``q_mode="independent"``, fit each q as one Dask task on this client
        (identical results; default in-process, one q after the other).

    Returns
    -------
    xarray.Dataset
        The result, variables ``c2_nlsq_*`` (see ``xpcsnb.fit.result``); its report is
        ``res.xpcs.report()``, ``res.xpcs.save(path)`` writes it.
    """
    if q_mode not in ("joint", "independent"):
        raise ValueError(f"q_mode must be 'joint' or 'independent', got {q_mode!r}")
    spec = as_spec(spec, scaling=scaling, bounds=bounds, initial=initial, fixed=fixed, free=free,
                   contrast=contrast, offset=offset)
    options = {"n_starts": n_starts, "seed": seed, "max_nfev": max_nfev, "scale_covar": scale_covar,
               "projection": projection, "progress": progress}
    if "c2" in ds and "q" in ds["c2"].dims and q_mode == "independent":
        q_values = ds["q"].values
        jobs = [(_single_q(ds, a), model, spec.select_q(a), options, return_model, throw) for a in range(q_values.size)]
        return concat_q(run_tasks(_fit_one, jobs, client), q_values)
    return _fit_one(ds, model, spec, options, return_model, throw)


def _fit_one(ds: xr.Dataset, model: str | Model, spec: FitSpec, options: Mapping[str, Any], return_model: bool,
             throw: bool) -> xr.Dataset:
    """One NLSQ fit of ``ds`` (single- or joint multi-q) as a result Dataset."""
    problem = build_problem(ds, model, spec)
    sol = solve(problem, **options)
    res = solution_to_dataset(problem, sol, ds, var=VAR)
    if return_model:
        res = add_model(res, problem, ds, var=VAR)
    if throw and not sol.success:
        raise RuntimeError(f"NLSQ fit failed: {sol.message}")
    return res


def _single_q(ds: xr.Dataset, a: int) -> xr.Dataset:
    """The single-q Dataset (phi, t1, t2) of q index ``a`` of a multi-q Dataset (q as attribute)."""
    sub = ds.isel(q=a)
    q_value = float(sub["q"])
    return sub.drop_vars("q").assign_attrs(q=q_value)
