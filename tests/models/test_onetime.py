"""One-time g2 models: closed forms, limits, the ordered double exponential, data-driven starts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xpcsnb.models import onetime as ot

TAU = np.geomspace(1e-5, 10.0, 80)


def test_closed_forms_at_zero_and_infinite_lag():
    b, c, g = 1.02, 0.3, 50.0
    for f, extra in [(ot.single_exponential, ()), (ot.stretched_exponential, (0.7,)),
                     (ot.double_exponential, (200.0, 5.0, 0.4))]:
        args = (b, c, g)[: 3 if f is not ot.double_exponential else 2] + extra
        assert float(f(0.0, *args)) == pytest.approx(b + c, rel=1e-12)  # g2(0) = baseline + contrast
        assert float(f(1e6, *args)) == pytest.approx(b, rel=1e-12)  # g2(∞) = baseline
    # the single exponential at τ = 1/(2Γ) has decayed by e
    assert float(ot.single_exponential(1 / (2 * g), b, c, g)) == pytest.approx(b + c / np.e, rel=1e-12)


def test_stretch_one_and_fraction_one_are_the_single_exponential():
    single = np.asarray(ot.single_exponential(TAU, 1.0, 0.25, 30.0))
    np.testing.assert_allclose(ot.stretched_exponential(TAU, 1.0, 0.25, 30.0, 1.0), single, rtol=1e-12)
    # f = 1: [exp(−Γ₁τ)]² = exp(−2Γ₁τ), whatever Γ₂
    np.testing.assert_allclose(ot.double_exponential(TAU, 1.0, 0.25, 30.0, 0.1, 1.0), single, rtol=1e-12)
    np.testing.assert_allclose(ot.double_exponential(TAU, 1.0, 0.25, 7.0, 30.0, 0.0), single, rtol=1e-12)
    # equal rates: any fraction gives the single exponential
    np.testing.assert_allclose(ot.double_exponential(TAU, 1.0, 0.25, 30.0, 30.0, 0.3), single, rtol=1e-12)


def test_kww_shape_and_broadcasting():
    x = np.asarray(ot.stretched_exponential(TAU, 0.0, 1.0, 2.0, 0.5))
    np.testing.assert_allclose(x, np.exp(-2 * np.sqrt(2.0 * TAU)), rtol=1e-12)
    gam = np.array([[1.0], [10.0], [100.0]])
    out = ot.single_exponential(TAU, 1.0, 0.2, gam)
    assert out.shape == (3, TAU.size)
    np.testing.assert_allclose(out[1], ot.single_exponential(TAU, 1.0, 0.2, 10.0), rtol=1e-14)


def test_ordered_double_exponential_never_swaps_and_inverts():
    for u in (-10.0, -1.0, 0.0, 3.0, 12.0):
        gf = float(ot.gamma_fast_from(2.0, u))
        assert gf > 2.0
        assert ot.log_excess_from(gf, 2.0) == pytest.approx(u, rel=1e-9, abs=1e-9)
    u = ot.log_excess_from(40.0, 4.0)
    np.testing.assert_allclose(ot.double_exponential_ordered(TAU, 1.0, 0.3, 4.0, u, 0.6),
                               ot.double_exponential(TAU, 1.0, 0.3, 40.0, 4.0, 0.6), rtol=1e-12)
    with pytest.raises(ValueError, match="gamma_fast > gamma_slow"):
        ot.log_excess_from(1.0, 2.0)


def test_gradients_are_finite_for_every_model():
    def loss(theta):
        b, c, g, s = theta
        return (jnp.sum(ot.stretched_exponential(TAU, b, c, g, s) ** 2)
                + jnp.sum(ot.double_exponential_ordered(TAU, b, c, g, s, 0.5) ** 2))

    grad = jax.grad(loss)(jnp.array([1.0, 0.2, 3.0, 0.6]))
    assert np.all(np.isfinite(np.asarray(grad)))
    # τ = 0 with a stretch < 1 (the KWW cusp) stays finite too
    gs = jax.grad(lambda s: ot.stretched_exponential(0.0, 1.0, 0.2, 3.0, s))(0.5)
    assert np.isfinite(float(gs))


def test_parameter_metadata():
    assert ot.MODEL_PARAMETERS["single_exponential"] == ("baseline", "contrast", "gamma")
    assert ot.MODEL_PARAMETERS["stretched_exponential"] == ("baseline", "contrast", "gamma", "stretch")
    assert ot.MODEL_PARAMETERS["double_exponential"] == ("baseline", "contrast", "gamma_fast", "gamma_slow",
                                                         "fraction")
    for name in ("gamma", "gamma_fast", "gamma_slow"):
        assert ot.PARAMETERS[name].unit == "1/s" and ot.PARAMETERS[name].lower > 0
    for name, p in ot.PARAMETERS.items():
        assert p.name == name and p.lower <= p.initial <= p.upper and p.description


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gamma", [3.0, 300.0, 3e4])
def test_starts_land_within_a_factor_two_of_the_truth(seed, gamma):
    rng = np.random.default_rng(seed)
    tau = np.geomspace(1e-5, 1.0, 60)
    b, c = 1.0 + 0.02 * rng.standard_normal(), rng.uniform(0.05, 0.4)
    err = 0.05 * c * np.ones_like(tau)
    y = np.asarray(ot.single_exponential(tau, b, c, gamma)) + err * rng.standard_normal(tau.size)
    y[[5, 17]] = np.nan  # points without data are ignored
    err[30] = 0.0
    s = ot.initial_g2_guess(tau, y, err)
    assert 0.5 < s["gamma"] / gamma < 2.0
    assert 0.5 < s["contrast"] / c < 2.0
    assert s["baseline"] == pytest.approx(b, abs=0.05)
    assert s["gamma_fast"] > s["gamma"] > s["gamma_slow"]


@pytest.mark.parametrize("stretch", [0.6, 1.5])
def test_starts_on_stretched_curves(stretch):
    rng = np.random.default_rng(1)
    tau = np.geomspace(1e-4, 10.0, 70)
    y = np.asarray(ot.stretched_exponential(tau, 1.0, 0.2, 20.0, stretch)) + 0.003 * rng.standard_normal(tau.size)
    s = ot.initial_g2_guess(tau, y)
    # the half-decay time of the KWW curve fixes Γ_eff = ln2/(2 τ½), τ½ = (ln2/2)^(1/stretch)/Γ
    t_half = (np.log(2) / 2) ** (1 / stretch) / 20.0
    assert 0.5 < s["gamma"] / (np.log(2) / (2 * t_half)) < 2.0
    assert 0.5 < s["gamma"] / 20.0 < 2.0


def test_starts_for_several_rois_and_degenerate_curves():
    tau = np.geomspace(1e-4, 1.0, 40)
    g = np.stack([ot.single_exponential(tau, 1.0, 0.2, r) for r in (5.0, 50.0)])
    s = ot.initial_g2_guess(tau, g)
    assert s["gamma"].shape == (2,) and s["gamma"][1] > s["gamma"][0]
    empty = ot.initial_g2_guess(tau, np.full(tau.size, np.nan))
    assert empty["gamma"] == ot.PARAMETERS["gamma"].initial
    flat = ot.initial_g2_guess(tau, np.ones(tau.size))
    assert flat["baseline"] == pytest.approx(1.0) and flat["contrast"] < 0.01
    with pytest.raises(ValueError, match="g2_err has shape"):
        ot.initial_g2_guess(tau, g, np.ones(3))


@pytest.mark.parametrize("gamma", [0.3, 1e5])
def test_starts_at_the_edges_of_the_window(gamma):
    """Half decayed by the last lag (Γ = 0.3/s), or to 14 % by the first (Γ = 1e5/s): the
    profile over Γ still finds the decay on noise-free data."""
    tau = np.geomspace(1e-5, 1.0, 60)
    s = ot.initial_g2_guess(tau, np.asarray(ot.single_exponential(tau, 1.0, 0.2, gamma)))
    assert 0.5 < s["gamma"] / gamma < 2.0
    assert 0.5 < s["contrast"] / 0.2 < 2.0
