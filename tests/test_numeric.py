"""The one least-squares covariance of xpcsnb, seen through the public NLSQ fit.

A linear toy model ``C2 = 1 + a·u(τ) + b·v(τ)`` (τ = |t2 − t1|, contrast 1 and offset 1
held fixed) has the Jacobian ``[u, v]/σ`` at every point of the residual support (the
upper triangle i < j of symmetric data, :func:`xpcsnb.fit.problem.support_indices`), so
the covariance the fit reports can be checked against ``(JᵀJ)⁻¹`` built here, and the
Jacobian can be made well conditioned, nearly degenerate, exactly degenerate or given a
zero column by the choice of ``u`` and ``v``.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from xpcsnb.core.status import Status
from xpcsnb.core.twotime import twotime
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.models import Model, Parameter

N = 30
DT = 0.1  # [s]
SIGMA = 1e-3  # absolute σ of every C2 value
#: Documented thresholds of the condition number of the correlation form of JᵀJ
#: (fit_nlsq: "near-singular" above the first, NaN covariance above the second).
COND_WARN, COND_FAIL = 1e10, 1e15

BASES = {
    "well_conditioned": (lambda tau: jnp.ones_like(tau), lambda tau: 1e-3 * tau),  # very different scales
    "zero_column": (lambda tau: tau, lambda tau: 0.0 * tau),
    "singular": (lambda tau: tau, lambda tau: 2.0 * tau),
    "near_degenerate": (lambda tau: tau, lambda tau: tau + 1e-6 * tau**2),
}


def linear_model(kind: str) -> Model:
    """``signal = a·u(τ) + b·v(τ)`` with the bases of ``kind`` (an unregistered Model)."""
    u, v = BASES[kind]

    def signal(theta, grid, i=None, j=None, k=None):
        if i is None:
            tau = jnp.abs(grid.t[None, :] - grid.t[:, None])
            s = theta[0] * u(tau) + theta[1] * v(tau)
            return jnp.broadcast_to(s, (grid.phi.shape[0],) + tau.shape)
        tau = jnp.abs(grid.t[j] - grid.t[i])
        return theta[0] * u(tau) + theta[1] * v(tau)

    return Model(name=f"linear_{kind}", signal=signal, time_convention="the Dataset's own times t1 [s]",
                 parameters=(Parameter("a", "1", -1e3, 1e3, 0.0, "coefficient of u"),
                             Parameter("b", "1", -1e3, 1e3, 0.0, "coefficient of v")))


def fit(kind: str, a: float = 0.3, b: float = -0.2):
    """Fit noisy data of the linear model ``kind``; returns (result, J) with J of the support."""
    u, v = BASES[kind]
    t = DT * np.arange(N)
    tau = np.abs(t[None, :] - t[:, None])
    rng = np.random.default_rng(1)
    noise = rng.normal(0.0, SIGMA, (N, N))
    c2 = 1.0 + a * np.asarray(u(tau)) + b * np.asarray(v(tau)) + np.triu(noise, 1) + np.triu(noise, 1).T
    ds = twotime(c2, t=t, phi=0.0, q=0.005, sigma=np.full((N, N), SIGMA))
    res = fit_nlsq(ds, linear_model(kind), scaling="fixed", contrast=1.0, offset=1.0, n_starts=1)
    i, j = np.triu_indices(N, k=1)
    jac = np.stack([np.asarray(u(tau))[i, j], np.asarray(v(tau))[i, j]], axis=1) / SIGMA
    return res, jac


def _cov(res) -> np.ndarray:
    return res["c2_nlsq_covariance"].values


def test_well_conditioned_covariance_is_the_inverse():
    res, jac = fit("well_conditioned")
    assert int(res["c2_nlsq_status"]) == Status.CONVERGED and bool(res["c2_nlsq_success"])
    np.testing.assert_allclose(_cov(res), np.linalg.inv(jac.T @ jac), rtol=1e-9)
    np.testing.assert_allclose(res["c2_nlsq_stderr"].values, np.sqrt(np.diag(np.linalg.inv(jac.T @ jac))), rtol=1e-9)
    assert res.attrs["condition_number"] < COND_WARN
    assert "singular" not in str(res["c2_nlsq_message"].values)


def test_zero_column_gives_nan_and_names_the_parameter():
    res, _ = fit("zero_column")
    assert int(res["c2_nlsq_status"]) == Status.ZERO_JACOBIAN_COLUMN and not bool(res["c2_nlsq_success"])
    assert np.all(np.isnan(_cov(res))) and np.all(np.isnan(res["c2_nlsq_stderr"].values))
    assert res.attrs["condition_number"] == np.inf
    assert "do not constrain ['b']" in str(res["c2_nlsq_message"].values)


def test_singular_matrix_gives_nan_not_a_pseudo_inverse():
    res, _ = fit("singular")
    assert int(res["c2_nlsq_status"]) == Status.SINGULAR_COVARIANCE and not bool(res["c2_nlsq_success"])
    assert np.all(np.isnan(_cov(res)))
    assert not res.attrs["condition_number"] <= COND_FAIL
    assert "degenerate combination of ['a', 'b']" in str(res["c2_nlsq_message"].values)


def test_near_degenerate_pair_is_named_but_inverted():
    res, jac = fit("near_degenerate")
    cond = res.attrs["condition_number"]
    assert COND_WARN < cond < COND_FAIL
    message = str(res["c2_nlsq_message"].values)
    assert "near-singular covariance" in message and "['a', 'b'] are strongly correlated" in message
    cov = _cov(res)
    assert np.all(np.isfinite(cov))
    # an inverse, not a pseudo-inverse: (JᵀJ)⁻¹ from the SVD of J (accurate to cond(J)·ε ≈ 1e-10),
    # to the precision that a JᵀJ of condition number ~1e12 allows
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    np.testing.assert_allclose(cov, (vt.T / s**2) @ vt, rtol=1e-2)
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(-1.0, abs=1e-6)
