"""Issue 20: variable projection, coarse start search and valley coordinates leave the minimum unchanged."""

import numpy as np
import pytest

from xpcsnb.fit.nlsq import solve
from xpcsnb.fit.problem import build_problem
from xpcsnb.fit.projection import full_x, projected
from xpcsnb.fit.starts import coarse_problem


def test_projected_problem_has_the_cost_and_gradient_of_the_full_problem(laminar_set, truths):
    p = build_problem(laminar_set, "laminar_flow")
    m = p.n_physics_free
    xp = np.array([truths["laminar_flow"][n] for n in p.names[:m]]) * 1.1
    r_t, j_t, c, o, _ = projected(p, xp)
    x = full_x(p, xp)
    r, jac = np.asarray(p.residuals(x)), np.asarray(p.jacobian(x))
    assert r_t @ r_t == pytest.approx(r @ r, rel=1e-12)
    grad = jac.T @ r
    np.testing.assert_allclose(grad[m:], 0.0, atol=1e-8 * np.abs(grad).max())   # scaling at its optimum
    np.testing.assert_allclose(j_t.T @ r_t, grad[:m], rtol=1e-9)                 # Kaufman gradient is exact


def test_projected_scaling_respects_its_bounds(static_set):
    p = build_problem(static_set, "static", bounds={"contrast_0": (0.0, 0.2), "offset_1": (1.01, 1.5)})
    x = full_x(p, p.x0[:p.n_physics_free])
    assert x[p.names.index("contrast_0")] == pytest.approx(0.2)
    assert x[p.names.index("offset_1")] == pytest.approx(1.01)


@pytest.mark.parametrize("model, fixture", [("static", "static_set"), ("laminar_flow", "laminar_set")])
def test_projection_reaches_the_previous_engines_minimum_and_error_bars(model, fixture, request):
    p = build_problem(request.getfixturevalue(fixture), model)
    new = solve(p)
    old = solve(p, projection=False, coarse=False)
    assert new.success and old.success
    assert new.chi2 == pytest.approx(old.chi2, rel=1e-6)
    np.testing.assert_allclose(new.stderr, old.stderr, rtol=1e-3)
    assert new.njev <= old.njev


def test_coarse_problem_keeps_short_and_long_lags_in_equal_row_blocks(static_set):
    p = build_problem(static_set, "static")
    assert coarse_problem(p) is None                  # small rows are fitted whole
    small = coarse_problem(p, per_row=100)
    size = small.n_data // 3
    k, i, j = (np.asarray(a) for a in (small.k, small.i, small.j))
    assert np.array_equal(k, np.repeat(np.arange(3), size))
    lags = np.unique(j - i)
    assert lags.min() == 1 and lags.max() >= 30
    assert np.array_equal(i[:size], i[size:2 * size])
