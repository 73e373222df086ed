"""The two-time data model: construction, validation messages, NetCDF round trip."""

import numpy as np
import pytest
import xarray as xr

import xpcsnb
from xpcsnb.core.twotime import TwoTimeError, time_step, validate_twotime


def _c2(n_phi=2, n=6):
    rng = np.random.default_rng(0)
    a = 1 + 0.1 * rng.random((n_phi, n, n))
    return (a + np.swapaxes(a, 1, 2)) / 2


def test_constructs_labelled_dataset_with_units():
    ds = xpcsnb.twotime(_c2(), dt=0.5, phi=[0, 90], q=0.005, L=2e6, sigma=0.01 * np.ones((2, 6, 6)))
    assert ds["c2"].dims == ("phi", "t1", "t2")
    np.testing.assert_allclose(ds["t1"].values, 0.5 * np.arange(6))
    assert ds.attrs["q"] == 0.005 and time_step(ds) == 0.5 and ds.attrs["L"] == 2e6 and "dt" not in ds.attrs
    assert ds["t1"].attrs["units"] == "s" and ds["phi"].attrs["units"] == "deg"
    assert ds["c2"].attrs["units"] == "1" and ds["sigma"].attrs["units"] == "1"
    assert ds.attrs["q_units"] == "1/Å" and ds.attrs["L_units"] == "Å"


def test_2d_matrix_is_one_angle_and_t_gives_dt():
    ds = xpcsnb.twotime(_c2(1, 5)[0], t=1.0 + 0.2 * np.arange(5), q=0.01)
    assert ds.sizes == {"phi": 1, "t1": 5, "t2": 5}
    assert time_step(ds) == pytest.approx(0.2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(c2=np.ones(5)), "2-D .* or 3-D"),
        (dict(c2=np.ones((1, 4, 5))), "square"),
        (dict(c2=np.ones((2, 4, 4)), phi=[0.0]), "phi has 1 value"),
        (dict(c2=np.ones((2, 4, 4)), phi=[10.0, 10.0]), "duplicate angles"),
        (dict(c2=np.ones((1, 4, 4)), t=[0, 1, 2]), "t has shape"),
        (dict(c2=np.ones((1, 4, 4)), t=[0, 2, 1, 3]), "strictly increasing"),
        (dict(c2=np.ones((1, 4, 4)), t=[0, 1, 2, 4]), "uniform"),
        (dict(c2=np.ones((1, 4, 4)), dt=0.0), "dt must be finite and > 0"),
        (dict(c2=np.ones((1, 4, 4)), dt=-1.0), "dt must be finite and > 0"),
        (dict(c2=np.ones((1, 4, 4)), q=0.0), "q must be finite and > 0"),
        (dict(c2=np.ones((1, 4, 4)), q=-0.01), "q must be finite and > 0"),
        (dict(c2=np.ones((1, 4, 4)), L=0.0), "L must be finite and > 0"),
        (dict(c2=np.ones((1, 4, 4)), sigma=np.ones((1, 3, 3))), "sigma has shape"),
        (dict(c2=np.ones((1, 4, 4)), sigma=np.zeros((1, 4, 4))), "sigma must be > 0"),
        (dict(c2=np.ones((1, 4, 4)), t=[0, 1, 2, 3], dt=2.0), "disagrees"),
        (dict(c2=np.array([[["a"]]])), "numeric"),
    ],
)
def test_bad_input_gives_clear_error(kwargs, match):
    args = dict(phi=0.0, q=0.01, dt=1.0)
    args.update(kwargs)
    c2 = args.pop("c2")
    if "t" in args and "dt" not in kwargs:
        args.pop("dt")
    with pytest.raises(TwoTimeError, match=match):
        xpcsnb.twotime(c2, **args)


def test_nan_is_reported_with_count_and_position_never_filled():
    c2 = np.ones((2, 5, 5))
    c2[1, 2, 3] = np.nan
    c2[0, 0, 4] = np.inf
    with pytest.raises(TwoTimeError, match=r"2 non-finite .*\(phi=0, t1=0, t2=4\)"):
        xpcsnb.twotime(c2, dt=1.0, phi=[0, 1], q=0.01)


def test_missing_time_information():
    with pytest.raises(TwoTimeError, match="give the frame times"):
        xpcsnb.twotime(np.ones((1, 4, 4)), q=0.01)
    with pytest.raises(TwoTimeError, match="q .* is required"):
        xpcsnb.twotime(np.ones((1, 4, 4)), dt=1.0)


def test_multi_q_dataset():
    ds = xpcsnb.twotime(np.ones((3, 2, 4, 4)), dt=1.0, phi=[0, 90], q=[0.001, 0.002, 0.003])
    assert ds["c2"].dims == ("q", "phi", "t1", "t2")
    assert ds["q"].attrs["units"] == "1/Å"
    with pytest.raises(TwoTimeError, match="4-D"):
        xpcsnb.twotime(np.ones((2, 4, 4)), dt=1.0, phi=[0, 90], q=[0.001, 0.002])


def test_validate_rejects_hand_made_breakage():
    ds = xpcsnb.twotime(_c2(), dt=1.0, phi=[0, 90], q=0.01)
    bad = ds.copy(deep=True)
    bad["c2"][0, 1, 1] = np.nan
    with pytest.raises(TwoTimeError, match="non-finite"):
        validate_twotime(bad)
    with pytest.raises(TwoTimeError, match="no 'c2'"):
        validate_twotime(ds.rename({"c2": "g2"}))
    with pytest.raises(TwoTimeError, match="dims"):
        validate_twotime(ds.transpose("t1", "phi", "t2"))


def test_netcdf_round_trip_is_lossless(tmp_path):
    ds = xpcsnb.twotime(_c2(), dt=0.1, phi=[0, 90], q=0.0054, L=2e6, sigma=0.01 * _c2(), attrs={"note": "x"})
    path = tmp_path / "c2.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.open_dataset(path, engine="h5netcdf").load()
    xr.testing.assert_identical(ds, back)
    assert back["c2"].dtype == np.float64
    validate_twotime(back)
