"""Homodyne physics: reference numbers, closed forms, symmetries, gradients."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import qmc

import xpcsnb  # noqa: F401  (float64)
from xpcsnb.models import get_model, make_grid, registry

REF = Path(__file__).resolve().parents[1] / "data" / "homodyne_reference.npz"


def _cases():
    z = np.load(REF)
    meta = json.loads(str(z["meta"]))
    return [(c, {k.split("__")[1]: z[k] for k in z.files if k.startswith(c["name"] + "__")}) for c in meta["cases"]]


@pytest.mark.parametrize("case, arrays", _cases(), ids=lambda c: c["name"] if isinstance(c, dict) and "name" in c else "")
def test_reproduces_homodyne_2_23_3(case, arrays):
    """C2 from the homodyne package (tests/reference/make_homodyne_reference.py) to 1e-12."""
    m = get_model(case["model"])
    g = make_grid(arrays["t"], arrays["phi"], case["q"], case["L"])
    c2 = case["offset"] + case["contrast"] * np.asarray(m.signal(jnp.asarray(arrays["params"]), g))
    np.testing.assert_allclose(c2, arrays["c2"], rtol=0, atol=1e-12)
    assert np.ptp(arrays["c2"]) > 0.01  # the reference case is not trivially flat


def _grid(n=40, dt=0.1, phi=(0.0, 30.0, 75.0, 120.0), q=0.006, L=2e6, t0=0.0):
    return make_grid(t0 + dt * np.arange(n), np.array(phi), q, L)


def test_static_closed_form_alpha_zero():
    """alpha = 0: D constant, trapezoid exact: signal = exp(−q² D0 |t2 − t1|)."""
    g = _grid()
    D0 = 3000.0
    s = np.asarray(get_model("static").signal(jnp.array([D0, 0.0, 0.0]), g))
    t = np.asarray(g.t)
    expected = np.exp(-(0.006**2) * D0 * np.abs(t[None, :] - t[:, None]))
    off = ~np.eye(t.size, dtype=bool)
    np.testing.assert_allclose(s[0][off], expected[off], rtol=1e-9)


def test_static_closed_form_offset_only():
    """D0 → lower bound, alpha = 0, D = D0 + D_offset constant."""
    g = _grid(t0=5.0)
    s = np.asarray(get_model("static").signal(jnp.array([100.0, 0.0, 900.0]), g))
    t = np.asarray(g.t)
    expected = np.exp(-(0.006**2) * 1000.0 * np.abs(t[None, :] - t[:, None]))
    off = ~np.eye(t.size, dtype=bool)
    np.testing.assert_allclose(s[2][off], expected[off], rtol=1e-9)


def test_laminar_closed_form_beta_zero():
    """alpha = beta = 0: exp(−q² D0 |Δt|) · sinc⁴(q L cos(φ0 − φ) γ̇0 |Δt| / 2π)."""
    g = _grid()
    D0, gd, phi0 = 2000.0, 0.004, 7.0
    s = np.asarray(get_model("laminar_flow").signal(jnp.array([D0, 0.0, 0.0, gd, 0.0, 0.0, phi0]), g))
    t = np.asarray(g.t)
    dtm = np.abs(t[None, :] - t[:, None])
    for k, phi in enumerate(np.asarray(g.phi)):
        x = 0.006 * 2e6 * np.cos(np.deg2rad(phi0 - phi)) * gd * dtm / (2 * np.pi)
        with np.errstate(invalid="ignore", divide="ignore"):
            sinc = np.where(x == 0, 1.0, np.sin(x) / x)
        expected = np.exp(-(0.006**2) * D0 * dtm) * sinc**4
        off = ~np.eye(t.size, dtype=bool)
        # the smooth |x| = sqrt(x² + 1e-12) of the small γ̇ step integrals biases by < 1e-6
        np.testing.assert_allclose(s[k][off], expected[off], rtol=1e-6, atol=1e-14)


def test_shear_enters_as_sinc_fourth_power():
    g = _grid(n=30, phi=(0.0,))
    theta_d = jnp.array([2000.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    theta_s = theta_d.at[3].set(0.01)
    ratio = np.asarray(get_model("laminar_flow").signal(theta_s, g) / get_model("laminar_flow").signal(theta_d, g))[0]
    t = np.asarray(g.t)
    x = 0.006 * 2e6 * 0.01 * np.abs(t[0] - t[10]) / (2 * np.pi)
    assert ratio[0, 10] == pytest.approx((np.sin(x) / x) ** 4, rel=1e-9)


def test_symmetric_in_t1_t2_and_static_phi_independent():
    g = _grid()
    s = np.asarray(get_model("static").signal(jnp.array([1500.0, -0.7, 30.0]), g))
    np.testing.assert_array_equal(s, np.swapaxes(s, 1, 2))
    for k in range(1, s.shape[0]):
        np.testing.assert_array_equal(s[k], s[0])
    lam = np.asarray(get_model("laminar_flow").signal(jnp.array([1500.0, -0.7, 30.0, 0.01, 0.4, 1e-3, 3.0]), g))
    np.testing.assert_array_equal(lam, np.swapaxes(lam, 1, 2))
    assert not np.allclose(lam[0], lam[1])  # laminar flow does depend on phi


def test_pair_mode_equals_full_matrix():
    g = _grid(n=25)
    theta = jnp.array([1500.0, 0.6, -200.0, 0.02, -0.5, 1e-3, -4.0])
    m = get_model("laminar_flow")
    full = np.asarray(m.signal(theta, g))
    rng = np.random.default_rng(1)
    i, j, k = rng.integers(0, 25, 200), rng.integers(0, 25, 200), rng.integers(0, 4, 200)
    pts = np.asarray(m.signal(theta, g, jnp.asarray(i), jnp.asarray(j), jnp.asarray(k)))
    np.testing.assert_allclose(pts, full[k, i, j], rtol=1e-14, atol=0)


def test_diagonal_is_the_smooth_abs_value():
    """The pair integral on the diagonal is 1e-6 (smooth |x|), not 0, as in the reference."""
    g = _grid(n=5, phi=(0.0,))
    s = np.asarray(get_model("static").signal(jnp.array([1e4, 0.0, 0.0]), g))[0]
    a = 0.5 * 0.006**2 * 0.1
    assert s[2, 2] == pytest.approx(np.exp(-a * 1e-6) ** 2, rel=1e-15)


@pytest.mark.parametrize("model", ["static", "laminar_flow"])
def test_gradients_finite_everywhere_in_bounds(model):
    """Jacobians are finite at 64 Latin-hypercube points and at every corner of the bounds."""
    spec = registry.MODELS[model]
    lo = np.array([p.lower for p in spec])
    hi = np.array([p.upper for p in spec])
    pts = qmc.scale(qmc.LatinHypercube(d=lo.size, seed=0).random(64), lo, hi)
    corners = np.array([[lo[k] if (c >> k) & 1 else hi[k] for k in range(lo.size)] for c in range(2 ** lo.size)])
    g = _grid(n=20)
    m = get_model(model)
    jac = jax.jit(jax.vmap(jax.jacfwd(lambda th: m.signal(th, g))))
    for batch in (pts, corners):
        J = np.asarray(jac(jnp.asarray(batch)))
        assert np.all(np.isfinite(J)), f"non-finite gradient for {model}"
        assert np.all(np.isfinite(np.asarray(jax.vmap(lambda th: m.signal(th, g))(jnp.asarray(batch)))))


def test_rate_floor_and_time_origin():
    from xpcsnb.models.homodyne import rate

    t = jnp.asarray(0.1 * np.arange(4))
    r = np.asarray(rate(t, 10.0, -1.0, 0.0))
    assert r[0] == pytest.approx(10.0 / 0.05)  # t = 0 evaluated at dt/2
    assert r[1] == pytest.approx(100.0)
    assert np.all(np.asarray(rate(t, 1.0, 0.0, -5.0)) == 1e-10)  # floored, never negative
