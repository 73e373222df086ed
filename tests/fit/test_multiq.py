"""Multi-q fits: one problem with shared physics over every q, and the independent per-q mode."""

import numpy as np
import pytest
import xarray as xr

import xpcsnb
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.problem import build_problem
from xpcsnb.fit.result import parameter_values

LAMINAR = {"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0, "gamma_dot_t0": 5e-4, "beta": 0.3,
           "gamma_dot_t_offset": 2e-5, "phi0": 4.0}
SHARED = ("D0", "alpha", "gamma_dot_t0", "beta", "phi0")
QS = [0.003, 0.0045, 0.006, 0.0075]
PHI = [0.0, 45.0, 90.0]
CONTRAST = np.array([[0.30, 0.27, 0.33], [0.28, 0.26, 0.31], [0.25, 0.24, 0.29], [0.22, 0.21, 0.26]])
OFFSET = np.array([1.0, 1.002, 0.998])


@pytest.fixture(scope="module")
def multi_q():
    ds = xpcsnb.simulate("laminar_flow", LAMINAR, 0.25 * np.arange(40), phi=PHI, q=QS, L=2e6, contrast=0.3,
                         noise=0.0, seed=None)
    # per-(q, φ) contrast: rescale the clean signal, then add seeded symmetric noise
    signal = (ds["c2"].values - 1.0) / 0.3
    clean = OFFSET[None, :, None, None] + CONTRAST[:, :, None, None] * signal
    rng = np.random.default_rng(4)
    z = rng.standard_normal(clean.shape)
    z = np.triu(z) + np.swapaxes(np.triu(z, 1), -1, -2)
    sigma = 0.01 * clean
    return xpcsnb.twotime(clean + sigma * z, ds["t1"].values, PHI, QS, L=2e6, sigma=sigma)


@pytest.fixture(scope="module")
def joint(multi_q):
    return fit_nlsq(multi_q, "laminar_flow", return_model=True)


@pytest.fixture(scope="module")
def independent(multi_q):
    return fit_nlsq(multi_q, "laminar_flow", q_mode="independent")


def _value(res, name, **sel):
    r = res.sel(**sel) if sel else res
    return float(r["c2_nlsq_coefficients"].sel(param=name)), float(r["c2_nlsq_stderr"].sel(param=name))


def test_joint_fit_recovers_shared_physics_and_per_q_phi_scaling(joint, multi_q):
    assert bool(joint["c2_nlsq_success"]), str(joint["c2_nlsq_message"].values)
    n = multi_q.sizes["t1"]
    assert int(joint["c2_nlsq_n_data"]) == len(QS) * len(PHI) * n * (n - 1) // 2
    assert abs(float(joint["c2_nlsq_chi2_red"]) - 1) < 5 * np.sqrt(2 / int(joint["c2_nlsq_n_data"]))
    for name, value in LAMINAR.items():
        v, e = _value(joint, name)
        assert abs(v - value) < 3 * e, f"{name}: {v} ± {e}, truth {value}"
    for a in range(len(QS)):
        for k in range(len(PHI)):
            v, e = _value(joint, f"contrast_q{a}_{k}")
            assert abs(v - CONTRAST[a, k]) < 3 * e, (a, k)
            v, e = _value(joint, f"offset_q{a}_{k}")
            assert abs(v - OFFSET[k]) < 3 * e, (a, k)
    np.testing.assert_array_equal(joint["q"].values, QS)
    assert "q" not in joint.attrs and joint["q"].attrs["units"] == "1/Å"
    assert joint["c2_model"].dims == ("q", "phi", "t1", "t2")
    resid = joint["c2_residual"].values
    iu = np.triu_indices(n, 1)
    assert np.sum(resid[..., iu[0], iu[1]] ** 2) == pytest.approx(float(joint["c2_nlsq_chi2"]), rel=1e-10)


def test_joint_fit_beats_every_single_q(joint, independent):
    """The shared parameters are better determined by all q together than by any single q."""
    assert independent["c2_nlsq_coefficients"].dims == ("q", "param")
    assert bool(independent["c2_nlsq_success"].all()), independent["c2_nlsq_message"].values
    for name in SHARED:
        e_joint = _value(joint, name)[1]
        e_single = independent["c2_nlsq_stderr"].sel(param=name).values
        assert np.all(e_joint < e_single), (name, e_joint, e_single)


