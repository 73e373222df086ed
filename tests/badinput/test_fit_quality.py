"""Fit quality (issue 19): with the data's sigma, a chi2_red far outside 1 ± 5·sqrt(2/ν) is flagged.

``c2_nlsq_success`` says whether the solver found a usable minimum; the separate
``c2_nlsq_fit_quality`` says whether the fit is statistically acceptable, and the message
explains a poor one. Read as a table: input → fit quality, words in the message.
"""

import numpy as np
import pytest

from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.quality import chi2_red_range, fit_quality


def _sigma_times(ds, factor):
    return ds.assign(sigma=ds["sigma"] * factor)


CASES = [
    # id,                       data set,       transform,                                model,          quality,        in message
    ("right model, right sigma", "static_set",  lambda ds: ds,                            "static",       "acceptable",   None),
    ("sigma 100x too small",     "static_set",  lambda ds: _sigma_times(ds, 0.01),       "static",       "poor",         "far above 1"),
    ("sigma 10x too large",      "static_set",  lambda ds: _sigma_times(ds, 10.0),       "static",       "poor",         "far below 1"),
    ("static model, sheared data", "laminar_set", lambda ds: ds,                          "static",       "poor",         "model does not describe"),
    ("no sigma",                 "static_set",  lambda ds: ds.drop_vars("sigma"),        "static",       "not assessed", None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_fit_quality_table(case, request):
    _, fixture, transform, model, quality, words = case
    res = fit_nlsq(transform(request.getfixturevalue(fixture)), model)
    assert str(res["c2_nlsq_fit_quality"].values) == quality
    message = str(res["c2_nlsq_message"].values)
    if words is None:
        assert "poor fit" not in message
    else:
        assert words in message and "chi2_red" in message
    assert "fit quality" in str(res.xpcs.report())


def test_range_is_five_sd_of_chi2_red():
    lo, hi = chi2_red_range(20000)
    assert hi - 1 == pytest.approx(5 * np.sqrt(2 / 20000)) and 1 - lo == pytest.approx(hi - 1)
    assert fit_quality(1e4, 20000, True)[0] == "poor"
    assert fit_quality(1.0, 20000, True) == ("acceptable", "")
    assert fit_quality(2.6, 20000, False) == ("not assessed", "")
