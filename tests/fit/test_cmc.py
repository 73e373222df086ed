"""CMC engine: recovery of known parameters, consensus combination, determinism across
execution paths, convergence warnings, DataTree layout, NetCDF round trip, calibration."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from truths import CMC_TRUTH, simulate_cmc_set

from xpcsnb.core.status import Status

import xpcsnb  # noqa: F401  (registers ds.xpcs)
from xpcsnb.fit.cmc import (
    cmc_summary,
    cmc_warnings,
    default_shard_count,
    fit_cmc,
    load_cmc,
    make_shards,
    save_cmc,
)
from xpcsnb.fit.diagnostics import THRESHOLDS, ConvergenceWarning
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.forward import simulate

TRUTH = dict(CMC_TRUTH)
PHI = [0.0, 45.0]  # the angles of simulate_cmc_set
SETTINGS = dict(n_shards=2, num_warmup=300, num_samples=400, num_chains=2, seed=0, progress=False, warn=False)


@pytest.fixture(scope="module")
def data() -> xr.Dataset:
    return simulate_cmc_set(40, seed=3)


@pytest.fixture(scope="module")
def nlsq(data):
    res = fit_nlsq(data, "static")
    assert bool(res["c2_nlsq_success"])
    return res


@pytest.fixture(scope="module")
def tree(data, nlsq) -> xr.DataTree:
    return fit_cmc(data, "static", nlsq=nlsq, parallel=False, **SETTINGS)


def test_layout_names_dims_units(tree):
    assert isinstance(tree, xr.DataTree)
    assert set(tree.children) == {"posterior", "shard_0", "shard_1", "diagnostics", "summary"}
    post = tree["posterior"]
    assert set(post.data_vars) == {"D0", "alpha", "D_offset", "contrast", "offset"}
    assert post["D0"].dims == ("chain", "draw")
    assert post["contrast"].dims == ("chain", "draw", "phi")
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 400
    np.testing.assert_array_equal(post["phi"].values, PHI)
    assert post["phi"].attrs["units"] == "deg"
    assert post["D_offset"].attrs["units"] == "Å²/s"
    for s in (0, 1):
        shard = tree[f"shard_{s}"]
        assert set(shard.children) == {"posterior", "sample_stats"}
        stats = shard["sample_stats"]
        for name in ("energy", "diverging", "acceptance_rate", "n_steps", "lp", "step_size"):
            assert stats[name].dims == ("chain", "draw")
        assert set(shard["posterior"].data_vars) == set(post.data_vars)
    # every support point is used exactly once
    n_points = sum(tree[f"shard_{s}/sample_stats"].attrs["n_points"] for s in (0, 1))
    assert n_points == len(PHI) * 40 * 39 // 2 == tree.attrs["n_points"]
    diag = tree["diagnostics"]
    assert diag["r_hat"].dims == ("shard", "param")
    assert diag["bfmi"].dims == ("shard", "chain")
    table = cmc_summary(tree)
    assert list(table.index) == ["D0", "alpha", "D_offset", "contrast_0", "contrast_1", "offset_0", "offset_1"]
    assert {"mean", "sd", "eti90_lb", "eti90_ub", "r_hat_max", "ess_bulk_min", "ess_tail_min"} <= set(table.columns)
    assert tree.attrs["model"] == "static" and tree.attrs["n_shards"] == 2
    assert "D0: truncated_normal" in tree.attrs["priors"] and "(nlsq)" in tree.attrs["priors"]
    assert tree.attrs["threshold_r_hat_max"] == THRESHOLDS.r_hat_max == 1.01
    assert tree.attrs["threshold_ess_min"] == THRESHOLDS.ess_min == 400


def test_combined_posterior_recovers_truth_within_3_sd(tree):
    post = tree["posterior"]
    for name, value in TRUTH.items():
        draws = post[name].values.ravel()
        assert abs(draws.mean() - value) < 3 * draws.std(), name
    for name, values in (("contrast", [0.3, 0.4]), ("offset", [1.0, 1.01])):
        m = post[name].mean(("chain", "draw")).values
        sd = post[name].std(("chain", "draw")).values
        assert np.all(np.abs(m - values) < 3 * sd), name
    # the shards are converged on this well-posed problem (R-hat is the robust check)
    assert float(tree["diagnostics"]["r_hat"].max()) < 1.02
    assert int(tree["diagnostics"]["divergences"].sum()) <= 10


def _flat(ds: xr.Dataset, spec=None) -> np.ndarray:
    """Draws (chain·draw, 7) as parameters, or in the sampler's coordinates with ``spec``: log x
    where sampled on a log scale, rate-law prefactor/offset measured from their valley (the
    soft box is the identity this far inside the bounds)."""
    import jax.numpy as jnp

    from xpcsnb.fit.cmc.reparam import unfollow_laws

    cols = [ds["D0"].values, ds["alpha"].values, ds["D_offset"].values]
    cols += [ds["contrast"].values[..., a] for a in range(2)] + [ds["offset"].values[..., a] for a in range(2)]
    x = np.stack([c.ravel() for c in cols], axis=-1)
    if spec is None:
        return x
    y = np.where(spec.log_scale, np.log(np.abs(x)), x)
    return np.asarray(jax.vmap(lambda r: unfollow_laws(r, spec.laws))(jnp.asarray(y)))


def test_combination_is_scott_consensus_of_the_shards(tree, data, nlsq):
    """Brute-force consensus (Scott et al. 2016, eq. 3): covariance-weighted average of the
    shards' draws in the sampler's coordinates (shared by all shards)."""
    from xpcsnb.fit.cmc.reference import read_nlsq, seeded_priors
    from xpcsnb.fit.cmc.reparam import build_spec
    from xpcsnb.fit.problem import build_problem

    problem = build_problem(data, "static")
    reference = read_nlsq(nlsq, "static")
    priors = seeded_priors("static", problem.names, problem.lower, problem.upper, priors=None, reference=reference)
    spec, _ = build_spec(problem, priors, reference, 2)
    assert len(spec.laws) == 1  # D0, alpha, D_offset follow the diffusion valley
    subs = [_flat(tree[f"shard_{s}/posterior"].to_dataset(), spec) for s in (0, 1)]
    weights = [np.linalg.inv(np.cov(x.T)) for x in subs]
    total = np.linalg.inv(sum(weights))
    expected = sum((total @ w @ x.T).T for w, x in zip(weights, subs))
    got = _flat(tree["posterior"].to_dataset(), spec)
    # to rounding of the round trip z → parameters → sampler coordinates (log, exp, valley map), relative to
    # each coordinate's scale (a valley offset near 0 takes the rounding of its O(10) neighbours)
    scale = np.abs(expected).max(axis=0)
    assert np.all(np.abs(got - expected) <= 1e-6 * np.abs(expected) + 1e-7 * scale)
    # the combined posterior is narrower than either shard's (more data)
    for name in TRUTH:
        sd_comb = float(tree["posterior"][name].std())
        assert all(sd_comb < float(tree[f"shard_{s}/posterior"][name].std()) for s in (0, 1))


@pytest.mark.slow
def test_one_compiled_chain_serves_every_dataset_of_a_structure(data, nlsq):
    """Specs of two datasets (other data, NLSQ centre, priors, valley map) share one compiled chain,
    which samples each with its own numbers: the draws of the per-spec chain of ``chain_runner``."""
    import jax.numpy as jnp

    from xpcsnb.fit.cmc.nuts import chain_runner, compiled_chain
    from xpcsnb.fit.cmc.reference import read_nlsq, seeded_priors
    from xpcsnb.fit.cmc.reparam import build_spec
    from xpcsnb.fit.cmc.shards import Sampler, make_shards, shard_tasks
    from xpcsnb.fit.cmc.traced import spec_numbers
    from xpcsnb.fit.problem import build_problem

    other = simulate_cmc_set(40, seed=11, noise=0.004)
    sampler = Sampler(40, 30, 2, True, 0.8, 6, 2.0)
    specs, tasks = [], []
    for ds, res in ((data, nlsq), (other, fit_nlsq(other, "static"))):
        problem = build_problem(ds, "static")
        ref = read_nlsq(res, "static")
        spec, _ = build_spec(problem, seeded_priors("static", problem.names, problem.lower, problem.upper,
                                                    priors=None, reference=ref), ref, 2)
        shards = make_shards(np.asarray(problem.k), 2, by="random", rng=np.random.default_rng(0))
        specs.append(spec)
        tasks.append(shard_tasks(problem, spec, sampler, shards, np.zeros((2, 2), dtype=np.uint32))[0])
    first, second = (compiled_chain(sp, sampler).fn for sp in specs)
    assert first is second
    key = jax.random.key(2)
    for spec, task in zip(specs, tasks):
        data_ = tuple(jnp.asarray(a) for a in (task.y, task.weight, task.i, task.j, task.k))
        z, *_ = first(key, *data_, spec_numbers(spec))[0]
        z_own, *_ = chain_runner(spec, sampler)(key, *data_)[0]
        np.testing.assert_allclose(np.asarray(z), np.asarray(z_own), rtol=1e-6, atol=1e-6)  # z: standard-normal scale


@pytest.mark.slow
def test_same_seed_same_posterior_in_processes(tree, data, nlsq, capsys):
    """Spawned worker processes give bit-identical draws to the sequential run; their chains'
    progress reaches this process's bars (and does not change the numbers)."""
    again = fit_cmc(data, "static", nlsq=nlsq, parallel=True, n_workers=2, **{**SETTINGS, "progress": True})
    err = capsys.readouterr().err
    assert "CMC shards" in err
    assert all(f"shard {s} chain {c}" in err for s in (0, 1) for c in (0, 1))
    assert again.attrs["executor"].startswith("processes")
    for name in ("posterior", "shard_0/posterior", "shard_1/posterior", "shard_1/sample_stats"):
        xr.testing.assert_equal(again[name].to_dataset(), tree[name].to_dataset())  # attrs hold timings


