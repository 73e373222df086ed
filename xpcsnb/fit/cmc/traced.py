"""A spec split into its structure and its numbers, so that one compiled chain serves every spec of a structure.

A :class:`~xpcsnb.fit.cmc.reparam.Spec` holds numbers (the whitening centre and Cholesky
factor, bounds, soft-bound widths, prior parameters, the rate-law valley maps' arrays, the
problem's fixed values and time grid) and structure (parameter names, prior kinds, noise
sampling, shard count, the model and which parameters are free). Compiled with the numbers
as constants, NUTS would be compiled again for every dataset, every q and every rerun of
a fit; :func:`spec_numbers` lifts them out as a pytree of arrays, :func:`with_numbers`
puts traced ones back into a template spec inside the compiled function, and
:func:`spec_structure` is the hashable key of the specs that can share it.

The problem supplies its own part through three methods (the protocol of
:class:`~xpcsnb.fit.problem.FitProblem` and :class:`~xpcsnb.fit.g2cmc.G2Points`):
``numbers()`` (a pytree of arrays), ``with_numbers(numbers)`` and ``structure()`` (hashable).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import beta as beta_dist

from ..valley import LAW_ARRAYS, LawMap
from .reparam import Spec

__all__ = ["TracedPrior", "prior_numbers", "spec_numbers", "spec_structure", "traced_prior", "with_numbers"]

@dataclass(frozen=True)
class TracedPrior:
    """A bounded prior whose numbers may be traced (:func:`traced_prior`).

    :meth:`log_prob` is the log-density of :func:`xpcsnb.fit.priors.prior_distribution`
    inside the bounds, written out: the normal (or log-normal) log-density minus the log
    of its mass inside the bounds, ``log_norm``, which is computed once outside the
    compiled chain. NumPyro's truncated distributions compute that mass in the chain,
    with branches for numerical stability that XLA folds away only when the numbers are
    constants; with traced numbers they would cost seconds of compilation.
    """

    kind: str
    loc: Any
    scale: Any
    lower: Any
    upper: Any
    log_norm: Any

    def log_prob(self, x: Any) -> Any:
        """Log prior density at ``x`` (inside the bounds) [1/parameter unit]."""
        if self.kind == "uniform":
            return -jnp.log(self.upper - self.lower) + 0.0 * x
        if self.kind == "beta_scaled":
            width = self.upper - self.lower
            return beta_dist.logpdf((x - self.lower) / width, self.loc, self.scale) - jnp.log(width)
        y = jnp.log(x) if self.kind == "lognormal" else x
        loc = 0.0 if self.kind == "halfnormal" else self.loc
        z = (y - loc) / self.scale
        out = -0.5 * z * z - jnp.log(self.scale) - _HALF_LOG_2PI - self.log_norm
        return out - y if self.kind == "lognormal" else out


_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


def _log_mass(a: float, b: float) -> float:
    """log(Φ(b) − Φ(a)) for a < b, standard normal Φ, accurate in either tail."""
    from scipy.special import log_ndtr

    if a > 0:  # Φ(b) − Φ(a) = Φ(−a) − Φ(−b): work in the lower tail
        a, b = -b, -a
    lb, la = float(log_ndtr(b)), float(log_ndtr(a))
    return lb + float(np.log1p(-np.exp(la - lb)))


def prior_numbers(p: Any) -> np.ndarray:
    """``(loc, scale, lower, upper, log_norm)`` of a :class:`~xpcsnb.fit.priors.BoundedPrior`."""
    kind, loc, scale = p.prior.kind, float(p.prior.loc), float(p.prior.scale)
    lo, hi = float(p.lower), float(p.upper)
    log_norm = 0.0
    if kind in ("truncated_normal", "normal", "halfnormal", "lognormal"):
        m = 0.0 if kind == "halfnormal" else loc
        a, b = (lo, hi) if kind != "lognormal" else (np.log(lo) if lo > 0 else -np.inf, np.log(hi))
        log_norm = _log_mass((a - m) / scale, (b - m) / scale)
    return np.array([loc, scale, lo, hi, log_norm], dtype=float)


def traced_prior(p: Any, numbers: Any = None) -> TracedPrior:
    """The :class:`TracedPrior` of a bounded prior, with ``numbers`` (as :func:`prior_numbers`; traced or not)."""
    n = prior_numbers(p) if numbers is None else numbers
    return TracedPrior(p.prior.kind, n[0], n[1], n[2], n[3], n[4])


def spec_numbers(spec: Spec) -> dict[str, Any]:
    """The numbers of a spec: a pytree of NumPy arrays (the traced arguments of a compiled chain)."""
    pri = np.array([prior_numbers(p) for p in spec.priors], dtype=float).reshape(len(spec.priors), 5)
    return {"center": np.asarray(spec.center, float), "chol": np.asarray(spec.chol, float),
            "lower": np.asarray(spec.lower, float), "upper": np.asarray(spec.upper, float),
            "bend": np.asarray(spec.bend, float), "log_scale": np.asarray(spec.log_scale, bool), "priors": pri,
            "laws": tuple(tuple(np.asarray(getattr(law, f)) for f in LAW_ARRAYS) for law in spec.laws),
            "problem": spec.problem.numbers()}


def spec_structure(spec: Spec) -> tuple[Any, ...]:
    """What two specs must share to share a compiled chain (hashable)."""
    kinds = tuple(p.prior.kind for p in spec.priors)
    laws = tuple((law.pre, law.exp, law.off, law.basis, np.asarray(law.nodes).shape) for law in spec.laws)
    return (spec.names, spec.noise, spec.n_shards, spec.layout, kinds, laws, np.asarray(spec.center).shape,
            spec.problem.structure())


def with_numbers(template: Spec, numbers: dict[str, Any]) -> Spec:
    """``template`` (a spec of the structure) carrying ``numbers`` (traced or not) instead of its own."""
    pri = numbers["priors"]
    priors = tuple(traced_prior(p, pri[a]) for a, p in enumerate(template.priors))
    laws = tuple(LawMap(law.pre, law.exp, law.off, law.basis, *arrays)
                 for law, arrays in zip(template.laws, numbers["laws"]))
    return dataclasses.replace(template, center=numbers["center"], chol=numbers["chol"], lower=numbers["lower"],
                               upper=numbers["upper"], bend=numbers["bend"], log_scale=numbers["log_scale"],
                               priors=priors, laws=laws, problem=template.problem.with_numbers(numbers["problem"]))
