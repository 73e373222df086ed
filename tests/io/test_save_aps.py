"""save_aps writes the APS 8-ID-I NeXus layout; open_aps / open_g2 / open_twotime read it back."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from xpcsnb.core.twotime import time_step

from xpcsnb.core.g2 import g2 as make_g2
from xpcsnb.core.partition import Geometry, from_labels, partition
from xpcsnb.core.twotime import concat_q, twotime
from xpcsnb.io import open_aps, open_g2, open_twotime, save_aps
from xpcsnb.io.aps8idi.paths import PATHS, write_path

SHAPE = (12, 10)
Q = np.array([0.002, 0.002, 0.004, 0.004, 0.006, 0.006])
PHI = np.array([0.0, 90.0, 0.0, 90.0, 0.0, 90.0])


def _part():
    labels = (np.arange(SHAPE[0] * SHAPE[1]) % 7).reshape(SHAPE)
    return from_labels(labels, Q, PHI)


def _g2():
    tau = np.array([1, 2, 3, 4, 6, 8]) * 1e-3
    v = 1.0 + 0.3 * np.exp(-np.outer(np.arange(1, 7), tau) * 100.0)
    return make_g2(v, tau=tau, q=Q, phi=PHI, g2_err=0.01 * v, roi=np.arange(1, 7), attrs={"frame_time": 1e-3})


def _c2(n, level):
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return level + 0.2 * np.exp(-lag / 5.0) + 0.001 * np.add.outer(np.arange(n), np.arange(n))


def _tt(q=0.004, n=20, dt=2e-3, level=1.0):
    return twotime(np.stack([_c2(n, level), _c2(n, level + 0.01)]), phi=[0.0, 90.0], q=q, dt=dt)


META = {"energy": 10.0, "distance": 5.0, "pixel_size": 75e-6, "beam_center": (5.0, 6.0), "count_time": 1e-3,
        "start_time": "2026-12-02T12:00:00"}


@pytest.fixture
def written(tmp_path):
    rng = np.random.default_rng(1)
    p = save_aps(tmp_path / "A_results.hdf", g2=_g2(), twotime=_tt(), partition=_part(),
                 saxs_2d=rng.random(SHAPE), intensity=np.arange(50.0), meta=META)
    return p


def test_round_trip_g2(written):
    src, back = _g2(), open_g2(written)
    np.testing.assert_array_equal(back["g2"].values, src["g2"].values)
    np.testing.assert_array_equal(back["g2_err"].values, src["g2_err"].values)
    np.testing.assert_allclose(back["tau"].values, src["tau"].values, rtol=1e-14)
    np.testing.assert_array_equal(back["q"].values, Q)
    np.testing.assert_array_equal(back["phi"].values, PHI)
    np.testing.assert_array_equal(back["roi"].values, src["roi"].values)


def test_round_trip_twotime(written):
    src = _tt()
    back = open_twotime(written, q=0.004, diagonal="raw")
    np.testing.assert_array_equal(back["c2"].values, src["c2"].values)
    np.testing.assert_array_equal(back["phi"].values, src["phi"].values)
    assert time_step(back) == pytest.approx(2e-3, rel=1e-15) and back.attrs["q"] == 0.004
    assert back["bin"].values.tolist() == [3, 4]
    corrected = open_twotime(written, q=0.004)  # the neighbour-mean diagonal depends on off-diagonals only
    np.testing.assert_allclose(np.diagonal(corrected["c2"].values[0]), np.diagonal(src["c2"].values[0]), rtol=0.05)


def test_round_trip_open_aps(written):
    ds = open_aps(written)
    assert ds.attrs["layout"] == "nexus"
    assert ds.attrs["energy"] == 10.0 and ds.attrs["distance"] == 5.0 and ds.attrs["pixel_size_x"] == 75e-6
    assert ds.attrs["beam_center_x"] == 5.0 and ds.attrs["beam_center_y"] == 6.0
    assert ds.attrs["start_time"] == "2026-12-02T12:00:00" and ds.attrs["count_time"] == 1e-3
    np.testing.assert_array_equal(ds["roi_dynamic"].values, _part().labels)
    np.testing.assert_array_equal(ds["I_t"].values, np.arange(50.0))
    np.testing.assert_array_equal(ds["c2"].sel(c2_bin=4).values, _tt()["c2"].values[1])
    img = np.random.default_rng(1).random(SHAPE)
    np.testing.assert_array_equal(ds["saxs_2d"].values, img)
    lab = _part().labels
    np.testing.assert_allclose(ds["saxs_1d"].values, [img[lab == k].mean() for k in range(1, 7)])


def test_every_array_has_fletcher32_and_paths_come_from_the_table(written):
    table = {s.path for sources in PATHS.values() for s in sources}
    seen = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            seen.append(name)
            if obj.shape != ():
                assert obj.fletcher32, name
            parent = "/" + name.rsplit("/", 1)[0]
            assert "/" + name in table or parent in table, name
    with h5py.File(written, "r") as f:
        f.visititems(visit)
    assert len(seen) > 20


def test_multi_q_twotime_and_c2_order(tmp_path):
    mq = concat_q([_tt(q=0.006, level=1.2), _tt(q=0.002, level=1.1)])
    p = save_aps(tmp_path / "M_results.hdf", twotime=mq, partition=_part(), meta=META)
    with h5py.File(p, "r") as f:
        assert f[write_path("processed_bins")][()].tolist() == [1, 2, 5, 6]
        assert sorted(f[write_path("c2_group")]) == ["c2_00001", "c2_00002", "c2_00003", "c2_00004"]
        assert f[write_path("c2_g2")].shape == (20, 4) and f[write_path("c2_g2_segments")].shape == (4, 5, 4)
    for q, level in ((0.006, 1.2), (0.002, 1.1)):
        back = open_twotime(p, q=q, diagonal="raw")
        np.testing.assert_array_equal(back["c2"].values, _tt(q=q, level=level)["c2"].values)


def test_partition_from_edges_puts_sectors_on_rings(tmp_path):
    geo = Geometry(shape=(40, 40), beam_center=(20.0, 20.0), distance=5.0, pixel_size=75e-6, energy=10.0)
    part = partition(geo.q_map(), np.linspace(2e-4, 2.2e-3, 4), phi_map=geo.phi_map(),
                     phi_edges=[-180.0, 0.0, 180.0])
    tau = np.array([1.0, 2.0, 4.0]) * 1e-3
    g2 = make_g2(np.ones((part.n_roi, 3)) * 1.1, tau=tau, q=part.q, phi=part.phi, roi=np.arange(1, part.n_roi + 1))
    p = save_aps(tmp_path / "P_results.hdf", g2=g2, partition=part, meta={"geometry": geo})
    ds = open_aps(p)
    np.testing.assert_array_equal(ds["g2"].values, g2["g2"].values)
    assert ds.sizes["roi"] == part.n_roi
    assert np.unique(ds["q"].values).size == 3  # one q per ring, two sectors each
    np.testing.assert_allclose(ds["q"].values, part.q, rtol=0.02)
    assert ds.attrs["energy"] == pytest.approx(10.0)


def test_never_overwrites_unasked_and_leaves_no_temporary(written):
    before = written.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_aps(written, g2=_g2(), partition=_part())
    assert written.read_bytes() == before
    save_aps(written, g2=_g2(), partition=_part(), overwrite=True)
    assert open_aps(written).sizes["roi"] == 6 and "c2" not in open_aps(written)
    assert [n for n in os.listdir(written.parent) if n.startswith(".")] == []


def test_failed_write_keeps_the_old_file(written, monkeypatch):
    """The disk fills up when the first two-time matrix is written (the metadata, q map and g2
    already are): the old file stays, no temporary is left."""
    import h5py

    before = written.read_bytes()
    create = h5py.Group.create_dataset

    def boom(self, name, *a, **k):
        if "/c2_" in str(name):
            raise RuntimeError("disk full")
        return create(self, name, *a, **k)
    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        save_aps(written, twotime=_tt(), partition=_part(), overwrite=True)
    assert written.read_bytes() == before
    assert [n for n in os.listdir(written.parent) if n.startswith(".")] == []


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({}, ValueError, "nothing to write"),
    ({"g2": _g2(), "meta": {"energie": 1.0}}, ValueError, r"unknown meta key\(s\) \['energie'\]"),
    ({"g2": _g2(), "meta": {"energy": -1.0}}, ValueError, "meta\\['energy'\\] must be a finite number > 0"),
    ({"g2": _g2(), "meta": {"energy": "ten"}}, ValueError, "meta\\['energy'\\] must be a finite number > 0"),
    ({"g2": _g2(), "meta": {"beam_center": 5.0}}, ValueError, r"meta\['beam_center'\] must be \(x, y\) in pixels"),
    ({"g2": _g2(), "meta": {"start_time": 2026}}, TypeError, "meta\\['start_time'\\] must be text"),
    ({"partition": np.zeros(SHAPE)}, TypeError, "partition must be an xpcsnb Partition"),
    ({"twotime": _tt(q=0.005), "partition": _part()}, ValueError, "no bin of the q-map lies at"),
    ({"twotime": _tt(dt=2.5e-3), "partition": _part(), "meta": {"frame_time": 1e-3}}, ValueError,
     "not a whole number of frame times"),
    ({"g2": _g2(), "partition": from_labels(np.arange(4).reshape(2, 2), [0.1, 0.2, 0.3])}, ValueError,
     "g2 has 6 ROIs but the q-map has 3 bins"),
    ({"g2": _g2().assign_coords(roi=np.arange(6)), "partition": _part()}, ValueError,
     r"g2 roi labels \[0, 1, 2, 3, 4, 5\] are not the partition's labels 1 … 6"),
    ({"g2": _g2(), "partition": from_labels(_part().labels, Q[::-1], PHI)}, ValueError,
     "g2 ROI 1 has q = 0.002, but its q-map bin is at q = 0.006"),
    ({"g2": _g2(), "partition": from_labels(_part().labels, Q, PHI[::-1] + 0.0)}, ValueError,
     "g2 ROI 1 has phi = 0, but its q-map bin is at phi = 90"),
])
def test_bad_input_is_named(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        save_aps(tmp_path / "x_results.hdf", **kwargs)
    assert not (tmp_path / "x_results.hdf").exists()


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_aps(tmp_path / "nope" / "x.hdf", g2=_g2())
