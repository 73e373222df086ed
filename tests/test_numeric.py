"""The one least-squares covariance helper (xpcsnb._numeric)."""

import numpy as np

from xpcsnb._numeric import COND_FAIL, COND_WARN, covariance


def test_well_conditioned_covariance_is_the_inverse():
    j = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]) * [1.0, 1e-3]  # very different scales
    cov, cond, zero, degenerate = covariance(j.T @ j, ["a", "b"])
    np.testing.assert_allclose(cov, np.linalg.inv(j.T @ j), rtol=1e-12)
    assert cond < COND_WARN and zero == [] and degenerate == []


def test_zero_column_and_singular_matrix_give_nan_not_a_pseudo_inverse():
    j = np.array([[1.0, 0.0], [2.0, 0.0]])
    cov, cond, zero, _ = covariance(j.T @ j, ["a", "b"])
    assert np.all(np.isnan(cov)) and cond == np.inf and zero == ["b"]
    j = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    cov, cond, zero, degenerate = covariance(j.T @ j, ["a", "b"])
    assert np.all(np.isnan(cov)) and not cond <= COND_FAIL and zero == [] and degenerate == ["a", "b"]


def test_near_degenerate_pair_is_named_but_inverted():
    t = np.linspace(0, 1, 50)
    j = np.stack([t, t + 1e-6 * t**2], axis=1)
    cov, cond, _, degenerate = covariance(j.T @ j, ["a", "b"])
    assert COND_WARN < cond < COND_FAIL and degenerate == ["a", "b"] and np.all(np.isfinite(cov))
