"""CMC shards on a Dask ``distributed`` cluster (LocalCluster) give the sequential result."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from truths import simulate_cmc_set

from xpcsnb.fit.cmc import fit_cmc

distributed = pytest.importorskip("distributed")

SETTINGS = dict(n_shards=2, num_warmup=60, num_samples=60, num_chains=2, seed=11, progress=False, warn=False)


@pytest.fixture(scope="module")
def data() -> xr.Dataset:
    return simulate_cmc_set(30, seed=4)


@pytest.mark.slow
def test_dask_local_cluster_matches_sequential(data):
    reference = fit_cmc(data, "static", parallel=False, **SETTINGS)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        out = fit_cmc(data, "static", client=client, **SETTINGS)
    assert out.attrs["executor"].startswith("dask")
    for name in ("posterior", "shard_0/posterior", "shard_1/sample_stats"):
        xr.testing.assert_equal(out[name].to_dataset(), reference[name].to_dataset())  # attrs hold timings
