"""Kernel-side tests of the PriorEditor: rows from the registry or an NLSQ result, priors that
``fit_cmc`` accepts, live checks of every typed value, family changes, density plots."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.priors import nlsq_prior, resolve_priors
from xpcsnb.fit.problem import build_problem
from xpcsnb.models import Prior, get_model, registry
from xpcsnb.widgets import PriorEditor
from xpcsnb.widgets.priors import check_prior, convert, density, prior_mass


@pytest.fixture(scope="module")
def nlsq(static_set):
    res = fit_nlsq(static_set, "static", progress=False)
    assert bool(res["c2_nlsq_success"])
    return res


def _problem_bounds(ds, model="static"):
    problem = build_problem(ds, model, scaling="individual")
    return problem.names, np.asarray(problem.lower), np.asarray(problem.upper)


# ---------------------------------------------------------------- rows and the priors fit_cmc takes
def test_registry_rows_are_free_physics_then_scaling() -> None:
    ed = PriorEditor("heterodyne")
    model = get_model("heterodyne")
    expected = [n for n in model.parameter_names if n not in model.default_fixed] + ["contrast", "offset"]
    assert list(ed.rows) == expected
    assert ed.valid and ed.errors == {}
    pri = ed.priors
    for name in expected:
        assert pri[name] == registry.get(model, name).prior  # the registry's default, unchanged
        assert ed.rows[name].source == "registry"
    assert list(PriorEditor("static", scaling="fixed").rows) == ["D0", "alpha", "D_offset"]


def test_priors_are_what_resolve_priors_takes(static_set) -> None:
    ed = PriorEditor("static")
    ed.rows["D0"].kind.value = "lognormal"
    names, lo, hi = _problem_bounds(static_set)
    resolved = resolve_priors("static", names, lo, hi, priors=ed.priors)  # fit_cmc's own resolution
    assert resolved["D0"].prior == ed.priors["D0"] and resolved["D0"].source == "user"
    assert resolved["contrast_2"].prior == ed.priors["contrast"]  # a base-name row applies to every angle


def test_seeded_from_nlsq(nlsq, static_set) -> None:
    ed = PriorEditor("static", nlsq, width=3.0)
    free = [str(n) for n, f in zip(nlsq["param"].values, nlsq["c2_nlsq_vary"].values) if f]
    assert list(ed.rows) == free and "contrast_0" in ed.rows
    for name in free:
        value = float(nlsq["c2_nlsq_coefficients"].sel(param=name))
        err = float(nlsq["c2_nlsq_stderr"].sel(param=name))
        lo, hi = float(nlsq["c2_nlsq_lower"].sel(param=name)), float(nlsq["c2_nlsq_upper"].sel(param=name))
        assert ed.priors[name] == nlsq_prior(value, err, lo, hi, 3.0)
        assert ed.bounds[name] == (lo, hi) and ed.rows[name].source == "nlsq"
        assert "<line" in ed.rows[name].plot.value  # the NLSQ value is marked on the density
    names, lo, hi = _problem_bounds(static_set)
    resolved = resolve_priors("static", names, lo, hi, priors=ed.priors)
    assert set(resolved) == set(free)


def test_nlsq_of_another_model_is_refused(nlsq) -> None:
    with pytest.raises(ValueError, match="not 'laminar_flow'"):
        PriorEditor("laminar_flow", nlsq)
    with pytest.raises(ValueError, match="width"):
        PriorEditor("static", width=0.0)
    with pytest.raises(ValueError, match="not rows"):
        PriorEditor("static", bounds={"gamma_dot_t0": (0, 1)})


# ---------------------------------------------------------------- live checks (input -> message)
BAD_INPUTS = [
    ("D0", "truncated_normal", "abc", "1", "mean: type a finite number"),
    ("D0", "truncated_normal", "", "1", "mean: type a finite number"),
    ("D0", "truncated_normal", "1000", "0", "sd must be > 0"),
    ("D0", "truncated_normal", "1000", "-5", "sd must be > 0"),
    ("D0", "truncated_normal", "1e9", "10", "has no mass inside the bounds"),
    ("alpha", "lognormal", "0", "1", "lower >= 0"),
    ("D0", "beta_scaled", "0", "2", "a must be > 0"),
    ("D0", "lognormal", "50", "1", "has no mass inside the bounds"),
    ("D0", "halfnormal", "0", "nan", "scale: type a finite number"),
]


@pytest.mark.parametrize("name, kind, loc, scale, message", BAD_INPUTS)
def test_invalid_entries_are_highlighted_and_block_priors(name, kind, loc, scale, message) -> None:
    ed = PriorEditor("static")
    row = ed.rows[name]
    row.kind.value = kind
    row.loc.value, row.scale.value = loc, scale
    assert message in row.error
    assert not ed.valid and name in ed.errors
    assert "xpcsnb-prior-invalid" in row._dom_classes and "✗" in row.check.value
    assert any(w.style.background for w in (row.loc, row.scale))  # highlighted in place
    assert name in ed.summary.value
    with pytest.raises(ValueError, match=f"{name}: "):
        ed.priors
    row.reset()
    assert ed.valid and "xpcsnb-prior-invalid" not in row._dom_classes
    assert row.loc.style.background is None and row.scale.style.background is None


def test_edits_count_and_mark_user() -> None:
    ed = PriorEditor("static")
    v0 = ed.version
    ed.rows["alpha"].scale.value = "0.5"
    assert ed.version > v0 and ed.rows["alpha"].source == "user"
    assert ed.priors["alpha"] == Prior("truncated_normal", 0.0, 0.5)
    ed.set_priors({"contrast": Prior("uniform", 0.0, 1.0)})
    assert ed.priors["contrast"].kind == "uniform" and ed.rows["contrast"].loc.disabled
    with pytest.raises(ValueError, match="no row"):
        ed.set_priors({"nope": Prior()})
    with pytest.raises(TypeError):
        ed.set_priors({"D0": ("normal", 1, 2)})
    ed.reset()
    assert ed.priors["alpha"] == registry.get("static", "alpha").prior


@pytest.mark.parametrize("kind", ["lognormal", "beta_scaled", "normal", "halfnormal"])
def test_family_change_keeps_mean_and_sd(kind) -> None:
    lo, hi = 100.0, 1e5
    start = Prior("truncated_normal", 2e4, 4e3)
    new = convert(start, kind, lo, hi)
    x, p = density(new, lo, hi, 2001)
    p = np.nan_to_num(p)
    mean = float((x * p).sum() / p.sum())
    if kind == "halfnormal":  # one-sided: only the rms is kept
        assert math.isclose(new.scale, math.hypot(2e4, 4e3), rel_tol=0.05)
    else:
        assert mean == pytest.approx(2e4, rel=0.05)


def test_mass_closed_forms_against_scipy() -> None:
    assert prior_mass(Prior("normal", 1.0, 2.0), -1.0, 4.0) == pytest.approx(
        stats.norm(1, 2).cdf(4) - stats.norm(1, 2).cdf(-1))
    assert prior_mass(Prior("lognormal", 0.5, 0.7), 0.2, 3.0) == pytest.approx(
        stats.lognorm(0.7, scale=np.exp(0.5)).cdf(3) - stats.lognorm(0.7, scale=np.exp(0.5)).cdf(0.2))
    assert prior_mass(Prior("halfnormal", 0.0, 2.0), 1.0, 3.0) == pytest.approx(
        stats.halfnorm(scale=2).cdf(3) - stats.halfnorm(scale=2).cdf(1))
    assert prior_mass(Prior("uniform"), 0, 1) == 1.0
    assert check_prior(Prior("normal", 0.5, 0.1), 0, 1) == ""


def test_density_plot_is_the_truncated_density() -> None:
    ed = PriorEditor("static")
    row = ed.rows["offset"]
    assert "<polygon" in row.plot.value
    x, p = density(Prior("truncated_normal", 1.0, 0.25), 0.5, 1.5)
    dx = x[1] - x[0]
    assert float(np.sum(p) * dx) == pytest.approx(1.0, abs=0.03)  # normalised on the bounds
    row.kind.value = "uniform"
    x, p = density(row.prior, 0.5, 1.5)
    np.testing.assert_allclose(p, 1.0, rtol=1e-5)
