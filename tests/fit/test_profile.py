"""Issue 20: profile-likelihood intervals and the rate laws with their standard errors."""

import numpy as np
import pytest

from xpcsnb.core.errors import XpcsError
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.profile import conf_interval, rates
from xpcsnb.fit.result import correlation_matrix


@pytest.fixture(scope="module")
def static_fit(static_set):
    return fit_nlsq(static_set, "static")


def test_profile_interval_matches_stderr_where_the_fit_is_nearly_linear(static_fit, static_set):
    ci = conf_interval(static_fit, static_set, "D0", sigma=[1, 2])
    best = float(static_fit["c2_nlsq_coefficients"].sel(param="D0"))
    sd = float(static_fit["c2_nlsq_stderr"].sel(param="D0"))
    lo1, hi1 = ci.sel(param="D0", sigma=1).values
    lo2, hi2 = ci.sel(param="D0", sigma=2).values
    assert lo2 < lo1 < best < hi1 < hi2
    assert (hi1 - lo1) / 2 == pytest.approx(sd, rel=0.3)


def test_conf_interval_refuses_bad_names_and_levels(static_fit, static_set):
    with pytest.raises(XpcsError, match="free physics parameters"):
        conf_interval(static_fit, static_set, "contrast_0")
    with pytest.raises(XpcsError, match="sigma levels"):
        conf_interval(static_fit, static_set, "D0", sigma=[0])


def test_rates_cover_the_data_time_range_with_delta_method_errors(static_fit, static_set, truths):
    r = rates(static_fit)
    t = static_set["t1"].values
    assert r["t"].values[0] == pytest.approx(t[0]) and r["t"].values[-1] == pytest.approx(t[-1])
    tr = truths["static"]
    mid = r.isel(t=slice(20, 180))
    truth = tr["D0"] * mid["t"].values ** tr["alpha"] + tr["D_offset"]
    z = (mid["D"].values - truth) / mid["D_stderr"].values
    assert np.all(mid["D_stderr"].values > 0) and np.max(np.abs(z)) < 4


def test_correlation_matrix_is_unit_diagonal_and_in_the_report(static_fit):
    corr = correlation_matrix(static_fit)
    d = np.diag(corr.values)
    np.testing.assert_allclose(d[np.isfinite(d)], 1.0)
    assert "[[Correlations]]" in str(static_fit.xpcs.report())
