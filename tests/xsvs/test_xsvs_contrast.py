"""Negative-binomial model, ML contrast fit and the fast estimators."""

import numpy as np
import pytest
from scipy import stats

from xpcsnb import xsvs
from xpcsnb.core.status import Status
from xpcsnb.xsvs.contrast import nb_logpmf


def blocks_labels(n_roi: int, npix_side: int) -> np.ndarray:
    """Labels of n_roi square blocks of npix_side² pixels side by side."""
    lab = np.repeat(np.arange(1, n_roi + 1), npix_side)
    return np.tile(lab, (npix_side, 1))


def test_nb_pmf_matches_scipy_and_poisson_limit():
    k = np.arange(60)
    for mean in (0.01, 0.7, 5.0, 20.0):
        for beta in (1.0, 0.25, 1e-3):
            M = 1 / beta
            ref = stats.nbinom.logpmf(k, M, M / (M + mean))
            np.testing.assert_allclose(nb_logpmf(k, mean, beta), ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(nb_logpmf(k, mean, 0.0), stats.poisson.logpmf(k, mean), rtol=1e-12, atol=1e-12)
        # continuity at the Poisson limit, no large lnΓ cancellation
        np.testing.assert_allclose(nb_logpmf(k, mean, 1e-12), stats.poisson.logpmf(k, mean), rtol=1e-9, atol=1e-9)
    assert abs(xsvs.nb_pmf(np.arange(400), 10.0, 0.5).sum() - 1) < 1e-10


def _random_cell(seed, n_frames=20, npix=300, mean=0.8, beta=0.4, flat=None):
    rng = np.random.default_rng(seed)
    f = np.ones(npix) if flat is None else flat
    mu_f = mean * (1 + 0.2 * rng.random(n_frames))
    K = rng.poisson(rng.gamma(1 / beta, beta, size=(n_frames, npix)) * mu_f[:, None] * f[None])
    return K, f


#: (mean count K̄, contrast β) of the cells below: μβ from 9e-3 (the series branch of
#: ln(1+x)/x, x < 1e-2) through 0.05 and 0.3 to 10 (the closed form), and a near-Poisson cell.
CELLS = [(0.005, 1.8), (0.05, 1.0), (1.0, 0.05), (1.5, 0.2), (5.0, 2.0), (3.0, 1e-3)]


def test_ml_fit_is_the_brute_force_maximum_in_every_regime():
    """β of visibility() maximises the NB log-likelihood summed over every (pixel, frame) count
    (brute force with nb_logpmf, each count value of a frame times its multiplicity), and its error
    is the brute-force curvature, in every regime of μβ; a cell at β = 0 (Poisson limit) has a
    non-positive brute-force slope there."""
    from scipy.optimize import minimize_scalar

    npix = 2000
    rng = np.random.default_rng(12)
    frames = {}
    for e, (mean, beta) in enumerate(CELLS):
        n_frames = 150 if mean < 0.01 else 20  # enough photons at K̄ = 0.005 to see a 1 % excess variance
        mu_f = mean * (1 + 0.2 * rng.random(n_frames))
        frames[(e + 1) * 1e-3] = rng.poisson(rng.gamma(1 / beta, beta, (n_frames, npix)) * mu_f[:, None])[:, None]
    vis = xsvs.visibility(frames, np.ones((1, npix), int), progress=False)
    assert vis.beta.dims == ("exposure", "roi")
    for e, K in enumerate(frames.values()):
        K = K[:, 0]
        mean_f = K.mean(axis=1)
        k = np.arange(K.max() + 1)
        mult = np.stack([np.bincount(row, minlength=k.size) for row in K])  # (frame, count value)

        def nll(b, mean_f=mean_f, k=k, mult=mult):
            return -np.sum(mult * nb_logpmf(k[None, :], mean_f[:, None], b))

        got, err = float(vis.beta[e, 0]), float(vis.beta_err[e, 0])
        if int(vis.fit_status[e, 0]) == Status.POISSON_LIMIT:
            assert got == 0.0 and nll(1e-6) >= nll(0.0), CELLS[e]
            continue
        assert int(vis.fit_status[e, 0]) == Status.CONVERGED, CELLS[e]
        ref = minimize_scalar(nll, bounds=(0, 10), method="bounded", options={"xatol": 1e-12}).x
        assert abs(got - ref) < 1e-4 * err, (CELLS[e], got, ref, err)  # to 1e-4 of its own error bar
        h = 1e-4 * max(ref, 1e-2)
        curv = (nll(ref + h) - 2 * nll(ref) + nll(ref - h)) / h**2
        np.testing.assert_allclose(err, 1 / np.sqrt(curv), rtol=1e-4, err_msg=str(CELLS[e]))
    assert np.sum(vis.fit_status.values == Status.CONVERGED) >= len(CELLS) - 1
    assert int(vis.fit_status[0, 0]) == Status.CONVERGED and float(vis.beta[0, 0]) * CELLS[0][0] < 1e-2  # series


@pytest.fixture(scope="module")
def lowhigh():
    """Static speckle (β = 0.5, M = 2) at K̄ from 0.01 to 10 (one 'exposure' per K̄)."""
    labels = blocks_labels(4, 50)  # 4 ROIs × 2500 pixels
    kbar = np.array([0.01, 0.05, 0.3, 1.0, 10.0])
    frames = xsvs.simulate_series(labels, np.arange(1, 6) * 1e-3, n_frames=200, beta0=0.5, rate=0.0,
                                  mean_count=kbar, drift=0.2, seed=7)
    return xsvs.visibility(frames, labels, progress=False), kbar


def test_ml_recovers_contrast_across_mean_counts(lowhigh):
    vis, kbar = lowhigh
    np.testing.assert_allclose(vis.mean_count.mean("roi"), kbar, rtol=0.05)
    assert np.all(vis.fit_status == Status.CONVERGED)
    z = (vis.beta - 0.5) / vis.beta_err
    assert np.all(np.abs(z) < 3), z.values
    assert float((z**2).mean()) < 2.5  # stderr is not underestimated
    # stderr from the curvature matches the Fisher information of a NB (≈ per observation)
    assert np.all(vis.beta_err.isel(exposure=0) > vis.beta_err.isel(exposure=-1))
    M_z = (vis.M - 2.0) / (vis.beta_err / vis.beta**2)
    assert np.all(np.abs(M_z.isel(exposure=slice(2, None))) < 3)


@pytest.mark.parametrize("name", ["beta_ratio", "beta_variance"])
def test_fast_estimators_agree_with_ml(lowhigh, name):
    vis, _ = lowhigh
    diff = vis[name] - vis.beta
    assert np.all(np.abs(diff) < 3 * np.hypot(vis[f"{name}_err"], vis.beta_err)), diff.values
    assert np.all(np.abs(vis[name] - 0.5) < 3 * vis[f"{name}_err"])


def test_lowcount_estimator_is_biased_as_documented(lowhigh):
    vis, _ = lowhigh
    # unbiased at the lowest K̄ (within errors) ...
    low = vis.beta_lowcount.isel(exposure=1)
    assert np.all(np.abs(low - 0.5) < 3 * vis.beta_lowcount_err.isel(exposure=1))
    # ... and far too high at K̄ = 0.3 (0.592 expected at β = 0.5)
    mid = vis.beta_lowcount.isel(exposure=2).mean()
    assert 0.55 < float(mid) < 0.65


def test_poisson_data_reports_poisson_limit():
    labels = blocks_labels(6, 20)
    frames = xsvs.simulate_series(labels, [1e-3, 2e-3], n_frames=100, beta0=0.0, mean_count=[0.5, 2.0], seed=3)
    vis = xsvs.visibility(frames, labels, progress=False)
    poisson = vis.fit_status == Status.POISSON_LIMIT
    assert int(poisson.sum()) >= 1
    p = poisson.values
    assert np.all(vis.beta.values[p] == 0) and np.all(np.isinf(vis.M.values[p]))
    assert np.all(np.isfinite(vis.M.values[~p])) and np.all(vis.beta_err.values > 0)
    assert np.all(vis.beta / vis.beta_err < 3)
    flags = dict(zip(vis.fit_status.attrs["flag_values"].tolist(), vis.fit_status.attrs["flag_meanings"].split()))
    assert flags[int(Status.POISSON_LIMIT)] == "poisson_limit" and flags[0] == "converged"


def test_no_photons_status():
    labels = blocks_labels(2, 10)
    frames = {1e-3: np.zeros((5, 10, 20), dtype=np.uint16)}
    vis = xsvs.visibility(frames, labels, progress=False)
    assert np.all(vis.fit_status == Status.NO_DATA) and np.all(np.isnan(vis.beta))


def test_fit_status_mapping_is_deprecated_and_derived_from_status():
    with pytest.warns(DeprecationWarning, match="Status"):
        old = xsvs.FIT_STATUS
    assert old == {0: "converged", 7: "poisson_limit", 8: "at_bound", 9: "no_data"}
    assert all(Status(code).name.lower() == name for code, name in old.items())


def test_flat_field_weights_remove_efficiency_bias():
    labels = blocks_labels(2, 60)
    rng = np.random.default_rng(11)
    flat = np.exp(0.2 * rng.standard_normal(labels.shape))
    frames = xsvs.simulate_series(labels, [1e-3, 2e-3], n_frames=100, beta0=0.3, mean_count=[1.0, 3.0],
                                  flat_field=flat, seed=5)
    raw = xsvs.visibility(frames, labels, progress=False)
    ff = xsvs.visibility(frames, labels, flat_field=3.7 * flat, progress=False)  # scale is irrelevant
    for name in ("beta", "beta_variance"):
        err = ff[f"{name}_err"] if name != "beta" else ff.beta_err
        assert np.all(np.abs(ff[name] - 0.3) < 3 * err), (name, ff[name].values)
        # ignoring the flat field inflates the contrast by about var(f)(1 + β) ≈ 0.05
        assert np.all(raw[name] - 0.3 > 5 * err), (name, raw[name].values)
    assert ff.attrs["flat_field_used"] == 1 and ff.attrs["flat_field_group_spread"] < 0.03
    np.testing.assert_array_equal(ff.counts, raw.counts)  # raw integer histograms either way


@pytest.mark.parametrize("with_flat", [False, True])
def test_ml_fit_matches_brute_force_maximisation(with_flat):
    from scipy.optimize import minimize_scalar

    flat = np.resize(np.array([0.7, 1.0, 1.3]), 300) if with_flat else None
    K, f = _random_cell(2, n_frames=30, flat=flat)
    frames = {1e-3: K[:, None, :]}  # a 1 × 300 detector, one ROI
    vis = xsvs.visibility(frames, np.ones((1, 300), int), flat_field=None if flat is None else flat[None],
                          progress=False)
    mean_f = K.mean(axis=1)

    def nll(b):
        return -nb_logpmf(K, mean_f[:, None] * f[None], b).sum()

    ref = minimize_scalar(nll, bounds=(0, 5), method="bounded", options={"xatol": 1e-10}).x
    assert abs(float(vis.beta[0, 0]) - ref) < 1e-7
    h = 1e-4
    curv = (nll(ref + h) - 2 * nll(ref) + nll(ref - h)) / h**2
    np.testing.assert_allclose(float(vis.beta_err[0, 0]), 1 / np.sqrt(curv), rtol=1e-4)
