"""Independent g2 fits in lockstep (one batched evaluation per step) and the alternative starts."""

from __future__ import annotations

import numpy as np
import pytest
from test_g2_fit import TAU, simulate_g2

import xpcsnb
from xpcsnb.fit.g2batch import solve_lockstep
from xpcsnb.fit.g2nlsq import _solve, fit_g2_nlsq
from xpcsnb.fit.g2problem import build_g2_problems
from xpcsnb.fit.spec import as_spec


def test_lockstep_solutions_are_the_one_at_a_time_solutions() -> None:
    ds, _ = simulate_g2("stretched_exponential", rates=(3.0, 30.0, 300.0, 1000.0), seed=6)
    ds["g2_err"][2, -6:] = 0.0  # excluded points change nothing in the shapes
    problems = build_g2_problems(ds, "stretched_exponential", as_spec(None))
    one = [_solve(pr, {}) for pr in problems]
    batched = solve_lockstep(problems, lambda pr: _solve(pr, {}))
    for a, b in zip(one, batched):
        assert np.array_equal(a.x, b.x) and a.chi2 == b.chi2 and a.status == b.status and a.nfev == b.nfev


def test_an_error_in_one_solver_is_raised_after_the_others_finish() -> None:
    ds, _ = simulate_g2("single_exponential", seed=2)
    problems = build_g2_problems(ds, "single_exponential", as_spec(None))
    done = []

    def solve_one(pr):
        pr.compressed(pr.x0)
        if int(pr.roi[0]) == 1:
            raise ArithmeticError("ROI 1 broke")
        done.append(_solve(pr, {}))
        return done[-1]

    with pytest.raises(ArithmeticError, match="ROI 1 broke"):
        solve_lockstep(problems, solve_one)
    assert len(done) == 2  # the other ROIs were not left waiting


def test_a_failed_fit_tries_the_model_alternatives_and_keeps_the_lowest_chi2() -> None:
    rng = np.random.default_rng(0)
    y = 1.0 + 0.01 * rng.standard_normal((2, TAU.size))  # no visible decay: no estimate of the rate
    y[1] += 0.2 * np.exp(-2 * 50.0 * TAU)  # a clean decay
    ds = xpcsnb.g2(y, tau=TAU, g2_err=np.full(y.shape, 0.01))
    res = fit_g2_nlsq(ds, "stretched_exponential")
    first = fit_g2_nlsq(ds, "stretched_exponential", n_starts=1)  # the data-driven start only
    assert not bool(res["g2_nlsq_success"][0]) and bool(res["g2_nlsq_success"][1])
    assert "best of 3 starts" in str(res["g2_nlsq_message"].values[0])
    assert "best of" not in str(res["g2_nlsq_message"].values[1])
    assert float(res["g2_nlsq_chi2"][0]) <= float(first["g2_nlsq_chi2"][0])
    assert float(res["g2_nlsq_chi2"][1]) == float(first["g2_nlsq_chi2"][1])


def test_groups_larger_than_the_lockstep_size_are_solved_in_chunks(monkeypatch) -> None:
    import xpcsnb.fit.g2batch as g2batch

    ds, _ = simulate_g2("single_exponential", rates=(3.0, 30.0, 300.0), seed=8)
    problems = build_g2_problems(ds, "single_exponential", as_spec(None))
    one = [_solve(pr, {}) for pr in problems]
    monkeypatch.setattr(g2batch, "LOCKSTEP_SIZE", 2)  # chunks of 2 and 1
    batched = solve_lockstep(problems, lambda pr: _solve(pr, {}))
    assert [b.chi2 for b in batched] == [a.chi2 for a in one]
