r"""Consensus Monte Carlo (CMC): sharded NumPyro NUTS, consensus posterior, ArviZ 1.x DataTree.

Algorithm (Scott et al. 2016)
-----------------------------
1. The support points of the two-time data (the points the NLSQ fit uses: the upper
   triangle ``t1 < t2`` of symmetric C2, the diagonal excluded; every angle, or every
   (q, φ) row of a multi-q Dataset) are split into ``S`` shards: random points by
   default (``shard_by="random"``), or the same number of random points from every row
   (``"angle_balanced"``). Every point is used exactly once (:mod:`.shards`).
2. Each shard runs NUTS (Hoffman & Gelman 2014, in NumPyro: Phan et al. 2019) on
   ``p(θ)^{1/S} · Π_{points} Normal(c2 | model, σ)``: the prior is tempered by 1/S so
   that the product of the shard posteriors is the full posterior (:mod:`.nuts`). The
   sampler works in whitened coordinates centred on the NLSQ solution, with log scales,
   rate-law valley coordinates and soft bounds: an exact change of variables that only
   makes sampling efficient (:mod:`.reparam`).
3. The shard draws are combined by the consensus rule (covariance-weighted average of
   draws with the same index) or a Gaussian product, in the shared sampling coordinates,
   and mapped back to physical units (:mod:`.assemble`).

The NLSQ solution (``nlsq=``, or an internal NLSQ fit when none is given) is read once
(:mod:`.reference`). The shards run here, in spawned processes or on a Dask cluster
(:mod:`.executors`); the shard keys are ``jax.random.split(key, S)`` of
``jax.random.key(seed)``, so a seed gives the same posterior on every path.

Result
------
An :class:`xarray.DataTree` (layout in :mod:`.assemble`): the combined ``posterior``,
each shard's posterior and sample stats, ``diagnostics`` and ``summary``. Root attrs
hold the model, priors (one line per parameter), shard and sampler settings, thresholds
and ``warnings`` (one sentence per line, "" when converged; :func:`cmc_warnings`), with the
outcome in the shared vocabulary: ``status`` (a :class:`xpcsnb.core.status.Status` code,
``CONVERGED`` or ``NOT_CONVERGED``) and ``status_name``.
Save with :func:`save_cmc`, read with :func:`load_cmc` (:mod:`.results`).

References
----------
S. L. Scott, A. W. Blocker, F. V. Bonassi, H. A. Chipman, E. I. George and
R. E. McCulloch, "Bayes and big data: the consensus Monte Carlo algorithm",
Int. J. Manag. Sci. Eng. Manag. 11, 78–88 (2016), doi:10.1080/17509653.2016.1142191.
M. D. Hoffman and A. Gelman, "The No-U-Turn Sampler: adaptively setting path lengths in
Hamiltonian Monte Carlo", J. Mach. Learn. Res. 15, 1593–1623 (2014).
D. Phan, N. Pradhan and M. Jankowiak, "Composable effects for flexible and accelerated
probabilistic programming in NumPyro", arXiv:1912.11554 (2019).
"""

from __future__ import annotations

from .api import fit_cmc
from .executors import CMCWorkerError
from .nuts import NOISE_PRIOR_SCALE, iter_shards, run_shards
from .reparam import LOG_SCALE_DECADES, log_scaled
from .results import cmc_summary, cmc_warnings, load_cmc, save_cmc
from .shards import MIN_POINTS_PER_SHARD, POINTS_PER_SHARD, ShardTask, default_shard_count, make_shards

__all__ = [
    "fit_cmc",
    "make_shards",
    "default_shard_count",
    "ShardTask",
    "run_shards",
    "iter_shards",
    "log_scaled",
    "cmc_summary",
    "cmc_warnings",
    "save_cmc",
    "load_cmc",
    "CMCWorkerError",
    "POINTS_PER_SHARD",
    "MIN_POINTS_PER_SHARD",
    "NOISE_PRIOR_SCALE",
    "LOG_SCALE_DECADES",
]
