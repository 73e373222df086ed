"""Bad priors: improper or with no mass inside the bounds → ValueError naming parameter, prior and bounds."""

from __future__ import annotations

import numpy as np
import pytest

from xpcsnb.fit.priors import check_prior, prior_distribution, resolve_priors
from xpcsnb.models.parameters import Prior

NAMES = ["D0", "alpha", "D_offset", "contrast", "offset"]
LOWER = [1e2, -2.0, -1e3, 0.0, 0.5]
UPPER = [1e5, 2.0, 1e3, 1.0, 1.5]

BAD = [
    # (description, parameter, prior, match)
    ("normal far above the bounds", "D0", Prior("normal", 1e7, 1e4),
     r"'D0'.*normal\(loc=10000000.0.*\[100, 100000\].*no mass"),
    ("truncated normal far below the bounds", "D0", Prior("truncated_normal", -1e6, 10.0), r"'D0'.*no mass inside"),
    ("lognormal centred at e^30", "D0", Prior("lognormal", 30.0, 1.0), r"'D0'.*lognormal.*no mass"),
    ("halfnormal with a tiny scale above 0", "contrast", Prior("halfnormal", 0.0, 1e-6), None),
    ("normal with an infinite scale (improper)", "D0", Prior("normal", 1e4, np.inf), r"'D0'.*improper"),
    ("normal with a NaN location (improper)", "alpha", Prior("normal", np.nan, 1.0), r"'alpha'.*improper"),
    ("beta_scaled with concentration a = 0", "offset", Prior("beta_scaled", 0.0, 2.0),
     r"'offset'.*Beta concentrations"),
]


@pytest.mark.parametrize("description, name, prior, match", BAD, ids=[b[0] for b in BAD])
def test_bad_prior_is_refused_by_name(description, name, prior, match):
    if name == "contrast":  # halfnormal needs lower >= 0: bounds [0.2, 1] lie 2e5 sd above 0
        lower, upper = [0.2 if n == "contrast" else v for n, v in zip(NAMES, LOWER)], UPPER
    else:
        lower, upper = LOWER, UPPER
    with pytest.raises(ValueError, match=match or rf"'{name}'.*no mass inside the bounds.*centre the prior") as err:
        resolve_priors("static", NAMES, lower, upper, priors={name: prior})
    assert "[" in str(err.value)  # the bounds are named


def test_prior_distribution_refuses_a_prior_outside_its_bounds():
    with pytest.raises(ValueError, match="no mass inside"):
        prior_distribution(Prior("normal", 50.0, 1.0), 0.0, 1.0)


GOOD = [
    ("normal centred inside", Prior("normal", 1e4, 1e3), 1e2, 1e5),
    ("normal 4 sd outside (mass 3e-5)", Prior("normal", 0.0, 1.0), 4.0, 10.0),
    ("very wide normal over narrow bounds (flat there)", Prior("normal", 0.0, 1e12), 1e2, 1e3),
    ("uniform", Prior("uniform"), -1.0, 1.0),
    ("lognormal around 1e4", Prior("lognormal", np.log(1e4), 1.0), 1e2, 1e5),
    ("halfnormal", Prior("halfnormal", 0.0, 1.0), 0.0, 3.0),
    ("beta_scaled", Prior("beta_scaled", 2.0, 3.0), 0.0, 1.0),
]


@pytest.mark.parametrize("description, prior, lower, upper", GOOD, ids=[g[0] for g in GOOD])
def test_legitimate_prior_is_accepted(description, prior, lower, upper):
    check_prior("x", prior, lower, upper)
    d = prior_distribution(prior, lower, upper)
    mid = 0.5 * (lower + upper)
    assert np.isfinite(float(d.log_prob(mid)))
