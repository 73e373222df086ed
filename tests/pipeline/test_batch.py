"""From raw files to result files: correlate_file, fit_file and batch, in-process and on a Dask cluster."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr
from pipeline_data import FRAME_TIME, tiny_frames, tiny_partition, write_raw

import xpcsnb.correlate as xc
import xpcsnb.io
from xpcsnb.pipeline import batch, correlate_file, fit_file
from xpcsnb.pipeline.run import read_exclusions

needs_save_aps = pytest.mark.skipif(not hasattr(xpcsnb.io, "save_aps"),
                                    reason="needs xpcsnb.io save_aps (merged separately)")
def _batch(*args, **kw):
    """batch without progress bars, leaving this process's JAX configuration alone (no compile cache)."""
    return batch(*args, progress=False, compile_cache=False, **kw)


CONFIG = {"correlate": {"num_bufs": 4, "chunk": 16, "two_time": True, "bad_frames": "auto"},
          "fit": {"model": "static", "fixed": {"alpha": 0.0, "D_offset": 0.0}, "n_starts": 1}}


@pytest.fixture(scope="session")
def cluster_client():
    """A 2-worker LocalCluster (processes, one thread each) for the whole session.

    Not the default scheduler: dask work of later tests in this process stays local.
    """
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster, set_as_default=False) as client:
        yield client


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory):
    """Three tiny raw files (the second with a beam loss) and their partition."""
    folder = tmp_path_factory.mktemp("raw")
    part, _ = tiny_partition()
    for k in range(3):
        x = tiny_frames(n_frames=32, seed=k)
        if k == 1:
            x[[7, 8]] = x[[7, 8]] * 3 // 10  # a partial beam loss (a closed shutter, no counts, stops the two-time)
        write_raw(folder / f"A{k:03d}.h5", x)
    return folder, part


def _same(a: xr.Dataset, b: xr.Dataset) -> None:
    for name in a.data_vars:
        if a[name].dtype.kind == "f" and not name.endswith("elapsed_s"):  # wall time differs
            np.testing.assert_allclose(a[name].values, b[name].values, rtol=1e-9, err_msg=name)


@needs_save_aps
def test_correlate_file_writes_the_aps_result(raw_folder, tmp_path):
    folder, part = raw_folder
    out = tmp_path / "A001_results.hdf"
    info = correlate_file(folder / "A001.h5", qmap=part, output=out, config=CONFIG, progress=False)
    assert info["n_bad_frames"] == 2 and out.is_file()
    g2 = xpcsnb.io.open_g2(out)
    ref = xc.multitau(xpcsnb.open_frames(folder / "A001.h5"), part, num_bufs=4, chunk=16, progress=False,
                      bad_frames="auto")
    np.testing.assert_allclose(g2["g2"].values, ref["g2"].values, rtol=1e-6)
    excl = read_exclusions(out)
    assert excl["bad_frames"].tolist() == [7, 8] and excl["bad_frames_method"] == "auto"
    with pytest.raises(FileExistsError, match="overwrite"):
        correlate_file(folder / "A001.h5", qmap=part, output=out, config=CONFIG, progress=False)
    res = fit_file(out, output=tmp_path / "fit.nc", config=CONFIG, progress=False)
    assert res.sizes["q"] == part.n_roi and bool(res["c2_nlsq_success"].all())


@needs_save_aps
def test_batch_is_resumable_and_never_overwrites(raw_folder, tmp_path):
    folder, part = raw_folder
    out = tmp_path / "results"
    s = _batch(str(folder / "*.h5"), qmap=part, config=CONFIG, output=out)
    assert s["status"].values.tolist() == ["done"] * 3 and s.attrs["failed"] == [], s["error"].values
    assert s["n_bad_frames"].values.tolist() == [0, 2, 0]
    stamps = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    again = _batch(str(folder / "*.h5"), qmap=part, config=CONFIG, output=out)
    assert again["status"].values.tolist() == ["skipped"] * 3
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    (out / "A002_fit.nc").unlink()  # an interrupted batch: only the missing step is redone
    third = _batch(str(folder / "*.h5"), qmap=part, config=CONFIG, output=out)
    assert third["status"].values.tolist() == ["skipped", "skipped", "done"]
    assert (out / "A002_results.hdf").stat().st_mtime_ns == stamps[out / "A002_results.hdf"]


