"""ParameterEditor: rows from the model, typed text kept, invalid boxes highlighted, per-angle scaling, units."""

from __future__ import annotations

import numpy as np
import pytest

from xpcsnb.models import HETERODYNE, STATIC, registry
from xpcsnb.widgets.editor import ParameterEditor, parse_number, validate_row


def test_editor_rows_are_the_model_parameters_then_scaling():
    ed = ParameterEditor(HETERODYNE, n_phi=3)
    assert list(ed.rows)[:-2] == [p.name for p in HETERODYNE.parameters]
    assert list(ed.rows)[-2:] == ["contrast", "offset"]
    assert ed.rows["f2"].fixed.value is True  # default-fixed
    opts = ed.fit_options()
    assert opts["fixed"] == {"f2": 0.0} and "contrast_2" in opts["bounds"] and "offset_2" in opts["bounds"]
    ed.rows["contrast"].upper.value = "0.8"
    assert ed.fit_options()["bounds"]["contrast_1"] == (0.0, 0.8)


@pytest.mark.parametrize("n_phi", [0, -1, 1.5, True, "2"])
def test_editor_refuses_a_bad_number_of_angles(n_phi):
    with pytest.raises(ValueError, match="n_phi must be an integer >= 1 .the number of angles of the data."):
        ParameterEditor(STATIC, n_phi=n_phi)


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
    assert "needs a value" in validate_row(None, 0.0, 1.0, True)


def test_editor_shows_text_units() -> None:
    ed = ParameterEditor(STATIC, n_phi=1)
    assert ed.rows["D0"].cells()[5].value == "Å²·s⁻¹⁻ᵅ"  # the unit column
    assert all("^" not in row.cells()[5].value for row in ed.rows.values())


def test_parse_number() -> None:
    assert parse_number(" 1e3 ") == 1000.0 and parse_number("−2") == -2.0
    with pytest.raises(ValueError, match="empty"):
        parse_number("  ")
    with pytest.raises(ValueError, match="'1e' is not a number"):
        parse_number("1e")


@pytest.mark.parametrize("model", [n for n in registry.MODELS if registry.get_model(n).kind == "twotime"])
def test_editor_rows_come_from_the_registry(model: str) -> None:
    ed = ParameterEditor(model, n_phi=3)
    physics = registry.MODELS[model]
    assert list(ed.rows) == [p.name for p in physics] + ["contrast", "offset"]
    default_fixed = {"heterodyne": {"f2"}}.get(model, set())
    for p in physics:
        row = ed.rows[p.name]
        assert (row.lower.number, row.upper.number, row.unit) == (p.lower, p.upper, p.unit)
        assert row.fixed.value == (p.name in default_fixed)
        if p.name not in default_fixed:
            assert row.initial.number == p.initial
    assert ed.valid and ed.check() == {}
    assert ed.rows["contrast"].initial.value == ""  # start from the data


def test_half_typed_or_empty_numbers_are_kept_and_highlighted() -> None:
    ed = ParameterEditor("static", n_phi=2)
    v0 = ed.version
    ed.rows["alpha"].lower.value = "1e"
    assert ed.rows["alpha"].lower.value == "1e"  # kept, never reverted
    assert not ed.valid and ed.version > v0
    assert "lower: &#x27;1e&#x27; is not a number" in ed.rows["alpha"].error.value
    assert "xpcsnb-invalid" in ed.rows["alpha"].lower._dom_classes
    assert "alpha" in ed.message.value and "highlighted" in ed.message.value
    ed.rows["D0"].initial.value = ""
    assert "initial: empty" in ed.check()["D0"] and "xpcsnb-invalid" in ed.rows["D0"].initial._dom_classes
    with pytest.raises(ValueError, match="alpha: lower"):
        ed.fit_options()
    ed.rows["alpha"].lower.value = "-1.5"
    ed.rows["D0"].initial.value = "2e3"
    assert ed.valid and ed.message.value == "" and ed.rows["alpha"].lower._dom_classes == ()
    assert ed.fit_options()["bounds"]["alpha"] == (-1.5, 2.0)


