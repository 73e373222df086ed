"""The two-time data model on multi-q Datasets (3 q × 3 φ) and its one time axis (the coordinates)."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core.errors import TwoTimeError
from xpcsnb.core.twotime import concat_q, q_value, time_step, twotime, validate_twotime

DT = 0.25  # the step of the conftest sets


def test_one_q_of_a_multi_q_dataset_is_a_valid_single_q_dataset(multiq_set):
    for a, q in enumerate(multiq_set["q"].values):
        one = multiq_set.isel(q=a)
        assert validate_twotime(one) is one
        assert q_value(one) == q and one["c2"].dims == ("phi", "t1", "t2") and one.sizes["phi"] == 3
    with pytest.raises(TwoTimeError, match=r"holds 3 q values: select one"):
        q_value(multiq_set)


def test_concat_q_rebuilds_it_and_plain_xr_concat_is_refused_with_the_way_out(multiq_set):
    back = concat_q([multiq_set.isel(q=a) for a in range(3)])
    xr.testing.assert_identical(back.drop_attrs(), multiq_set.drop_attrs())
    singles = [multiq_set.isel(q=a).drop_vars("q").assign_attrs(q=float(multiq_set.q[a])) for a in range(3)]
    with pytest.raises(TwoTimeError, match=r"concat_q"):
        validate_twotime(xr.concat(singles, dim="q"))


@pytest.mark.parametrize("avg", ["coarsen", "stride"])
def test_frame_averaging_keeps_a_valid_dataset_with_the_new_step(multiq_set, avg):
    """The coordinates are the one source of truth: no stored dt can disagree with them."""
    ds = multiq_set.assign_attrs(dt=DT)  # a stale attribute (as older versions wrote) is never read
    if avg == "coarsen":
        out = ds.coarsen(t1=2, t2=2).mean()
        t_first = multiq_set.t1.values[0] + DT / 2  # the mean time of the first pair of frames
    else:
        out = ds.isel(t1=slice(None, None, 2), t2=slice(None, None, 2))
        t_first = multiq_set.t1.values[0]
    assert validate_twotime(out) is out
    assert time_step(out) == pytest.approx(2 * DT, rel=1e-12) and out.sizes["t1"] == 15
    assert out.t1.values[0] == pytest.approx(t_first)
    one = out.isel(q=1)
    assert validate_twotime(one) is one and time_step(one) == pytest.approx(2 * DT)


def test_time_step_reads_the_coordinates_only(multiq_set):
    assert time_step(multiq_set) == pytest.approx(DT, rel=1e-12)
    assert "dt" not in multiq_set.attrs  # twotime() stores no second copy of the step
    shifted = twotime(multiq_set.c2.values, 100.0 + multiq_set.t1.values, multiq_set.phi.values,
                      multiq_set.q.values.tolist())
    assert time_step(shifted) == pytest.approx(DT) and shifted.t1.values[0] == 100.0
    assert time_step(multiq_set.c2) == pytest.approx(DT)  # a DataArray too
    with pytest.raises(TwoTimeError, match="t1 and t2 coordinates must be identical"):
        time_step(multiq_set.isel(t1=slice(None, None, 2), t2=slice(0, 15)))
    with pytest.raises(TwoTimeError, match="no t1 coordinate"):
        time_step(multiq_set.drop_vars(["t1", "t2"]))
    with pytest.raises(TwoTimeError, match="t1 must be uniform"):
        time_step(multiq_set.isel(t1=[0, 1, 3], t2=[0, 1, 3]))
    with pytest.raises(TwoTimeError, match="needs an xarray"):
        time_step(multiq_set.t1.values)


def test_a_dt_attribute_is_refused_by_the_constructor(multiq_set):
    with pytest.raises(TwoTimeError, match=r"attrs\['dt'\] = 0.25 is not stored.*time_step"):
        twotime(multiq_set.c2.values[0], dt=DT, phi=multiq_set.phi.values, q=0.005, attrs={"dt": DT})
    with pytest.raises(TwoTimeError, match="disagrees with the step of t"):
        twotime(multiq_set.c2.values[0], multiq_set.t1.values, multiq_set.phi.values, 0.005, dt=2 * DT)
