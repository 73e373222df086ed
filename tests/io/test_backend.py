"""xr.open_dataset(path, engine="xpcs")."""

import h5py
import numpy as np
import pytest
import xarray as xr

from xpcsnb.io.aps8idi import open_aps, open_twotime
from xpcsnb.io.backend import XpcsBackendEntrypoint


@pytest.fixture
def path(tmp_path, aps):
    return aps.write_nexus(tmp_path / "E_results.hdf", c2=aps.c2_set([2, 4, 5], 10))


def test_engine_registered():
    assert isinstance(xr.backends.list_engines()["xpcs"], XpcsBackendEntrypoint)


def test_whole_file(path):
    ds = xr.open_dataset(path, engine="xpcs")
    ref = open_aps(path)
    assert set(ds.variables) == set(ref.variables)
    xr.testing.assert_identical(ds.load(), ref.load())
    assert ds.attrs["layout"] == "nexus"


def test_twotime_with_q(path):
    ds = xr.open_dataset(path, engine="xpcs", q=0.004, start_frame=2)
    ref = open_twotime(path, q=0.004, start_frame=2)
    xr.testing.assert_identical(ds.load(), ref)
    assert ds.attrs["diagonal"] == "correct"
    raw = xr.open_dataset(path, engine="xpcs", q=0.004, start_frame=2, diagonal="raw")
    assert raw.attrs["diagonal"] == "raw"
    off = ~np.eye(raw.sizes["t1"], dtype=bool)
    np.testing.assert_array_equal(raw["c2"].values[:, off], ref["c2"].values[:, off])
    assert np.all(np.diagonal(raw["c2"].values, axis1=1, axis2=2) > np.diagonal(ref["c2"].values, axis1=1, axis2=2))


def test_drop_variables(path):
    ds = xr.open_dataset(path, engine="xpcs", drop_variables=["c2", "saxs_2d"])
    assert "c2" not in ds and "saxs_2d" not in ds and "g2" in ds


def test_twotime_options_need_q(path):
    with pytest.raises(ValueError, match="need q="):
        xr.open_dataset(path, engine="xpcs", dt=0.1)


def test_guess_can_open(tmp_path, path):
    be = XpcsBackendEntrypoint()
    assert be.guess_can_open(path)
    assert be.guess_can_open(str(path))
    other = tmp_path / "plain.h5"
    with h5py.File(other, "w") as f:
        f["data"] = 1
    assert not be.guess_can_open(other)
    txt = tmp_path / "notes.txt"
    txt.write_text("xpcs")
    assert not be.guess_can_open(txt)
    fake = tmp_path / "fake.hdf"
    fake.write_text("not hdf5")
    assert not be.guess_can_open(fake)
    assert not be.guess_can_open(tmp_path / "missing.hdf")


def test_file_objects_rejected(path):
    with open(path, "rb") as fh, pytest.raises(TypeError, match="by path"):
        XpcsBackendEntrypoint().open_dataset(fh)


def test_allow_external_is_passed_through(tmp_path, aps):
    """A C2 whose bytes live in a raw file outside the folder: refused unless allowed."""
    from xpcsnb.io.aps8idi import ApsFileError

    folder, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    p = aps.write_nexus(folder / "X_results.hdf", c2=aps.c2_set([2], 6))
    raw = elsewhere / "c2.bin"
    np.triu(np.full((6, 6), 3.0)).tofile(raw)
    with h5py.File(p, "a") as f:
        name = "/xpcs/twotime/correlation_map/c2_00001"
        del f[name]
        f.create_dataset(name, shape=(6, 6), dtype="<f8", external=[(str(raw), 0, 6 * 6 * 8)])
    with pytest.raises(ApsFileError, match="external raw file"):
        xr.open_dataset(p, engine="xpcs")
    ds = xr.open_dataset(p, engine="xpcs", allow_external=True)
    np.testing.assert_array_equal(ds.c2.values[0], np.full((6, 6), 3.0))
