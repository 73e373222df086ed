"""Files xpcsnb writes carry HDF5 Fletcher-32 checksums: corrupted bytes are reported, not returned."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import xarray as xr

from xpcsnb.io.results import load_result, save_result


def _result() -> xr.Dataset:
    return xr.Dataset(
        {"c2_nlsq_coefficients": (("param",), np.array([1e4, 0.1, 0.0])),
         "c2_nlsq_success": ((), True),
         "c2_nlsq_message": ((), "converged"),
         "when": (("param",), np.arange(3).astype("datetime64[s]").astype("datetime64[ns]"))},
        coords={"param": ["D0", "alpha", "D_offset"], "phi": ("phi", [0.0, 45.0])},
    )


def test_saved_result_has_fletcher32_on_every_array_and_round_trips(tmp_path):
    ds = _result()
    path = save_result(ds, tmp_path / "fit.nc", kind="nlsq")
    with h5py.File(path) as f:
        numeric = [k for k in ("c2_nlsq_coefficients", "phi", "when") if k in f]
        assert numeric == ["c2_nlsq_coefficients", "phi", "when"]
        assert all(f[k].fletcher32 for k in numeric)
    back = load_result(path, kind="nlsq")
    xr.testing.assert_identical(back.drop_attrs(), ds)
    # a loaded result saves again (its read-back encoding does not clash with the filter)
    with h5py.File(save_result(back, tmp_path / "again.nc", kind="nlsq")) as f:
        assert f["c2_nlsq_coefficients"].fletcher32


def test_saved_tree_has_fletcher32_in_every_group(tmp_path):
    tree = xr.DataTree.from_dict({"/": _result(), "/shard_0/posterior": xr.Dataset({"D0": (("draw",), np.ones(4))})})
    path = save_result(tree, tmp_path / "cmc.nc", kind="cmc")
    with h5py.File(path) as f:
        assert f["shard_0/posterior/D0"].fletcher32 and f["c2_nlsq_coefficients"].fletcher32
    assert float(load_result(path, kind="cmc", tree=True)["shard_0/posterior/D0"].sum()) == 4.0


def test_flipped_bit_in_a_saved_result_is_an_error_naming_the_file(tmp_path):
    path = save_result(xr.Dataset({"g2": (("tau",), np.linspace(1.3, 1.0, 64))}), tmp_path / "g2.nc", kind="g2")
    with h5py.File(path) as f:
        info = f["g2"].id.get_chunk_info(0)
    raw = bytearray(path.read_bytes())
    raw[info.byte_offset + 17] ^= 0x01  # one bit of one stored number
    path.write_bytes(bytes(raw))
    with pytest.raises(OSError, match=r"g2\.nc.*corrupt.*Fletcher-32"):
        load_result(path, kind="g2")
