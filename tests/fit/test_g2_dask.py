"""g2 fits as Dask tasks (client=) give the in-process result; the shared task helper."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_g2_fit import simulate_g2

from xpcsnb.core.errors import XpcsError
from xpcsnb.fit.dask_tasks import run_tasks, split_for
from xpcsnb.fit.g2nlsq import fit_g2_nlsq


@pytest.fixture(scope="module")
def client():
    """A 2-worker LocalCluster (processes, one thread each)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.mark.slow
def test_g2_fits_on_a_2_worker_cluster_equal_the_in_process_fits(client) -> None:
    ds, _ = simulate_g2("single_exponential", rates=(3.0, 30.0, 300.0, 1000.0), seed=3)
    local = fit_g2_nlsq(ds, "single_exponential")
    remote = ds.xpcs.fit_nlsq("single_exponential", client=client)  # the accessor forwards client=
    assert len(split_for(ds.sizes["roi"], client)) == 2  # two tasks, one per worker
    xr.testing.assert_identical(remote, local)
    joint_local = fit_g2_nlsq(ds, "single_exponential", rate_law="diffusive")
    xr.testing.assert_identical(fit_g2_nlsq(ds, "single_exponential", rate_law="diffusive", client=client),
                                joint_local)


def test_split_for_covers_every_position_once_in_order() -> None:
    class Fake:
        def submit(self, *a, **k): ...
        def gather(self, f): ...
        def nthreads(self): return {"a": 2, "b": 1}

    groups = split_for(7, Fake())
    assert len(groups) == 3 and np.array_equal(np.concatenate(groups), np.arange(7))
    assert [g.tolist() for g in split_for(2, Fake())] == [[0], [1]]  # never an empty group
    assert [g.tolist() for g in split_for(4, None)] == [[0, 1, 2, 3]]


def test_run_tasks_in_process_and_a_client_that_is_not_one() -> None:
    assert run_tasks(pow, [(2, 3), (3, 2)]) == [8, 9]
    with pytest.raises(XpcsError, match="dask.distributed.Client"):
        run_tasks(pow, [(2, 3)], client="tcp://localhost:8786")
    ds, _ = simulate_g2("single_exponential", rates=(3.0,))
    with pytest.raises(XpcsError, match="client="):
        fit_g2_nlsq(ds, "single_exponential", client=object())
