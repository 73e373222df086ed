"""Contrast vs exposure time: closed forms, quadrature, fits recovering known rates."""

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import quad

from xpcsnb import xsvs
from xpcsnb.correlate import Geometry, partition
from xpcsnb.xsvs import XsvsError


def direct(T, tau_c, g):
    """(2/T)∫₀ᵀ(1 − τ/T)|g1|² dτ = 2∫₀¹(1 − u) exp(−2(uT/τc)^γ) du by adaptive quadrature."""
    val, _ = quad(lambda u: (1 - u) * np.exp(-2 * (u * T / tau_c) ** g), 0, 1, epsabs=1e-15, epsrel=1e-13,
                  limit=200)
    return 2 * val


@pytest.mark.parametrize("g", [0.5, 1.0, 1.5])
@pytest.mark.parametrize("ratio", [0.1, 1.0, 10.0])
def test_stretched_closed_form_matches_quadrature(g, ratio):
    tau_c = 2e-3
    T = ratio * tau_c
    assert abs(xsvs.contrast_stretched(T, 1.0, tau_c, g) - direct(T, tau_c, g)) <= 1e-10
    if g == 1.0:
        assert abs(xsvs.contrast_exponential(T, 1.0, 1 / tau_c) - direct(T, tau_c, 1.0)) <= 1e-10

@pytest.mark.parametrize("g", [1.0, 2.0])
@pytest.mark.parametrize("ratio", [0.1, 1.0, 10.0])
def test_gauss_legendre_path_matches_closed_form(g, ratio):
    # smooth (analytic) integrands: fixed-node Gauss–Legendre converges to 1e-10
    tau_c = 2e-3
    T = np.array([ratio * tau_c, 2 * ratio * tau_c])
    gl = xsvs.contrast_from_g1(T, 0.4, lambda tau: np.exp(-2 * (tau / tau_c) ** g))
    np.testing.assert_allclose(gl, xsvs.contrast_stretched(T, 0.4, tau_c, g), rtol=0, atol=1e-10)


def test_limits_and_small_argument_series():
    x = np.geomspace(1e-8, 1e3, 400)
    b = xsvs.contrast_exponential(x, 0.3, 1.0)
    assert np.all(np.diff(b) < 0) and np.isclose(b[0], 0.3, rtol=1e-7)
    np.testing.assert_allclose(b[-1], 0.3 / x[-1], rtol=1e-3)
    # continuity across the series switch (x = 1e-3) and against a long-double reference
    xs = np.array([9.999e-4, 1e-3, 1.0001e-3, 1e-5])
    ref = np.array([(np.expm1(np.longdouble(-2 * v)) + 2 * np.longdouble(v)) / (2 * np.longdouble(v) ** 2)
                    for v in xs], dtype=float)
    np.testing.assert_allclose(xsvs.contrast_exponential(xs, 1.0, 1.0), ref, rtol=1e-9)
    # stretched series region (z < 1e-3) agrees with quadrature
    for g in (0.5, 1.0, 1.5):
        T = (1e-5 / 2) ** (1 / g) * 1e-3
        assert abs(xsvs.contrast_stretched(T, 1.0, 1e-3, g) - direct(T, 1e-3, g)) < 1e-12


def _synthetic_vis(rate, q, T, beta0, sigma, seed):
    rng = np.random.default_rng(seed)
    b = xsvs.contrast_exponential(T[:, None], beta0[None, :], rate[None, :])
    y = b + sigma * rng.standard_normal(b.shape)
    ER = ("exposure", "roi")
    return xr.Dataset({"beta": (ER, y), "beta_err": (ER, np.full_like(y, sigma))},
                      coords={"exposure": ("exposure", T, {"units": "s"}), "roi": np.arange(1, q.size + 1),
                              "q": ("roi", q, {"units": "1/Å"})})


def test_fit_recovers_rate_from_noisy_contrast():
    T = np.geomspace(1e-5, 1e-1, 12)
    q = np.array([1e-3, 2e-3, 3e-3, 4e-3])
    D = 5e8  # Γ = D q² [1/s]
    rate = D * q**2
    beta0 = np.array([0.3, 0.28, 0.26, 0.25])
    z_rate, z_D = [], []
    for seed in range(8):
        vis = _synthetic_vis(rate, q, T, beta0, 0.004, seed)
        res = xsvs.fit_dynamics(vis)
        assert bool(res.beta_nlsq_success.all())
        z_rate.append((res.rate - rate) / res.rate_err)
        np.testing.assert_allclose(res.beta_nlsq_coefficients.sel(param="beta0"), beta0, atol=0.02)
        joint = xsvs.fit_dynamics(vis, joint=True)
        z_D.append((joint.beta_nlsq_coefficients.sel(param="D") - D) / joint.beta_nlsq_stderr.sel(param="D"))
    z_rate, z_D = np.array(z_rate), np.array(z_D)
    assert np.all(np.abs(z_rate) < 3.5) and 0.4 < np.sqrt(np.mean(z_rate**2)) < 1.6
    assert np.all(np.abs(z_D) < 3.5) and 0.3 < np.sqrt(np.mean(z_D**2)) < 1.8
    # joint errors are smaller than the per-q ones (shared physics)
    assert float(joint.rate_err[0]) < float(res.rate_err[0])


