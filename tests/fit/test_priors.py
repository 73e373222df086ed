"""Priors of the CMC engine: registry defaults, every family truncated to the bounds, NLSQ seeding."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
import xarray as xr

from xpcsnb.fit.priors import (
    NLSQ_PRIOR_WIDTH,
    beta_concentrations,
    nlsq_prior,
    prior_distribution,
    resolve_priors,
)
from xpcsnb.models import Model, Parameter, registry
from xpcsnb.models.registry import PRIOR_KINDS, Prior
from xpcsnb.models.scaling import base_name


def _density(prior: Prior, lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    d = prior_distribution(prior, lo, hi)
    return np.exp(np.asarray(d.log_prob(jnp.asarray(x))))


def _reference_density(prior: Prior, lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """The same truncated densities written with scipy.stats (independent implementation)."""
    if prior.kind in ("truncated_normal", "normal"):
        a, b = (lo - prior.loc) / prior.scale, (hi - prior.loc) / prior.scale
        return st.truncnorm.pdf(x, a, b, loc=prior.loc, scale=prior.scale)
    if prior.kind == "uniform":
        return st.uniform.pdf(x, lo, hi - lo)
    if prior.kind == "halfnormal":
        base = st.halfnorm(scale=prior.scale)
        return base.pdf(x) / (base.cdf(hi) - base.cdf(lo))
    if prior.kind == "lognormal":
        base = st.lognorm(s=prior.scale, scale=np.exp(prior.loc))
        return base.pdf(x) / (base.cdf(hi) - base.cdf(lo))
    return st.beta.pdf((x - lo) / (hi - lo), prior.loc, prior.scale) / (hi - lo)


CASES = [
    (Prior("truncated_normal", 0.3, 0.5), -1.0, 2.0),
    (Prior("normal", 5.0, 2.0), 0.0, 4.0),
    (Prior("uniform", 0.0, 1.0), -2.0, 3.0),
    (Prior("halfnormal", 0.0, 1.5), 0.5, 4.0),
    (Prior("lognormal", np.log(1000.0), 0.8), 100.0, 1e4),
    (Prior("beta_scaled", 2.0, 5.0), -10.0, 10.0),
]


@pytest.mark.parametrize(("prior", "lo", "hi"), CASES, ids=[c[0].kind for c in CASES])
def test_every_family_matches_scipy_and_is_normalised_on_the_bounds(prior, lo, hi):
    x = np.linspace(lo, hi, 20001)[1:-1]
    ours = _density(prior, lo, hi, x)
    ref = _reference_density(prior, lo, hi, x)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-12)
    assert np.trapezoid(ours, x) == pytest.approx(1.0, abs=2e-3)


def test_all_registry_kinds_are_covered():
    assert {c[0].kind for c in CASES} == set(PRIOR_KINDS)


@pytest.mark.parametrize("kind", ["lognormal", "halfnormal"])
def test_positive_families_refuse_negative_bounds(kind):
    with pytest.raises(ValueError, match="lower >= 0"):
        prior_distribution(Prior(kind, 0.0, 1.0), -1.0, 1.0)


def test_bounds_are_validated():
    with pytest.raises(ValueError, match="lower < upper"):
        prior_distribution(Prior("uniform", 0.0, 1.0), 1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        prior_distribution(Prior("truncated_normal", 0.0, 1.0), -np.inf, 1.0)


def test_beta_concentrations_reproduce_mean_and_sd():
    a, b = beta_concentrations(2.0, 1.5, -1.0, 9.0)
    d = st.beta(a, b, loc=-1.0, scale=10.0)
    assert d.mean() == pytest.approx(2.0)
    assert d.std() == pytest.approx(1.5)
    with pytest.raises(ValueError, match="too large"):
        beta_concentrations(0.5, 0.6, 0.0, 1.0)
    with pytest.raises(ValueError, match="strictly inside"):
        beta_concentrations(1.0, 0.1, 0.0, 1.0)


def test_registry_defaults_are_mid_of_bounds_with_quarter_width():
    names = ["D0", "alpha", "D_offset", "contrast_0", "offset_0"]
    lo = [registry.get("static", base_name(n)).lower for n in names]
    hi = [registry.get("static", base_name(n)).upper for n in names]
    pri = resolve_priors("static", names, lo, hi)
    for n, a, b in zip(names, lo, hi):
        p = pri[n]
        assert p.source == "registry"
        assert p.prior.kind == "truncated_normal"
        assert p.prior.loc == pytest.approx(0.5 * (a + b))
        assert p.prior.scale == pytest.approx(0.25 * (b - a))
        assert (p.lower, p.upper) == (a, b)


def _fake_nlsq(values: dict[str, float], stderr: dict[str, float], model: str = "static",
               success: bool = True) -> xr.Dataset:
    names = list(values)
    return xr.Dataset(
        {
            "c2_nlsq_coefficients": ("param", [values[n] for n in names]),
            "c2_nlsq_stderr": ("param", [stderr[n] for n in names]),
            "c2_nlsq_vary": ("param", [True] * len(names)),
            "c2_nlsq_success": ((), success),
            "c2_nlsq_message": ((), "ok" if success else "did not converge"),
        },
        coords={"param": names},
        attrs={"model": model, "scaling": "individual"},
    )


def test_nlsq_seeds_centre_and_width_and_user_priors_win():
    names = ["D0", "alpha", "contrast_0", "contrast_1"]
    lo, hi = [100.0, -2.0, 0.0, 0.0], [1e5, 2.0, 1.0, 1.0]
    nlsq = _fake_nlsq({"D0": 1500.0, "alpha": 0.2, "contrast_0": 0.3, "contrast_1": 0.4},
                      {"D0": 20.0, "alpha": 0.01, "contrast_0": 0.002, "contrast_1": np.nan})
    user = {"contrast": Prior("uniform"), "alpha": Prior("normal", 0.0, 0.3)}
    pri = resolve_priors("static", names, lo, hi, nlsq=nlsq, priors=user)
    assert pri["D0"].source == "nlsq"
    assert pri["D0"].prior.loc == 1500.0
    assert pri["D0"].prior.scale == pytest.approx(NLSQ_PRIOR_WIDTH * 20.0)
    assert pri["alpha"].source == "user" and pri["alpha"].prior.kind == "normal"
    assert pri["contrast_0"].source == "user" and pri["contrast_0"].prior.kind == "uniform"
    # a per-angle override beats the registry-name one
    pri2 = resolve_priors("static", names, lo, hi, nlsq=nlsq,
                          priors={"contrast": Prior("uniform"), "contrast_1": Prior("truncated_normal", 0.4, 0.1)})
    assert pri2["contrast_0"].prior.kind == "uniform"
    assert pri2["contrast_1"].prior.loc == 0.4
    # a NaN stderr falls back to the registry prior
    pri3 = resolve_priors("static", names, lo, hi, nlsq=nlsq)
    assert pri3["contrast_1"].source == "registry"
    assert pri3["contrast_0"].source == "nlsq"


def test_nlsq_prior_clips_the_centre_and_validates():
    p = nlsq_prior(1.2, 0.1, 0.0, 1.0, width=2.0)
    assert (p.kind, p.loc, p.scale) == ("truncated_normal", 1.0, pytest.approx(0.2))
    with pytest.raises(ValueError, match="stderr"):
        nlsq_prior(0.5, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        nlsq_prior(np.nan, 0.1, 0.0, 1.0)


def test_bad_overrides_and_failed_nlsq_are_refused():
    names, lo, hi = ["D0"], [100.0], [1e5]
    with pytest.raises(ValueError, match="not a free parameter"):
        resolve_priors("static", names, lo, hi, priors={"beta": Prior("uniform")})
    with pytest.raises(TypeError, match="Prior"):
        resolve_priors("static", names, lo, hi, priors={"D0": ("normal", 1, 2)})
    with pytest.raises(ValueError, match="failed fit"):
        resolve_priors("static", names, lo, hi, nlsq=_fake_nlsq({"D0": 1.0}, {"D0": 1.0}, success=False))
    with pytest.raises(ValueError, match="NLSQ result"):
        resolve_priors("static", names, lo, hi, nlsq=xr.Dataset())
    with pytest.raises(ValueError, match="lower >= 0"):
        resolve_priors("static", ["D_offset"], [-1e5], [1e5], priors={"D_offset": Prior("lognormal", 0.0, 1.0)})


def test_a_model_object_gives_its_own_parameter_priors():
    """An unregistered Model's Parameter.prior is the default; contrast_<k> reads the shared scaling prior."""
    rate = Parameter("rate", "1/s", 0.0, 10.0, 1.0, "a rate", prior=Prior("lognormal", 0.0, 1.0))
    toy = Model(name="toy_priors", signal=lambda theta, grid, i=None, j=None, k=None: theta[0], parameters=(rate,))
    pri = resolve_priors(toy, ["rate", "contrast_0", "offset_q1_2"], [0.5, 0.0, 0.5], [5.0, 1.0, 1.5])
    assert pri["rate"].prior == Prior("lognormal", 0.0, 1.0) and pri["rate"].source == "registry"
    assert pri["contrast_0"].prior == registry.SCALING["contrast"].prior
    assert pri["offset_q1_2"].prior == registry.SCALING["offset"].prior
    assert (pri["rate"].lower, pri["rate"].upper) == (0.5, 5.0)
