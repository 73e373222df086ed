"""One compiled NUTS chain for every ROI of a g2 CMC fit: the ROIs' data padded to one length.

Each ROI of an independent g2 CMC fit has its own :class:`~xpcsnb.fit.cmc.reparam.Spec`
(whitening, bounds, priors) and its own number of valid points. The spec's numbers are
arguments of the compiled chain (:func:`xpcsnb.fit.cmc.nuts.compiled_chain`), and
:func:`padded_data` pads each ROI's points to a common length (padding points have weight
0, as in :func:`xpcsnb.fit.cmc.shards.shard_tasks`): ROIs whose specs share a structure
(parameter names, prior kinds, noise sampling, fixed values, lag grid) share one
compilation, and so do later fits of the same structure in the process.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from .. import _jax  # noqa: F401
from .cmc.nuts import compiled_chain
from .cmc.reparam import Spec
from .cmc.shards import Sampler
from .cmc.traced import spec_numbers, spec_structure

__all__ = ["ChainRunner", "padded_data"]


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


class ChainRunner:
    """NUTS chains of g2 ROIs with one sampler setting, compiled once per spec structure (module doc).

    ``runner(spec, key, data)`` runs one chain (warm-up + draws) of the ROI described by
    ``spec`` on ``data`` (:func:`padded_data`) and returns ``(z, energy, n_steps,
    accept_prob, diverging, potential_energy)`` draws, the adapted step size, whether the
    final log-density is finite, and the physical draws ``{name: (draw, ...)}``.
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.used: dict[tuple[Any, ...], Any] = {}

    def __call__(self, spec: Spec, key: jax.Array, data: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
        fn = compiled_chain(spec, self.sampler).fn
        self.used[spec_structure(spec)] = fn
        return fn(key, *data, spec_numbers(spec))

    @property
    def n_compiled(self) -> int:
        """Number of compilations behind this runner's chains (structures × data lengths)."""
        return sum(int(fn._cache_size()) for fn in self.used.values())
