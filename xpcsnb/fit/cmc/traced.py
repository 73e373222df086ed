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

from ..valley import LAW_ARRAYS, LawMap
from .reparam import Spec

__all__ = ["TracedPrior", "spec_numbers", "spec_structure", "with_numbers"]

@dataclass(frozen=True)
class TracedPrior:
    """A bounded prior whose numbers may be traced: :meth:`distribution` is
    :func:`xpcsnb.fit.priors.prior_distribution` without its (already passed) checks."""

    kind: str
    loc: Any
    scale: Any
    lower: Any
    upper: Any
    lower_is_zero: bool

    def distribution(self) -> Any:
        import numpyro.distributions as dist

        lo, hi = self.lower, self.upper
        if self.kind in ("truncated_normal", "normal"):
            return dist.TruncatedNormal(self.loc, self.scale, low=lo, high=hi)
        if self.kind == "uniform":
            return dist.Uniform(lo, hi)
        if self.kind == "halfnormal":
            return dist.TruncatedNormal(0.0, self.scale, low=lo, high=hi)
        if self.kind == "lognormal":
            log_lo = -jnp.inf if self.lower_is_zero else jnp.log(lo)
            base = dist.TruncatedNormal(self.loc, self.scale, low=log_lo, high=jnp.log(hi))
            return dist.TransformedDistribution(base, dist.transforms.ExpTransform())
        if self.kind == "beta_scaled":
            return dist.TransformedDistribution(dist.Beta(self.loc, self.scale),
                                                dist.transforms.AffineTransform(lo, hi - lo))
        raise ValueError(f"unknown prior kind {self.kind!r}")


def _lower_is_zero(p: Any) -> bool:
    return p.prior.kind == "lognormal" and float(p.lower) == 0.0


def spec_numbers(spec: Spec) -> dict[str, Any]:
    """The numbers of a spec: a pytree of NumPy arrays (the traced arguments of a compiled chain)."""
    pri = np.array([[p.prior.loc, p.prior.scale, p.lower, p.upper] for p in spec.priors], dtype=float)
    return {"center": np.asarray(spec.center, float), "chol": np.asarray(spec.chol, float),
            "lower": np.asarray(spec.lower, float), "upper": np.asarray(spec.upper, float),
            "bend": np.asarray(spec.bend, float), "log_scale": np.asarray(spec.log_scale, bool), "priors": pri,
            "laws": tuple(tuple(np.asarray(getattr(law, f)) for f in LAW_ARRAYS) for law in spec.laws),
            "problem": spec.problem.numbers()}


def spec_structure(spec: Spec) -> tuple[Any, ...]:
    """What two specs must share to share a compiled chain (hashable)."""
    kinds = tuple((p.prior.kind, _lower_is_zero(p)) for p in spec.priors)
    laws = tuple((law.pre, law.exp, law.off, law.basis, np.asarray(law.nodes).shape) for law in spec.laws)
    return (spec.names, spec.noise, spec.n_shards, spec.layout, kinds, laws, np.asarray(spec.center).shape,
            spec.problem.structure())


def with_numbers(template: Spec, numbers: dict[str, Any]) -> Spec:
    """``template`` (a spec of the structure) carrying ``numbers`` (traced or not) instead of its own."""
    pri = numbers["priors"]
    priors = tuple(TracedPrior(p.prior.kind, pri[a, 0], pri[a, 1], pri[a, 2], pri[a, 3], _lower_is_zero(p))
                   for a, p in enumerate(template.priors))
    laws = tuple(LawMap(law.pre, law.exp, law.off, law.basis, *arrays)
                 for law, arrays in zip(template.laws, numbers["laws"]))
    return dataclasses.replace(template, center=numbers["center"], chol=numbers["chol"], lower=numbers["lower"],
                               upper=numbers["upper"], bend=numbers["bend"], log_scale=numbers["log_scale"],
                               priors=priors, laws=laws, problem=template.problem.with_numbers(numbers["problem"]))
