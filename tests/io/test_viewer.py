"""xpcs-viewer (PyPI ``xpcs-viewer``, package ``pyxpcsviewer``) opens a file written by save_aps.

Runs only where the ``viewer`` extra is installed (``pip install xpcsnb[viewer]``); the
viewer's own reader (``pyxpcsviewer.core.xpcs_file.XpcsFile``) is used headless.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
viewer = pytest.importorskip(
    "pyxpcsviewer.core.xpcs_file",
    reason="xpcs-viewer is not installed (pip install 'xpcsnb[viewer]'); the viewer check is skipped",
)

from xpcsnb.core.g2 import g2 as make_g2  # noqa: E402
from xpcsnb.core.partition import from_labels  # noqa: E402
from xpcsnb.core.twotime import twotime  # noqa: E402
from xpcsnb.io import save_aps  # noqa: E402

SHAPE = (16, 12)
Q = np.array([0.002, 0.002, 0.004, 0.004, 0.006])
PHI = np.array([0.0, 90.0, 0.0, 90.0, 0.0])


def test_viewer_shows_the_same_g2_q_and_twotime(tmp_path):
    labels = (np.arange(SHAPE[0] * SHAPE[1]) % 6).reshape(SHAPE)
    part = from_labels(labels, Q, PHI)
    tau = np.array([1, 2, 3, 4, 6, 8, 12, 16]) * 2e-3
    v = 1.0 + 0.25 * np.exp(-np.outer(np.arange(1, 6), tau) * 50.0)
    g2 = make_g2(v, tau=tau, q=Q, phi=PHI, g2_err=0.01 * v, roi=np.arange(1, 6))
    n = 25
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    c2 = np.stack([1.0 + 0.2 * np.exp(-lag / 4.0), 1.1 + 0.2 * np.exp(-lag / 6.0)])
    tt = twotime(c2, phi=[0.0, 90.0], q=0.004, dt=2e-3)
    rng = np.random.default_rng(0)
    p = save_aps(tmp_path / "V001_results.hdf", g2=g2, twotime=tt, partition=part, saxs_2d=rng.random(SHAPE) + 0.5,
                 intensity=rng.random(100) + 10.0,
                 meta={"energy": 10.0, "distance": 5.0, "pixel_size": 75e-6, "beam_center": (6.0, 8.0)})

    xf = viewer.XpcsFile(str(p))
    assert set(xf.atype) == {"Multitau", "Twotime"}
    q_cells, t_el, g2v, g2e, labels = xf.get_g2_data()
    np.testing.assert_allclose(q_cells, np.repeat([0.002, 0.004, 0.006], 2))  # the viewer lists grid cells
    shown_q = [float(s.split("q=")[1].split()[0]) for s in labels]  # one label per bin (column of g2)
    shown_phi = [float(s.split("φ=")[1].split()[0]) for s in labels]
    np.testing.assert_allclose(shown_q, Q)
    np.testing.assert_allclose(shown_phi, PHI)
    np.testing.assert_allclose(np.ravel(t_el), tau, rtol=1e-12)
    np.testing.assert_array_equal(g2v, v.T)
    np.testing.assert_array_equal(g2e, 0.01 * v.T)
    assert xf.c2_processed_bins.tolist() == [3, 4]
    for k in range(2):
        shown = xf.get_twotime_c2(selection=k, correct_diag=False)
        np.testing.assert_allclose(shown["c2_mat"], c2[k], rtol=1e-15)
        assert shown["delta_t"] == pytest.approx(2e-3)  # the viewer scales C2 by its t0
    np.testing.assert_allclose(xf.saxs_1d["q"], np.unique(Q))
    assert xf.saxs_2d.shape == SHAPE and xf.Int_t.shape == (2, 100)


def test_viewer_gui_plots_the_same_maps_and_curves(tmp_path):
    """The viewer's own plotting code (headless Qt): C2 image and g2 panels hold the written values."""
    pg = pytest.importorskip("pyqtgraph")
    from pyxpcsviewer.gui.control.plot.g2_mod import pg_plot
    from pyxpcsviewer.gui.control.plot.twotime import plot_twotime
    from pyxpcsviewer.gui.view.plothandler import ImageViewDev, PlotWidgetDev
    from PySide6.QtWidgets import QWidget

    app = pg.mkQApp()  # noqa: F841  (kept alive for the widgets)
    labels = (np.arange(SHAPE[0] * SHAPE[1]) % 6).reshape(SHAPE)
    part = from_labels(labels, Q, PHI)
    tau = np.array([1, 2, 3, 4, 6, 8, 12, 16]) * 2e-3
    v = 1.0 + 0.25 * np.exp(-np.outer(np.arange(1, 6), tau) * 50.0)
    g2 = make_g2(v, tau=tau, q=Q, phi=PHI, g2_err=0.01 * v, roi=np.arange(1, 6))
    n = 25
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    c2 = np.stack([1.0 + 0.2 * np.exp(-lag / 4.0), 1.1 + 0.2 * np.exp(-lag / 6.0)])
    tt = twotime(c2, phi=[0.0, 90.0], q=0.004, dt=2e-3)
    p = save_aps(tmp_path / "G001_results.hdf", g2=g2, twotime=tt, partition=part,
                 saxs_2d=np.random.default_rng(0).random(SHAPE) + 0.5, intensity=np.ones(100) * 10.0,
                 meta={"energy": 10.0, "distance": 5.0, "pixel_size": 75e-6, "beam_center": (6.0, 8.0)})
    xf = viewer.XpcsFile(str(p))
    for k in range(2):
        hdl = {"saxs": ImageViewDev(), "dqmap": ImageViewDev(), "tt": ImageViewDev(), "c2g2": pg.PlotWidget()}
        plot_twotime(xf, hdl, selection=k, correct_diag=False)
        np.testing.assert_allclose(hdl["tt"].image, c2[k], rtol=1e-15)
        assert hdl["tt"].imageItem.scale() == pytest.approx(2e-3)  # one pixel = dt [s]
    outer = QWidget()
    canvas = PlotWidgetDev(QWidget(QWidget(outer)))  # the viewer sizes its canvas from its parents
    pg_plot(canvas, [xf], None, None, None, y_auto=True, q_auto=True, t_auto=True, rows=[0])
    panels = list(canvas.ci.items)
    assert len(panels) == 5  # one panel per bin
    for j, ax in enumerate(panels):
        x, y = ax.listDataItems()[0].getData()
        np.testing.assert_allclose(x, np.log10(tau), rtol=1e-12)  # the viewer plots log10(t) [s]
        np.testing.assert_allclose(y, v[j], rtol=1e-15)