def test_editor_validates_inline_and_maps_to_fit_options() -> None:
    ed = ParameterEditor("static", n_phi=2)
    ed.rows["alpha"].lower.value = 3.0  # numbers are accepted too (formatted)
    assert ed.rows["alpha"].lower.value == "3" and not ed.valid
    assert "lower (3) must be &lt; upper (2)" in ed.rows["alpha"].error.value
    assert {"xpcsnb-invalid"} <= set(ed.rows["alpha"].upper._dom_classes)
    ed.rows["alpha"].lower.value = -1.0
    ed.rows["alpha"].initial.value = -0.5
    ed.rows["D_offset"].fixed.value = True
    ed.rows["D_offset"].initial.value = 50.0
    ed.rows["contrast"].upper.value = 0.6
    assert ed.valid and ed.rows["alpha"].error.value == ""
    assert ed.rows["D_offset"].lower.disabled  # bounds of a fixed parameter are not used
    opts = ed.fit_options()
    assert opts["fixed"] == {"D_offset": 50.0} and opts["free"] == [] and opts["scaling"] == "individual"
    assert opts["initial"] == {"D0": 1e3, "alpha": -0.5}
    assert opts["bounds"]["alpha"] == (-1.0, 2.0) and "D_offset" not in opts["bounds"]
    assert opts["bounds"]["contrast_0"] == opts["bounds"]["contrast_1"] == (0.0, 0.6)
    assert opts["bounds"]["offset_1"] == (0.5, 1.5)
    ed.highlight(["alpha"])
    assert ed.highlighted == ["alpha"]
    ed.reset()
    assert ed.rows["alpha"].lower.number == -2.0 and not ed.rows["D_offset"].fixed.value and ed.highlighted == []
    with pytest.raises(KeyError, match="no rows"):
        ed.highlight(["nope"])


def test_per_angle_scaling_rows_bounds_starts_and_fixing() -> None:
    ed = ParameterEditor("static", n_phi=2, per_angle=True)
    assert list(ed.rows)[-4:] == ["contrast_0", "contrast_1", "offset_0", "offset_1"]
    ed.rows["contrast_1"].upper.value = "0.4"
    ed.rows["contrast_1"].initial.value = "0.3"
    opts = ed.fit_options()
    assert opts["bounds"]["contrast_1"] == (0.0, 0.4) and opts["bounds"]["contrast_0"] == (0.0, 1.0)
    assert opts["initial"]["contrast_1"] == 0.3 and "contrast_0" not in opts["initial"]
    ed.rows["contrast_0"].fixed.value = True  # the engines hold all or none
    errors = ed.check()
    assert "every angle or for none" in errors["contrast_0"] or "empty" in errors["contrast_0"]
    for name, v in (("contrast_0", "0.3"), ("contrast_1", "0.25"), ("offset_0", "1"), ("offset_1", "1.002")):
        ed.rows[name].fixed.value = True
        ed.rows[name].initial.value = v
    opts = ed.fit_options()
    assert opts["scaling"] == "fixed" and opts["contrast"] == [0.3, 0.25] and opts["offset"] == [1.0, 1.002]
    shared = ParameterEditor("static", n_phi=3, scaling="shared")
    assert shared.fit_options()["bounds"]["contrast"] == (0.0, 1.0) and "contrast_0" not in shared.fit_options()["bounds"]
    with pytest.raises(ValueError, match="scaling must be"):
        ParameterEditor("static", 1, scaling="fixed")


def test_editor_set_initial_rejects_unknown_names() -> None:
    ed = ParameterEditor("static", n_phi=1)
    ed.set_initial({"D0": 2e3, "contrast": 0.2})
    assert ed.rows["D0"].initial.number == 2e3 and ed.rows["contrast"].initial.number == 0.2
    with pytest.raises(KeyError, match="gamma_dot_t0"):
        ed.set_initial({"gamma_dot_t0": 1e-3})


def test_editor_default_fixed_parameter_can_be_freed() -> None:
    ed = ParameterEditor("heterodyne", n_phi=1)
    assert ed.fit_options()["fixed"] == {"f2": 0.0}
    ed.rows["f2"].fixed.value = False
    opts = ed.fit_options()
    assert opts["free"] == ["f2"] and "f2" in opts["bounds"] and "f2" not in opts["fixed"]


def test_grid_is_fluid() -> None:
    ed = ParameterEditor("laminar_flow", n_phi=2)
    cols = ed.grid.layout.grid_template_columns
    assert "px" not in cols and "1fr" in cols  # no fixed pixel widths: the grid follows the window
    assert ed.grid.layout.width == "100%" and ed.grid.layout.overflow.startswith("auto")
