"""A fit that is statistically unacceptable for the given sigma is flagged in its message."""

from __future__ import annotations

import pytest

from xpcsnb.fit.nlsq import fit_nlsq

FIXED: dict[str, float] = {}  # every physics parameter free


def _small(ds):
    return ds.isel(t1=slice(0, 24), t2=slice(0, 24))


def test_sigma_100_times_too_small_is_flagged(static_set):
    ds = _small(static_set)
    res = fit_nlsq(ds.assign(sigma=ds["sigma"] / 100), "static", fixed=FIXED)
    msg = str(res["c2_nlsq_message"].values)
    assert float(res["c2_nlsq_chi2_red"]) > 1e3
    assert "poor fit: chi2_red" in msg and "sigma is too small" in msg


def test_static_model_on_laminar_flow_data_is_flagged(laminar_set):
    res = fit_nlsq(_small(laminar_set), "static", fixed=FIXED)
    assert "poor fit: chi2_red" in str(res["c2_nlsq_message"].values)


@pytest.mark.parametrize("drop_sigma", [False, True], ids=["right sigma", "no sigma (chi2_red is the noise)"])
def test_right_model_and_sigma_is_not_flagged(static_set, drop_sigma):
    ds = _small(static_set)
    res = fit_nlsq(ds.drop_vars("sigma") if drop_sigma else ds, "static", fixed=FIXED)
    assert bool(res["c2_nlsq_success"]) and "poor fit" not in str(res["c2_nlsq_message"].values)


def test_a_wrongly_fixed_parameter_is_flagged(static_set, truths):
    assert truths["static"]["alpha"] != 0.0
    res = fit_nlsq(_small(static_set), "static", fixed={"alpha": 0.0})
    assert "poor fit: chi2_red" in str(res["c2_nlsq_message"].values)
