"""Kernel-side tests of the parameter editor and the fit dashboard (clicks via ``button.click()``)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xpcsnb.datasets import DEMO_TRUTH
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.models import registry
from xpcsnb.forward import simulate
from xpcsnb.widgets import FitPanel, ParameterEditor, explore
from xpcsnb.widgets.editor import validate_row

T = 0.1 * np.arange(40)  # 40 frames, dt = 0.1 s


@pytest.fixture(scope="module")
def static_ds() -> xr.Dataset:
    return simulate("static", dict(DEMO_TRUTH["static"]), T, phi=[0.0, 90.0], q=0.0054,
                    contrast=[0.3, 0.25], offset=[1.0, 1.002], noise=0.01, seed=11)


@pytest.fixture(scope="module")
def flow_ds() -> xr.Dataset:
    return simulate("laminar_flow", dict(DEMO_TRUTH["laminar_flow"]), T, phi=[0.0, 90.0], q=0.0054, L=2e6,
                    contrast=[0.3, 0.25], offset=[1.0, 1.002], noise=0.01, seed=12)


# ---------------------------------------------------------------- editor
def test_validate_row_rules() -> None:
    assert validate_row(1.0, 0.0, 2.0, False) == ""
    assert validate_row(0.0, 0.0, 2.0, False) == ""  # on a bound is allowed (registry f3 = 0 in [0, 1])
    assert "lower (2) must be < upper (1)" in validate_row(1.5, 2.0, 1.0, False)
    assert "above upper" in validate_row(3.0, 0.0, 2.0, False)
    assert "below lower" in validate_row(-1.0, 0.0, 2.0, False)
    assert "finite" in validate_row(np.nan, 0.0, 2.0, False)
    assert "finite" in validate_row(1.0, -np.inf, 2.0, False)
    assert validate_row(5.0, 2.0, 1.0, True) == ""  # a fixed value ignores the bounds
    assert validate_row(None, 0.0, 1.0, False) == ""  # data-based start


@pytest.mark.parametrize("model", [n for n in registry.MODELS if registry.get_model(n).kind == "twotime"])
def test_editor_rows_come_from_the_registry(model: str) -> None:
    ed = ParameterEditor(model, n_phi=3)
    physics = registry.MODELS[model]
    assert list(ed.rows) == [p.name for p in physics] + ["contrast", "offset"]
    default_fixed = {"heterodyne": {"f2"}}.get(model, set())
    for p in physics:
        row = ed.rows[p.name]
        assert (row.lower.value, row.upper.value, row.unit) == (p.lower, p.upper, p.unit)
        assert row.fixed.value == (p.name in default_fixed)
        if p.name not in default_fixed:
            assert row.initial.value == p.initial
    assert ed.valid and ed.check() == {}
    assert ed.rows["contrast"].initial is None  # start from the data


def test_editor_validates_inline_and_maps_to_fit_options() -> None:
    ed = ParameterEditor("static", n_phi=2)
    ed.rows["alpha"].lower.value = 3.0
    assert not ed.valid
    assert "lower (3) must be &lt; upper (2)" in ed.rows["alpha"].error.value
    with pytest.raises(ValueError, match="alpha: lower"):
        ed.fit_options()
    ed.rows["alpha"].lower.value = -1.0
    ed.rows["alpha"].initial.value = -0.5
    ed.rows["D_offset"].fixed.value = True
    ed.rows["D_offset"].initial.value = 50.0
    ed.rows["contrast"].upper.value = 0.6
    assert ed.valid and ed.rows["alpha"].error.value == ""
    assert ed.rows["D_offset"].lower.disabled  # bounds of a fixed parameter are not used
    opts = ed.fit_options()
    assert opts["fixed"] == {"D_offset": 50.0} and opts["free"] == []
    assert opts["initial"] == {"D0": 1e3, "alpha": -0.5}
    assert opts["bounds"]["alpha"] == (-1.0, 2.0) and "D_offset" not in opts["bounds"]
    assert opts["bounds"]["contrast_0"] == opts["bounds"]["contrast_1"] == (0.0, 0.6)
    assert opts["bounds"]["offset_1"] == (0.5, 1.5)
    ed.reset()
    assert ed.rows["alpha"].lower.value == -2.0 and not ed.rows["D_offset"].fixed.value


def test_editor_default_fixed_parameter_can_be_freed() -> None:
    ed = ParameterEditor("heterodyne", n_phi=1)
    assert ed.fit_options()["fixed"] == {"f2": 0.0}
    ed.rows["f2"].fixed.value = False
    opts = ed.fit_options()
    assert opts["free"] == ["f2"] and "f2" in opts["bounds"] and "f2" not in opts["fixed"]


def test_editor_set_initial_rejects_unknown_names() -> None:
    ed = ParameterEditor("static", n_phi=1)
    ed.set_initial({"D0": 2e3})
    assert ed.rows["D0"].initial.value == 2e3
    with pytest.raises(KeyError, match="gamma_dot_t0"):
        ed.set_initial({"gamma_dot_t0": 1e-3})
    with pytest.raises(KeyError):
        ed.set_initial({"contrast": 0.2})


# ---------------------------------------------------------------- panel
def test_click_fit_recovers_truth_and_shows_result_and_residual(static_ds: xr.Dataset) -> None:
    panel = FitPanel(static_ds, "static", progress=False)
    assert panel.result is None and panel.residual_view is None and not panel.fit_button.disabled
    panel.fit_button.click()
    res = panel.result
    assert res is not None and bool(res["c2_nlsq_success"]) and panel.error == ""
    # same numbers as calling fit_nlsq with the editor's options
    ref = fit_nlsq(static_ds, "static", **panel.editor.fit_options(), return_model=True)
    np.testing.assert_allclose(res["c2_nlsq_coefficients"].values, ref["c2_nlsq_coefficients"].values, rtol=1e-10)
    # known parameters recovered within 5 standard errors
    for name, truth in DEMO_TRUTH["static"].items():
        v, e = float(res["c2_nlsq_coefficients"].sel(param=name)), float(res["c2_nlsq_stderr"].sel(param=name))
        assert abs(v - truth) < 5 * e, (name, v, e, truth)
    assert float(res["c2_nlsq_chi2_red"]) == pytest.approx(1.0, abs=0.15)
    # busy state is over, the table and status are shown
    assert panel.fit_button.description == "Fit" and not panel.fit_button.disabled
    assert panel.progress.value == panel.progress.max and panel.progress.bar_style == "success"
    assert "NLSQ fit: success" in panel.result_html.value and "D0" in panel.result_html.value
    assert "succeeded" in panel.status.value
    # residual view = data − model (unweighted), same angle as the data view
    rv = panel.residual_view
    assert rv is not None and panel._views.children == (panel.viewer, rv)
    expected = static_ds["c2"].values - res["c2_model"].values
    np.testing.assert_allclose(np.frombuffer(rv.values, np.float32).reshape(40, 40), expected[0], atol=1e-6)
    assert rv.vmin == -rv.vmax
    panel.viewer.phi_index = 1
    assert rv.phi_index == 1
    np.testing.assert_allclose(np.frombuffer(rv.values, np.float32).reshape(40, 40), expected[1], atol=1e-6)


def test_fixed_parameter_and_start_from_result(static_ds: xr.Dataset) -> None:
    panel = FitPanel(static_ds, "static", progress=False)
    panel.editor.rows["D_offset"].fixed.value = True
    panel.editor.rows["D_offset"].initial.value = 100.0
    panel.fit_button.click()
    res = panel.result
    assert res is not None and not bool(res["c2_nlsq_vary"].sel(param="D_offset"))
    assert float(res["c2_nlsq_coefficients"].sel(param="D_offset")) == 100.0
    assert not panel.use_result_button.disabled
    panel.use_result_button.click()
    assert panel.editor.rows["D0"].initial.value == float(res["c2_nlsq_coefficients"].sel(param="D0"))
    assert panel.editor.rows["D_offset"].initial.value == 100.0  # fixed: unchanged
    # a second fit from the result lands on the same optimum and updates the residual view in place
    view = panel.residual_view
    panel.fit_button.click()
    assert panel.residual_view is view
    np.testing.assert_allclose(panel.result["c2_nlsq_coefficients"].values, res["c2_nlsq_coefficients"].values,
                               rtol=1e-5)


def test_invalid_settings_block_the_fit_and_say_why(static_ds: xr.Dataset) -> None:
    panel = FitPanel(static_ds, "static", progress=False)
    panel.fit_button.click()
    assert panel.result is not None
    panel.editor.rows["D0"].initial.value = 1e6
    assert panel.fit_button.disabled and "fix the highlighted" in panel.status.value
    assert "above upper bound" in panel.editor.rows["D0"].error.value
    panel.fit_button.click()  # a programmatic click runs the handler even when disabled
    assert panel.result is None and "D0: initial 1e+06 is above upper" in panel.error
    assert panel.progress.bar_style == "danger" and panel.result_html.value == ""
    panel.reset_button.click()
    assert not panel.fit_button.disabled


def test_default_model_laminar_flow(flow_ds: xr.Dataset) -> None:
    panel = explore(flow_ds, progress=False)
    assert panel.model == "laminar_flow" and "gamma_dot_t0" in panel.editor.rows
    panel.fit_button.click()
    res = panel.result
    assert res is not None and bool(res["c2_nlsq_success"]), panel.status.value
    assert float(res["c2_nlsq_chi2_red"]) == pytest.approx(1.0, abs=0.15)
    # angles 0° and 90°: the shear term sees cos²φ0 and sin²φ0 only, so the sign of φ0 is not
    # identifiable; the fit recovers |φ0| and says that the mirror minimum fits as well
    phi0 = res["c2_nlsq_coefficients"].sel(param="phi0")
    assert abs(abs(float(phi0)) - DEMO_TRUTH["laminar_flow"]["phi0"]) < 5 * float(
        res["c2_nlsq_stderr"].sel(param="phi0"))
    assert "distinct minimum" in str(res["c2_nlsq_message"].values)


def test_panel_input_errors(static_ds: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="needs the gap L"):
        FitPanel(static_ds, "laminar_flow")
    with pytest.raises(ValueError, match="unknown model"):
        FitPanel(static_ds, "ballistic")
    multi = xr.concat([static_ds, static_ds], dim="q").assign_coords(q=("q", [0.005, 0.006]))
    with pytest.raises(Exception, match="q"):
        FitPanel(multi, "static")
    assert explore(static_ds).model == "static"
