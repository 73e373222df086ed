"""Kernel-side tests of the background runner and the CMC panel: live bars from the worker,
warnings and errors brought back, no double runs, Cancel that stops the worker and the
processes it started, out-of-date marks, and a tiny CMC run from the panel."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

# Only light imports at module level: the worker processes of the BackgroundJob tests
# import this module to find their functions.
from xpcsnb.widgets.background import BackgroundJob

TINY = dict(num_warmup=30, num_samples=30, num_chains=2, parallel=False)


# ---------------------------------------------------------------- functions run in the worker (module level)
def count(n: int, dt: float) -> int:
    import warnings

    from tqdm.auto import tqdm

    warnings.warn("a warning from the worker", RuntimeWarning)
    total = 0
    for i in tqdm(range(n), desc="counting"):
        time.sleep(dt)
        total += i
    return total


def fail() -> None:
    raise ValueError("bad input: x must be > 0")


def sleep_with_child(pid_file: str) -> None:
    child = subprocess.Popen(["sleep", "120"])
    Path(pid_file).write_text(str(child.pid))
    time.sleep(120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (dead, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- BackgroundJob
def test_job_reports_bars_result_and_warnings() -> None:
    seen: list[list] = []
    done: list[str] = []
    job = BackgroundJob(on_progress=lambda bars: seen.append([(b.label, b.n, b.total) for b in bars]),
                        on_done=lambda j: done.append(j.state), min_interval=0.0)
    assert job.state == "idle" and not job.running
    assert job.start(count, 12, 0.02)
    assert not job.start(count, 1, 0.0)  # a second start while running is refused
    assert job.wait(120)
    assert job.state == "done" and job.result == sum(range(12)) and done == ["done"]
    assert any(bars and bars[0][0] == "counting" and 0 < bars[0][1] < 12 for bars in seen)  # live, not only the end
    assert seen[-1] == []  # the bar closed
    assert job.warnings == ["RuntimeWarning: a warning from the worker"]
    assert job.bars and all(b.closed for b in job.bars.values())


def test_job_failure_is_reported() -> None:
    job = BackgroundJob()
    assert job.start(fail)
    assert job.wait(120)
    assert job.state == "failed" and job.error == "ValueError: bad input: x must be > 0"
    assert "Traceback" in job.traceback and job.result is None
    with pytest.raises(TypeError):
        job.start(42)
    with pytest.raises(ValueError, match="min_interval"):
        BackgroundJob(min_interval=-1)


def test_cancel_stops_the_worker_and_its_children(tmp_path) -> None:
    job = BackgroundJob(grace=1.0)
    assert not job.cancel()  # nothing runs
    pid_file = tmp_path / "child.pid"
    assert job.start(sleep_with_child, str(pid_file))
    deadline = time.time() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.time() < deadline and job.running, job.error
        time.sleep(0.1)
    child = int(pid_file.read_text())
    worker = job.pid
    assert _alive(child) and _alive(worker)
    t0 = time.time()
    assert job.cancel()
    assert job.wait(30) and time.time() - t0 < 10
    assert job.state == "cancelled" and not job.running
    time.sleep(0.3)
    assert not _alive(worker) and not _alive(child)  # the whole process group is gone


# ---------------------------------------------------------------- CMCPanel
@pytest.fixture(scope="module")
def data():
    import numpy as np

    from xpcsnb.forward import simulate

    return simulate("static", {"D0": 1e4, "alpha": -0.3, "D_offset": 100.0}, np.arange(20.0), phi=[0.0, 90.0],
                    q=0.0054, contrast=[0.3, 0.4], offset=[1.0, 1.01], noise=0.005, seed=3)


@pytest.fixture(scope="module")
def nlsq(data):
    from xpcsnb.fit.nlsq import fit_nlsq

    return fit_nlsq(data, "static", progress=False)


def test_panel_inputs_are_checked(data, nlsq) -> None:
    from xpcsnb.widgets import CMCPanel

    with pytest.raises(ValueError, match="priors"):
        CMCPanel(data, "static", priors={})
    panel = CMCPanel(data, "static", nlsq=nlsq, **TINY)
    assert list(panel.editor.rows)[:3] == ["D0", "alpha", "D_offset"]
    panel.num_chains.value = 1
    assert not panel.run() and "chains must be >= 2" in panel.error and not panel.job.running
    assert "chains must be &gt;= 2" in panel.status.value
    panel.num_chains.value = 2
    panel.editor.rows["D0"].scale.value = "-1"
    assert panel.run_button.disabled and "fix the highlighted priors" in panel.status.value
    assert not panel.run() and "D0" in panel.error
    panel.editor.rows["D0"].reset()
    assert not panel.run_button.disabled
    opts = panel.options()
    assert opts["priors"] == panel.editor.priors and opts["nlsq"] is nlsq and opts["progress"] is True
    assert opts["num_warmup"] == 30 and opts["n_shards"] is None and opts["parallel"] is False


@pytest.mark.slow
def test_panel_cancel_and_no_double_run(data, nlsq) -> None:
    from xpcsnb.widgets import CMCPanel

    panel = CMCPanel(data, "static", nlsq=nlsq, num_warmup=2000, num_samples=2000, parallel=False)
    assert panel.run()
    assert panel.running and panel.run_button.disabled and not panel.cancel_button.disabled
    assert not panel.run()  # a double click does not start a second fit
    pid = panel.job.pid
    deadline = time.time() + 180
    while not panel.bars.children:  # the worker reports its bars (the shard bar first)
        assert time.time() < deadline and panel.job.running, panel.job.error
        time.sleep(0.2)
    assert "CMC shards" in panel.bars.children[0].description
    assert panel.cancel_button.click() is None
    assert panel.wait(30)
    assert panel.job.state == "cancelled" and panel.error == "cancelled" and panel.result is None
    assert "cancelled" in panel.status.value and not panel.running
    assert not panel.run_button.disabled and panel.cancel_button.disabled and panel.bars.children == ()
    time.sleep(0.3)
    assert not _alive(pid)


def test_panel_shows_a_failed_run(data, nlsq) -> None:
    from xpcsnb.widgets import CMCPanel

    panel = CMCPanel(data, "static", nlsq=nlsq, n_shards=50, **TINY)  # 380 points: < 50 per shard
    assert panel.run()
    assert panel.wait(300)
    assert panel.job.state == "failed" and panel.result is None
    assert "fewer than 50 points per shard" in panel.error
    assert "CMC failed: ValueError" in panel.status.value and "use fewer shards" in panel.status.value
    assert not panel.running and not panel.run_button.disabled and panel.cancel_button.disabled


@pytest.mark.slow
def test_panel_runs_cmc_in_the_background(data, nlsq) -> None:
    import xarray as xr

    from xpcsnb.widgets import CMCPanel, Diagnostics

    panel = CMCPanel(data, "static", nlsq=nlsq, **TINY)
    panel.editor.rows["alpha"].scale.value = "0.2"
    assert panel.run()
    t0 = time.time()
    labels: set[str] = set()
    while panel.job.running:  # the kernel (this thread) is free meanwhile
        labels |= {w.description.split(":")[0] for w in panel.bars.children}
        assert time.time() - t0 < 600
        time.sleep(0.05)
    assert panel.wait(60)
    assert panel.job.state == "done", panel.job.error + panel.job.traceback
    assert {"CMC shards", "shard 0 chain 0"} <= labels or {"CMC shards", "shard 0 chain 1"} <= labels, labels
    tree = panel.result
    assert isinstance(tree, xr.DataTree) and set(tree["posterior"].data_vars) >= {"D0", "alpha", "contrast"}
    assert "alpha: truncated_normal(loc=" in tree.attrs["priors"] and "scale=0.2)" in tree.attrs["priors"]
    assert tree.attrs["num_samples"] == 30
    assert isinstance(panel.diagnostics, Diagnostics) and panel.result_box.children == (panel.diagnostics,)
    assert "CMC finished" in panel.status.value and not panel.stale and panel.stale_mark.value == ""
    panel.seed.value = 5  # any change after the result marks it out of date
    assert panel.stale and "out of date" in panel.stale_mark.value
