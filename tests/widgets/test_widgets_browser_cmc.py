"""The priors editor and the CMC panel in a real JupyterLab page (Playwright + the system Chromium).

A notebook with a ``PriorEditor`` and a ``CMCPanel`` (2 angles × 16² synthetic static
data) is opened in JupyterLab and run; headless Chromium at a 1024 px wide window then

1. sees the editor's rows with their density plots, types an invalid mean and sees the
   row highlighted with its message inside the window;
2. clicks "Run CMC": the panel shows the run's progress bar (the worker process started);
3. executes another cell while CMC runs: it answers within seconds (the kernel is free);
4. clicks "Cancel": the page shows "cancelled", and the kernel reports the worker gone.

Screenshots go to ``$XPCSNB_BROWSER_OUT`` (or the test's tmp dir). Skipped unless
playwright, jupyterlab and nbformat are installed and Chromium exists at ``$CHROMIUM``
(default ``/usr/bin/chromium``). The JupyterLab and Chromium helpers are those of ``test_widgets_browser.py``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from test_widgets_browser import _requirements, run_notebook_in_lab

SETUP_CELL = r'''
import json, os, pathlib, time
import numpy as np
from xpcsnb.forward import simulate
from xpcsnb.widgets import CMCPanel, PriorEditor

RECORD = pathlib.Path(%(record)r)
PROBE = pathlib.Path(%(probe)r)
ds = simulate("static", {"D0": 1e4, "alpha": -0.3, "D_offset": 100.0}, np.arange(16.0), phi=[0.0, 90.0],
              q=0.0054, contrast=[0.3, 0.4], offset=[1.0, 1.01], noise=0.005, seed=3)
'''
EDITOR_CELL = 'editor = PriorEditor("static")\neditor'
PANEL_CELL = r'''
panel = CMCPanel(ds, "static", num_warmup=3000, num_samples=3000, parallel=False)

def _alive(pid):
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, TypeError):
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"

def _record(_change=None):
    RECORD.write_text(json.dumps({"running": panel.running, "state": panel.job.state, "pid": panel.job.pid,
                                  "alive": _alive(panel.job.pid) if panel.job.pid else None}))

panel.observe(_record, names="running")
panel.status.observe(_record, names="value")
panel
'''
PROBE_CELL = 'PROBE.write_text(json.dumps({"t": time.time(), "running": panel.job.running}))\nprint("probe", panel.job.running)'






def _write_notebook(path: Path, record: Path, probe: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP_CELL % {"record": str(record), "probe": str(probe)}),
                nbformat.v4.new_code_cell(EDITOR_CELL), nbformat.v4.new_code_cell(PANEL_CELL),
                nbformat.v4.new_code_cell(PROBE_CELL)]
    nbformat.write(nb, path)








def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _wait_file(path: Path, ok, timeout: float) -> dict:
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        seen = _read(path)
        if seen is not None and ok(seen):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"kernel-side record {seen!r} did not meet the condition in {timeout} s")


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

    # 2. run a CMC from the panel: the progress bar appears
    _wait_file(probe, lambda r: r["running"] is False, 30)  # Run All reached the last cell
    page.locator(".xpcsnb-cmc-run").first.click()
    _wait_file(record, lambda r: r["running"] and r["alive"], 60)
    t1 = time.time()
    page.wait_for_selector(".xpcsnb-cmc-progress .widget-hprogress, .xpcsnb-cmc-progress .jupyter-widget-progress,"
                           " .xpcsnb-cmc-progress .widget-progress", timeout=60_000)
    timings["progress_visible_s"] = round(time.time() - t1, 1)
    assert page.locator(".xpcsnb-cmc-run").first.is_disabled()

    # 3. another cell runs while CMC runs
    t2 = time.time()
    probe_cell = page.locator(".jp-Notebook .jp-CodeCell").nth(3)
    probe_cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    seen = _wait_file(probe, lambda r: r["running"] is True, 10)
    timings["second_cell_s"] = round(time.time() - t2, 2)
    assert seen["t"] > t2 - 1
    page.wait_for_selector("text=probe True", timeout=10_000)
    page.screenshot(path=str(out / "lab_cmc_running.png"), full_page=True)

    # 4. Cancel stops the worker
    page.locator(".xpcsnb-cmc-cancel").first.click()
    page.wait_for_selector(".xpcsnb-cmc-status >> text=cancelled", timeout=20_000)
    rec = _wait_file(record, lambda r: r["running"] is False, 20)
    assert rec["state"] == "cancelled" and rec["alive"] is False, rec
    assert not page.locator(".xpcsnb-cmc-run").first.is_disabled()
    page.screenshot(path=str(out / "lab_cmc_cancelled.png"), full_page=True)


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
