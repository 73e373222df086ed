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

Mirror starts. A model may declare start symmetries
(:attr:`~xpcsnb.models.base.Model.start_symmetries`, a :class:`~xpcsnb.models.base.Mirror`
per parameter in which it is even or nearly so); the engine knows no parameter by name.
With the default start, each declared free parameter at 0 starts at +¼ of its bound
range, and after the first solution the fit also starts from that solution with the
parameter's sign flipped (see :func:`solve`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import scipy.optimize
import xarray as xr
from scipy.stats import qmc
from threadpoolctl import threadpool_limits

from .. import _jax  # noqa: F401
from .._numeric import COND_FAIL, COND_WARN, covariance
from ..models.base import Model
from .problem import FitProblem, build_problem
from .result import add_model, concat_q, solution_to_dataset
from .solution import Solution, Status
from .spec import FitSpec, as_spec

__all__ = ["Status", "fit_nlsq", "solve"]



#: The fitted data variable (names the result's variables, ``c2_nlsq_*``).
VAR = "c2"

#: Two minima whose χ² differ by less than this are reported as competing (see :func:`solve`).
COMPETING_DCHI2 = 9.0


def _mirror_positions(problem: FitProblem) -> list[int]:
    """Positions in ``problem.names`` of the free parameters the model declares mirror-symmetric."""
    return [problem.names.index(m.parameter) for m in problem.model.start_symmetries
            if m.parameter in problem.names]


def _mirrored(problem: FitProblem, x: np.ndarray, k: int, sign: float) -> np.ndarray:
    """``x`` with parameter k → sign·x[k] (sign·¼ of its bound range when x[k] is 0), clipped to the bounds."""
    out = x.copy()
    v = x[k] if x[k] != 0 else 0.25 * (problem.upper[k] - problem.lower[k])
    out[k] = np.clip(sign * v, problem.lower[k], problem.upper[k])
    return out


def _start_design(problem: FitProblem, n_starts: int | None, seed: int | None) -> np.ndarray:
    """Starting points of the fit.

    ``n_starts=None`` (default): the default start, with every free mirror parameter of
    the model (:attr:`~xpcsnb.models.base.Model.start_symmetries`) moved to +¼ of its
    bound range when it starts at 0. :func:`solve` then adds, per mirror parameter, a
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
        for k in _mirror_positions(problem):
            x0 = _mirrored(problem, x0, k, 1.0)
        return x0[None]
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    starts = [x0]
    if n_starts > 1:
        lo, hi = problem.lower, problem.upper
        u = qmc.LatinHypercube(d=lo.size, seed=np.random.default_rng(seed)).random(n_starts - 1)
        logscale = (lo > 0) & (hi / np.where(lo > 0, lo, 1.0) > 100.0)
        safe_lo, safe_hi = np.where(logscale, lo, 1.0), np.where(logscale, hi, 1.0)
        log = np.exp(np.log(safe_lo) + u * (np.log(safe_hi) - np.log(safe_lo)))
        pts = np.where(logscale, log, lo + u * (hi - lo))
        m = problem.n_physics_free
        pts[:, m:] = x0[m:]
        starts.extend(pts)
    return np.asarray(starts)


class _NormalForm:
    """Residuals and Jacobian of a :class:`FitProblem` in compressed form (see the module doc).

    ``fun(x)`` returns ``r̃`` (p + 1,) and caches ``J̃`` for ``jac(x)``; both come from
    one call of ``problem.compressed``.
    """

    def __init__(self, problem: FitProblem) -> None:
        self.problem = problem
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def _evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = np.asarray(x, dtype=float).tobytes()
        if key not in self._cache:
            r_t, j_t = (np.asarray(a) for a in self.problem.compressed(jnp.asarray(x)))
            self._cache = {key: (r_t, j_t)}
        return self._cache[key]

    def fun(self, x: np.ndarray) -> np.ndarray:
        return self._evaluate(x)[0]

    def jac(self, x: np.ndarray, *args: Any) -> np.ndarray:
        return self._evaluate(x)[1]


def _run_starts(problem: FitProblem, normal_form: _NormalForm, starts: Any, *, ftol: float, xtol: float,
                gtol: float, max_nfev: int) -> tuple[Any, list[Any]]:
    """TRF from every start; the solution with the lowest cost (None if no start is finite) and every
    start's solution (None where the residuals are not finite at the start)."""
    best = None
    sols: list[Any] = []
    for x_start in starts:
        r0 = normal_form.fun(x_start)
        if not np.all(np.isfinite(r0)):
            sols.append(None)
            continue
        sol = scipy.optimize.least_squares(
            normal_form.fun, x_start, jac=normal_form.jac, bounds=(problem.lower, problem.upper), method="trf",
            loss="linear", x_scale="jac", ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev,
        )
        sol.x_start = x_start
        sols.append(sol)
        if best is None or sol.cost < best.cost:
            best = sol
    return best, sols


