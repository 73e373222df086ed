"""One compiled NUTS chain for every ROI of a g2 CMC fit: the per-ROI numbers are arguments, not constants.

The CMC machinery (:func:`xpcsnb.fit.cmc.nuts.chain_runner`) compiles one chain per
:class:`~xpcsnb.fit.cmc.reparam.Spec`, whose numbers (the whitening centre and Cholesky
factor, bounds, soft-bound widths, prior parameters) are constants of the compiled
function. Every ROI of a g2 fit has its own numbers, so that would compile NUTS once per
ROI. :class:`ChainRunner` compiles the same chain (it calls ``chain_runner`` inside one
:func:`jax.jit`) with those numbers as traced arguments, and the ROI's data padded to a
common length (padding points have weight 0, as in :func:`xpcsnb.fit.cmc.shards.shard_tasks`):
ROIs whose specs share a structure (parameter names, prior kinds, noise sampling, fixed
values, lag grid) share one compiled chain. The numbers drawn are those of the per-ROI
compilation with the same keys (the same computation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from .cmc.nuts import chain_runner
from .cmc.reparam import Spec, physical_from_z
from .cmc.shards import Sampler

__all__ = ["ChainRunner", "TracedPrior", "padded_data", "spec_numbers", "spec_structure"]


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


def spec_numbers(spec: Spec) -> dict[str, np.ndarray]:
    """The per-ROI numbers of a spec (the traced arguments of the compiled chain)."""
    pri = np.array([[p.prior.loc, p.prior.scale, p.lower, p.upper] for p in spec.priors], dtype=float)
    return {"center": np.asarray(spec.center, float), "chol": np.asarray(spec.chol, float),
            "lower": np.asarray(spec.lower, float), "upper": np.asarray(spec.upper, float),
            "bend": np.asarray(spec.bend, float), "log_scale": np.asarray(spec.log_scale, bool), "priors": pri}


def spec_structure(spec: Spec) -> tuple[Any, ...]:
    """What must agree for two specs to share a compiled chain (hashable)."""
    pr = spec.problem.problem  # the G2Problem behind the G2Points
    if spec.laws or pr.law_col >= 0 or spec.n_shards != 1:
        raise ValueError("the shared g2 chain serves independent one-shard ROI fits only")
    kinds = tuple((p.prior.kind, p.prior.kind == "lognormal" and float(p.lower) == 0.0) for p in spec.priors)
    return (spec.names, spec.noise, spec.layout, kinds, np.asarray(pr.consts, float).tobytes(),
            np.asarray(pr.index).tobytes(), np.asarray(pr.tau, float).tobytes(), pr.model.name)


def _with_numbers(template: Spec, nums: dict[str, Any]) -> Spec:
    pri = nums["priors"]
    priors = tuple(TracedPrior(p.prior.kind, pri[a, 0], pri[a, 1], pri[a, 2], pri[a, 3],
                               p.prior.kind == "lognormal" and float(p.lower) == 0.0)
                   for a, p in enumerate(template.priors))
    return dataclasses.replace(template, center=nums["center"], chol=nums["chol"], lower=nums["lower"],
                               upper=nums["upper"], bend=nums["bend"], log_scale=nums["log_scale"], priors=priors)


def padded_data(points: Any, size: int) -> tuple[np.ndarray, ...]:
    """(y, weight, i, j, k) of a ROI's valid points padded to ``size`` with weight-0 copies of its first point.

    ``weight`` is 1/σ (1 when the noise level is sampled) at real points.
    """
    y, sig, i, j, k = (np.asarray(a) for a in (points.y, points.sigma, points.i, points.j, points.k))
    n = y.size
    if n > size:
        raise ValueError(f"{n} points do not fit in {size}")
    pad = np.concatenate([np.arange(n), np.zeros(size - n, dtype=int)])
    real = np.arange(size) < n
    weight = np.where(real, 1.0 / sig[pad], 0.0) if points.has_sigma else real.astype(float)
    return y[pad], weight, i[pad], j[pad], k[pad]


#: Compiled chains by (spec structure, sampler settings), kept for the process (the last few).
_COMPILED: dict[tuple[Any, ...], Any] = {}
_KEEP = 8


class ChainRunner:
    """NUTS chains of g2 ROIs, compiled once per spec structure and sampler settings (module doc);
    the compiled chains are kept for later fits in this process.

    ``runner(spec, key, data)`` runs one chain (warm-up + draws) of the ROI described by
    ``spec`` on ``data`` (:func:`padded_data`) and returns ``(z, energy, n_steps,
    accept_prob, diverging, potential_energy)`` draws, the adapted step size, whether the
    final log-density is finite, and the physical draws ``{name: (draw, ...)}``.
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.used: set[tuple[Any, ...]] = set()

    def _compile(self, template: Spec) -> Any:
        sampler = self.sampler

        def run(key, y, weight, i, j, k, nums):
            spec = _with_numbers(template, nums)
            out, step, finite = chain_runner(spec, sampler)(key, y, weight, i, j, k)
            sites = jax.vmap(lambda z: physical_from_z(z, spec))(out[0])
            return out, step, finite, sites

        return jax.jit(run)

    def __call__(self, spec: Spec, key: jax.Array, data: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
        structure = (spec_structure(spec), self.sampler)
        fn = _COMPILED.get(structure)
        if fn is None:
            while len(_COMPILED) >= _KEEP:
                _COMPILED.pop(next(iter(_COMPILED)))
            fn = _COMPILED[structure] = self._compile(spec)
        self.used.add(structure)
        nums = {n: jnp.asarray(v) for n, v in spec_numbers(spec).items()}
        return fn(key, *(jnp.asarray(a) for a in data), nums)

    @property
    def n_compiled(self) -> int:
        """Number of compilations behind this runner's chains (structures × data lengths)."""
        return sum(int(_COMPILED[s]._cache_size()) for s in self.used if s in _COMPILED)
