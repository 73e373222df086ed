"""End-to-end test of the widgets in a real browser: Voila + Playwright + the system Chromium.

A notebook showing a ``C2View`` and a ``FitPanel`` (2 angles × 40² synthetic static
data) is served by Voila; headless Chromium then checks that

1. the canvases are drawn (many distinct colours, opaque pixels),
2. hovering the image gives the t1/t2/C2 read-out,
3. recolouring happens in the page, and picking another angle reaches the kernel,
   which sends that angle's image back,
4. clicking "Fit" runs the fit in the kernel (an observer writes the outcome to a file)
   and the page shows "NLSQ fit: success" and the residual canvas.

A screenshot is saved (``$XPCSNB_BROWSER_OUT`` or the test's tmp dir).

Skipped unless playwright, voila and nbformat are installed and Chromium exists at
``$CHROMIUM`` (default ``/usr/bin/chromium``); ``playwright install`` is not needed.
Set-up: ``apt-get install chromium`` and ``pip install playwright voila``.
Adapted from ``shared/recipes/browser_widget_test.py`` (Voila route).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]

SETUP_CELL = r'''
import json, pathlib
import numpy as np
from xpcsnb.datasets import DEMO_TRUTH
from xpcsnb.forward import simulate
from xpcsnb.widgets import C2View, FitPanel

RESULT_FILE = pathlib.Path(%(result_file)r)
ds = simulate("static", dict(DEMO_TRUTH["static"]), 0.1 * np.arange(40), phi=[0.0, 90.0], q=0.0054,
              contrast=[0.3, 0.25], offset=[1.0, 1.002], noise=0.01, seed=11)
'''
VIEWER_CELL = 'viewer = C2View(ds, title="standalone viewer")\nviewer'
PANEL_CELL = r'''
panel = FitPanel(ds, "static")

def _report(change):
    res = panel.result
    RESULT_FILE.write_text(json.dumps({
        "success": None if res is None else bool(res["c2_nlsq_success"]),
        "D0": None if res is None else float(res["c2_nlsq_coefficients"].sel(param="D0")),
        "phi_index": viewer.phi_index,
    }))

panel.result_html.observe(_report, names="value")
panel
'''

# JavaScript: statistics of a canvas's pixels (distinct colours, opaque count, a hash).
CANVAS_STATS = """(c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const colours = new Set(); let opaque = 0; let hash = 0;
  for (let i = 0; i < d.length; i += 4) {
    colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (d[i + 3] === 255) opaque++;
    hash = (hash * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2]) >>> 0;
  }
  return {w: c.width, h: c.height, colours: colours.size, opaque, hash};
}"""


def _requirements() -> None:
    pytest.importorskip("playwright", reason="playwright is not installed (pip install playwright)")
    pytest.importorskip("voila", reason="voila is not installed (pip install voila)")
    pytest.importorskip("nbformat", reason="nbformat is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set $CHROMIUM)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(path: Path, result_file: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP_CELL % {"result_file": str(result_file)}),
                nbformat.v4.new_code_cell(VIEWER_CELL), nbformat.v4.new_code_cell(PANEL_CELL)]
    nbformat.write(nb, path)


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited early with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError(f"voila at {url} did not come up in {timeout} s")


def _start_voila(root: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           f"--Voila.root_dir={root}", "--VoilaConfiguration.show_tracebacks=True", "test.ipynb"]
    env = dict(os.environ, JUPYTER_PLATFORM_DIRS="1")
    return subprocess.Popen(cmd, cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_file(path: Path, ok, timeout: float) -> dict:
    deadline = time.time() + timeout
    seen = None
    while time.time() < deadline:
        if path.exists():
            try:
                seen = json.loads(path.read_text())
            except json.JSONDecodeError:
                seen = None
            if seen is not None and ok(seen):
                return seen
        time.sleep(0.1)
    raise AssertionError(f"kernel-side record {seen!r} did not meet the condition in {timeout} s")


def _wait_canvas_change(page, canvas, old_hash: int, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        stats = canvas.evaluate(CANVAS_STATS)
        if stats["hash"] != old_hash:
            return stats
        page.wait_for_timeout(100)
    raise AssertionError("the canvas did not change")


def _drive(page, result_file: Path, out: Path) -> None:
    page.wait_for_selector(".xpcsnb-fit-button", timeout=90_000)
    page.wait_for_function("document.querySelectorAll('canvas.xpcsnb-c2view-canvas').length >= 2",
                           timeout=30_000)
    viewer = page.locator("canvas.xpcsnb-c2view-canvas").first

    # 1. drawn: a 40 × 40 image with many colours, every pixel opaque
    stats = viewer.evaluate(CANVAS_STATS)
    assert (stats["w"], stats["h"]) == (40, 40), stats
    assert stats["colours"] > 50 and stats["opaque"] == 40 * 40, stats

    # 2. hover read-out
    box = viewer.bounding_box()
    page.mouse.move(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    readout = page.locator(".xpcsnb-c2view-readout").first
    page.wait_for_function("(e) => e.textContent.includes('t1 =')", arg=readout.element_handle(), timeout=10_000)
    text = readout.text_content()
    assert "t2 =" in text and "c2 =" in text, text

    # 3a. recolouring happens in the page
    page.locator("select.xpcsnb-c2view-cmap").first.select_option("magma")
    stats_magma = _wait_canvas_change(page, viewer, stats["hash"])
    # 3b. picking the second angle: browser -> kernel (phi_index) -> new image back
    page.locator("select.xpcsnb-c2view-phi").first.select_option("1")
    _wait_canvas_change(page, viewer, stats_magma["hash"])

    # 4. Fit in the panel
    page.click(".xpcsnb-fit-button")
    page.wait_for_selector(".xpcsnb-fit-result >> text=NLSQ fit: success", timeout=60_000)
    record = _wait_file(result_file, lambda r: r.get("success") is not None, timeout=10)
    assert record["success"] is True and record["phi_index"] == 1, record
    assert abs(record["D0"] - 1e4) < 3e3, record
    page.wait_for_function("document.querySelectorAll('canvas.xpcsnb-c2view-canvas').length === 3",
                           timeout=20_000)
    residual = page.locator("canvas.xpcsnb-c2view-canvas").nth(2)
    rstats = residual.evaluate(CANVAS_STATS)
    assert (rstats["w"], rstats["h"]) == (40, 40) and rstats["colours"] > 50, rstats
    assert page.locator(".xpcsnb-fit-status >> text=succeeded").count() == 1
    # Voila scrolls inside its own container: a tall viewport shows the whole dashboard
    page.set_viewport_size({"width": 1300, "height": 2200})
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.6 * box["height"])  # a read-out in the shot
    page.screenshot(path=str(out / "voila_widgets.png"), full_page=True)


def test_widgets_in_voila(tmp_path: Path) -> None:
    _requirements()
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("XPCSNB_BROWSER_OUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    work = tmp_path / "nb"
    work.mkdir()
    result_file = tmp_path / "fit_result.json"
    _write_notebook(work / "test.ipynb", result_file)
    port = _free_port()
    log = out / "voila_server.log"
    proc = _start_voila(work, port, log)
    try:
        base = f"http://127.0.0.1:{port}/"
        _wait_http(base, proc, log)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base, timeout=90_000)
            try:
                _drive(page, result_file, out)
            except Exception:
                page.screenshot(path=str(out / "voila_FAILED.png"), full_page=True)
                (out / "voila_FAILED.html").write_text(page.content())
                raise
            finally:
                browser.close()
            assert not errors, f"JavaScript errors in the page: {errors}"
    finally:
        _stop(proc)
