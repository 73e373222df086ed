"""The one-time g2 schema: construction, round trips, the valid-point rule, and a bad-input table."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core import G2Error, XpcsError, g2, valid_points, validate_g2

TAU = np.geomspace(1e-3, 1.0, 12)


def _curves(n_roi=3):
    return 1.0 + 0.3 * np.exp(-2 * np.outer(np.arange(1, n_roi + 1), TAU) * 5.0)


def test_schema_dims_coords_and_units():
    err = np.full((3, TAU.size), 0.01)
    ds = g2(_curves(), tau=TAU, q=[0.01, 0.02, 0.03], g2_err=err, phi=[0.0, 45.0, 90.0], attrs={"source": "x"})
    assert ds["g2"].dims == ("roi", "tau") and ds["g2_err"].dims == ("roi", "tau")
    assert ds["roi"].values.tolist() == [0, 1, 2]
    assert ds["q"].dims == ("roi",) and ds["phi"].dims == ("roi",)
    for name, unit in {"g2": "1", "g2_err": "1", "tau": "s", "roi": "1", "q": "1/Å", "phi": "deg"}.items():
        assert ds[name].attrs["units"] == unit
    assert ds.attrs["source"] == "x"
    assert validate_g2(ds) is ds


def test_single_curve_is_one_roi_and_optional_parts_stay_absent():
    ds = g2(_curves(1)[0], tau=TAU, q=0.02)
    assert ds["g2"].shape == (1, TAU.size)
    assert float(ds["q"][0]) == 0.02
    assert "phi" not in ds and "g2_err" not in ds and "t_age" not in ds
    one_err = g2(_curves(1)[0], tau=TAU, g2_err=np.full(TAU.size, 0.1))
    assert one_err["g2_err"].shape == (1, TAU.size)


def test_roi_labels_and_age():
    ds = g2(_curves(2), tau=TAU, roi=[4, 7], t_age=12.5)
    assert ds["roi"].values.tolist() == [4, 7]
    assert float(ds["t_age"]) == 12.5 and ds["t_age"].attrs["units"] == "s"
    aged = g2(np.stack([_curves(2)] * 3), tau=TAU, t_age=[1.0, 2.0, 3.0])
    assert aged["g2"].dims == ("t_age", "roi", "tau")
    validate_g2(aged)


def test_netcdf_round_trip_validates(tmp_path):
    ds = g2(_curves(), tau=TAU, q=[0.01, 0.02, 0.03], g2_err=np.full((3, TAU.size), 0.01))
    ds.to_netcdf(tmp_path / "g2.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "g2.nc", engine="h5netcdf")
    validate_g2(back)
    xr.testing.assert_identical(back, ds)


def test_valid_points_excludes_nan_and_nonpositive_errors():
    v = _curves(2)
    e = np.full(v.shape, 0.01)
    v[0, 3] = np.nan
    e[1, 5] = 0.0  # APS files: no data
    e[1, 6] = np.inf
    ds = g2(v, tau=TAU, g2_err=e)  # allowed in the Dataset
    mask, n_excluded = valid_points(ds)
    assert n_excluded == 3
    assert mask.dims == ("roi", "tau") and mask.dtype == bool
    assert not mask.values[0, 3] and not mask.values[1, 5] and not mask.values[1, 6]
    assert (~mask).sum("tau").values.tolist() == [1, 2]
    assert valid_points(g2(_curves(2), tau=TAU)).n_excluded == 0


GOOD = dict(tau=TAU)
BAD_INPUTS = [
    # (values, keyword arguments, expected message)
    (_curves(2)[..., :-1], GOOD, "tau has 12 value"),
    (np.ones((2, 2, TAU.size)), GOOD, "3-D needs t_age"),
    (np.ones((2, 2, 2, TAU.size)), dict(tau=TAU, t_age=[1.0, 2.0]), "must be 3-D"),
    (_curves(2), dict(tau=TAU[::-1]), "strictly increasing"),
    (_curves(2), dict(tau=np.r_[TAU[:3], TAU[2], TAU[4:]]), "strictly increasing"),
    (_curves(2), dict(tau=np.r_[0.0, TAU[1:]]), r"tau must be > 0"),
    (_curves(2), dict(tau=-TAU[::-1]), r"tau must be > 0"),
    (_curves(2), dict(tau=np.r_[TAU[:-1], np.nan]), "non-finite"),
    (_curves(2), dict(tau=TAU[None]), "one-dimensional"),
    (_curves(2), dict(tau=TAU, q=[0.01, 0.0]), r"q must be > 0"),
    (_curves(2), dict(tau=TAU, q=[0.01, -0.02]), r"q must be > 0"),
    (_curves(2), dict(tau=TAU, q=[0.01, np.nan]), "pass q=None"),
    (_curves(2), dict(tau=TAU, q=[0.01, 0.02, 0.03]), "one value per ROI"),
    (_curves(2), dict(tau=TAU, q=0.01), "one value per ROI"),
    (_curves(2), dict(tau=TAU, phi=[0.0]), "one value per ROI"),
    (_curves(2), dict(tau=TAU, g2_err=-np.ones((2, TAU.size))), "must not be negative"),
    (_curves(2), dict(tau=TAU, g2_err=np.ones((2, 3))), "g2_err has shape"),
    (_curves(2) + 0j, GOOD, "must be real"),
    (np.array([["a"] * TAU.size] * 2), GOOD, "numeric"),
    (_curves(2) > 1, GOOD, "numeric"),
    (_curves(2), dict(tau=TAU, roi=[1, 1]), "distinct"),
    (_curves(2), dict(tau=TAU, roi=[0.5, 1.5]), "integer"),
    (np.ones((2, 0)), dict(tau=np.array([])), "empty"),
    (_curves(2), dict(tau=TAU, t_age=np.nan), "t_age must be finite"),
]


@pytest.mark.parametrize("values, kwargs, message", BAD_INPUTS)
def test_bad_input_table(values, kwargs, message):
    with pytest.raises(G2Error, match=message) as info:
        g2(values, **kwargs)
    assert isinstance(info.value, XpcsError) and isinstance(info.value, ValueError)


def test_validate_rejects_hand_made_datasets():
    ds = g2(_curves(2), tau=TAU, q=[0.01, 0.02])
    with pytest.raises(G2Error, match="expected an xarray.Dataset"):
        validate_g2(ds["g2"])
    with pytest.raises(G2Error, match="no 'g2'"):
        validate_g2(ds.rename(g2="c2"))
    with pytest.raises(G2Error, match="dims"):
        validate_g2(ds.transpose("tau", "roi"))
    with pytest.raises(G2Error, match="dims"):
        validate_g2(ds.rename(roi="bin"))
    ms = ds.assign_coords(tau=("tau", TAU * 1e3, {"units": "ms"}))
    with pytest.raises(G2Error, match="must be in 's'"):
        validate_g2(ms)
    with pytest.raises(G2Error, match="q must be > 0"):
        validate_g2(ds.assign_coords(q=("roi", [0.01, -1.0])))
    # extra variables are fine
    validate_g2(ds.assign(intensity=(("roi", "frame"), np.ones((2, 5)))))
