"""The priors editor, the CMC panel and the diagnostics view in a real JupyterLab page
(Playwright + the system Chromium).

A notebook with a ``PriorEditor``, a ``CMCPanel`` (2 angles × 12² synthetic static data)
and a ``Diagnostics`` view (of a result tree assembled from known draws: one shard whose
two chains disagree) is opened in JupyterLab and run; headless Chromium at a 1024 px wide
window then

1. sees the editor's rows with their density plots, types an invalid mean and sees the
   row highlighted with its message inside the window;
2. sets a prior in the panel (the width of ``alpha``) and clicks "Run CMC": the button is
   disabled while the worker process runs;
3. executes another cell while CMC runs: it answers at once (the kernel is free);
4. clicks "Cancel": the page shows "cancelled", the kernel reports the worker gone and
   the run button is enabled again; then types 30 warm-up iterations and 30 draws and runs
   that tiny CMC to its end: the status says it finished and the panel shows its diagnostics;
5. sees the diagnostics table colour the bad R-hat of the disagreeing chains.

The cancelled run never waits for JAX to compile the sampler; the tiny one does (in the
worker process, ~20 s). Screenshots go to ``$XPCSNB_BROWSER_OUT`` (or the test's tmp dir).
Skipped unless playwright, jupyterlab and nbformat are installed and Chromium exists at
``$CHROMIUM`` (default ``/usr/bin/chromium``). The JupyterLab, Chromium and record helpers
are those of ``test_widgets_browser.py``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from test_widgets_browser import _requirements, _wait_file, run_notebook_in_lab

SETUP_CELL = r'''
import json, os, pathlib, time
import numpy as np
import xarray as xr
from xpcsnb.fit.diagnostics import THRESHOLDS, convergence_warnings, shard_diagnostics, stack_diagnostics
from xpcsnb.forward import simulate
from xpcsnb.widgets import CMCPanel, Diagnostics, PriorEditor

RECORD = pathlib.Path(%(record)r)
PROBE = pathlib.Path(%(probe)r)
ds = simulate("static", {"D0": 1e4, "alpha": -0.3, "D_offset": 100.0}, np.arange(12.0), phi=[0.0, 90.0],
              q=0.0054, contrast=[0.3, 0.4], offset=[1.0, 1.01], noise=0.005, seed=3)
'''
EDITOR_CELL = 'editor = PriorEditor("static")\neditor'
PANEL_CELL = r'''
panel = CMCPanel(ds, "static", num_warmup=2000, num_samples=200_000, num_chains=2, parallel=False)  # long: cancelled first

def _alive(pid):
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, TypeError):
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"

def _record(_change=None):
    RECORD.write_text(json.dumps({"running": panel.running, "state": panel.job.state, "pid": panel.job.pid,
                                  "alive": _alive(panel.job.pid) if panel.job.pid else None,
                                  "alpha": repr(panel.editor.priors.get("alpha")) if panel.editor.valid else ""}))

panel.observe(_record, names="running")
panel
'''
DIAGNOSTICS_CELL = r'''
rng = np.random.default_rng(4)
def _shard(shift):
    d0 = 1e4 + 300 * rng.standard_normal((2, 300))
    d0[1] += shift  # the second chain disagrees by `shift`
    post = xr.Dataset({"D0": (("chain", "draw"), d0)})
    stats = xr.Dataset({"energy": (("chain", "draw"), rng.standard_normal((2, 300))),
                        "diverging": (("chain", "draw"), np.zeros((2, 300), bool))})
    return post, stats
shards = [_shard(0.0), _shard(3000.0)]
diag = stack_diagnostics(shard_diagnostics(p, s) for p, s in shards)
groups = {"posterior": xr.concat([p for p, _ in shards], "draw"), "diagnostics": diag}
for k, (p, s) in enumerate(shards):
    groups[f"shard_{k}/posterior"], groups[f"shard_{k}/sample_stats"] = p, s
tree = xr.DataTree.from_dict(groups)
tree.attrs = {"model": "static", "num_chains": 2, "num_samples": 300, "executor": "sequential", "wall_time_s": 1.0,
              "warnings": "\n".join(convergence_warnings(diag, THRESHOLDS, n_draws=600)), "converged": 0,
              **THRESHOLDS.as_attrs()}
BAD_RHAT = f"{float(diag['r_hat'].sel(shard=1, param='D0')):.4g}"
view = Diagnostics(tree)
view
'''
PROBE_CELL = r'''
PROBE.write_text(json.dumps({"t": time.time(), "running": panel.job.running, "bad": BAD_RHAT,
                             "alive": _alive(panel.job.pid) if panel.job.pid else None}))
print("probe", panel.job.running)
'''


def _write_notebook(path: Path, record: Path, probe: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP_CELL % {"record": str(record), "probe": str(probe)}),
                nbformat.v4.new_code_cell(EDITOR_CELL), nbformat.v4.new_code_cell(PANEL_CELL),
                nbformat.v4.new_code_cell(DIAGNOSTICS_CELL), nbformat.v4.new_code_cell(PROBE_CELL)]
    nbformat.write(nb, path)


def _drive(page, record: Path, probe: Path, out: Path, timings: dict) -> None:
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click("li[data-command='runmenu:run-all']")
    t0 = time.time()
    page.wait_for_selector(".xpcsnb-cmc-run", timeout=90_000)
    timings["widgets_visible_s"] = round(time.time() - t0, 1)

    # 1. the editor: rows with density plots; an invalid mean is highlighted inside a 1024 px window
    editor = page.locator(".xpcsnb-prior-editor").first
    assert editor.locator(".xpcsnb-prior-row").count() == 5
    assert editor.locator("svg.xpcsnb-prior-density polygon").count() == 5
    loc_input = editor.locator(".xpcsnb-prior-row").first.locator("input[type=text]").first
    loc_input.fill("1e9")
    bad = editor.locator(".xpcsnb-prior-invalid")
    bad.first.wait_for(timeout=10_000)
    check = bad.first.locator(".xpcsnb-prior-check")
    check.wait_for(timeout=5_000)
    assert "has no mass inside the bounds" in check.text_content()
    box = check.bounding_box()
    assert box is not None and box["x"] + 40 < 1024, box  # the message starts inside the window
    bg = loc_input.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg.replace(" ", "") == "rgb(255,235,233)", bg  # highlighted in place
    page.screenshot(path=str(out / "lab_prior_invalid.png"))

    # 2. set a prior in the panel (alpha: the second text box, its width) and start a CMC run
    first = _wait_file(probe, lambda r: r["running"] is False, 60)  # Run All reached the last cell
    row = page.locator(".xpcsnb-prior-editor").nth(1).locator(".xpcsnb-prior-row").nth(1)
    assert "alpha" in row.text_content()
    width = row.locator("input[type=text]").nth(1)
    width.fill("0.25")
    width.press("Enter")
    page.locator(".xpcsnb-cmc-run").first.click()
    rec = _wait_file(record, lambda r: r["running"], 30)
    assert "scale=0.25" in rec["alpha"], rec  # the run got the prior typed in the page
    page.wait_for_selector(".xpcsnb-cmc-run:disabled", timeout=10_000)  # no second run while one goes

    # 3. another cell runs while CMC runs
    t2 = time.time()
    probe_cell = page.locator(".jp-Notebook .jp-CodeCell").nth(4)
    probe_cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    seen = _wait_file(probe, lambda r: r["t"] > first["t"], 10)  # a new record, not the Run All one
    timings["second_cell_s"] = round(time.time() - t2, 2)
    assert seen["running"] is True, "the probe cell ran only after the CMC run: the kernel was blocked"
    assert seen["alive"] is True, seen  # the run goes on in a worker process
    page.wait_for_selector("text=probe True", timeout=10_000)
    page.screenshot(path=str(out / "lab_cmc_running.png"), full_page=True)

    # 4. Cancel stops the worker
    t3 = time.time()
    page.locator(".xpcsnb-cmc-cancel").first.click()
    page.wait_for_selector(".xpcsnb-cmc-status >> text=cancelled", timeout=20_000)
    rec = _wait_file(record, lambda r: r["running"] is False, 20)
    timings["cancel_s"] = round(time.time() - t3, 2)
    assert rec["state"] == "cancelled" and rec["alive"] is False, rec
    page.wait_for_selector(".xpcsnb-cmc-run:enabled", timeout=10_000)
    page.screenshot(path=str(out / "lab_cmc_cancelled.png"), full_page=True)

    # 4b. a tiny run (warm-up and draws typed in the page) runs to its end: status, diagnostics view
    for cls, value in (("warmup", "30"), ("draws", "30")):
        box = page.locator(f".xpcsnb-cmc-{cls} input").first
        box.fill(value)
        box.press("Enter")
    t4 = time.time()
    page.locator(".xpcsnb-cmc-run").first.click()
    _wait_file(record, lambda r: r["running"], 30)
    rec = _wait_file(record, lambda r: r["running"] is False, 300)
    timings["tiny_run_s"] = round(time.time() - t4, 1)
    assert rec["state"] == "done" and "scale=0.25" in rec["alpha"], rec
    page.wait_for_selector(".xpcsnb-cmc-status >> text=CMC finished", timeout=20_000)
    table = page.locator(".xpcsnb-cmc-panel .xpcsnb-diag-table").first
    table.wait_for(timeout=20_000)  # the run's own diagnostics view, inside the panel
    assert table.locator("td.xpcsnb-diag-ok, td.xpcsnb-diag-bad").count() >= 3
    # 2 chains × 30 draws cannot reach ESS ≥ 400: the run's own table marks it (red cells)
    assert table.locator("td.xpcsnb-diag-bad").count() >= 1
    table.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "lab_cmc_finished.png"), full_page=True)

    # 5. the diagnostics table colours the bad R-hat (red background) and the good ones green
    cell = page.locator("td.xpcsnb-diag-bad", has_text=re.compile(rf"^{re.escape(first['bad'])}$")).first
    cell.wait_for(timeout=10_000)
    assert float(first["bad"]) > 1.01
    assert cell.evaluate("e => getComputedStyle(e).backgroundColor").replace(" ", "") == "rgb(255,235,233)"
    assert page.locator("td.xpcsnb-diag-ok").count() >= 1
    cell.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "lab_cmc_diagnostics.png"))


@pytest.mark.slow
def test_priors_and_cmc_panel_in_jupyterlab(tmp_path: Path) -> None:
    _requirements()
    out = Path(os.environ.get("XPCSNB_BROWSER_OUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    work = tmp_path / "nb"
    work.mkdir()
    record, probe = tmp_path / "record.json", tmp_path / "probe.json"
    _write_notebook(work / "test.ipynb", record, probe)
    run_notebook_in_lab(work, "test.ipynb", out, "lab_cmc",
                        lambda page, timings: _drive(page, record, probe, out, timings))
