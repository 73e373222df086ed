"""The NLSQ solution a CMC fit starts from, read once into one small object.

Everything CMC takes from NLSQ (a result Dataset given as ``nlsq=``, or the solution of
an internal :func:`xpcsnb.fit.nlsq.solve`) is read here and nowhere else: the values,
standard errors and covariance of the free parameters, the scaling mode, the fixed
parameters, the bounds and fixed contrast/offset. :class:`NlsqReference` carries them
to the priors (:func:`seeded_priors`), the problem set-up (:meth:`NlsqReference.problem_options`)
and the sampler's parametrisation (:meth:`NlsqReference.center`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr

from ...models import get_model
from ...models.base import Model
from ...models.registry import Prior
from ..priors import NLSQ_PRIOR_WIDTH, BoundedPrior, nlsq_prior, resolve_priors
from ..problem import FitProblem

__all__ = ["NlsqReference", "read_nlsq", "solve_reference", "seeded_priors"]


@dataclass(frozen=True)
class NlsqReference:
    """An NLSQ solution as CMC uses it (NumPy only).

    Attributes
    ----------
    names : tuple of str
        Free parameters of the NLSQ fit (physics by registry name, then scaling names).
    values, stderr : ndarray, shape (P,)
        Best values and standard errors, in the parameters' units.
    covariance : ndarray, shape (P, P)
        Parameter covariance (NaN where unknown).
    source : str
        Where it comes from (stored as the result's ``reparametrisation_from``).
    seeds_priors : bool
        Whether its values and errors seed the priors (True for ``nlsq=``, False for
        the internal fit, which only sets the parametrisation).
    scaling : str or None
        Scaling mode of the NLSQ fit.
    fixed : dict
        Physics parameters the NLSQ fit held fixed, with their values.
    bounds : dict or None
        ``{name: (lower, upper)}`` of the free parameters, when the result has them.
    contrast, offset : ndarray or None
        Fixed contrast/offset of a ``scaling="fixed"`` fit.
    """

    names: tuple[str, ...]
    values: np.ndarray
    stderr: np.ndarray
    covariance: np.ndarray
    source: str
    seeds_priors: bool = True
    scaling: str | None = None
    fixed: dict[str, float] = field(default_factory=dict)
    bounds: dict[str, tuple[float, float]] | None = None
    contrast: np.ndarray | None = None
    offset: np.ndarray | None = None

    def problem_options(self, scaling: str | None, fixed: Mapping[str, float] | None,
                        bounds: Mapping[str, tuple[float, float]] | None, contrast: Any,
                        offset: Any) -> tuple[str, Any, Any, Any, Any]:
        """Scaling, fixed, bounds and fixed contrast/offset: the caller's where given, else the NLSQ fit's."""
        scaling = scaling or self.scaling or "individual"
        fixed = dict(self.fixed) if fixed is None else fixed
        bounds = self.bounds if bounds is None else bounds
        if scaling == "fixed" and contrast is None and self.contrast is not None:
            contrast, offset = self.contrast, self.offset
        return scaling, fixed, bounds, contrast, offset

    def center(self, problem: FitProblem) -> tuple[np.ndarray, np.ndarray]:
        """Values and covariance (physical units) over ``problem.names``.

        A name the NLSQ fit did not have takes the problem's start value and a NaN
        covariance row; a missing covariance diagonal is filled with the stderr².
        """
        names = list(problem.names)
        pos = {n: a for a, n in enumerate(self.names)}
        x = np.array([self.values[pos[n]] if n in pos else problem.x0[a] for a, n in enumerate(names)])
        d = len(names)
        cov = np.full((d, d), np.nan)
        for a, na in enumerate(names):
            for b, nb in enumerate(names):
                if na in pos and nb in pos:
                    cov[a, b] = float(self.covariance[pos[na], pos[nb]])
        for a, n in enumerate(names):
            if not np.isfinite(cov[a, a]) and n in pos and np.isfinite(self.stderr[pos[n]]):
                cov[a, a] = self.stderr[pos[n]] ** 2
        return x, cov


def read_nlsq(nlsq: Any, model: str | Model) -> NlsqReference:
    """Read an NLSQ result Dataset (``ds.xpcs.fit_nlsq``) once, validating it.

    Parameters
    ----------
    nlsq : xarray.Dataset
        NLSQ result of ``model`` (single q, or a joint multi-q fit).
    model : str or Model
        The model CMC fits (a registered name or the object).

    Raises
    ------
    ValueError
        If ``nlsq`` is not an NLSQ result, reports a failed fit, is a fit of another
        model, or stacks independent per-q fits (:func:`~xpcsnb.fit.result.concat_q`).
    """
    model = get_model(model)
    if not isinstance(nlsq, xr.Dataset) or "c2_nlsq_coefficients" not in nlsq:
        raise ValueError("nlsq= must be an NLSQ result Dataset (from ds.xpcs.fit_nlsq) with 'c2_nlsq_coefficients'")
    if nlsq["c2_nlsq_coefficients"].dims != ("param",):
        raise ValueError("nlsq= holds independent per-q fits (coefficients over "
                         f"{nlsq['c2_nlsq_coefficients'].dims}); CMC shares the physics over q: "
                         "seed it with a joint NLSQ fit of the multi-q Dataset, or fit each q separately")
    if "c2_nlsq_success" not in nlsq or "c2_nlsq_message" not in nlsq:
        raise ValueError("nlsq= has no 'c2_nlsq_success'/'c2_nlsq_message': it is not an NLSQ result of xpcsnb")
    if not bool(nlsq["c2_nlsq_success"]):
        raise ValueError(f"the NLSQ result reports a failed fit ({nlsq['c2_nlsq_message'].values}); "
                         "it cannot seed the priors")
    if nlsq.attrs.get("model") not in (None, model.name):
        raise ValueError(f"nlsq= is a fit of model {nlsq.attrs.get('model')!r}, not {model.name!r}")
    names = [str(n) for n in nlsq["param"].values]
    n = len(names)
    coef = np.asarray(nlsq["c2_nlsq_coefficients"].values, float)
    err = nlsq["c2_nlsq_stderr"].values if "c2_nlsq_stderr" in nlsq else np.full(n, np.nan)
    vary = nlsq["c2_nlsq_vary"].values if "c2_nlsq_vary" in nlsq else np.ones(n, dtype=bool)
    cov = np.full((n, n), np.nan)
    if "c2_nlsq_covariance" in nlsq:
        full = nlsq["c2_nlsq_covariance"]
        have = [str(p) for p in full["cov_i"].values]
        cov_i = {p: a for a, p in enumerate(have)}
        cov_j = {str(p): b for b, p in enumerate(full["cov_j"].values)}
        values = full.values
        for a, na in enumerate(names):
            for b, nb in enumerate(names):
                if na in cov_i and nb in cov_j:
                    cov[a, b] = float(values[cov_i[na], cov_j[nb]])
    free = np.flatnonzero(vary)
    phys = set(model.parameter_names)
    fixed = {nm: float(v) for nm, v, f in zip(names, coef, vary) if not f and nm in phys}
    bounds = None
    if "c2_nlsq_lower" in nlsq:
        lo, hi = nlsq["c2_nlsq_lower"].values, nlsq["c2_nlsq_upper"].values
        bounds = {nm: (float(a), float(b)) for nm, a, b, f in zip(names, lo, hi, vary) if f}
    contrast = offset = None
    if "contrast_fixed" in nlsq:
        contrast, offset = nlsq["contrast_fixed"].values, nlsq["offset_fixed"].values
    return NlsqReference(
        names=tuple(names[a] for a in free), values=coef[free], stderr=np.asarray(err, float)[free],
        covariance=cov[np.ix_(free, free)], source="nlsq= result", seeds_priors=True,
        scaling=str(nlsq.attrs["scaling"]) if "scaling" in nlsq.attrs else None, fixed=fixed, bounds=bounds,
        contrast=contrast, offset=offset,
    )


#: Relative χ² difference above which an NLSQ result was not fitted to the data at hand.
CHI2_MATCH_RTOL = 1e-6


def check_fitted_on(problem: FitProblem, reference: NlsqReference, nlsq: Any) -> None:
    """Raise ValueError unless ``nlsq`` (read into ``reference``) is a fit of ``problem``'s data.

    The χ² of the reference values on the problem's points must equal the result's own
    ``c2_nlsq_chi2`` within a relative :data:`CHI2_MATCH_RTOL`: priors and the sampler's
    centre taken from a fit of other data (another file, q or time range) would give a
    wrong posterior without a sign. Call it only when the problem is built with the NLSQ
    fit's own scaling and fixed values; a fit with other weights (the data's sigma dropped or
    added) is not checked.
    """
    weights = "1/sigma from the data" if problem.has_sigma else "unweighted (sigma = 1)"
    if ("c2_nlsq_chi2" not in nlsq or nlsq.attrs.get("weights", weights) != weights
            or any(n not in reference.names for n in problem.names)):
        return  # another weighting (sigma dropped or added) or other parameters: χ² is not comparable
    x, _ = reference.center(problem)
    chi2 = float(np.sum(np.asarray(problem.residuals(jnp.asarray(x))) ** 2))
    stored = float(nlsq["c2_nlsq_chi2"])
    if np.isfinite(stored) and not abs(chi2 - stored) <= CHI2_MATCH_RTOL * max(abs(stored), 1.0):
        raise ValueError(f"nlsq= was not fitted to these data: at its values chi2 = {chi2:.6g} on this Dataset, the "
                         f"result says {stored:.6g}; pass the NLSQ result of this Dataset (or drop nlsq=)")


def solve_reference(problem: FitProblem) -> NlsqReference | None:
    """Run the internal NLSQ fit of ``problem``; None when its solution is not finite.

    Its values and covariance set the sampler's parametrisation only (no prior is seeded).
    """
    from ..nlsq import solve

    sol = solve(problem)
    x = np.asarray(sol.x)
    if not np.all(np.isfinite(x)):
        return None
    cov = np.asarray(sol.cov)
    return NlsqReference(names=tuple(problem.names), values=x, stderr=np.sqrt(np.abs(np.diag(cov))),
                         covariance=cov, source=f"internal NLSQ fit ({sol.status.name})",
                         seeds_priors=False, scaling=problem.scaling)


def seeded_priors(model: str | Model, names: Sequence[str], lower: Sequence[float], upper: Sequence[float], *,
                  priors: Mapping[str, Prior] | None, reference: NlsqReference | None,
                  width: float = NLSQ_PRIOR_WIDTH) -> dict[str, BoundedPrior]:
    """:func:`~xpcsnb.fit.priors.resolve_priors` with the NLSQ seeds taken from ``reference``.

    Precedence as there: user prior (exact, then registry name), NLSQ-seeded prior
    (finite positive stderr), registry default.
    """
    out = resolve_priors(model, names, lower, upper, priors=priors, nlsq=None, width=width)
    if reference is None or not reference.seeds_priors:
        return out
    pos = {n: a for a, n in enumerate(reference.names)}
    for name, bp in out.items():
        if bp.source != "registry" or name not in pos:
            continue
        value, err = reference.values[pos[name]], reference.stderr[pos[name]]
        if np.isfinite(err) and err > 0:
            out[name] = BoundedPrior(nlsq_prior(float(value), float(err), bp.lower, bp.upper, width),
                                     bp.lower, bp.upper, "nlsq")
    return out
