"""Saves are atomic: a save that fails part-way leaves nothing under the target's name, and a
failed ``overwrite=True`` save keeps the earlier good result (io.results.save_result, used by
save_nlsq, save_cmc, xsvs.save_results and the demo)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xpcsnb.io.results import load_result, save_result


def _good() -> xr.Dataset:
    return xr.Dataset({"a": ("x", np.arange(4.0)), "b": ("x", np.ones(4))})


def _fails_part_way() -> xr.Dataset:
    # "a" is written first, then the object variable cannot be encoded: the write stops half-way
    return xr.Dataset({"a": ("x", np.arange(4.0)), "z": ("x", np.array([1, "two", 3.0, None], dtype=object))})


def test_save_failing_part_way_leaves_no_file(tmp_path):
    target = tmp_path / "fit.nc"
    with pytest.raises(Exception) as err:
        save_result(_fails_part_way(), target, kind="nlsq")
    assert not isinstance(err.value, FileExistsError)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_result(target, kind="nlsq")


def test_failed_overwrite_keeps_the_earlier_result(tmp_path):
    target = save_result(_good(), tmp_path / "fit.nc", kind="nlsq")
    before = target.read_bytes()
    with pytest.raises(Exception):
        save_result(_fails_part_way(), target, kind="nlsq", overwrite=True)
    assert target.read_bytes() == before
    xr.testing.assert_identical(load_result(target, kind="nlsq").drop_attrs(), _good())
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]


def test_next_save_removes_temporaries_of_a_killed_save(tmp_path):
    stale = tmp_path / ".fit.nc.abc123.xpcsnb-tmp"
    stale.write_bytes(b"\x89HDF\r\n" + b"\0" * 90)  # a 96-byte remnant of a killed write
    save_result(_good(), tmp_path / "fit.nc", kind="nlsq")
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]
