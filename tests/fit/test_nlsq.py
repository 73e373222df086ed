"""NLSQ engine: recovery of known truth, honest failure reports, result Dataset."""

import numpy as np
import pytest
import xarray as xr

import xpcsnb
from xpcsnb.fit.nlsq import Status

STATIC = {"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0}
LAMINAR = {"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0, "gamma_dot_t0": 5e-4, "beta": 0.3,
           "gamma_dot_t_offset": 2e-5, "phi0": 4.0}


def _sim(model, truth, n=60, seed=0, noise=0.01, phi=(0.0, 45.0, 90.0), dt=0.25):
    return xpcsnb.simulate(model, truth, dt * np.arange(n), phi=list(phi), q=0.0054, L=2e6,
                           contrast=[0.3, 0.27, 0.33][: len(phi)], offset=[1.0, 1.002, 0.998][: len(phi)],
                           noise=noise, seed=seed)


def _assert_recovered(res, truth, nsig=3.0):
    assert bool(res["c2_nlsq_success"]), str(res["c2_nlsq_message"].values)
    for name, value in truth.items():
        v = float(res["c2_nlsq_coefficients"].sel(param=name))
        e = float(res["c2_nlsq_stderr"].sel(param=name))
        assert np.isfinite(e) and e > 0, name
        assert abs(v - value) < nsig * e, f"{name}: {v} ± {e}, truth {value}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_static_recovers_truth_within_3_stderr(seed):
    ds = _sim("static", STATIC, seed=seed)
    res = ds.xpcs.fit_nlsq("static")
    _assert_recovered(res, STATIC)
    for k, c in enumerate([0.3, 0.27, 0.33]):
        assert abs(float(res["c2_nlsq_coefficients"].sel(param=f"contrast_{k}")) - c) < 3 * float(
            res["c2_nlsq_stderr"].sel(param=f"contrast_{k}"))
    # correct sigma → chi2_red consistent with 1 (n ≈ 5300)
    assert abs(float(res["c2_nlsq_chi2_red"]) - 1) < 5 * np.sqrt(2 / int(res["c2_nlsq_n_data"]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_laminar_flow_recovers_truth_within_3_stderr(seed):
    ds = _sim("laminar_flow", LAMINAR, seed=seed)
    res = ds.xpcs.fit_nlsq("laminar_flow")
    _assert_recovered(res, LAMINAR)


@pytest.mark.slow
def test_regression_3x500_laminar_flow_is_not_a_silent_failure():
    """The homodyne package returns its start values as "converged" at 3 × 500²; we recover the truth."""
    truth = {"D0": 1500.0, "alpha": -0.2, "D_offset": 20.0, "gamma_dot_t0": 3e-4, "beta": 0.3,
             "gamma_dot_t_offset": 2e-5, "phi0": 4.0}
    ds = _sim("laminar_flow", truth, n=500, dt=0.1, seed=0)
    res = ds.xpcs.fit_nlsq("laminar_flow")
    _assert_recovered(res, truth)
    start = res["c2_nlsq_initial"]
    assert not np.allclose(res["c2_nlsq_coefficients"].values[:7], start.values[:7])


def test_shared_and_fixed_scaling():
    ds = _sim("static", STATIC, seed=3, phi=(0.0, 60.0))
    ds = xpcsnb.simulate("static", STATIC, 0.25 * np.arange(60), phi=[0.0, 60.0], q=0.0054, contrast=0.3,
                         offset=1.0, noise=0.01, seed=3)
    shared = ds.xpcs.fit_nlsq("static", scaling="shared")
    assert list(shared["param"].values[-2:]) == ["contrast", "offset"]
    _assert_recovered(shared, STATIC)
    fixed = ds.xpcs.fit_nlsq("static", scaling="fixed", contrast=0.3, offset=1.0)
    assert int(fixed["c2_nlsq_n_params"]) == 3
    _assert_recovered(fixed, STATIC)
    assert float(fixed["c2_nlsq_stderr"].sel(param="D0")) < float(shared["c2_nlsq_stderr"].sel(param="D0"))


def test_exact_degeneracy_is_a_failure_not_a_silent_result():
    """beta fixed at 0: gamma_dot_t0 and gamma_dot_t_offset only enter as their sum."""
    ds = _sim("laminar_flow", {**LAMINAR, "beta": 0.0}, seed=4, n=30)
    res = ds.xpcs.fit_nlsq("laminar_flow", fixed={"beta": 0.0})
    assert not bool(res["c2_nlsq_success"])
    assert "gamma_dot_t0" in str(res["c2_nlsq_message"].values) and "gamma_dot_t_offset" in str(res["c2_nlsq_message"].values)


def test_fixed_parameter_and_custom_bounds():
    truth = {**LAMINAR, "beta": 0.0, "gamma_dot_t_offset": 0.0}
    ds = _sim("laminar_flow", truth, seed=4)
    res = ds.xpcs.fit_nlsq("laminar_flow", fixed={"beta": 0.0, "gamma_dot_t_offset": 0.0},
                           bounds={"D0": (1000.0, 50000.0)})
    assert not bool(res["c2_nlsq_vary"].sel(param="beta"))
    assert float(res["c2_nlsq_coefficients"].sel(param="beta")) == 0.0
    assert np.isnan(float(res["c2_nlsq_stderr"].sel(param="beta")))
    assert float(res["c2_nlsq_lower"].sel(param="D0")) == 1000.0
    _assert_recovered(res, {k: v for k, v in truth.items() if k not in ("beta", "gamma_dot_t_offset")})


@pytest.mark.parametrize("n, seed", [(60, 12), (40, 12), (60, 1)])
def test_unidentifiable_phi0_sign_is_reported(n, seed):
    """Angles 0° and 90°: the shear term depends on cos²φ0 and sin²φ0 only, so φ0 and −φ0 fit
    exactly equally well. The fit recovers |φ0| and names the mirror minimum (Δχ² ≈ 0)."""
    truth = dict(xpcsnb.datasets.DEMO_TRUTH["laminar_flow"])
    ds = xpcsnb.simulate("laminar_flow", truth, 0.1 * np.arange(n), phi=[0.0, 90.0], q=0.0054, L=2e6,
                         contrast=[0.3, 0.25], offset=[1.0, 1.002], noise=0.01, seed=seed)
    res = ds.xpcs.fit_nlsq("laminar_flow")
    assert bool(res["c2_nlsq_success"])
    phi0 = float(res["c2_nlsq_coefficients"].sel(param="phi0"))
    assert abs(abs(phi0) - truth["phi0"]) < 5 * float(res["c2_nlsq_stderr"].sel(param="phi0"))
    message = str(res["c2_nlsq_message"].values)
    assert "ended at a distinct minimum only Δχ² = " in message
    other = float(message.split("phi0 = ")[1].split(" vs ")[0])
    assert other == pytest.approx(-phi0, rel=1e-4)


def test_multistart_is_seeded_and_reproducible():
    ds = _sim("static", STATIC, seed=5, n=40)
    a = ds.xpcs.fit_nlsq("static", n_starts=4, seed=7)
    b = ds.xpcs.fit_nlsq("static", n_starts=4, seed=7)
    assert a.attrs["n_starts"] == 4
    xr.testing.assert_allclose(a["c2_nlsq_coefficients"], b["c2_nlsq_coefficients"], rtol=1e-12)
    _assert_recovered(a, STATIC)


def test_unconstrained_parameters_fail_loudly():
    """D floored everywhere: D0 and alpha do not enter the model → zero Jacobian columns → failure.

    From the default start alone (``n_starts=1``). The default mode's screened starts find the
    corner where D0·t^alpha exceeds 1e5 (a bound-limited fit): it is flagged as a poor fit."""
    ds = _sim("static", STATIC, seed=0, n=30)
    res = ds.xpcs.fit_nlsq("static", fixed={"D_offset": -1e5}, n_starts=1)
    assert not bool(res["c2_nlsq_success"])
    assert int(res["c2_nlsq_status"]) == Status.ZERO_JACOBIAN_COLUMN
    assert "D0" in str(res["c2_nlsq_message"].values)
    with pytest.raises(RuntimeError, match="do not constrain"):
        ds.xpcs.fit_nlsq("static", fixed={"D_offset": -1e5}, n_starts=1, throw=True)
    screened = ds.xpcs.fit_nlsq("static", fixed={"D_offset": -1e5})
    assert str(screened["c2_nlsq_fit_quality"].values) == "poor" and "D0" in str(screened["c2_nlsq_message"].values)


def test_parameter_the_data_cannot_determine_within_its_bounds_is_a_failure():
    """D_offset in ±1 Å²/s shifts g1 by at most 2e-4·Δt: its stderr far exceeds the bound width."""
    ds = _sim("static", {**STATIC, "D_offset": 0.0}, seed=1, n=40)
    res = ds.xpcs.fit_nlsq("static", bounds={"D_offset": (-1.0, 1.0)})
    assert not bool(res["c2_nlsq_success"])
    assert int(res["c2_nlsq_status"]) == Status.UNDETERMINED
    assert float(res["c2_nlsq_stderr"].sel(param="D_offset")) > 2.0
    assert "do not determine ['D_offset']" in str(res["c2_nlsq_message"].values)
    # with its default (wide) bounds the same parameter is determined: no such failure
    ok = ds.xpcs.fit_nlsq("static")
    assert bool(ok["c2_nlsq_success"]), str(ok["c2_nlsq_message"].values)


def test_competing_minima_are_reported_only_when_close_and_distinct():
    """With three angles the φ0 sign is determined: the mirrored start ends at a minimum far worse
    than COMPETING_DCHI2 (or at the same one), and no competing minimum is reported."""
    from xpcsnb.fit.nlsq import COMPETING_DCHI2

    truth = dict(xpcsnb.datasets.DEMO_TRUTH["laminar_flow"])
    ds = xpcsnb.simulate("laminar_flow", truth, 0.1 * np.arange(40), phi=[0.0, 45.0, 90.0], q=0.0054, L=2e6,
                         contrast=0.3, offset=1.0, noise=0.01, seed=12)
    res = ds.xpcs.fit_nlsq("laminar_flow")
    assert bool(res["c2_nlsq_success"])
    chi2 = res["c2_nlsq_start_chi2"].values
    phi0 = res["c2_nlsq_starts"].sel(param="phi0").values
    assert chi2.size >= 2 and np.any(np.sign(phi0) != np.sign(phi0[0]))   # the mirrored start ran
    best = float(res["c2_nlsq_chi2"])
    assert np.all((chi2 - best > COMPETING_DCHI2) | (np.abs(chi2 - best) < 1e-6 * best))
    assert "distinct minimum" not in str(res["c2_nlsq_message"].values)


def test_evaluation_limit_is_a_failure():
    ds = _sim("laminar_flow", LAMINAR, seed=0, n=30)
    res = ds.xpcs.fit_nlsq("laminar_flow", max_nfev=2)
    assert not bool(res["c2_nlsq_success"])
    assert int(res["c2_nlsq_status"]) == Status.MAX_EVALUATIONS
    assert "max_nfev=2" in str(res["c2_nlsq_message"].values)


def test_chi2_red_is_computed_from_the_minimised_residuals():
    ds = _sim("static", STATIC, seed=6, n=40, noise=0.02)
    res = ds.xpcs.fit_nlsq("static", return_model=True)
    r = res["c2_residual"].values
    iu = np.triu_indices(40, 1)
    chi2 = sum(float(np.sum(r[k][iu] ** 2)) for k in range(3))
    assert float(res["c2_nlsq_chi2"]) == pytest.approx(chi2, rel=1e-10)
    assert int(res["c2_nlsq_n_data"]) == 3 * 40 * 39 // 2
    assert float(res["c2_nlsq_chi2_red"]) == pytest.approx(chi2 / (int(res["c2_nlsq_n_data"]) - int(res["c2_nlsq_n_params"])))
    assert res.attrs["support"] == "upper"


def test_unweighted_fit_scales_covariance_and_asymmetric_data_use_both_triangles():
    ds = _sim("static", STATIC, seed=7, n=40).drop_vars("sigma")
    res = ds.xpcs.fit_nlsq("static")
    assert res.attrs["covariance"] == "scaled by chi2_red"
    _assert_recovered(res, STATIC)
    rng = np.random.default_rng(0)
    asym = ds.copy(deep=True)
    asym["c2"].values += 1e-3 * rng.standard_normal(asym["c2"].shape)
    res2 = asym.xpcs.fit_nlsq("static")
    assert res2.attrs["support"] == "offdiag"
    assert int(res2["c2_nlsq_n_data"]) == 3 * 40 * 39


def test_input_validation_names_the_problem():
    ds = _sim("static", STATIC, n=20)
    with pytest.raises(ValueError, match="unknown parameter 'gamma_dot_t0'"):
        ds.xpcs.fit_nlsq("static", bounds={"gamma_dot_t0": (0, 1)})
    with pytest.raises(ValueError, match="outside its bounds"):
        ds.xpcs.fit_nlsq("static", initial={"D0": 10.0})
    with pytest.raises(ValueError, match="phi0"):
        ds.xpcs.fit_nlsq("static", fixed={"phi0": 0.0})
    with pytest.raises(ValueError, match="unknown model"):
        ds.xpcs.fit_nlsq("ballistic")
    with pytest.raises(ValueError, match="unknown scaling"):
        ds.xpcs.fit_nlsq("static", scaling="auto")
    with pytest.raises(ValueError, match="needs contrast= and offset="):
        ds.xpcs.fit_nlsq("static", scaling="fixed")
    no_l = xpcsnb.twotime(ds["c2"].values, ds["t1"].values, ds["phi"].values, 0.0054)
    with pytest.raises(ValueError, match="needs the gap L"):
        no_l.xpcs.fit_nlsq("laminar_flow")
    bad = ds.copy(deep=True)
    bad["c2"].values[0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        bad.xpcs.fit_nlsq("static")


def test_result_round_trips_through_netcdf_and_reports(tmp_path):
    ds = _sim("laminar_flow", LAMINAR, seed=8, n=30)
    res = ds.xpcs.fit_nlsq("laminar_flow")
    assert type(res) is xr.Dataset  # a plain Dataset, no subclass
    path = tmp_path / "fit.nc"
    assert res.xpcs.save(path) == path
    back = xpcsnb.fit.load_nlsq(path)
    assert back.attrs.pop("xpcsnb_kind") == "nlsq"
    xr.testing.assert_identical(res, back)
    report = str(back.xpcs.report())
    assert "chi2_red" in report and "phi0" in report and "±" not in report
    assert report == str(res.xpcs.report()) == repr(res.xpcs.report())
    html = res.xpcs.report()._repr_html_()
    assert "± stderr" in html and "gamma_dot_t0" in html and "success" in html
    assert res["c2_nlsq_covariance"].dims == ("cov_i", "cov_j")
    cov = res["c2_nlsq_covariance"].values
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), res["c2_nlsq_stderr"].values, rtol=1e-12)


def test_accessor_model_and_residuals_do_not_mutate():
    ds = _sim("laminar_flow", LAMINAR, seed=9, n=30)
    before = ds.copy(deep=True)
    res = ds.xpcs.fit_nlsq("laminar_flow", return_model=True)
    model = ds.xpcs.model("laminar_flow", res)
    np.testing.assert_allclose(model["c2"].values, res["c2_model"].values, rtol=1e-13)
    resid = ds.xpcs.residuals("laminar_flow", res)
    np.testing.assert_allclose(resid.values, ds["c2"].values - model["c2"].values)
    clean = ds.xpcs.model("laminar_flow", {**LAMINAR, "contrast": [0.3, 0.27, 0.33], "offset": [1.0, 1.002, 0.998]})
    sim = _sim("laminar_flow", LAMINAR, n=30, noise=0.0)
    np.testing.assert_allclose(clean["c2"].values, sim["c2"].values, rtol=1e-14)
    xr.testing.assert_identical(ds, before)
