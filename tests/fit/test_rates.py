"""Γ(q) = D q^p from per-ROI rates: recovery of known truth, exclusions, bad input."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core.errors import G2Error
from xpcsnb.fit.rates import fit_rates, rate_law

Q = np.geomspace(2e-3, 2e-2, 9)  # 1/Å
D_TRUE = 3.0e6  # Å²/s: Γ from 12 to 1200 /s


def _noisy(seed, p=2.0, rel=0.08):
    rng = np.random.default_rng(seed)
    g = rate_law(Q, D_TRUE, p)
    err = rel * g * rng.uniform(0.5, 1.5, Q.size)
    return g + err * rng.standard_normal(Q.size), err


def _result(gamma, err, success=None, params=("baseline", "contrast", "gamma")):
    """A tiny g2 NLSQ result in the naming of phase B."""
    n = gamma.size
    coef = np.tile([1.0, 0.2, 0.0, 1.0][: len(params)], (n, 1)).astype(float)
    se = np.full_like(coef, 0.01)
    k = params.index("gamma") if "gamma" in params else params.index("gamma_slow")
    coef[:, k], se[:, k] = gamma, err
    return xr.Dataset(
        {
            "g2_nlsq_coefficients": (("roi", "param"), coef),
            "g2_nlsq_stderr": (("roi", "param"), se),
            "g2_nlsq_success": ("roi", np.ones(n, bool) if success is None else success),
        },
        coords={"roi": np.arange(1, n + 1), "param": list(params), "q": ("roi", Q, {"units": "1/Å"})},
    )


def test_diffusive_fit_recovers_D_within_three_stderr_over_seeds():
    pulls = []
    for seed in range(40):
        g, e = _noisy(seed)
        r = fit_rates(q=Q, gamma=g, gamma_err=e, law="diffusive")
        pulls.append((float(r.D) - D_TRUE) / float(r.D_stderr))
        assert "p_stderr" not in r and float(r.p) == 2.0 and r.attrs["p_fixed"] == 1
        assert r.D.attrs["units"] == "Å²/s"
    pulls = np.array(pulls)
    assert np.all(np.abs(pulls) < 3)
    assert 0.6 < np.std(pulls) < 1.4  # the stderr is the scatter, not a guess
    assert abs(np.mean(pulls)) < 0.5


def test_power_fit_recovers_D_and_p():
    for true_p in (1.0, 2.0, 3.0):
        pulls_d, pulls_p = [], []
        for seed in range(30):
            g, e = _noisy(seed, p=true_p)
            r = fit_rates(q=Q, gamma=g, gamma_err=e, law="power")
            pulls_d.append((float(r.D) - D_TRUE) / float(r.D_stderr))
            pulls_p.append((float(r.p) - true_p) / float(r.p_stderr))
            assert -1 <= float(r.D_p_correlation) <= 1
        assert np.all(np.abs(pulls_p) < 3) and np.all(np.abs(pulls_d) < 3)
        assert 0.5 < np.std(pulls_p) < 1.5


def test_fixed_p_and_units():
    g, e = _noisy(0, p=1.0)
    r = fit_rates(q=Q, gamma=g, gamma_err=e, law="power", p=1.0)
    assert float(r.p) == 1.0 and "p_stderr" not in r
    assert r.D.attrs["units"] == "Å^1/s"
    assert abs(float(r.D) - D_TRUE) < 3 * float(r.D_stderr)
    np.testing.assert_allclose(r.gamma_fit.values, float(r.D) * Q)
    assert r.gamma_curve.dims == ("q_curve",) and r.q_curve.values[0] == pytest.approx(Q[0])


def test_exact_data_give_exact_answer_and_chi2():
    g = rate_law(Q, D_TRUE, 2.0)
    r = fit_rates(q=Q, gamma=g, gamma_err=0.05 * g, law="power")
    assert float(r.D) == pytest.approx(D_TRUE, rel=1e-8) and float(r.p) == pytest.approx(2.0, abs=1e-9)
    assert float(r.chi2_red) == pytest.approx(0.0, abs=1e-12)
    g, e = _noisy(3)
    r = fit_rates(q=Q, gamma=g, gamma_err=e, law="diffusive")
    chi2 = np.sum(((g - float(r.D) * Q**2) / e) ** 2)
    assert float(r.chi2_red) == pytest.approx(chi2 / (Q.size - 1))


def test_from_a_g2_result_failed_rois_and_bad_stderr_are_excluded_and_counted(tmp_path):
    g, e = _noisy(5)
    good = fit_rates(q=Q[[0, 2, 4, 5, 6, 7, 8]], gamma=g[[0, 2, 4, 5, 6, 7, 8]],
                     gamma_err=e[[0, 2, 4, 5, 6, 7, 8]], law="diffusive")
    success = np.ones(Q.size, bool)
    success[1] = False
    e_bad = e.copy()
    e_bad[3] = np.nan  # a "successful" fit with a non-finite stderr is never used
    r = fit_rates(_result(g, e_bad, success), law="diffusive")
    assert r.attrs["n_used"] == 7 and r.attrs["n_excluded"] == 2
    assert list(r.attrs["excluded_rois"]) == [2, 4]
    assert r.used.values.tolist() == [True, False, True, False, True, True, True, True, True]
    assert float(r.D) == pytest.approx(float(good.D), rel=1e-10)
    assert r.q.attrs["units"] == "1/Å" and r.gamma.attrs["units"] == "1/s"
    r.to_netcdf(tmp_path / "rates.nc", engine="h5netcdf")
    xr.testing.assert_allclose(xr.load_dataset(tmp_path / "rates.nc", engine="h5netcdf"), r)


def test_double_exponential_result_needs_the_rate_named():
    g, e = _noisy(1)
    res = _result(g, e, params=("baseline", "contrast", "gamma_slow", "fraction"))
    with pytest.raises(G2Error, match="gamma_slow"):
        fit_rates(res)
    r = fit_rates(res, law="diffusive", param="gamma_slow")
    assert abs(float(r.D) - D_TRUE) < 3 * float(r.D_stderr)


G, E = _noisy(0)
BAD_INPUTS = [
    # (arguments of fit_rates, expected message)
    (dict(q=Q, gamma=G, gamma_err=E, law="linear"), "unknown law"),
    (dict(q=Q, gamma=G, gamma_err=E, law="diffusive", p=1.0), "holds p = 2"),
    (dict(q=Q, gamma=G, gamma_err=E, p=np.nan), "p must be a finite number"),
    (dict(q=Q, gamma=G, gamma_err=E, p="2"), "p must be a finite number"),
    (dict(q=Q), "all three"),
    (dict(q=Q, gamma=G, gamma_err=np.ones(3)), "one value per ROI"),
    (dict(q=Q, gamma=G.astype(complex), gamma_err=E), "real numbers"),
    (dict(q=Q, gamma=np.zeros(Q.size), gamma_err=E), "usable ROI"),
    (dict(q=np.full(Q.size, 0.01), gamma=G, gamma_err=E), "distinct q"),
    (dict(res=G), "must be a g2 NLSQ result"),
]


@pytest.mark.parametrize("kwargs, message", BAD_INPUTS)
def test_bad_input(kwargs, message):
    with pytest.raises(G2Error, match=message):
        fit_rates(**kwargs)


def test_result_without_q_or_with_arrays_too():
    g, e = _noisy(0)
    res = _result(g, e)
    with pytest.raises(G2Error, match="not both"):
        fit_rates(res, q=Q, gamma=g, gamma_err=e)
    with pytest.raises(G2Error, match="q\\(roi\\)"):
        fit_rates(res.drop_vars("q"))
    with pytest.raises(G2Error, match="not a g2 NLSQ result"):
        fit_rates(res.rename(g2_nlsq_coefficients="c2_nlsq_coefficients"))


def test_a_joint_result_or_a_parameter_that_is_no_rate_is_refused():
    import xpcsnb

    tau = np.geomspace(1e-4, 1.0, 40)
    y = np.stack([1.0 + 0.2 * np.exp(-2 * D_TRUE * q**2 * tau) for q in Q])
    ds = xpcsnb.g2(y, tau=tau, q=Q, g2_err=np.full(y.shape, 1e-3))
    joint = ds.xpcs.fit_nlsq("single_exponential", rate_law="diffusive")
    with pytest.raises(G2Error, match="joint fit.*already follow D"):
        fit_rates(joint, law="power")
    independent = ds.xpcs.fit_nlsq("stretched_exponential")
    with pytest.raises(G2Error, match=r"'stretch' is not a rate.*\['gamma'\]"):
        fit_rates(independent, param="stretch")
    assert abs(float(fit_rates(independent, law="diffusive").D) / D_TRUE - 1) < 1e-3