def _competing_minima(best: Any, sols: Sequence[Any], stderr: np.ndarray, names: Sequence[str]) -> list[str]:
    """Messages for other starts that ended at a distinct minimum whose χ² is within
    :data:`COMPETING_DCHI2` of the best: some parameter differs by more than 3 stderr."""
    out = []
    if not np.all(np.isfinite(stderr)) or np.any(stderr <= 0):
        return out
    for k, sol in enumerate(sols):
        if sol is None or sol is best or not np.isfinite(sol.cost):
            continue
        dchi2 = 2.0 * (float(sol.cost) - float(best.cost))
        z = (np.asarray(sol.x) - np.asarray(best.x)) / stderr
        if dchi2 < COMPETING_DCHI2 and np.max(np.abs(z)) > 3.0:
            far = np.argsort(-np.abs(z))[:3]
            diffs = ", ".join(f"{names[a]} = {sol.x[a]:.6g} vs {best.x[a]:.6g}" for a in far if abs(z[a]) > 3.0)
            out.append(f"start {k} ended at a distinct minimum only Δχ² = {dchi2:.3g} worse ({diffs}): the data "
                       "barely distinguish them; inspect both (initial=, n_starts=) or sample the posterior (CMC)")
    return out


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
    progress : bool
        Show a tqdm bar over starts.

    Returns
    -------
    Solution
        Best values, covariance, χ², the :class:`~xpcsnb.core.status.Status` and a message
        naming every problem found.

    Raises
    ------
    FloatingPointError
        If the residuals are not finite at any start.
    """
    max_nfev = max_nfev or 100 * max(problem.n_free, 1)
    normal_form = _NormalForm(problem)

    mirrors = _mirror_positions(problem) if n_starts is None else []  # more starts, from the first solution
    starts = _start_design(problem, n_starts, seed)
    iterator: Any = starts
    if progress and len(starts) > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(starts, desc="NLSQ starts")
    t0 = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        best, sols = _run_starts(problem, normal_form, iterator, ftol=ftol, xtol=xtol, gtol=gtol,
                                 max_nfev=max_nfev)
        for k in mirrors:
            if best is None:
                break
            x_mirror = _mirrored(problem, np.asarray(best.x), k, -1.0)
            best_m, sols_m = _run_starts(problem, normal_form, [x_mirror], ftol=ftol, xtol=xtol, gtol=gtol,
                                         max_nfev=max_nfev)
            sols = sols + sols_m
            starts = np.vstack([starts, x_mirror[None]])
            if best_m is not None and best_m.cost < best.cost:
                best_m.from_solution = True  # it starts at a minimum's mirror: not moving is no failure
                best = best_m
        all_cost = [float(sol.cost) if sol is not None else np.inf for sol in sols]
        if best is None:
            raise FloatingPointError("the residuals are not finite at any starting point; check the data and bounds")
        x = best.x
        r_t, j_t = (np.asarray(a) for a in problem.compressed(jnp.asarray(x)))
    elapsed = time.perf_counter() - t0
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
    elif np.array_equal(x, best.x_start) and not getattr(best, "from_solution", False):
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
    msgs.extend(_chi2_check(chi2_red, dof, bool(scale_covar)))
    at_bound = [problem.names[k] for k in np.flatnonzero(best.active_mask != 0)]
    if at_bound:
        msgs.append(f"at a bound: {at_bound} (stderr there is not meaningful)")
    msgs.extend(_competing_minima(best, sols, stderr, problem.names))
    if problem.model.diagnose is not None:
        m = problem.n_physics_free
        msgs.extend(problem.model.diagnose(problem.values(x), dict(zip(problem.names, stderr.tolist())),
                                           frozenset(problem.names[:m])))
    return Solution(
        names=problem.names, x=np.asarray(x), x_start=np.asarray(best.x_start), stderr=stderr, cov=cov,
        chi2=chi2, chi2_red=chi2_red, n_data=n, n_params=p, status=status, message="; ".join(msgs),
        nfev=int(best.nfev), njev=int(best.njev) if best.njev is not None else 0, cond=cond, at_bound=at_bound,
        starts=starts, start_costs=np.asarray(all_cost), scale_covar=bool(scale_covar), elapsed_s=elapsed,
        tolerances={"ftol": ftol, "xtol": xtol, "gtol": gtol, "max_nfev": max_nfev},
    )


#: A chi2_red further than this many standard deviations (√(2/dof)) from 1 is flagged.
CHI2_Z = 5.0


def _chi2_check(chi2_red: float, dof: int, scale_covar: bool) -> list[str]:
    """A "poor fit" message when, with sigma given, chi2_red lies outside 1 ± CHI2_Z·√(2/dof).

    ``success`` is unchanged (it reports the solver's outcome); the message says whether the
    fit is statistically acceptable for the given sigma. Without sigma (``scale_covar``)
    chi2_red carries the noise level and is not judged.
    """
    if scale_covar or not (dof > 0 and np.isfinite(chi2_red)):
        return []
    half = CHI2_Z * np.sqrt(2.0 / dof)
    if abs(chi2_red - 1.0) <= half:
        return []
    if chi2_red > 1:
        why = (f"the model misses the data, or sigma is too small (by about √chi2_red = {np.sqrt(chi2_red):.3g}×, "
               "and so are the stderr)")
    else:
        why = "sigma is too large (and so are the stderr), or the points are not independent"
    return [f"poor fit: chi2_red = {chi2_red:.4g} is outside [{1 - half:.4g}, {1 + half:.4g}], the {CHI2_Z:g}-sigma "
            f"range for the given sigma and {dof} degrees of freedom: {why}"]


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
        Per-angle contrast/offset (see :mod:`xpcsnb.models.scaling`); default
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
        See :func:`solve` (default: the start and the mirrored starts the model declares).
    seed : int
        Seed of the multi-start design.
    max_nfev : int, optional
        Residual-evaluation cap per start.
    scale_covar : bool, optional
        Scale the covariance by χ²_red (default: only when ``ds`` has no ``sigma``).
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
        The result, variables ``c2_nlsq_*`` (see :mod:`xpcsnb.fit.result`); its report is
        ``res.xpcs.report()``, ``res.xpcs.save(path)`` writes it.
    """
    if q_mode not in ("joint", "independent"):
        raise ValueError(f"q_mode must be 'joint' or 'independent', got {q_mode!r}")
    spec = as_spec(spec, scaling=scaling, bounds=bounds, initial=initial, fixed=fixed, free=free,
                   contrast=contrast, offset=offset)
    options = {"n_starts": n_starts, "seed": seed, "max_nfev": max_nfev, "scale_covar": scale_covar,
               "progress": progress}
    if "c2" in ds and "q" in ds["c2"].dims and q_mode == "independent":
        q_values = ds["q"].values
        jobs = [(_single_q(ds, a), model, spec.select_q(a), options, return_model, throw) for a in range(q_values.size)]
        if client is None:
            return concat_q([_fit_one(*job) for job in jobs], q_values)
        futures = [client.submit(_fit_one, *job, pure=False) for job in jobs]
        return concat_q(client.gather(futures), q_values)
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
