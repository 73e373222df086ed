"""Priors of the Bayesian (CMC) engine: NumPyro distributions from the model's parameters.

The model's :class:`~xpcsnb.models.parameters.Parameter` objects (and the shared scaling
parameters ``contrast``/``offset``) are the one source of every default prior: a normal centred on the middle of the parameter's bounds with a standard deviation of a
quarter of their width. Every prior is **truncated to the bounds** in use, whatever its
family:

================== ==========================================================
kind               distribution on [lower, upper]
================== ==========================================================
truncated_normal   Normal(loc, scale) truncated to the bounds
normal             the same (a normal restricted to the bounds *is* truncated)
uniform            Uniform(lower, upper) (loc, scale ignored)
lognormal          exp(Y), Y ~ Normal(loc, scale) truncated to [log lower, log upper]
halfnormal         HalfNormal(scale) truncated to the bounds (lower ≥ 0)
beta_scaled        lower + (upper − lower)·Beta(loc, scale) (loc, scale = a, b)
================== ==========================================================

A prior that is improper (non-finite loc or scale) or whose bounds lie in its far tail
(less than 1e-6 of its mass on their side, :func:`check_prior`) is refused with an error
naming the parameter, the prior and the bounds.

Priors seeded by an NLSQ result (:func:`nlsq_prior`) are truncated normals centred on
the NLSQ value with a standard deviation of ``width`` × its standard error. The NLSQ
fit used the same data, so such a prior counts the data a second time with weight
1/width²: the posterior sd shrinks by 1/√(1 + 1/width²), i.e. 0.894 at width 2 (the
homodyne package's choice) and 0.981 at the default width 5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import xarray as xr

from .. import _jax  # noqa: F401
from ..models import registry
from ..models.base import Model
from ..models.parameters import PRIOR_KINDS, Prior
from ..models.scaling import base_name  # built on parse_scaling_name, the one parser

__all__ = [
    "MIN_PRIOR_MASS",
    "NLSQ_PRIOR_WIDTH",
    "BoundedPrior",
    "check_prior",
    "prior_distribution",
    "beta_concentrations",
    "nlsq_prior",
    "nlsq_values",
    "resolve_priors",
]

#: Default width of NLSQ-seeded priors, in NLSQ standard errors.
NLSQ_PRIOR_WIDTH = 5.0
#: A prior putting less than this fraction of its mass on the bounds' side is refused.
MIN_PRIOR_MASS = 1e-6


@dataclass(frozen=True)
class BoundedPrior:
    """A :class:`~xpcsnb.models.parameters.Prior` together with the bounds it is truncated to.

    Attributes
    ----------
    prior : Prior
    lower, upper : float
        Bounds in the parameter's units.
    source : str
        Where the prior came from: ``"registry"`` (the model's default), ``"user"`` or ``"nlsq"``.
    """

    prior: Prior
    lower: float
    upper: float
    source: str = "registry"

    def distribution(self) -> dist.Distribution:
        """The NumPyro distribution (see :func:`prior_distribution`)."""
        return prior_distribution(self.prior, self.lower, self.upper)

    def describe(self) -> str:
        """One line, e.g. ``truncated_normal(loc=1000, scale=50) on [100, 1e+05] (nlsq)``."""
        p = self.prior
        args = "" if p.kind == "uniform" else f"(loc={p.loc:.6g}, scale={p.scale:.6g})"
        return f"{p.kind}{args} on [{self.lower:.6g}, {self.upper:.6g}] ({self.source})"


def _check_bounds(kind: str, lower: float, upper: float) -> None:
    if not (np.isfinite(lower) and np.isfinite(upper) and lower < upper):
        raise ValueError(f"prior bounds must be finite with lower < upper, got [{lower}, {upper}]")
    if kind == "lognormal" and lower < 0:
        raise ValueError(f"a lognormal prior needs bounds with lower >= 0 (its support is x > 0), got [{lower}, {upper}]")
    if kind == "halfnormal" and lower < 0:
        raise ValueError(f"a halfnormal prior needs bounds with lower >= 0 (its support is x >= 0), got [{lower}, {upper}]")


def _normal_tail_mass(loc: float, scale: float, lower: float, upper: float) -> tuple[float, float]:
    """(mass inside [lower, upper], mass on the bounds' side of ``loc``) of Normal(loc, scale)."""
    a, b = (lower - loc) / scale, (upper - loc) / scale
    inside = float(0.5 * (math.erfc(-b / math.sqrt(2)) - math.erfc(-a / math.sqrt(2))))
    if a > 0:  # the bounds lie above the prior's centre: the upper tail from the lower bound
        side = 0.5 * math.erfc(a / math.sqrt(2))
    elif b < 0:  # below it: the lower tail up to the upper bound
        side = 0.5 * math.erfc(-b / math.sqrt(2))
    else:
        side = 1.0
    return inside, float(side)


def check_prior(name: str, prior: Prior, lower: float, upper: float) -> None:
    """Refuse an improper prior or one with (almost) no mass inside the bounds.

    A prior is refused when its location or scale is not finite (an improper prior has no
    normalised truncation), when a ``beta_scaled`` concentration is not > 0, or when the
    bounds lie in its far tail: less than :data:`MIN_PRIOR_MASS` (1e-6) of its mass lies
    on the bounds' side of its centre, so its mass inside the bounds is even smaller and
    the truncated prior is a numerical artefact piled against one bound. (A wide prior
    that is merely flat over narrow bounds is accepted.)

    Parameters
    ----------
    name : str
        Parameter name, for the message.
    prior : Prior
        The prior, in the parameter's units.
    lower, upper : float
        The bounds in use.

    Raises
    ------
    ValueError
        Naming the parameter, the prior and the bounds, and what to do.
    """
    _check_bounds(prior.kind, lower, upper)
    what = (f"the prior of {name!r}, {prior.kind}(loc={prior.loc!r}, scale={prior.scale!r}), "
            f"on [{lower:.6g}, {upper:.6g}]")
    if prior.kind == "uniform":
        return
    if not (np.isfinite(prior.loc) and np.isfinite(prior.scale) and prior.scale > 0):
        raise ValueError(f"{what} is improper: loc and scale must be finite and scale > 0; "
                         "for a flat prior use Prior('uniform')")
    if prior.kind == "beta_scaled":
        if not prior.loc > 0:
            raise ValueError(f"{what} is improper: the Beta concentrations (loc, scale) must both be > 0")
        return
    if prior.kind == "lognormal":
        lo = -np.inf if lower == 0 else float(np.log(lower))
        inside, side = _normal_tail_mass(prior.loc, prior.scale, lo, float(np.log(upper)))
        where = f"exp({prior.loc:.6g}) = {np.exp(prior.loc):.6g}"
    else:
        loc = 0.0 if prior.kind == "halfnormal" else prior.loc
        inside, side = _normal_tail_mass(loc, prior.scale, lower, upper)
        where = f"{loc:.6g}"
    if side < MIN_PRIOR_MASS:
        raise ValueError(
            f"{what} has no mass inside the bounds (mass inside {inside:.3g} < {MIN_PRIOR_MASS:g}): "
            f"it is centred at {where}, far outside them; centre the prior inside the bounds, "
            "widen its scale, or widen the bounds"
        )


def prior_distribution(prior: Prior, lower: float, upper: float) -> dist.Distribution:
    """The NumPyro distribution of ``prior`` truncated to ``[lower, upper]``.

    Parameters
    ----------
    prior : Prior
        Prior (kind, loc, scale), in the parameter's units.
    lower, upper : float
        Bounds in the parameter's units.

    Returns
    -------
    numpyro.distributions.Distribution
        Its support is ``[lower, upper]`` (the log-density is normalised on it).

    Raises
    ------
    ValueError
        For non-finite or inverted bounds, bounds outside the family's support
        (``lognormal``/``halfnormal`` with ``lower < 0``), an improper prior or one with
        no mass inside the bounds (:func:`check_prior`).
    """
    kind = prior.kind
    if kind not in PRIOR_KINDS:
        raise ValueError(f"unknown prior kind {kind!r}; choose from {PRIOR_KINDS}")
    check_prior("the parameter", prior, lower, upper)
    lo, hi = float(lower), float(upper)
    if kind in ("truncated_normal", "normal"):
        return dist.TruncatedNormal(prior.loc, prior.scale, low=lo, high=hi)
    if kind == "uniform":
        return dist.Uniform(lo, hi)
    if kind == "halfnormal":
        return dist.TruncatedNormal(0.0, prior.scale, low=lo, high=hi)
    if kind == "lognormal":
        log_lo = -jnp.inf if lo == 0 else float(np.log(lo))
        base = dist.TruncatedNormal(prior.loc, prior.scale, low=log_lo, high=float(np.log(hi)))
        return dist.TransformedDistribution(base, dist.transforms.ExpTransform())
    # beta_scaled: loc, scale are the concentrations a, b
    return dist.TransformedDistribution(dist.Beta(prior.loc, prior.scale),
                                        dist.transforms.AffineTransform(lo, hi - lo))


def beta_concentrations(mean: float, sd: float, lower: float, upper: float) -> tuple[float, float]:
    """Beta concentrations (a, b) of a scaled Beta on [lower, upper] with given mean and sd.

    Method of moments on ``m = (mean − lower)/(upper − lower)``, ``v = (sd/(upper − lower))²``:
    ``k = m(1 − m)/v − 1``, ``a = m k``, ``b = (1 − m) k``.

    Raises
    ------
    ValueError
        If the mean is not strictly inside the bounds or the sd is too large for a Beta
        (``v >= m(1 − m)``).
    """
    width = upper - lower
    m = (mean - lower) / width
    v = (sd / width) ** 2
    if not 0 < m < 1:
        raise ValueError(f"beta_scaled mean {mean} must lie strictly inside [{lower}, {upper}]")
    if not 0 < v < m * (1 - m):
        raise ValueError(f"beta_scaled sd {sd} is too large for mean {mean} on [{lower}, {upper}]")
    k = m * (1 - m) / v - 1
    return float(m * k), float((1 - m) * k)


def nlsq_prior(value: float, stderr: float, lower: float, upper: float,
               width: float = NLSQ_PRIOR_WIDTH) -> Prior:
    """Truncated-normal prior centred on an NLSQ value with sd ``width · stderr``.

    Raises
    ------
    ValueError
        For a non-finite value or a non-positive/non-finite stderr or width.
    """
    if not np.isfinite(value):
        raise ValueError(f"NLSQ value must be finite, got {value}")
    if not (np.isfinite(stderr) and stderr > 0):
        raise ValueError(f"NLSQ stderr must be finite and > 0, got {stderr}")
    if not (np.isfinite(width) and width > 0):
        raise ValueError(f"prior width must be finite and > 0, got {width}")
    return Prior("truncated_normal", float(np.clip(value, lower, upper)), float(width * stderr))


def nlsq_values(nlsq: xr.Dataset) -> tuple[dict[str, float], dict[str, float]]:
    """``({name: value}, {name: stderr})`` of the free parameters of an NLSQ result Dataset.

    Raises
    ------
    ValueError
        If ``nlsq`` is not an NLSQ result (no ``c2_nlsq_coefficients``) or reports a failed fit.
    """
    if not isinstance(nlsq, xr.Dataset) or "c2_nlsq_coefficients" not in nlsq:
        raise ValueError("nlsq= must be an NLSQ result Dataset (from ds.xpcs.fit_nlsq) with 'c2_nlsq_coefficients'")
    if "c2_nlsq_success" in nlsq and not bool(nlsq["c2_nlsq_success"]):
        msg = str(nlsq["c2_nlsq_message"].values) if "c2_nlsq_message" in nlsq else ""
        raise ValueError(f"the NLSQ result reports a failed fit ({msg}); it cannot seed the priors")
    names = [str(n) for n in nlsq["param"].values]
    coef = nlsq["c2_nlsq_coefficients"].values
    err = nlsq["c2_nlsq_stderr"].values if "c2_nlsq_stderr" in nlsq else np.full(len(names), np.nan)
    vary = nlsq["c2_nlsq_vary"].values if "c2_nlsq_vary" in nlsq else np.ones(len(names), dtype=bool)
    values = {n: float(v) for n, v, f in zip(names, coef, vary) if f}
    errors = {n: float(e) for n, e, f in zip(names, err, vary) if f}
    return values, errors


def resolve_priors(
    model: str | Model,
    names: Sequence[str],
    lower: Sequence[float],
    upper: Sequence[float],
    *,
    priors: Mapping[str, Prior] | None = None,
    nlsq: xr.Dataset | None = None,
    width: float = NLSQ_PRIOR_WIDTH,
) -> dict[str, BoundedPrior]:
    """The prior of every free parameter, truncated to its bounds.

    Precedence, highest first: a user prior for the exact name (``"contrast_1"``); a
    user prior for the base name (``"contrast"`` for every angle); the NLSQ-seeded
    prior (:func:`nlsq_prior`) when ``nlsq`` has a finite stderr for the name; the
    model's default (``Parameter.prior``).

    Parameters
    ----------
    model : str or Model
        Registered model name or a Model object.
    names : sequence of str
        Free parameter names (physics, then ``contrast_<k>``/``offset_<k>`` or
        ``contrast``/``offset``), as in :attr:`FitProblem.names`.
    lower, upper : sequence of float
        Bounds in use, one per name.
    priors : dict, optional
        ``{name: Prior}`` overrides.
    nlsq : xarray.Dataset, optional
        NLSQ result whose values and stderr seed the priors.
    width : float
        NLSQ prior width in standard errors.

    Raises
    ------
    ValueError
        For an override naming no free parameter, a prior whose family does not fit
        the bounds, an improper prior or one with no mass inside the bounds
        (:func:`check_prior`).
    """
    priors = dict(priors or {})
    names = list(names)
    bases = {base_name(n) for n in names}
    for key, p in priors.items():
        if key not in names and key not in bases:
            raise ValueError(f"prior given for {key!r}, which is not a free parameter; free parameters: {names}")
        if not isinstance(p, Prior):
            raise TypeError(f"prior of {key!r} must be an xpcsnb.models.Prior, got {type(p).__name__}")
    values, errors = nlsq_values(nlsq) if nlsq is not None else ({}, {})
    out: dict[str, BoundedPrior] = {}
    for name, lo, hi in zip(names, lower, upper):
        base = base_name(name)
        if name in priors:
            bp = BoundedPrior(priors[name], float(lo), float(hi), "user")
        elif base in priors:
            bp = BoundedPrior(priors[base], float(lo), float(hi), "user")
        elif name in values and np.isfinite(errors.get(name, np.nan)) and errors[name] > 0:
            bp = BoundedPrior(nlsq_prior(values[name], errors[name], lo, hi, width), float(lo), float(hi), "nlsq")
        else:
            bp = BoundedPrior(registry.get(model, base).prior, float(lo), float(hi), "registry")
        check_prior(name, bp.prior, bp.lower, bp.upper)
        out[name] = bp
    return out