@pytest.mark.slow
@needs_save_aps
def test_failed_file_is_reported_and_the_batch_goes_on(raw_folder, tmp_path, cluster_client):
    folder, part = raw_folder
    files = sorted(folder.glob("*.h5"))
    broken = tmp_path / "B000.h5"
    broken.write_bytes(b"not an HDF5 file")
    out_local, out_dask = tmp_path / "local", tmp_path / "dask"
    local = _batch([*files, broken], qmap=part, config=CONFIG, output=out_local)
    dask = _batch([*files, broken], qmap=part, config=CONFIG, output=out_dask, client=cluster_client)
    for s in (local, dask):
        assert s["status"].values.tolist() == ["done", "done", "done", "failed"]
        assert s.attrs["failed"] == [str(broken.resolve())] and s["error"].values[-1]
    for f in files:  # identical results in-process and on the cluster
        _same(xpcsnb.io.open_g2(out_local / f"{f.stem}_results.hdf"),
              xpcsnb.io.open_g2(out_dask / f"{f.stem}_results.hdf"))
        _same(xpcsnb.load_nlsq(out_local / f"{f.stem}_fit.nc"), xpcsnb.load_nlsq(out_dask / f"{f.stem}_fit.nc"))
    # fit_file with client=: one task per q, the same result as the in-process batch's fit
    per_q = fit_file(out_local / "A000_results.hdf", output=tmp_path / "per_q.nc", config=CONFIG, client=cluster_client,
                     progress=False)
    _same(xpcsnb.load_nlsq(out_local / "A000_fit.nc"), per_q)


@pytest.mark.slow
def test_fit_nlsq_independent_on_the_cluster_is_identical(multiq_set, cluster_client):
    from xpcsnb.fit.nlsq import fit_nlsq

    ds = multiq_set
    kw = {"q_mode": "independent", "n_starts": 1}
    here = fit_nlsq(ds, "static", **kw)
    there = fit_nlsq(ds, "static", client=cluster_client, **kw)
    _same(here, there)
    assert here.sizes["q"] == ds.sizes["q"]


CORRELATE_ONLY = {"correlate": {"num_bufs": 4, "chunk": 16}}


@pytest.mark.slow
@needs_save_aps
def test_a_killed_worker_loses_only_its_own_file(raw_folder, tmp_path, cluster_client):
    """A file whose worker process dies whenever it starts (os._exit, as a segfault would)
    is reported failed (KilledWorker); every other file's result is written and identical
    to the in-process run, whether or not it was queued on the dying worker."""
    import distributed

    folder, part = raw_folder
    files = sorted(folder.glob("A*.h5"))
    culprit = tmp_path / "K001.h5"
    culprit.write_bytes((folder / "A001.h5").read_bytes())

    class DieOn(distributed.WorkerPlugin):
        name = "xpcsnb-test-die-on"

        def __init__(self, stem: str) -> None:
            self.stem = stem

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and f"-{self.stem}-" in str(key):
                os._exit(1)  # the worker process dies at once, mid-batch

    local = _batch(files, qmap=part, config=CORRELATE_ONLY, output=tmp_path / "local")
    scheduler = cluster_client.cluster.scheduler
    allowed = scheduler.allowed_failures
    scheduler.allowed_failures = 0  # give up on a task at its first dead worker (default 3): a short test
    cluster_client.register_plugin(DieOn("K001"))
    try:
        s = _batch([files[0], culprit, *files[1:]], qmap=part, config=CORRELATE_ONLY, output=tmp_path / "dask",
                  client=cluster_client)
    finally:
        cluster_client.unregister_worker_plugin(DieOn.name)
        scheduler.allowed_failures = allowed
        cluster_client.wait_for_workers(2, timeout=60)
    assert s["status"].values.tolist() == ["done", "failed", "done", "done"], s["error"].values
    assert s.attrs["failed"] == [str(culprit.resolve())]
    assert "KilledWorker" in s["error"].values[1] and not (tmp_path / "dask" / "K001_results.hdf").exists()
    for f in files:
        _same(xpcsnb.io.open_g2(tmp_path / "local" / f"{f.stem}_results.hdf"),
              xpcsnb.io.open_g2(tmp_path / "dask" / f"{f.stem}_results.hdf"))
    assert local["status"].values.tolist() == ["done"] * 3


