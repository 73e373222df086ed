"""QMapView kernel side: a click on a pixel selects its ROI, the side curves follow, q-map edits rebuild the partition."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core import g2
from xpcsnb.core.errors import PartitionError
from xpcsnb.core.partition import Geometry, partition
from xpcsnb.widgets.qmapview import QMapView, geometry_from_attrs, log_codes, roi_intensity

GEOM = Geometry(shape=(48, 64), beam_center=(30.0, 20.0), distance=5.0, pixel_size=75e-6, energy=10.0)


def _setup():
    qm, pm = GEOM.q_map(), GEOM.phi_map()
    edges = np.linspace(0.0002, 0.0012, 4)
    part = partition(qm, edges, phi_map=pm, phi_edges=[-180.0, 0.0, 180.0])
    rng = np.random.default_rng(0)
    frames = rng.poisson(50.0 * np.exp(-qm / 0.0005), size=(12, *qm.shape)).astype(float)
    return part, frames


def test_click_selects_the_roi_under_the_pixel_and_shows_its_curves():
    part, frames = _setup()
    tau = np.geomspace(1e-3, 1.0, 10)
    g = g2(1 + 0.2 * np.exp(-np.outer(np.arange(1, part.n_roi + 1), tau)), tau=tau, q=part.q,
           roi=np.arange(1, part.n_roi + 1))
    fr = xr.DataArray(frames, dims=("frame", "y", "x"), attrs={"frame_time": 0.1})
    v = QMapView(frames, part, g2=g, frames=fr, geometry=GEOM)
    assert v.selected == 0 and "click a ROI" in v.curves.value
    r, c = np.argwhere(part.labels == 4)[0]
    assert v.click(r, c) == 4 and v.canvas.selected == 4
    assert "g2 — ROI 4" in v.curves.value and "intensity — ROI 4" in v.curves.value
    assert "ROI 4: q = " in v.canvas.info
    r0, c0 = np.argwhere(part.labels == 0)[0]
    assert v.click(r0, c0) == 0 and "click a ROI" in v.curves.value
    assert v.canvas.info == f"{part.n_roi} ROIs"
    # labels travel as uint16, the image as log-scaled uint8 codes
    np.testing.assert_array_equal(np.frombuffer(v.canvas.labels, np.uint16).reshape(part.shape), part.labels)
    assert len(v.canvas.image) == part.labels.size and v.canvas.shape == list(part.shape)


def test_intensity_trace_is_the_mean_over_the_roi():
    part, frames = _setup()
    tr = roi_intensity(frames, part.labels, part.n_roi)
    assert tr.shape == (12, part.n_roi)
    np.testing.assert_allclose(tr[3, 1], frames[3][part.labels == 2].mean())


def test_edits_rebuild_the_partition_and_invalid_entries_are_shown():
    part, frames = _setup()
    v = QMapView(frames, part, geometry=GEOM)
    v.select(part.n_roi)
    v.rings.value = "0.0003, 0.0006"
    assert v.partition.n_roi == 2 and v.message.value == ""
    assert v.selected == 0  # the old label no longer exists
    np.testing.assert_array_equal(np.frombuffer(v.canvas.labels, np.uint16).reshape(part.shape), v.partition.labels)
    old = v.partition.labels.copy()
    v.cx.value = 40.0  # the beam centre moves: the rings follow
    assert not np.array_equal(old, v.partition.labels)
    moved = Geometry(shape=(48, 64), beam_center=(40.0, 20.0), distance=5.0, pixel_size=75e-6, energy=10.0)
    expect = partition(moved.q_map(), [0.0003, 0.0006], phi_map=moved.phi_map(), phi_edges=[-180.0, 0.0, 180.0],
                       allow_empty=True)
    np.testing.assert_array_equal(v.partition.labels, expect.labels)
    v.sectors.value = ""
    assert v.partition.n_roi == 1 and v.partition.phi_edges is None
    kept = v.partition
    v.rings.value = "0.001, abc"
    assert "not a list of numbers" in v.message.value and v.partition is kept
    v.rings.value = "0.5, 0.6"
    assert "no pixel" in v.message.value and v.partition is kept


def test_input_checks_and_geometry_from_attrs():
    part, frames = _setup()
    with pytest.raises(ValueError, match="differs from the image"):
        QMapView(np.ones((10, 10)), part)
    with pytest.raises(TypeError, match="Partition"):
        QMapView(frames[0], part.labels)
    v = QMapView(frames[0], part)
    with pytest.raises(PartitionError, match="no Geometry"):
        v.set_qmap(q_edges=[0.0002, 0.0004])
    with pytest.raises(ValueError, match=r"\[0, 6\]"):
        v.select(7)
    attrs = {"distance": 5.0, "pixel_size": 75e-6, "wavelength": 1.24, "beam_center": [30, 20]}
    assert geometry_from_attrs(attrs, (48, 64)).beam_center == (30.0, 20.0)
    assert geometry_from_attrs({"distance": 5.0}, (48, 64)) is None
    codes, lo, hi = log_codes(np.array([[0.0, 1.0], [10.0, 100.0]]))
    assert codes[0] == 0 and codes[-1] == 255 and hi > lo


def test_twotime_curve_is_the_lag_average_of_the_roi_c2():
    from xpcsnb.widgets.cuts import g2_svg, lag_average

    part, frames = _setup()
    t = 0.1 * np.arange(8)
    c2 = 1 + 0.1 * np.exp(-np.abs(t[:, None] - t[None, :]))[None] * np.arange(1, part.n_roi + 1)[:, None, None]
    tt = xr.DataArray(c2, dims=("roi", "t1", "t2"), coords={"roi": np.arange(1, part.n_roi + 1), "t1": t, "t2": t})
    v = QMapView(frames[0], part, twotime=tt)
    v.select(2)
    assert "lag-averaged C2 — ROI 2" in v.curves.value
    tau, g = lag_average(c2[1], t)
    assert g2_svg(tau, g, title="lag-averaged C2 — ROI 2") in v.curves.value  # drawn from ROI 2's own map
    with pytest.raises(ValueError, match=r"dims \(roi, t1, t2\)"):
        QMapView(frames[0], part, twotime=tt.isel(roi=0))
