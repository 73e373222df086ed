"""Heterodyne two-component model: reference numbers, closed forms, symmetries, conventions."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

import xpcsnb
from xpcsnb.models import get_model, make_grid, registry
from xpcsnb.models.heterodyne import combine_terms, diagnose, sample_fraction, smooth_clip
from truths import TRUTHS

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "heterodyne_reference.npz"
NAMES = ["D0_ref", "alpha_ref", "D_offset_ref", "D0_sample", "alpha_sample", "D_offset_sample",
         "v0", "beta", "v_offset", "f0", "f1", "f2", "f3", "phi0"]
TRUTH = dict(TRUTHS["heterodyne"])  # the suite's shared heterodyne truth (tests/conftest.py)
HET = get_model("heterodyne")


def _theta(**changes):
    return jnp.asarray([{**TRUTH, **changes}[n] for n in NAMES])


def _grid(n=40, dt=0.1, phi=(0.0, 45.0, 90.0), q=0.0054):
    return make_grid(dt * (np.arange(n) + 1), np.asarray(phi), q)


def _brute_force(theta, t, phi, q):
    """Independent NumPy evaluation of the module equation (scipy trapezoid, explicit softplus)."""
    p = dict(zip(NAMES, np.asarray(theta)))

    def power(a):
        return np.where(t > 0, np.maximum(t, 1e-10) ** a, 0.0)

    j_ref = np.maximum(p["D0_ref"] * power(p["alpha_ref"]) + p["D_offset_ref"], 0.0)
    j_sam = np.maximum(p["D0_sample"] * power(p["alpha_sample"]) + p["D_offset_sample"], 0.0)
    vel = p["v0"] * power(p["beta"]) + p["v_offset"]
    c_ref, c_sam, c_v = (cumulative_trapezoid(f, t, initial=0.0) for f in (j_ref, j_sam, vel))
    i_ref = np.sqrt(np.subtract.outer(c_ref, c_ref) ** 2 + 1e-12)
    i_sam = np.sqrt(np.subtract.outer(c_sam, c_sam) ** 2 + 1e-12)
    i_v = c_v[None, :] - c_v[:, None]
    raw = p["f0"] * np.exp(np.clip(p["f1"] * (t - p["f2"]), -500, 500)) + p["f3"]
    lo = np.logaddexp(0.0, 50 * raw) / 50
    xs = 1 - np.logaddexp(0.0, 50 * (1 - lo)) / 50
    xr = 1 - xs
    out = []
    for ph in phi:
        phase = q * np.cos(np.deg2rad(ph + p["phi0"])) * i_v
        ref = np.outer(xr, xr) ** 2 * np.exp(-q**2 * i_ref)
        sam = np.outer(xs, xs) ** 2 * np.exp(-q**2 * i_sam)
        cross = 2 * np.outer(xr * xs, xr * xs) * np.exp(-0.5 * q**2 * (i_ref + i_sam)) * np.cos(phase)
        out.append((ref + sam + cross) / np.outer(xs**2 + xr**2, xs**2 + xr**2))
    return np.array(out)


def test_reproduces_heterodyne_2_0_1_to_machine_precision():
    data = np.load(REFERENCE)
    meta = json.loads(str(data["meta"]))
    assert meta["version"] == "2.0.1" and meta["names"] == NAMES
    assert list(registry.physics_names("heterodyne")) == NAMES
    for case in meta["cases"]:
        name = case["name"]
        t = data[f"{name}__t"]
        np.testing.assert_allclose(t, case["dt"] * (np.arange(t.size) + 1))  # the package's grid
        grid = make_grid(t, data[f"{name}__phi"], case["q"])
        sig = np.asarray(HET.signal(jnp.asarray(data[f"{name}__params"]), grid))
        c2 = case["offset"] + case["contrast"] * sig
        err = np.max(np.abs(c2 - data[f"{name}__c2"]))
        assert err < 1e-12, (name, err)


def test_matches_independent_brute_force_and_point_evaluation():
    theta = _theta(alpha_ref=-0.4, D_offset_sample=-2e3, f1=-0.8, f2=1.0, v_offset=-40.0)
    grid = _grid(n=35)
    full = np.asarray(HET.signal(theta, grid))
    brute = _brute_force(theta, np.asarray(grid.t), np.asarray(grid.phi), 0.0054)
    np.testing.assert_allclose(full, brute, rtol=0, atol=1e-12)
    n_phi, n, _ = full.shape
    i, j = np.triu_indices(n, 1)
    k = np.repeat(np.arange(n_phi), i.size)
    ii, jj = np.tile(i, n_phi), np.tile(j, n_phi)
    pts = np.asarray(HET.signal(theta, grid, jnp.asarray(ii), jnp.asarray(jj), jnp.asarray(k)))
    np.testing.assert_allclose(pts, full[k, ii, jj], rtol=0, atol=1e-15)


def test_no_phase_without_velocity():
    """v ≡ 0: cos Φ = 1, so C2 = [(x_r1 x_r2 h_r + x_s1 x_s2 h_s)]² / norm, the same at every φ and φ0."""
    grid = _grid(phi=(0.0, 37.0, 90.0))
    sig = np.asarray(HET.signal(_theta(v0=0.0, v_offset=0.0), grid))
    np.testing.assert_allclose(sig, np.broadcast_to(sig[0], sig.shape), rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(HET.signal(_theta(v0=0.0, v_offset=0.0, phi0=-7.0), grid)), sig,
                               rtol=0, atol=1e-15)
    t = np.asarray(grid.t)
    xs = np.asarray(sample_fraction(jnp.asarray(t), 0.5, 0.1, 0.0, 0.1))
    xr = 1 - xs
    b = _brute_force(_theta(v0=0.0, v_offset=0.0), t, [0.0], 0.0054)[0]
    q2 = 0.0054**2
    c_ref = cumulative_trapezoid(2e4 * t**0.5 + 50.0, t, initial=0.0)
    c_sam = cumulative_trapezoid(5e4 * t**0.3 + 10.0, t, initial=0.0)
    h_r = np.exp(-0.5 * q2 * np.abs(np.subtract.outer(c_ref, c_ref)))
    h_s = np.exp(-0.5 * q2 * np.abs(np.subtract.outer(c_sam, c_sam)))
    closed = (np.outer(xr, xr) * h_r + np.outer(xs, xs) * h_s) ** 2 / np.outer(xs**2 + xr**2, xs**2 + xr**2)
    np.testing.assert_allclose(sig[0], closed, rtol=0, atol=1e-9)  # 1e-9: smooth |x| on the diagonal
    np.testing.assert_allclose(b, closed, rtol=0, atol=1e-9)


def test_pure_components_and_cross_term():
    rng = np.random.default_rng(0)
    h_r, h_s = rng.uniform(0.1, 1, (5, 5)), rng.uniform(0.1, 1, (5, 5))
    phase = rng.uniform(-3, 3, (5, 5))
    zero, one = np.zeros((5, 1)), np.ones((1, 5))
    np.testing.assert_allclose(combine_terms(zero, zero.T, h_r, h_s, phase), h_r**2, atol=1e-15)  # x_s = 0
    np.testing.assert_allclose(combine_terms(one.T, one, h_r, h_s, phase), h_s**2, atol=1e-15)    # x_s = 1
    half = np.full((5, 1), 0.5)  # equal fields: (h_r² + h_s² + 2 h_r h_s cos Φ) / 4
    np.testing.assert_allclose(combine_terms(half, half.T, h_r, h_s, phase),
                               (h_r**2 + h_s**2 + 2 * h_r * h_s * np.cos(phase)) / 4, atol=1e-15)


def test_symmetric_in_t1_t2_and_unit_diagonal():
    for theta in (_theta(), _theta(beta=-0.7, v_offset=-60.0, f1=-1.0, f2=2.0, alpha_sample=-1.2)):
        sig = np.asarray(HET.signal(theta, _grid(n=50)))
        np.testing.assert_allclose(sig, np.swapaxes(sig, -1, -2), rtol=0, atol=1e-15)
        diag = np.diagonal(sig, axis1=-2, axis2=-1)
        np.testing.assert_allclose(diag, 1.0, atol=1e-9)  # C2(t, t) = offset + contrast (smooth |x| bias)
    assert HET.symmetric


def test_phi0_is_added_to_phi():
    grid_shifted = _grid(phi=(10.0, 55.0))
    a = np.asarray(HET.signal(_theta(phi0=5.0), _grid(phi=(5.0, 50.0))))
    b = np.asarray(HET.signal(_theta(phi0=0.0), grid_shifted))
    np.testing.assert_allclose(a, b, atol=1e-14)
    c = np.asarray(HET.signal(_theta(phi0=-5.0), _grid(phi=(15.0, 60.0))))
    np.testing.assert_allclose(c, b, atol=1e-14)
    assert np.max(np.abs(np.asarray(HET.signal(_theta(phi0=5.0), grid_shifted)) - b)) > 1e-3


def test_transport_floor_and_fraction_clip():
    # reference transport ≤ 0 everywhere → floored at 0: identical to J_ref ≡ 0
    floored = np.asarray(HET.signal(_theta(D0_ref=100.0, D_offset_ref=-1e5), _grid()))
    zero = np.asarray(HET.signal(_theta(D0_ref=0.0, D_offset_ref=0.0), _grid()))
    np.testing.assert_array_equal(floored, zero)
    assert float(smooth_clip(0.0)) == pytest.approx(np.log(2) / 50, rel=1e-12)  # not exact at the edge
    assert float(smooth_clip(0.938)) == pytest.approx(0.937, abs=5e-4)
    assert float(smooth_clip(0.5)) == pytest.approx(0.5, abs=1e-12)
    assert 0.0 <= float(smooth_clip(-3.0)) < 1e-20 and float(smooth_clip(4.0)) == pytest.approx(1.0, abs=1e-15)
    big = np.asarray(sample_fraction(jnp.linspace(0.1, 6, 20), 0.9, 0.5, 0.0, 0.2))
    assert np.all((big > 0) & (big <= 1)) and big[-1] == pytest.approx(1.0, abs=1e-12)


def test_per_row_q_grid_matches_single_q_grids():
    theta, t, phi = _theta(), 0.1 * (np.arange(30) + 1), np.array([0.0, 60.0])
    qs = np.array([0.003, 0.0054, 0.008])
    rows = make_grid(t, np.tile(phi, qs.size), np.repeat(qs, phi.size))
    multi = np.asarray(HET.signal(theta, rows))
    single = np.concatenate([np.asarray(HET.signal(theta, make_grid(t, phi, q))) for q in qs])
    np.testing.assert_allclose(multi, single, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="one value per row"):
        make_grid(t, phi, qs)


def test_gradients_are_finite_everywhere_in_the_bounds():
    grid = _grid(n=20)
    i, j = np.triu_indices(20, 1)
    k = np.zeros(i.size, dtype=int)
    for theta in (_theta(), _theta(f0=1.0, f3=1.0, f1=10.0), _theta(alpha_ref=-2.0, D_offset_ref=-1e5, beta=2.0)):
        jac = np.asarray(jax.jacfwd(lambda th: HET.signal(th, grid, i, j, k))(theta))
        assert np.all(np.isfinite(jac))


def test_registry_and_default_fixed():
    params = registry.parameters("heterodyne")
    assert (params["alpha_ref"].lower, params["alpha_ref"].upper) == (-2.0, 2.0)
    assert (params["D0_sample"].lower, params["D0_sample"].upper) == (100.0, 1e6)
    assert params["phi0"].unit == "deg" and params["f1"].unit == "s⁻¹" and params["f2"].unit == "s"
    for p in params.values():
        assert p.lower <= p.prior.loc <= p.upper or p.prior.kind != "truncated_normal"
    assert dict(HET.default_fixed) == {"f2": 0.0}


def test_diagnose_names_degenerate_pairs():
    values = dict(TRUTH, alpha_sample=0.0004, beta=0.01)
    stderr = {"alpha_sample": 0.1, "alpha_ref": 0.01, "beta": 0.001}
    free = frozenset(NAMES) - {"f2"}
    msgs = " | ".join(diagnose(values, stderr, free))
    assert "D0_sample and D_offset_sample" in msgs and "D0_ref" not in msgs
    assert "v0 and v_offset" not in msgs  # beta = 0.01 ± 0.001 is not zero
    assert "f0 and f2" in " ".join(diagnose(values, stderr, free | {"f2"}))


def test_simulate_heterodyne_single_and_multi_q():
    t = 0.1 * (np.arange(25) + 1)
    ds = xpcsnb.simulate("heterodyne", TRUTH, t, phi=[0.0, 90.0], q=0.0054, contrast=[0.3, 0.4], noise=0.01, seed=2)
    assert ds["c2"].dims == ("phi", "t1", "t2") and "sigma" in ds
    np.testing.assert_array_equal(ds["t1"].values, t)
    clean = xpcsnb.simulate("heterodyne", TRUTH, t, phi=[0.0, 90.0], q=0.0054, contrast=[0.3, 0.4])
    np.testing.assert_allclose(clean["c2"].values[1].diagonal(), 1.4, atol=1e-9)
    multi = xpcsnb.simulate("heterodyne", TRUTH, t, phi=[0.0, 90.0], q=[0.004, 0.0054], contrast=[0.3, 0.4])
    assert multi["c2"].dims == ("q", "phi", "t1", "t2")
    np.testing.assert_allclose(multi["c2"].sel(q=0.0054).values, clean["c2"].values, atol=1e-15)
    with pytest.raises(ValueError, match="f0"):
        xpcsnb.simulate("heterodyne", {**TRUTH, "f0": 1.5}, t)