@pytest.mark.slow
def test_chain_progress_reports_every_iteration_once(data, nlsq, capsys, monkeypatch):
    """Sequential run with bars: each chain's bar counts warm-up + draws exactly, and the
    draws equal those of the run without bars."""
    from xpcsnb.fit.cmc import executors

    seen: dict[tuple[int, int], list[int]] = {}

    def reporter(shard, chain, total):
        seen[(shard, chain)] = [total]
        return seen[(shard, chain)].append

    settings = {**SETTINGS, "num_warmup": 37, "num_samples": 41}
    plain = fit_cmc(data, "static", nlsq=nlsq, parallel=False, **settings)
    with monkeypatch.context() as m:
        m.setattr(executors, "run_sequential",
                  lambda tasks, progress: list(executors.iter_shards(tasks, chain_progress=reporter)))
        reported = fit_cmc(data, "static", nlsq=nlsq, parallel=False, **settings)
    assert set(seen) == {(s, c) for s in (0, 1) for c in (0, 1)}
    for total, *steps in seen.values():
        assert total == 78 and sum(steps) == 78 and len(steps) > 10
    xr.testing.assert_equal(reported["posterior"].to_dataset(), plain["posterior"].to_dataset())
    fit_cmc(data, "static", nlsq=nlsq, parallel=False, **{**settings, "progress": True})
    err = capsys.readouterr().err
    assert "shard 1 chain 1" in err and "CMC shards" in err