def test_fit_q_exponent_and_stretch():
    T = np.geomspace(1e-5, 1e-1, 16)
    q = np.array([1e-3, 2e-3, 3e-3])
    vis = _synthetic_vis(3e8 * q**2, q, T, np.full(3, 0.3), 0.002, 1)
    free_p = xsvs.fit_dynamics(vis, joint=True, q_exponent=None)
    p, dp = free_p.beta_nlsq_coefficients.sel(param="p"), free_p.beta_nlsq_stderr.sel(param="p")
    assert abs(p - 2) < 3 * dp and dp < 0.2
    st = xsvs.fit_dynamics(vis, model="stretched")
    g, dg = st.beta_nlsq_coefficients.sel(param="stretch"), st.beta_nlsq_stderr.sel(param="stretch")
    assert np.all(np.abs(g - 1) < 3 * dg)
    assert st.beta_nlsq_coefficients.attrs["model"] == "stretched"


def test_end_to_end_simulated_series_recovers_rate():
    geo = Geometry(shape=(64, 64), beam_center=(32, 32), distance=5.0, pixel_size=75e-6, energy=10.0)
    part = partition(geo.q_map(), np.linspace(5e-4, 3.2e-3, 4))
    T = np.geomspace(1e-4, 1e-1, 8)
    rate = 4e7 * part.q**2  # ≈ 30 … 300 1/s
    frames = xsvs.simulate_series(part, T, n_frames=60, beta0=0.3, rate=rate, mean_count=1.5, seed=9)
    vis = xsvs.visibility(frames, part, progress=False)
    res = xsvs.fit_dynamics(vis)
    assert np.all(np.abs(res.rate - rate) < 3 * res.rate_err), (res.rate.values, rate, res.rate_err.values)
    joint = xsvs.fit_dynamics(vis, joint=True)
    D, dD = joint.beta_nlsq_coefficients.sel(param="D"), joint.beta_nlsq_stderr.sel(param="D")
    assert abs(D - 4e7) < 3 * dD
    model = xsvs.evaluate_dynamics(res, T)
    assert model.dims == ("roi", "exposure_model")
    np.testing.assert_allclose(model.values.T, xsvs.contrast_exponential(
        T[:, None], res.beta_nlsq_coefficients.sel(param="beta0").values, res.rate.values), rtol=1e-12)
    # fitting other estimators works through the same path
    alt = xsvs.fit_dynamics(vis, estimator="beta_variance")
    assert np.all(np.abs(alt.rate - rate) < 3.5 * alt.rate_err)


def test_fit_dynamics_errors():
    vis = _synthetic_vis(np.array([10.0]), np.array([np.nan]), np.geomspace(1e-3, 1, 5), np.array([0.3]), 0.01, 0)
    with pytest.raises(XsvsError, match="model"):
        xsvs.fit_dynamics(vis, model="cumulant")
    with pytest.raises(XsvsError, match="q > 0"):
        xsvs.fit_dynamics(vis, joint=True)
    with pytest.raises(XsvsError, match="beta_ratio"):
        xsvs.fit_dynamics(vis, estimator="beta_ratio")
    few = vis.isel(exposure=slice(0, 2))
    res = xsvs.fit_dynamics(few)
    assert not bool(res.beta_nlsq_success[0]) and "usable" in str(res.beta_nlsq_message[0].values)


def test_singular_covariance_is_flagged_not_pseudo_inverted():
    """Γ = D·q^p from a single q: D and p move the model the same way (exactly singular JᵀJ);
    at q = 1 Å⁻¹ p does not move it at all (a zero Jacobian column). NaN errors, no pseudo-inverse."""
    from xpcsnb.core.status import Status

    T = np.geomspace(1e-4, 1e-1, 8)
    one_q = _synthetic_vis(np.array([2e3]), np.array([2e-3]), T, np.array([0.3]), 0.003, 0)
    res = xsvs.fit_dynamics(one_q, joint=True, q_exponent=None)
    status = Status(int(res.beta_nlsq_status))
    assert status == Status.SINGULAR_COVARIANCE and not status.success and not bool(res.beta_nlsq_success)
    message = str(res.beta_nlsq_message.values)
    assert np.all(np.isnan(res.beta_nlsq_covariance)) and np.all(np.isnan(res.beta_nlsq_stderr))
    assert "singular covariance" in message and "degenerate combination of ['D', 'p']" in message
    assert np.isnan(res.rate_err).all()
    unit_q = one_q.assign_coords(q=("roi", [1.0], {"units": "1/Å"}))
    res = xsvs.fit_dynamics(unit_q, joint=True, q_exponent=None)
    assert int(res.beta_nlsq_status) == Status.ZERO_JACOBIAN_COLUMN and np.all(np.isnan(res.beta_nlsq_covariance))
    assert "do not constrain ['p']" in str(res.beta_nlsq_message.values)
    # a parameter at its bound is named (negative "contrast" data pin beta0 at 0)
    flat = one_q.copy(data={"beta": np.full((8, 1), -0.01), "beta_err": np.full((8, 1), 0.003)})
    res = xsvs.fit_dynamics(flat)
    assert "at a bound: ['beta0']" in str(res.beta_nlsq_message.values[0])
    assert float(res.beta_nlsq_coefficients.sel(param="beta0")[0]) < 1e-6


def test_fit_status_codes_are_stored_with_flags():
    from xpcsnb.core.status import Status

    vis = _synthetic_vis(np.array([30.0, 300.0]), np.array([0.01, 0.02]), np.geomspace(1e-4, 1, 8),
                         np.array([0.3, 0.3]), 0.005, 1)
    res = xsvs.fit_dynamics(vis)
    st = res.beta_nlsq_status
    assert st.dims == ("roi",) and np.all(st == Status.CONVERGED) and np.all(res.beta_nlsq_success)
    assert st.attrs["flag_meanings"].split()[int(Status.SINGULAR_COVARIANCE)] == "singular_covariance"
    few = xsvs.fit_dynamics(vis.isel(exposure=slice(0, 2)))
    assert np.all(few.beta_nlsq_status == Status.NO_DATA) and not np.any(few.beta_nlsq_success)
