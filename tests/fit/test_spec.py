"""The fit set-up (FitSpec), the engine's Solution, result naming, save/load and model-declared mirror starts."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xpcsnb
from xpcsnb.core.errors import XpcsError
from xpcsnb.fit import FitReport, FitSpec, Solution, Status, load_nlsq, save_nlsq
from xpcsnb.fit import nlsq as nlsq_module
from xpcsnb.fit.nlsq import fit_nlsq, solve
from xpcsnb.fit.problem import build_problem
from xpcsnb.fit.result import FIELDS, OPTIONAL_FIELDS, nlsq_var, solution_to_dataset
from xpcsnb.io.results import save_result
from xpcsnb.models import get_model
from xpcsnb.models.base import Mirror

STATIC = {"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0}
LAMINAR = {"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0, "gamma_dot_t0": 5e-4, "beta": 0.3,
           "gamma_dot_t_offset": 2e-5, "phi0": 4.0}
HET = {**dict.fromkeys(("alpha_ref", "D_offset_ref", "alpha_sample", "D_offset_sample", "beta", "v_offset", "f1",
                        "f2", "f3", "phi0"), 0.0), "D0_ref": 1e4, "D0_sample": 2e4, "v0": 100.0, "f0": 0.5}


@pytest.fixture(scope="module")
def static_ds():
    return xpcsnb.simulate("static", STATIC, 0.25 * np.arange(20), phi=[0.0, 90.0], q=0.0054,
                           contrast=[0.3, 0.27], offset=[1.0, 1.002], noise=0.01, seed=0)


@pytest.fixture(scope="module")
def static_fit(static_ds):
    return fit_nlsq(static_ds, "static")


def _solution(problem, status=Status.CONVERGED):
    p = problem.n_free
    return Solution(names=problem.names, x=problem.x0, x_start=problem.x0, stderr=np.full(p, 0.1),
                    cov=0.01 * np.eye(p), chi2=1.0, chi2_red=0.5, n_data=problem.n_data, n_params=p, status=status,
                    message="ok", nfev=3, njev=2, cond=1.0, at_bound=[], starts=problem.x0[None],
                    start_costs=[0.5], scale_covar=False, elapsed_s=0.0,
                    tolerances={"ftol": 1e-8, "xtol": 1e-8, "gtol": 1e-8, "max_nfev": 300})


# --------------------------------------------------------------------- FitSpec: input -> error
SPEC_ERRORS = [
    ({"bounds": {"D0": (1e2, 1e5, 1e9)}}, r"bounds\['D0'\] must be a pair \(lower, upper\).*\(3 values\)"),
    ({"bounds": {"D0": 5.0}}, r"bounds\['D0'\] must be a pair \(lower, upper\)"),
    ({"bounds": {"D0": "1, 2"}}, r"bounds\['D0'\] must be a pair \(lower, upper\)"),
    ({"bounds": {"D0": (1e5, 1e2)}}, r"bounds\['D0'\] .* lower < upper"),
    ({"bounds": {"D0": (1e2, np.inf)}}, r"bounds\['D0'\] .* finite"),
    ({"bounds": {"D0": (None, 1e5)}}, r"bounds\['D0'\] must be a pair"),
    ({"bounds": [("D0", (1, 2))]}, r"bounds= must be a dict"),
    ({"initial": {"D0": np.nan}}, r"initial value of 'D0' must be a finite number"),
    ({"initial": {"D0": "big"}}, r"initial value of 'D0' must be a finite number"),
    ({"fixed": {"beta": None}}, r"fixed value of 'beta' must be a finite number"),
    ({"fixed": {"f2": 1.0}, "free": ["f2"]}, r"\['f2'\] are both in fixed= and free="),
    ({"fixed": {"beta": 0.0}, "bounds": {"beta": (-1.0, 1.0)}}, r"'beta' is fixed; it takes no bounds"),
    ({"fixed": {"beta": 0.0}, "initial": {"beta": 0.1}}, r"'beta' is fixed; it takes no bounds or initial"),
    ({"free": "f2"}, r"free= must be a list of parameter names"),
    ({"initial": {"D0": 10.0}, "bounds": {"D0": (1e2, 1e5)}}, r"initial value of 'D0' = 10.0 is outside"),
    ({"scaling": "auto"}, r"unknown scaling 'auto'"),
    ({"scaling": "fixed", "contrast": 0.3}, r"scaling='fixed' needs contrast= and offset="),
    ({"contrast": 0.3, "offset": 1.0}, r"only used with scaling='fixed'"),
    ({"scaling": "fixed", "contrast": [0.3, np.nan], "offset": 1.0}, r"contrast must be finite"),
    ({"scaling": "fixed", "contrast": np.ones((2, 2, 2)), "offset": 1.0}, r"contrast= must be .* shape \(2, 2, 2\)"),
]


@pytest.mark.parametrize("keywords, error", SPEC_ERRORS, ids=[e for _, e in SPEC_ERRORS])
def test_fitspec_refuses_malformed_setups(keywords, error):
    with pytest.raises(XpcsError, match=error):
        FitSpec.create(**keywords)


#: input that needs the model (and data) -> error, through build_problem and fit_nlsq
PROBLEM_ERRORS = [
    ("static", {"fixed": {"D0": 1e7}}, r"fixed value of 'D0' = 10000000.0 \[.*\] is outside its bounds \[100.0, "
                                       r"100000.0\]"),
    ("static", {"fixed": {"alpha": -2.5}}, r"fixed value of 'alpha' = -2.5 .* outside its bounds \[-2.0, 2.0\]"),
    ("static", {"fixed": {"phi0": 0.0}}, r"unknown physics parameter 'phi0': model 'static'"),
    ("static", {"free": ["gamma"]}, r"unknown physics parameter 'gamma'"),
    ("static", {"bounds": {"gamma_dot_t0": (0, 1)}}, r"unknown parameter 'gamma_dot_t0'"),
    ("static", {"bounds": {"contrast_7": (0.0, 1.0)}}, r"unknown parameter 'contrast_7'"),
    ("static", {"bounds": {"D0": (1e2, 1e5, 1e9)}}, r"bounds\['D0'\] must be a pair \(lower, upper\)"),
    ("static", {"bounds": {"D0": 5.0}}, r"bounds\['D0'\] must be a pair \(lower, upper\)"),
    ("static", {"scaling": "fixed", "contrast": [0.3, 0.3, 0.3], "offset": 1.0}, r"one value per angle \(2\)"),
]


@pytest.mark.parametrize("model, keywords, error", PROBLEM_ERRORS, ids=[e for _, _, e in PROBLEM_ERRORS])
def test_setup_errors_name_the_parameter(static_ds, model, keywords, error):
    with pytest.raises(ValueError, match=error):
        build_problem(static_ds, model, FitSpec.create(**keywords))
    with pytest.raises(ValueError, match=error):
        fit_nlsq(static_ds, model, **keywords)


def test_default_fixed_parameter_needs_free():
    ds = xpcsnb.simulate("heterodyne", HET, 0.1 * (np.arange(8) + 1), phi=[0.0], q=0.0054, contrast=0.3, offset=1.0)
    with pytest.raises(XpcsError, match=r"'f2' is fixed by default for model 'heterodyne'.*free=\['f2'\]"):
        build_problem(ds, "heterodyne", initial={"f2": 1.0})
    assert "f2" in build_problem(ds, "heterodyne", free=["f2"], initial={"f2": 1.0}).names
    assert build_problem(ds, "heterodyne", fixed={"f2": 2.0}).fixed_physics["f2"] == 2.0


def test_fitspec_is_frozen_and_normalised():
    spec = FitSpec.create(bounds={"D0": [1e3, np.float32(5e4)]}, initial={"D0": np.int64(4000)},
                          fixed={"alpha": 0}, free=[])
    assert spec.bounds == {"D0": (1e3, 5e4)} and type(spec.bounds["D0"][1]) is float
    assert spec.initial == {"D0": 4000.0} and spec.fixed == {"alpha": 0.0} and spec.scaling == "individual"
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.scaling = "shared"
    with pytest.raises(TypeError):
        spec.bounds["D0"] = (1.0, 2.0)
    assert FitSpec.create() == FitSpec()
    fixed = FitSpec.create(scaling="fixed", contrast=[[0.1, 0.2], [0.3, 0.4]], offset=1.0)
    assert fixed.select_q(1).contrast == (0.3, 0.4) and fixed.select_q(1).offset == 1.0


def test_spec_and_keywords_build_the_same_problem(static_ds):
    kw = {"bounds": {"D0": (1e3, 5e4), "contrast_1": (0.1, 0.9)}, "initial": {"alpha": -0.1},
          "fixed": {"D_offset": 0.0}}
    a = build_problem(static_ds, "static", **kw)
    b = build_problem(static_ds, "static", FitSpec.create(**kw))
    assert a.names == b.names
    for attr in ("lower", "upper", "x0", "theta_fixed"):
        np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
    with pytest.raises(XpcsError, match=r"either spec= or the set-up keywords \['scaling'\]"):
        build_problem(static_ds, "static", FitSpec(), scaling="shared")
    with pytest.raises(XpcsError, match="spec= must be an xpcsnb.fit.FitSpec"):
        fit_nlsq(static_ds, "static", spec={"bounds": {}})


def test_from_nlsq_restarts_from_the_solution(static_ds, static_fit):
    spec = FitSpec.from_nlsq(static_fit)
    free = [str(n) for n, v in zip(static_fit["param"].values, static_fit["c2_nlsq_vary"].values) if v]
    assert list(spec.initial) == free and spec.fixed == {} and spec.scaling == "individual"
    for n in free:
        sel = static_fit.sel(param=n)
        assert spec.initial[n] == float(sel["c2_nlsq_coefficients"])
        assert spec.bounds[n] == (float(sel["c2_nlsq_lower"]), float(sel["c2_nlsq_upper"]))
    again = fit_nlsq(static_ds, "static", spec=spec)  # starts at the minimum: stays there (within 1 % of a stderr)
    shift = (again["c2_nlsq_coefficients"] - static_fit["c2_nlsq_coefficients"]) / static_fit["c2_nlsq_stderr"]
    assert float(np.abs(shift).max()) < 0.01
    assert float(again["c2_nlsq_chi2"]) == pytest.approx(float(static_fit["c2_nlsq_chi2"]), rel=1e-8)
    held = fit_nlsq(static_ds, "static", scaling="shared", fixed={"D_offset": 150.0})
    spec = FitSpec.from_nlsq(held)
    assert spec.fixed == {"D_offset": 150.0} and spec.scaling == "shared" and "D_offset" not in spec.bounds


def test_from_nlsq_frees_fitted_default_fixed_parameters_and_keeps_fixed_scaling():
    ds = xpcsnb.simulate("heterodyne", HET, 0.1 * (np.arange(8) + 1), phi=[0.0, 90.0], q=0.0054, contrast=0.3,
                         offset=1.0)
    problem = build_problem(ds, "heterodyne", free=["f2"], fixed={"beta": 0.1}, scaling="fixed",
                            contrast=[0.3, 0.25], offset=1.0)
    res = solution_to_dataset(problem, _solution(problem), ds)
    spec = FitSpec.from_nlsq(res)
    assert spec.free == ("f2",) and spec.fixed == {"beta": 0.1}
    assert spec.scaling == "fixed" and spec.contrast == (0.3, 0.25) and spec.offset == (1.0, 1.0)
    rebuilt = build_problem(ds, "heterodyne", spec)
    assert rebuilt.names == problem.names
    np.testing.assert_array_equal(rebuilt.x0, problem.x0)


def test_from_nlsq_refuses_per_q_results_and_other_datasets(static_ds, static_fit):
    stacked = xpcsnb.fit.concat_q([static_fit, static_fit], [0.004, 0.005])
    with pytest.raises(XpcsError, match=r"several fits .*from_nlsq\(res.isel\(q=0\)\)"):
        FitSpec.from_nlsq(stacked)
    with pytest.raises(XpcsError, match="not an NLSQ result"):
        FitSpec.from_nlsq(static_ds)


# --------------------------------------------------------------------- Solution
def test_solution_is_frozen_and_success_follows_status(static_ds):
    problem = build_problem(static_ds, "static")
    sol = _solution(problem)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sol.chi2 = 0.0
    with pytest.raises(ValueError, match="read-only"):
        sol.x[0] = 1.0
    with pytest.raises(TypeError):
        sol.tolerances["ftol"] = 1.0
    assert sol.success and sol.n_starts == 1 and sol.status is Status.CONVERGED
    bad = dataclasses.replace(sol, status=4)
    assert bad.status is Status.SINGULAR_COVARIANCE and not bad.success
    with pytest.warns(DeprecationWarning, match=r"use sol.x"):
        np.testing.assert_array_equal(sol["x"], sol.x)
    with pytest.warns(DeprecationWarning, match=r"sol.tolerances\['max_nfev'\]"):
        assert sol["max_nfev"] == 300
    with pytest.raises(KeyError):
        sol["nothing"]


def test_solve_returns_a_solution(static_ds):
    problem = build_problem(static_ds, "static")
    sol = solve(problem)
    assert isinstance(sol, Solution) and sol.names == problem.names
    assert sol.success and sol.status == Status.CONVERGED and sol.n_params == problem.n_free
    assert sol.chi2 == pytest.approx(float(np.sum(np.asarray(problem.residuals(sol.x)) ** 2)), rel=1e-10)


# --------------------------------------------------------------------- result naming, report, save/load
def test_result_variables_follow_one_naming_rule(static_ds, static_fit):
    assert nlsq_var(static_fit) == "c2"
    assert set(static_fit.data_vars) == {f"c2_nlsq_{f}" for f in FIELDS + OPTIONAL_FIELDS}
    assert static_fit["c2_nlsq_status"].attrs["meaning"] == "CONVERGED"
    problem = build_problem(static_ds, "static")
    g2 = solution_to_dataset(problem, _solution(problem), static_ds, var="g2")
    assert set(g2.data_vars) == {f"g2_nlsq_{f}" for f in FIELDS + OPTIONAL_FIELDS}
    assert nlsq_var(g2) == "g2" and "[[NLSQ fit]]" in str(FitReport(g2))


def test_save_and_load_refuse_overwrite_and_other_kinds(tmp_path, static_ds, static_fit):
    path = tmp_path / "fit.nc"
    save_nlsq(static_fit, path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        static_fit.xpcs.save(path)
    assert static_fit.xpcs.save(path, overwrite=True) == path
    assert load_nlsq(path)["c2_nlsq_success"].item() is True
    other = tmp_path / "other.nc"
    save_result(xr.Dataset({"a": ("x", [1.0])}), other, kind="cmc")
    with pytest.raises(ValueError, match="holds a 'cmc' result, not a 'nlsq' result"):
        load_nlsq(other)
    plain = tmp_path / "plain.nc"
    static_fit.to_netcdf(plain, engine="h5netcdf")
    with pytest.raises(ValueError, match="not written by xpcsnb's save"):
        load_nlsq(plain)
    with pytest.raises(XpcsError, match=r"not an NLSQ result: it has no '\*_nlsq_coefficients'.*'c2'"):
        static_ds.xpcs.save(tmp_path / "data.nc")
    with pytest.raises(XpcsError, match="not an NLSQ result"):
        static_ds.xpcs.report()
    partial = static_fit.drop_vars("c2_nlsq_vary")
    with pytest.raises(XpcsError, match=r"not a result of xpcsnb.fit_nlsq: .*c2_nlsq_vary"):
        partial.xpcs.save(tmp_path / "partial.nc")
    assert not (tmp_path / "data.nc").exists() and not (tmp_path / "partial.nc").exists()


def test_deprecated_result_names_wrap_plain_datasets(static_fit):
    with pytest.warns(DeprecationWarning, match="as_result is deprecated"):
        report = xpcsnb.as_result(static_fit)
    assert isinstance(report, FitReport) and report.result is static_fit
    assert report.report() == str(static_fit.xpcs.report())
    with pytest.warns(DeprecationWarning, match="NLSQResult is deprecated"):
        wrapped = xpcsnb.fit.NLSQResult(static_fit)
    assert not isinstance(wrapped, xr.Dataset) and "NLSQ fit: success" in wrapped._repr_html_()


# --------------------------------------------------------------------- mirror starts come from the model
def test_engine_knows_no_parameter_by_name():
    assert "phi0" not in Path(nlsq_module.__file__).read_text()


def test_mirror_starts_follow_the_models_start_symmetries():
    ds = xpcsnb.simulate("laminar_flow", LAMINAR, 0.25 * np.arange(16), phi=[0.0, 45.0], q=0.0054, L=2e6,
                         contrast=0.3, offset=1.0, noise=0.01, seed=3)
    flow = get_model("laminar_flow")
    assert flow.start_symmetries == (Mirror("phi0"),)
    start = {"alpha": -0.2}  # not 0, so that a mirror on alpha does not move the default start
    declared = build_problem(ds, flow, initial=start)
    k = declared.names.index("phi0")
    assert solve(declared, projection=False).starts[0, k] == 0.25 * (declared.upper[k] - declared.lower[k])
    # the same physics with no declared symmetry: no mirror, although a parameter is called phi0
    plain = build_problem(ds, dataclasses.replace(flow, start_symmetries=()), initial=start)
    first = solve(plain, projection=False)  # no screened data-driven starts: the declared ones only
    assert first.n_starts == 1
    np.testing.assert_array_equal(first.starts[0], plain.x0)
    # a symmetry declared on another parameter: the mirrored start is the first solution with alpha flipped
    on_alpha = build_problem(ds, dataclasses.replace(flow, start_symmetries=(Mirror("alpha"),)), initial=start)
    a = on_alpha.names.index("alpha")
    sol = solve(on_alpha, projection=False)
    assert sol.n_starts == 2
    np.testing.assert_array_equal(sol.starts[0], plain.x0)
    assert first.x[a] != 0 and sol.starts[1, a] == np.clip(-first.x[a], on_alpha.lower[a], on_alpha.upper[a])
    np.testing.assert_array_equal(np.delete(sol.starts[1], a), np.delete(first.x, a))