def test_too_little_warmup_produces_convergence_warnings(data):
    with pytest.warns(ConvergenceWarning):
        bad = data.xpcs.fit_cmc("static", n_shards=2, num_warmup=3, num_samples=30, seed=5, parallel=False,
                                progress=False)
    messages = cmc_warnings(bad)
    assert messages and bad.attrs["converged"] == 0
    assert bad.attrs["status"] == Status.NOT_CONVERGED and bad.attrs["status_name"] == "NOT_CONVERGED"
    assert any(m.startswith(("R-hat", "ess_bulk", "ess_tail")) for m in messages)
    assert "registry" in bad.attrs["priors"]  # no NLSQ result: registry priors
    assert bad.attrs["reparametrisation_from"].startswith("internal NLSQ fit")


def test_noise_level_is_sampled_when_the_data_have_no_sigma(data, nlsq):
    ds = data.drop_vars("sigma")
    out = fit_cmc(ds, "static", nlsq=nlsq, n_shards=1, num_warmup=200, num_samples=200, seed=2,
                  parallel=False, progress=False, warn=False)
    noise = out["posterior"]["noise_sd"]
    rms_sigma = float(np.sqrt(np.mean(data["sigma"].values[:, *np.triu_indices(40, 1)] ** 2)))
    assert float(noise.mean()) == pytest.approx(rms_sigma, rel=0.1)
    assert "noise_sd" in out.attrs["likelihood"]


