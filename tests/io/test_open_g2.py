"""open_g2: the multi-tau g2 of an APS result file in the core g2 schema (roi, tau)."""

from __future__ import annotations

import numpy as np
import pytest

from xpcsnb.core.g2 import validate_g2
from xpcsnb.io import ApsFileError, open_aps, open_g2


def test_open_g2_is_the_core_schema(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8))
    ds = open_g2(p)
    validate_g2(ds)
    nb = aps.MAPPING.size
    assert ds["g2"].dims == ("roi", "tau") and ds.sizes["roi"] == nb
    assert ds["roi"].values.tolist() == list(range(1, nb + 1))
    # bin b sits at flat grid cell MAPPING[b-1] of the 3 x 4 (q, phi) grid
    iq, iphi = np.divmod(aps.MAPPING, aps.PHI_GRID.size)
    np.testing.assert_array_equal(ds["q"].values, aps.Q_GRID[iq])
    np.testing.assert_array_equal(ds["phi"].values, aps.PHI_GRID[iphi])
    # tau = delay * t0 * stride * avg = delay * 1e-3 * 1 * 2 s
    np.testing.assert_allclose(ds["tau"].values, np.array([1, 2, 3, 4, 6, 8]) * 2e-3)
    delays = np.array([1, 2, 3, 4, 6, 8], float)
    expect = 1.0 + 0.3 * np.exp(-np.outer(delays, 1.0 + np.arange(nb)) / 10.0)
    np.testing.assert_array_equal(ds["g2"].values, expect.T)
    np.testing.assert_array_equal(ds["g2_err"].values, 0.01 * expect.T)
    assert {ds[n].attrs["units"] for n in ("g2", "g2_err")} == {"1"}
    assert ds["tau"].attrs["units"] == "s" and ds["q"].attrs["units"] == "1/Å"


def test_open_aps_g2_has_the_same_layout(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8))
    one, full = open_g2(p), open_aps(p)
    assert full["g2"].dims == ("roi", "tau")
    for name in ("g2", "g2_err", "tau", "q", "phi", "roi", "delay"):
        np.testing.assert_array_equal(one[name].values, full[name].values)


def test_open_g2_legacy(tmp_path, aps):
    p = aps.write_legacy(tmp_path / "L.hdf", c2=None)
    ds = open_g2(p)
    np.testing.assert_allclose(ds["tau"].values, np.arange(1, 6) * 2e-3 * 4)
    assert ds["g2"].dims == ("roi", "tau")


def test_open_g2_without_times_asks_for_dt(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", frame_time=None)
    with pytest.raises(ApsFileError, match="pass dt="):
        open_g2(p)
    ds = open_g2(p, dt=0.5)
    np.testing.assert_allclose(ds["tau"].values, ds["delay"].values * 0.5)
    assert ds.attrs["multitau_dt_source"] == "user"
    with pytest.raises(ValueError, match="dt must be"):
        open_g2(p, dt=-1.0)


def test_open_g2_zero_lag_is_named(tmp_path, aps):
    import h5py

    p = aps.write_nexus(tmp_path / "A_results.hdf")
    with h5py.File(p, "a") as f:
        d = f["/xpcs/multitau/delay_list"]
        d[0, 0] = 0.0
    with pytest.raises(ApsFileError, match="normalized_g2 is not a valid g2: .*tau must be > 0"):
        open_g2(p)


def test_open_g2_without_g2_says_so(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8), with_multitau=False)
    with pytest.raises(ApsFileError, match="holds no multi-tau g2"):
        open_g2(p)
