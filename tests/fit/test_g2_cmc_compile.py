"""g2 CMC: one compiled NUTS chain serves every ROI (the per-ROI numbers are traced arguments)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_g2_fit import simulate_g2

from xpcsnb.fit.cmc.nuts import chain_runner
from xpcsnb.fit.cmc.reference import seeded_priors
from xpcsnb.fit.cmc.reparam import build_spec
from xpcsnb.fit.cmc.shards import Sampler
from xpcsnb.fit.g2cmc import G2Points
from xpcsnb.fit.g2nlsq import solve_all
from xpcsnb.fit.cmc.traced import prior_numbers, traced_prior
from xpcsnb.fit.g2nuts import ChainRunner, padded_data
from xpcsnb.fit.g2problem import build_g2_problems
from xpcsnb.fit.priors import BoundedPrior, prior_distribution
from xpcsnb.fit.spec import as_spec
from xpcsnb.models.registry import Prior


@pytest.mark.parametrize("prior, lo, hi", [
    (Prior("truncated_normal", 1.0, 0.5), 0.0, 2.0), (Prior("normal", 0.3, 2.0), -1.0, 4.0),
    (Prior("uniform"), 0.1, 2.5), (Prior("halfnormal", 0.0, 0.7), 0.0, 3.0),
    (Prior("lognormal", 2.0, 1.5), 1e-8, 1e8), (Prior("lognormal", 0.0, 1.0), 0.0, 50.0),
    (Prior("beta_scaled", 2.0, 3.0), 0.0, 1.0),
])
def test_traced_prior_is_the_bounded_prior(prior: Prior, lo: float, hi: float) -> None:
    bounded = BoundedPrior(prior, lo, hi)
    ref = prior_distribution(prior, lo, hi)

    def log_prob(a):
        return traced_prior(bounded, a[:5]).log_prob(a[5:])

    x = np.linspace(lo + 0.01 * (hi - lo), hi - 0.01 * (hi - lo), 5)
    a = jnp.concatenate([jnp.asarray(prior_numbers(bounded)), jnp.asarray(x)])
    assert jax.eval_shape(log_prob, a).shape == (5,)  # its numbers may be traced
    np.testing.assert_allclose(np.asarray(jax.jit(log_prob)(a)), np.asarray(ref.log_prob(jnp.asarray(x))),
                               rtol=1e-10)
    far = Prior("truncated_normal", 0.0, 1.0)  # bounds in a tail (mass 3e-5 inside): the normaliser stays exact
    np.testing.assert_allclose(float(traced_prior(BoundedPrior(far, 4.0, 6.0)).log_prob(5.0)),
                               float(prior_distribution(far, 4.0, 6.0).log_prob(5.0)), rtol=1e-9)


@pytest.mark.slow
def test_one_compiled_chain_for_every_roi_draws_what_the_per_roi_chain_draws() -> None:
    ds, _ = simulate_g2("single_exponential", rates=(3.0, 30.0, 300.0), seed=4)
    ds["g2_err"][1, -4:] = 0.0  # ROIs with different numbers of valid points
    problems = build_g2_problems(ds, "single_exponential", as_spec(None))
    _, sols = solve_all(problems, {})
    sampler = Sampler(40, 30, 2, True, 0.8, 6, 2.0)
    runner = ChainRunner(sampler)
    size = max(pr.n_data for pr in problems)
    key = jax.random.key(7)
    draws, specs = [], []
    for pr, sol in zip(problems, sols):
        pts = G2Points.of(pr)
        from xpcsnb.fit.g2cmc import _reference

        ref = _reference(None, 0, pr, sol)
        spec, _ = build_spec(pts, seeded_priors(pr.model, pts.names, pts.lower, pts.upper, priors=None,
                                                reference=ref), ref, 1, follow_rate_laws=False)
        out, _, finite, sites = runner(spec, key, padded_data(pts, size))
        assert bool(finite)
        draws.append(np.asarray(out[0]))
        specs.append((spec, pts))
    assert runner.n_compiled == 1  # three ROIs, two lengths of valid data, one compilation
    assert not np.allclose(draws[0], draws[2])  # the ROIs' own numbers were used
    spec, pts = specs[1]  # the per-ROI chain of the CMC machinery, on the unpadded data, draws the same
    y, w, i, j, k = padded_data(pts, pts.n_data)
    z, *_ = chain_runner(spec, sampler)(key, *(jnp.asarray(a) for a in (y, w, i, j, k)))[0]
    np.testing.assert_allclose(draws[1], np.asarray(z), rtol=1e-7, atol=1e-9)


@pytest.mark.slow
def test_joint_diffusive_cmc_recovers_D_with_the_nlsq_error() -> None:
    ds, _ = simulate_g2("single_exponential", rates=(3.0, 30.0, 300.0), seed=5)  # Γ = D q² with D = 2e4 Å²/s
    res = ds.xpcs.fit_nlsq("single_exponential", rate_law="diffusive")
    d_nlsq, d_err = res["g2_nlsq_law_coefficients"].values[0], res["g2_nlsq_law_stderr"].values[0]
    post = ds.xpcs.fit_cmc("single_exponential", rate_law="diffusive", num_warmup=150, num_samples=150, warn=False)
    p = post["posterior"].to_dataset()
    assert p["D"].dims == ("chain", "draw") and p["gamma"].dims == ("roi", "chain", "draw")
    assert "p" not in p  # held at 2 by the diffusive law
    np.testing.assert_allclose(p["gamma"].values, p["D"].values[None] * ds["q"].values[:, None, None] ** 2)
    mean, sd = float(p["D"].mean()), float(p["D"].std())
    assert abs(mean - 2e4) < 4 * sd and abs(mean - d_nlsq) < 2 * d_err and 0.5 < sd / d_err < 2.0
    assert post.attrs["q_mode"] == "joint" and post.attrs["rate_law"] == "diffusive"
    assert set(post["summary"]["param"].values) >= {"D", "gamma_r0", "contrast_r2"}


def test_joint_cmc_refuses_nlsq_rois_and_a_lone_p() -> None:
    from xpcsnb.core.errors import G2Error
    from xpcsnb.fit.g2cmc import fit_g2_cmc

    ds, _ = simulate_g2("single_exponential", rates=(3.0, 30.0), seed=1)
    res = ds.xpcs.fit_nlsq("single_exponential")
    with pytest.raises(G2Error, match="drop nlsq= and rois="):
        fit_g2_cmc(ds, "single_exponential", rate_law="diffusive", nlsq=res)
    with pytest.raises(G2Error, match="drop nlsq= and rois="):
        fit_g2_cmc(ds, "single_exponential", rate_law="power", rois=[0])
    with pytest.raises(G2Error, match="rate_law='power'"):
        fit_g2_cmc(ds, "single_exponential", p=2.0)
