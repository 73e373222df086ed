"""open_qmap: pySimpleMask /qmap files and the /xpcs/qmap group of result files → Partition."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from xpcsnb.core.partition import from_labels
from xpcsnb.io import ApsFileError, open_qmap, save_aps

SHAPE = (12, 10)
Q = np.array([0.002, 0.002, 0.004, 0.006])
PHI = np.array([0.0, 90.0, 0.0, 90.0])  # cell (0.004, 90) and (0.006, 0) are empty


def _part():
    return from_labels((np.arange(SHAPE[0] * SHAPE[1]) % 5).reshape(SHAPE), Q, PHI)


@pytest.fixture
def result_file(tmp_path):
    return save_aps(tmp_path / "A_results.hdf", partition=_part(),
                    meta={"energy": 10.0, "distance": 5.0, "pixel_size": 75e-6, "beam_center": (5.0, 6.5)})


@pytest.fixture
def qmap_file(tmp_path, result_file):
    """A pySimpleMask-style q-map file: the same group at /qmap."""
    p = tmp_path / "qmap.hdf"
    with h5py.File(result_file, "r") as src, h5py.File(p, "w") as dst:
        src.copy("/xpcs/qmap", dst, name="qmap")
    return p


@pytest.mark.parametrize("which", ["result_file", "qmap_file"])
def test_round_trip(request, which):
    path = request.getfixturevalue(which)
    part = open_qmap(path)
    src = _part()
    np.testing.assert_array_equal(part.labels, src.labels)
    np.testing.assert_array_equal(part.q, Q)
    np.testing.assert_array_equal(part.phi, PHI)
    assert part.attrs["qmap_group"] == ("/qmap" if which == "qmap_file" else "/xpcs/qmap")
    assert part.attrs["beam_center_y"] == 6.5 and part.attrs["energy"] == 10.0
    np.testing.assert_array_equal(part.attrs["q_grid"], [0.002, 0.004, 0.006])
    static = open_qmap(path, kind="static")
    np.testing.assert_array_equal(static.labels, src.labels)


def test_mask_removes_pixels(qmap_file):
    with h5py.File(qmap_file, "a") as f:
        m = f["/qmap/mask"][()]
        m[0, :] = 0
        f["/qmap/mask"][...] = m
    part = open_qmap(qmap_file)
    assert not part.labels[0].any() and part.labels[1].any()


@pytest.mark.parametrize(("edit", "match"), [
    (lambda f: f.move("/qmap", "/other"), "holds no q-map: no group /xpcs/qmap or /qmap"),
    (lambda f: f.__delitem__("/qmap/dynamic_roi_map"), r"qmap.hdf:/qmap/dynamic_roi_map is missing"),
    (lambda f: f.__delitem__("/qmap/dynamic_v_list_dim1"), r"/qmap/dynamic_v_list_dim1 is missing"),
    (lambda f: (f.__delitem__("/qmap/dynamic_index_mapping"),
                f.create_dataset("/qmap/dynamic_index_mapping", data=[0, 1, 2, 99])), "outside the 3 × 2 grid"),
    (lambda f: (f.__delitem__("/qmap/map_names"), f.create_dataset("/qmap/map_names", data=[b"x", b"y"])),
     r"only \(q, phi\) q-maps"),
])
def test_bad_qmap_is_named(qmap_file, edit, match):
    with h5py.File(qmap_file, "a") as f:
        edit(f)
    with pytest.raises(ApsFileError, match=match):
        open_qmap(qmap_file)


def test_link_outside_the_folder_is_refused(tmp_path, result_file):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    p = outside / "q.hdf"
    with h5py.File(p, "w") as f:
        f["qmap"] = h5py.ExternalLink(str(result_file), "/xpcs/qmap")
    with pytest.raises(ApsFileError, match="outside"):
        open_qmap(p)
    assert open_qmap(p, allow_external=True).n_roi == 4


def test_a_qmap_read_is_written_back_unchanged(tmp_path, qmap_file):
    part = open_qmap(qmap_file)
    again = save_aps(tmp_path / "B_results.hdf", partition=part)
    with h5py.File(qmap_file, "r") as a, h5py.File(again, "r") as b:
        for name in a["/qmap"]:
            np.testing.assert_array_equal(a["/qmap"][name][()], b["/xpcs/qmap"][name][()], err_msg=name)
        assert a["/qmap"].attrs["hash"] == b["/xpcs/qmap"].attrs["hash"]