def test_independent_mode_equals_single_q_fits(multi_q, independent):
    a = 2
    single_ds = multi_q.isel(q=a).drop_vars("q").assign_attrs(q=QS[a])
    single = fit_nlsq(single_ds, "laminar_flow")
    np.testing.assert_allclose(independent["c2_nlsq_coefficients"].isel(q=a).values,
                               single["c2_nlsq_coefficients"].values, rtol=1e-12)
    assert float(independent["q"][a]) == QS[a] and "q" not in independent.attrs
    assert independent["c2_nlsq_condition_number"].dims == ("q",)
    # default start, the screened data-driven starts and the φ0 mirror of the best
    n_starts = independent["c2_nlsq_n_starts"].values
    assert np.all(n_starts >= 2) and n_starts.tolist() == [int(np.isfinite(independent["c2_nlsq_start_chi2"]
                                                                          .isel(q=a)).sum()) for a in range(len(QS))]
    for name, value in LAMINAR.items():  # each q on its own is also unbiased
        v, e = _value(independent, name, q=QS[a])
        assert abs(v - value) < 3 * e, name
    report = str(independent.xpcs.report())
    assert report.count("[[NLSQ fit]]") == len(QS) and "q = 0.0045 Å⁻¹" in report
    with pytest.raises(ValueError, match="select one fit"):
        parameter_values(independent)


def test_results_round_trip_through_netcdf(tmp_path, joint, independent):
    for name, res in (("joint", joint), ("independent", independent)):
        path = tmp_path / f"{name}.nc"
        res.xpcs.save(path)
        back = xpcsnb.fit.load_nlsq(path)
        xr.testing.assert_allclose(back["c2_nlsq_coefficients"], res["c2_nlsq_coefficients"])
        assert str(back.xpcs.report()) == str(res.xpcs.report())


@pytest.mark.parametrize("model", ["static", "heterodyne"])
def test_joint_problem_model_equals_per_q_simulation(model):
    params = {"static": {"D0": 5e3, "alpha": 0.2, "D_offset": 10.0},
              "heterodyne": dict(D0_ref=2e4, alpha_ref=0.5, D_offset_ref=50.0, D0_sample=5e4, alpha_sample=0.3,
                                 D_offset_sample=10.0, v0=800.0, beta=0.2, v_offset=5.0, f0=0.5, f1=0.1, f2=0.0,
                                 f3=0.1, phi0=3.0)}[model]
    t = 0.1 * (np.arange(20) + 1)
    ds = xpcsnb.simulate(model, params, t, phi=[0.0, 90.0], q=[0.004, 0.006], contrast=[0.3, 0.4], offset=1.01)
    p = build_problem(ds, model)
    names = list(p.names)
    scale = {f"contrast_q{a}_{k}": [0.3, 0.4][k] for a in range(2) for k in range(2)}
    scale.update({f"offset_q{a}_{k}": 1.01 for a in range(2) for k in range(2)})
    x = np.array([{**params, **scale}[n] for n in names])
    full = p.rows_to_dataset_shape(np.asarray(p.predict_full(x)))
    np.testing.assert_allclose(full, ds["c2"].values, rtol=0, atol=1e-14)
    assert p.n_q == 2 and p.shape == (4, 20, 20) and p.info["q"] == [0.004, 0.006]


def test_fixed_scaling_per_q_and_phi(multi_q):
    sub = multi_q.isel(q=[0, 1])
    contrast = CONTRAST[:2]
    p = build_problem(sub, "laminar_flow", scaling="fixed", contrast=contrast, offset=OFFSET)
    np.testing.assert_array_equal(p.fixed_scaling[0], contrast.reshape(-1))
    np.testing.assert_array_equal(p.fixed_scaling[1], np.tile(OFFSET, 2))
    with pytest.raises(ValueError, match="one value per angle"):
        build_problem(sub, "laminar_flow", scaling="fixed", contrast=np.ones((3, 3)), offset=1.0)
    with pytest.raises(ValueError, match="q_mode"):
        fit_nlsq(sub, "laminar_flow", q_mode="both")
