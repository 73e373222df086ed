"""The q-map and g2 views in a real browser: JupyterLab + Playwright + the system Chromium.

A notebook shows a ``QMapView`` of the measured speckle frames (``real_frames()``, 256²,
6 ROIs: 3 rings × 2 sectors) and a ``G2View`` of a g2 set over those ROIs, linked so that
the ROI selected on the map is selected in the g2 view. In a 1024 px window, headless
Chromium checks that the map is drawn (many colours, opaque, white ROI outlines), that a
click on a pixel of ROI k tints it, shows ROI k's curves beside the map and makes the
G2View follow (its drop-down and highlighted curve), within a second; that a click on
another curve of the G2View selects that ROI there; that a click on a two-time G2View's map
moves its C2 cut to the t1 under the pointer; and that the page
raised no JavaScript error. Screenshots go to ``$XPCSNB_BROWSER_OUT`` (or the tmp dir).
Skipped like ``test_widgets_browser.py`` when playwright, jupyterlab, nbformat or Chromium
are missing; its server and helper functions are reused.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import numpy as np
from test_widgets_browser import CANVAS_STATS, _requirements, _wait_canvas_change, _wait_file, run_notebook_in_lab

EDGES = [0.004, 0.008, 0.012, 0.016]
SETUP_CELL = r'''
import json, pathlib
import numpy as np
from xpcsnb.core import g2
from xpcsnb.core.partition import partition
from xpcsnb.datasets import real_frames
from xpcsnb.widgets import G2View, QMapView
from xpcsnb.widgets.qmapview import geometry_from_attrs

ECHO_FILE = pathlib.Path(%(echo_file)r)
frames = real_frames()
geom = geometry_from_attrs(frames.attrs, frames.shape[1:])
rois = partition(geom.q_map(), %(edges)r, phi_map=geom.phi_map(), phi_edges=[-180, 0, 180])
tau = np.geomspace(1e-3, 1.0, 24)
curves = 1 + 0.2 * np.exp(-np.outer(2e5 * rois.q ** 2, tau))
g = g2(curves, tau=tau, q=rois.q, g2_err=np.full(curves.shape, 0.005), roi=np.arange(1, rois.n_roi + 1))
qv = QMapView(frames, rois, g2=g, frames=frames, size=300)
gv = G2View(g)

def _follow(change):
    if change["new"]:
        gv.select(change["new"])
    ECHO_FILE.write_text(json.dumps({"selected": change["new"], "g2view": int(gv.selected)}))

qv.canvas.observe(_follow, names="selected")

from xpcsnb.datasets import DEMO_TRUTH
from xpcsnb.forward import simulate
AGE_FILE = ECHO_FILE.with_name("age.json")
tt = simulate("static", dict(DEMO_TRUTH["static"]), 0.1 * np.arange(60), phi=[0.0], q=0.0054, contrast=[0.3],
              offset=[1.0], noise=0.01, seed=3)
tv = G2View(tt, size=240)
tv.age.observe(lambda c: AGE_FILE.write_text(json.dumps({"age": int(c["new"])})), names="value")
_ = ECHO_FILE.write_text(json.dumps({"selected": 0, "g2view": int(gv.selected)}))
'''
CELLS = ["qv", "gv", "tv"]


def _write_notebook(path: Path, echo_file: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    setup = SETUP_CELL % {"echo_file": str(echo_file), "edges": EDGES}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in [setup, *CELLS]]
    nbformat.write(nb, path)


def _target() -> tuple[int, int, int, tuple[int, int]]:
    """(label, row, col, shape) of a pixel well inside ROI 4, computed like the notebook does."""
    from xpcsnb.core.partition import partition
    from xpcsnb.datasets import real_frames
    from xpcsnb.widgets.qmapview import geometry_from_attrs

    frames = real_frames()
    geom = geometry_from_attrs(dict(frames.attrs), frames.shape[1:])
    labels = partition(geom.q_map(), EDGES, phi_map=geom.phi_map(), phi_edges=[-180, 0, 180]).labels
    inner = (labels == 4)
    inner[1:-1, 1:-1] &= (labels[:-2, 1:-1] == 4) & (labels[2:, 1:-1] == 4) & (labels[1:-1, :-2] == 4) & \
        (labels[1:-1, 2:] == 4)
    rows, cols = np.nonzero(inner)
    k = len(rows) // 2
    return 4, int(rows[k]), int(cols[k]), labels.shape


def _drive(page, echo_file: Path, out: Path, timings: dict) -> None:
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector("#jp-main-statusbar >> text=Idle", timeout=60_000)
    page.click(".lm-MenuBar-item:has-text('Run')")
    page.click("li[data-command='runmenu:run-all']")
    page.wait_for_selector("canvas.xpcsnb-qmap-canvas", timeout=90_000)
    page.wait_for_selector("svg.xpcsnb-g2curves", timeout=60_000)
    _wait_file(echo_file, lambda r: r.get("selected") == 0, timeout=30)
    canvas = page.locator("canvas.xpcsnb-qmap-canvas").first
    label, row, col, (h, w) = _target()

    # the map is drawn: full size, opaque, many colours, white outlines
    stats = canvas.evaluate(CANVAS_STATS)
    assert (stats["w"], stats["h"]) == (w, h) and stats["opaque"] == w * h and stats["colours"] > 30, stats
    white = canvas.evaluate("(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
                            " let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] === 255 && d[i + 1] === 255"
                            " && d[i + 2] === 255) n++; return n; }")
    assert white > 200, white  # the ROI outlines
    page.screenshot(path=str(out / "lab_qmap.png"), full_page=True)

    # a click on a pixel of ROI 4 selects it: tinted map, its curves beside, the G2View follows
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    t = time.time()
    page.mouse.click(box["x"] + (col + 0.5) / w * box["width"], box["y"] + (row + 0.5) / h * box["height"])
    _wait_canvas_change(page, canvas, stats["hash"], timeout=10)
    page.wait_for_selector(f".xpcsnb-qmap-curve >> text=ROI {label}", timeout=10_000)
    timings["click_to_curves_s"] = round(time.time() - t, 3)
    echo = _wait_file(echo_file, lambda r: r.get("selected") == label, timeout=10)
    assert echo["g2view"] == label, echo
    page.wait_for_function(f"[...document.querySelectorAll('select')].some((s) => "
                           f"s.selectedOptions.length && s.selectedOptions[0].textContent.replace(/\\u00a0/g, ' ').startsWith('ROI {label} '))",
                           timeout=10_000)
    assert page.locator(f"svg.xpcsnb-g2curves g.selected[data-row='{label - 1}']").count() == 1
    assert page.locator(".xpcsnb-qmap-info").first.text_content().startswith(f"ROI {label}: q = ")
    assert timings["click_to_curves_s"] < 3, timings  # well under a second when the machine is idle
    # a click on another curve of the G2View selects that ROI there (page → kernel → page)
    page.locator("svg.xpcsnb-g2curves g[data-row='1'] circle").first.dispatch_event("click")
    page.wait_for_selector("svg.xpcsnb-g2curves g.selected[data-row='1']", timeout=10_000)
    page.locator(".xpcsnb-qmap-curve").first.scroll_into_view_if_needed()
    page.screenshot(path=str(out / "lab_qmap_clicked.png"))

    # two-time: a click on the map (a quarter from its top: t1 row ≈ 45 of 60) moves the cut there
    tmap = page.locator(".xpcsnb-c2view-canvas").first
    tmap.scroll_into_view_if_needed()
    assert page.locator("svg.xpcsnb-g2cut >> text=C2 cut at t1 = 0 s").count() == 1
    tb = tmap.bounding_box()
    page.mouse.click(tb["x"] + 0.5 * tb["width"], tb["y"] + 0.25 * tb["height"])
    age = _wait_file(echo_file.with_name("age.json"), lambda r: True, timeout=10)["age"]
    assert 43 <= age <= 46, age
    page.wait_for_selector(f"svg.xpcsnb-g2cut >> text=C2 cut at t1 = {0.1 * age:.4g} s", timeout=10_000)
    page.screenshot(path=str(out / "lab_twotime_cut.png"))

    # every g2 figure exports a PNG drawn in the page: the cut at this age, and the g2 curves
    for link, name in (("c2_cut.png", "cut"), ("g2_curves.png", "curves")):
        with page.expect_download() as download:
            page.locator(f"a.xpcsnb-download-png[download='{link}']").first.click()
        png = Path(download.value.path()).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 3000, (link, len(png))
        assert download.value.suggested_filename == link
        (out / f"lab_export_{name}.png").write_bytes(png)


@pytest.mark.slow
def test_qmap_and_g2_views_in_jupyterlab(tmp_path: Path) -> None:
    _requirements()
    out = Path(os.environ.get("XPCSNB_BROWSER_OUT", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    work = tmp_path / "nb"
    work.mkdir()
    echo_file = tmp_path / "echo.json"
    _write_notebook(work / "views.ipynb", echo_file)
    run_notebook_in_lab(work, "views.ipynb", out, "lab_views",
                        lambda page, timings: _drive(page, echo_file, out, timings))