@needs_save_aps
def test_a_g2_model_fits_the_g2_of_every_roi(raw_folder, tmp_path):
    from xpcsnb.fit.g2nlsq import fit_g2_nlsq

    folder, part = raw_folder
    cfg = {**CORRELATE_ONLY, "fit": {"model": "stretched_exponential", "n_starts": 1}}
    s = _batch(folder / "A000.h5", qmap=part, config=cfg, output=tmp_path)
    assert s["status"].values.tolist() == ["done"], s["error"].values
    res = xpcsnb.load_nlsq(tmp_path / "A000_fit.nc")
    ref = fit_g2_nlsq(xpcsnb.io.open_g2(tmp_path / "A000_results.hdf"), "stretched_exponential", n_starts=1)
    assert res.sizes["roi"] == part.n_roi and res.attrs["model"] == "stretched_exponential"
    _same(ref, res)


def test_cmc_needs_the_two_time(raw_folder, tmp_path):
    from xpcsnb.pipeline import ConfigError

    folder, part = raw_folder
    with pytest.raises(ConfigError, match=r"\[correlate\] two_time = true"):
        _batch(folder / "A000.h5", qmap=part, config={"cmc": {"run": True}}, output=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before any file


@pytest.mark.slow
@needs_save_aps
def test_batch_cmc_step_uses_the_config_priors(tmp_path):
    """``[cmc] run``: every q sampled from its NLSQ fit with the config's priors; resumable."""
    from xpcsnb.pipeline import load_cmc_by_q

    part, _ = tiny_partition(n_q=1)
    write_raw(tmp_path / "C000.h5", tiny_frames(n_frames=24, seed=3))
    cfg = {"correlate": {"num_bufs": 4, "chunk": 16, "two_time": True},
           "fit": {"model": "static", "fixed": {"alpha": 0.0, "D_offset": 0.0}, "n_starts": 1},
           "cmc": {"run": True, "priors": {"D0": {"kind": "lognormal", "loc": 10.0, "scale": 2.0}},
                   "num_warmup": 20, "num_samples": 20, "n_shards": 1, "parallel": False}}
    out = tmp_path / "out"
    s = _batch(tmp_path / "C000.h5", qmap=part, config=cfg, output=out)
    assert s["status"].values.tolist() == ["done"], s["error"].values
    fits = load_cmc_by_q(out / "C000_cmc.nc")
    assert len(fits) == 1
    (q, tree), = fits.items()
    from xpcsnb.pipeline.fits import result_q_values

    np.testing.assert_allclose(q, result_q_values(out / "C000_results.hdf")[0])
    assert "D0: lognormal(loc=10, scale=2) on [100, 100000] (user)" in tree.attrs["priors"]
    assert "contrast_0: truncated_normal" in tree.attrs["priors"] and "(nlsq)" in tree.attrs["priors"]
    assert tree["posterior"]["D0"].size == 2 * 20
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    (out / "C000_cmc.nc").unlink()  # only the missing CMC step is redone
    again = _batch(tmp_path / "C000.h5", qmap=part, config=cfg, output=out)
    assert again["status"].values.tolist() == ["done"]
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "C000_cmc.nc"} == {
        k: v for k, v in stamps.items() if k != "C000_cmc.nc"}
    # the command line: `xpcsnb fit` with [cmc] run = true writes fit.nc and fit_cmc.nc
    from xpcsnb.cli import main
    from xpcsnb.pipeline.config import dumps

    (tmp_path / "analysis.toml").write_text(dumps(cfg))
    args = ["fit", str(out / "C000_results.hdf"), "--config", str(tmp_path / "analysis.toml"),
            "-o", str(tmp_path / "fit.nc"), "-q", "--compile-cache", "none"]
    assert main(args) == 0
    cli = load_cmc_by_q(tmp_path / "fit_cmc.nc")
    np.testing.assert_allclose(cli[q]["posterior"]["D0"].values, tree["posterior"]["D0"].values)  # same seed
    assert main(args) == 2  # never overwritten unasked


def test_workers_get_the_compile_cache(cluster_client, tmp_path):
    from xpcsnb.pipeline.compile_cache import CompileCachePlugin

    # the suite's workers inherit its JAX_COMPILATION_CACHE_DIR (tests/conftest.py): put it aside
    cluster_client.run(lambda: __import__("jax").config.update("jax_compilation_cache_dir", None))
    cluster_client.register_plugin(CompileCachePlugin(tmp_path / "jax"))
    found = cluster_client.run(lambda: __import__("jax").config.jax_compilation_cache_dir)
    assert len(found) == 2 and set(found.values()) == {str(tmp_path / "jax")}
