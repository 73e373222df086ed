"""g2 fits: recovery of known truth for every g2 model, the joint rate-law fit, excluded points, results."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xpcsnb
from xpcsnb.core.status import Status
from xpcsnb.fit.g2nlsq import fit_g2_nlsq, g2_model_curves
from xpcsnb.models import get_model, model_names
from xpcsnb.models.onetime import G2Model, double_exponential, single_exponential, stretched_exponential

TAU = np.geomspace(1e-4, 10.0, 61)
#: Truth of each g2 model (reported names) and the rates of the simulated ROIs [1/s].
G2_TRUTHS = {
    "single_exponential": {"baseline": 1.0, "contrast": 0.2, "stretch": 1.0},
    "stretched_exponential": {"baseline": 1.0, "contrast": 0.2, "stretch": 0.7},
    "double_exponential": {"baseline": 1.0, "contrast": 0.25, "fraction": 0.4, "ratio": 25.0},
}
RATES = (3.0, 30.0, 300.0)


def simulate_g2(model: str, rates=RATES, *, noise: float = 0.002, seed: int = 0, tau=TAU, q=None):
    """Noisy g2 curves of ``model`` at G2_TRUTHS, one ROI per rate, and their reported truths."""
    t = G2_TRUTHS[model]
    rng = np.random.default_rng(seed)
    curves, truths = [], []
    for g in rates:
        if model == "double_exponential":
            gs, gf = g, g * t["ratio"]
            curves.append(double_exponential(tau, t["baseline"], t["contrast"], gf, gs, t["fraction"]))
            truths.append({"baseline": t["baseline"], "contrast": t["contrast"], "gamma_fast": gf, "gamma_slow": gs,
                           "fraction": t["fraction"]})
        else:
            curves.append(stretched_exponential(tau, t["baseline"], t["contrast"], g, t["stretch"]))
            truths.append({"baseline": t["baseline"], "contrast": t["contrast"], "gamma": g}
                          | ({"stretch": t["stretch"]} if model == "stretched_exponential" else {}))
    y = np.asarray(curves)
    err = np.full(y.shape, noise)
    q = np.sqrt(np.asarray(rates) / 2e4) if q is None else q
    return xpcsnb.g2(y + noise * rng.standard_normal(y.shape), tau=tau, q=q, g2_err=err,
                     phi=np.zeros(len(rates))), truths


def test_g2_models_are_registered_with_kind_g2_and_the_exact_parameter_names() -> None:
    kinds = {n: get_model(n).kind for n in model_names()}
    assert kinds["static"] == "twotime"
    assert {n for n, k in kinds.items() if k == "g2"} >= {"single_exponential", "stretched_exponential",
                                                          "double_exponential"}
    assert get_model("single_exponential").parameter_names == ("baseline", "contrast", "gamma")
    assert get_model("stretched_exponential").parameter_names == ("baseline", "contrast", "gamma", "stretch")
    dbl = get_model("double_exponential")
    assert {"gamma_slow", "fraction"} <= set(dbl.parameter_names)
    assert [d.parameter.name for d in dbl.derived] == ["gamma_fast"]


@pytest.mark.parametrize("model", ["single_exponential", "stretched_exponential", "double_exponential"])
def test_every_model_recovers_truth_within_3_stderr_over_seeds(model: str) -> None:
    for seed in (0, 1, 2):
        ds, truths = simulate_g2(model, seed=seed)
        res = fit_g2_nlsq(ds, model)
        assert res["g2_nlsq_success"].all(), res["g2_nlsq_message"].values
        for r, truth in enumerate(truths):
            for name, value in truth.items():
                est = float(res["g2_nlsq_coefficients"].isel(roi=r).sel(param=name))
                err = float(res["g2_nlsq_stderr"].isel(roi=r).sel(param=name))
                assert np.isfinite(err) and err > 0
                assert abs(est - value) < 3 * err, (model, seed, r, name, est, value, err)


def test_double_exponential_labels_never_swap() -> None:
    ds, _ = simulate_g2("double_exponential", seed=3)
    res = fit_g2_nlsq(ds, "double_exponential", initial={"log_excess": -5.0})
    c = res["g2_nlsq_coefficients"]
    assert np.all(c.sel(param="gamma_fast") > c.sel(param="gamma_slow"))


def test_stretched_fit_of_a_pure_exponential_gives_stretch_one() -> None:
    ds, _ = simulate_g2("single_exponential", seed=4)
    res = fit_g2_nlsq(ds, "stretched_exponential")
    s = res["g2_nlsq_coefficients"].sel(param="stretch")
    e = res["g2_nlsq_stderr"].sel(param="stretch")
    assert res["g2_nlsq_success"].all()
    assert np.all(np.abs(s - 1.0) < 3 * e)


@pytest.mark.parametrize("law,p_true", [("diffusive", 2.0), ("power", 1.7)])
def test_joint_rate_law_recovers_D_and_p(law: str, p_true: float) -> None:
    D = 2.0e4
    q = np.array([0.004, 0.006, 0.009, 0.013, 0.02])
    ds, _ = simulate_g2("stretched_exponential", rates=D * q**p_true, q=q, seed=6)
    res = fit_g2_nlsq(ds, "stretched_exponential", rate_law=law)
    assert res.attrs["q_mode"] == "joint" and res.attrs["rate_law"] == law
    assert res["g2_nlsq_success"].all()
    law_c, law_e = res["g2_nlsq_law_coefficients"], res["g2_nlsq_law_stderr"]
    assert abs(float(law_c.sel(law_param="D")) - D) < 3 * float(law_e.sel(law_param="D"))
    assert abs(float(law_c.sel(law_param="p")) - p_true) < max(3 * float(law_e.sel(law_param="p")), 1e-12)
    gamma = res["g2_nlsq_coefficients"].sel(param="gamma").values
    np.testing.assert_allclose(gamma, float(law_c.sel(law_param="D")) * q ** float(law_c.sel(law_param="p")))
    assert not res["g2_nlsq_vary"].sel(param="gamma").any()  # the rate follows the law
    assert np.all(np.isfinite(res["g2_nlsq_stderr"].sel(param="gamma")))


def test_excluded_points_are_counted_and_never_fitted() -> None:
    ds, _ = simulate_g2("single_exponential", rates=(30.0,), seed=6)
    err = ds["g2_err"].values.copy()
    y = ds["g2"].values.copy()
    err[0, [3, 10]] = 0.0     # APS "no data"
    y[0, 20] = np.nan         # non-finite g2
    y[0, 3] = 50.0            # garbage where the error says "no data": must not matter
    bad = xpcsnb.g2(y, tau=TAU, q=ds["q"].values, g2_err=err)
    res = fit_g2_nlsq(bad, "single_exponential")
    assert int(res["g2_nlsq_n_excluded"][0]) == 3
    assert int(res["g2_nlsq_n_data"][0]) == TAU.size - 3
    keep = np.setdiff1d(np.arange(TAU.size), [3, 10, 20])
    clean = xpcsnb.g2(y[:, keep], tau=TAU[keep], q=ds["q"].values, g2_err=err[:, keep])
    ref = fit_g2_nlsq(clean, "single_exponential")
    np.testing.assert_allclose(res["g2_nlsq_coefficients"], ref["g2_nlsq_coefficients"], rtol=1e-6)
    np.testing.assert_allclose(res["g2_nlsq_chi2"], ref["g2_nlsq_chi2"], rtol=1e-6)


def test_a_roi_without_data_is_reported_not_fitted() -> None:
    ds, _ = simulate_g2("single_exponential", seed=7)
    err = ds["g2_err"].values.copy()
    err[1, 2:] = 0.0
    res = fit_g2_nlsq(ds.assign(g2_err=(("roi", "tau"), err)), "single_exponential")
    assert list(res["g2_nlsq_success"].values) == [True, False, True]
    assert int(res["g2_nlsq_status"][1]) == Status.NO_DATA
    assert np.all(np.isnan(res["g2_nlsq_coefficients"][1]))


def test_result_layout_names_and_round_trip(tmp_path) -> None:
    ds, _ = simulate_g2("stretched_exponential", seed=8)
    res = ds.xpcs.fit_nlsq("stretched_exponential")
    for field in ("coefficients", "stderr", "success", "status", "message", "chi2_red", "n_excluded"):
        assert "roi" in res[f"g2_nlsq_{field}"].dims
    assert res["g2_nlsq_coefficients"].dims == ("roi", "param")
    assert list(res["unit"].values) == ["1", "1", "1/s", "1"]
    assert res.attrs["model"] == "stretched_exponential" and res.attrs["q_mode"] == "independent"
    assert "q" in res.coords and "phi" in res.coords
    back = xpcsnb.load_nlsq(xpcsnb.save_nlsq(res, tmp_path / "g2.nc"))
    xr.testing.assert_allclose(back["g2_nlsq_coefficients"], res["g2_nlsq_coefficients"])
    assert "[[roi 2]]" in str(res.xpcs.report()) and "<h4>roi 0</h4>" in res.xpcs.report()._repr_html_()
    curves = g2_model_curves(res, TAU)
    assert curves.dims == ("roi", "tau") and float(abs(curves - ds["g2"]).max()) < 0.02


def test_fit_rates_reads_an_independent_result() -> None:
    q = np.array([0.004, 0.006, 0.009, 0.013])
    ds, _ = simulate_g2("single_exponential", rates=2e4 * q**2, q=q, seed=9)
    rates = xpcsnb.fit.fit_rates(ds.xpcs.fit_nlsq("single_exponential"), law="power")
    assert abs(float(rates["p"]) - 2.0) < 3 * float(rates["p_stderr"])
    assert abs(float(rates["D"]) - 2e4) < 3 * float(rates["D_stderr"])


def test_never_success_with_a_non_finite_stderr_on_real_data() -> None:
    for name in xpcsnb.datasets.real_g2_names():
        res = xpcsnb.datasets.real_g2(name).xpcs.fit_nlsq("stretched_exponential")
        ok = res["g2_nlsq_success"].values
        assert ok.sum() >= 3, name
        assert np.all(np.isfinite(res["g2_nlsq_stderr"].values[ok])), name


def test_a_toy_g2_family_registered_in_the_test_fits_without_engine_changes() -> None:
    import jax.numpy as jnp

    from xpcsnb.models import Parameter, register, unregister

    def gaussian(theta, tau):  # g1 = exp(-(Γτ)²/2): ballistic-like decay
        return theta[0] + theta[1] * jnp.exp(-(theta[2] * tau) ** 2)

    toy = G2Model(name="toy_g2_gaussian", signal=gaussian, rate="gamma",
                  parameters=(Parameter("baseline", "1", 0.0, 2.0, 1.0, "baseline"),
                              Parameter("contrast", "1", 0.0, 1.0, 0.2, "contrast"),
                              Parameter("gamma", "1/s", 1e-3, 1e5, 10.0, "rate")))
    register(toy)
    try:
        y = 1.0 + 0.3 * np.exp(-(40.0 * TAU) ** 2)
        ds = xpcsnb.g2(y + 0.001 * np.random.default_rng(0).standard_normal(TAU.size), tau=TAU,
                       g2_err=np.full(TAU.size, 0.001))
        res = ds.xpcs.fit_nlsq("toy_g2_gaussian")
        assert bool(res["g2_nlsq_success"][0])
        assert abs(float(res["g2_nlsq_coefficients"][0].sel(param="gamma")) - 40.0) < 0.5
    finally:
        unregister("toy_g2_gaussian")


def test_single_exponential_function_is_the_stretched_one_at_stretch_one() -> None:
    np.testing.assert_allclose(single_exponential(TAU, 1.0, 0.2, 7.0), stretched_exponential(TAU, 1.0, 0.2, 7.0, 1.0))