def test_netcdf_round_trip_and_no_overwrite(tree, tmp_path):
    path = tmp_path / "cmc.nc"
    save_cmc(tree, path)
    back = load_cmc(path)
    for name in ("posterior", "shard_0/posterior", "shard_0/sample_stats", "diagnostics", "summary"):
        xr.testing.assert_identical(back[name].to_dataset(), tree[name].to_dataset())
    assert cmc_warnings(back) == cmc_warnings(tree)
    assert back.attrs["priors"] == tree.attrs["priors"]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_cmc(tree, path)
    save_cmc(tree, path, overwrite=True)
    with pytest.raises(FileNotFoundError):
        load_cmc(tmp_path / "missing.nc")


@pytest.mark.parametrize("by", ["random", "angle_balanced"])
def test_shards_partition_the_points(by):
    k = np.repeat(np.arange(3), [500, 700, 900])
    parts = make_shards(k, 4, by=by, rng=np.random.default_rng(0))
    joined = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(joined), np.arange(k.size))
    sizes = [p.size for p in parts]
    assert max(sizes) - min(sizes) <= (1 if by == "random" else 3)
    if by == "angle_balanced":
        counts = np.array([np.bincount(k[p], minlength=3) for p in parts])
        assert np.all(counts.max(axis=0) - counts.min(axis=0) <= 1)
    again = make_shards(k, 4, by=by, rng=np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_shard_count_and_input_validation(data, nlsq):
    assert default_shard_count(374_250) == 2
    assert default_shard_count(10) == 1
    with pytest.raises(ValueError, match="fewer shards"):
        make_shards(np.zeros(100, int), 3, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="shard_by"):
        make_shards(np.zeros(1000, int), 2, by="phi", rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="combine"):
        fit_cmc(data, "static", nlsq=nlsq, combine="mean", parallel=False)
    with pytest.raises(ValueError, match="target_accept"):
        fit_cmc(data, "static", nlsq=nlsq, target_accept=1.5, parallel=False)
    with pytest.raises(ValueError, match="num_samples"):
        fit_cmc(data, "static", nlsq=nlsq, num_samples=0, parallel=False)
    with pytest.raises(ValueError, match="num_chains"):
        fit_cmc(data, "static", nlsq=nlsq, num_chains=1, parallel=False)
    other = nlsq.copy()
    other.attrs["model"] = "laminar_flow"
    with pytest.raises(ValueError, match="not 'static'"):
        fit_cmc(data, "static", nlsq=other, parallel=False)
    failed = nlsq.copy()
    failed["c2_nlsq_success"] = False
    with pytest.raises(ValueError, match="failed fit"):
        fit_cmc(data, "static", nlsq=failed, parallel=False)
    with pytest.raises(ValueError, match="not a free parameter"):
        from xpcsnb.models.registry import Prior

        fit_cmc(data, "static", nlsq=nlsq, priors={"phi0": Prior("uniform")}, parallel=False)
    other_data = simulate_cmc_set(40, seed=4)  # same grid, angles and model; other noise
    with pytest.raises(ValueError, match="not fitted to these data.*NLSQ result of this Dataset"):
        fit_cmc(other_data, "static", nlsq=nlsq, parallel=False)


def _load_calibration():
    path = Path(__file__).resolve().parents[2] / "bench" / "calibration.py"
    spec = importlib.util.spec_from_file_location("xpcsnb_bench_calibration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_calibration_reduced():
    """4 seeded simulations × 3 parameters: 90 % intervals cover the truth.

    For a calibrated posterior P(coverage < 60 % of 12) = P(≤ 7 of 12) ≈ 0.004; the full
    study (bench/calibration.py, 20 simulations) is reported in the issue note.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = _load_calibration().calibrate(4, n_frames=30, num_warmup=200, num_samples=300)
    assert out["total"] == 12
    assert 0.6 <= out["rate"] <= 1.0, out


def test_seeded_priors_equal_resolve_priors_from_the_nlsq_dataset(data, nlsq):
    """The NLSQ result read once (NlsqReference) seeds the same priors as the Dataset itself."""
    from xpcsnb.fit.cmc.reference import read_nlsq, seeded_priors
    from xpcsnb.fit.priors import resolve_priors
    from xpcsnb.fit.problem import build_problem
    from xpcsnb.models.registry import Prior

    problem = build_problem(data, "static")
    user = {"contrast_1": Prior("uniform")}
    expected = resolve_priors("static", problem.names, problem.lower, problem.upper, priors=user, nlsq=nlsq)
    got = seeded_priors("static", problem.names, problem.lower, problem.upper, priors=user,
                        reference=read_nlsq(nlsq, "static"))
    assert got == expected
    assert got["D0"].source == "nlsq" and got["contrast_1"].source == "user"


def test_load_cmc_refuses_other_result_kinds(tree, nlsq, tmp_path):
    from xpcsnb.io.results import save_result

    other = tmp_path / "nlsq.nc"
    save_result(nlsq, other, kind="nlsq")
    with pytest.raises(ValueError, match="'nlsq' result, not a 'cmc' result"):
        load_cmc(other)
    plain = tmp_path / "plain.nc"
    nlsq.to_netcdf(plain, engine="h5netcdf")
    with pytest.raises(ValueError, match="not written by xpcsnb"):
        load_cmc(plain)
    with pytest.raises(ValueError, match="DataTree of fit_cmc"):
        save_cmc(nlsq, tmp_path / "wrong.nc")


@pytest.mark.slow
def test_multi_q_shares_physics_with_contrast_offset_per_q_and_phi():
    """2 q × 2 φ: one posterior of the shared physics; contrast/offset (chain, draw, q, phi) near the truth."""
    qs, phis = [0.004, 0.006], [0.0, 45.0]
    ds = simulate("static", TRUTH, np.arange(16.0), phi=phis, q=qs, contrast=[0.3, 0.35], offset=1.0,
                  noise=0.002, seed=7)
    gain = xr.DataArray([1.0, 4.0 / 3.0], dims="q")  # contrast of q index 1: (0.4, 0.467)
    ds["c2"] = 1.0 + (ds["c2"] - 1.0) * gain
    truth = np.array([[0.3, 0.35], [0.4, 0.35 * 4.0 / 3.0]])
    out = fit_cmc(ds, "static", n_shards=2, shard_by="angle_balanced", num_warmup=60, num_samples=60, seed=1,
                  parallel=False, progress=False, warn=False)
    post = out["posterior"]
    assert post["contrast"].dims == ("chain", "draw", "q", "phi")
    assert post["offset"].dims == ("chain", "draw", "q", "phi")
    np.testing.assert_allclose(post["q"].values, qs)
    np.testing.assert_allclose(post["phi"].values, phis)
    assert post["D0"].dims == ("chain", "draw")
    labels = list(cmc_summary(out).index)
    assert labels[3:] == ["contrast_q0_0", "contrast_q0_1", "contrast_q1_0", "contrast_q1_1",
                          "offset_q0_0", "offset_q0_1", "offset_q1_0", "offset_q1_1"]
    assert out.attrs["n_points"] == 4 * 16 * 15 // 2 and "q" not in out.attrs
    m = post["contrast"].mean(("chain", "draw")).values
    np.testing.assert_allclose(m, truth, atol=0.02)
    assert float(post["offset"].mean()) == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_multi_q_seeded_by_the_joint_nlsq_fit():
    """A joint multi-q NLSQ result seeds every (q, φ) prior by name and centres the sampler."""
    ds = simulate("static", TRUTH, np.arange(16.0), phi=[0.0, 45.0], q=[0.004, 0.006], contrast=[0.3, 0.35],
                  offset=1.0, noise=0.002, seed=7)
    res = fit_nlsq(ds, "static")
    out = fit_cmc(ds, "static", nlsq=res, n_shards=2, shard_by="angle_balanced", num_warmup=40, num_samples=40,
                  seed=1, parallel=False, progress=False, warn=False)
    priors = dict(line.split(": ", 1) for line in out.attrs["priors"].split("\n"))
    assert set(priors) == {str(p) for p in res["param"].values}
    assert all(p.endswith("(nlsq)") for p in priors.values())
    assert out.attrs["reparametrisation_from"] == "nlsq= result"
    np.testing.assert_allclose(out["posterior"]["contrast"].mean(("chain", "draw")).values,
                               [[0.3, 0.35], [0.3, 0.35]], atol=0.01)
