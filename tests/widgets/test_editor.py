"""ParameterEditor reads the model's own parameters (name or Model object) and checks n_phi."""

import pytest

from xpcsnb.models import HETERODYNE, STATIC
from xpcsnb.widgets import ParameterEditor


def test_editor_rows_are_the_model_parameters_then_scaling():
    ed = ParameterEditor(HETERODYNE, n_phi=3)
    assert list(ed.rows)[:-2] == [p.name for p in HETERODYNE.parameters]
    assert list(ed.rows)[-2:] == ["contrast", "offset"]
    assert ed.rows["f2"].fixed.value is True  # default-fixed
    opts = ed.fit_options()
    assert opts["fixed"] == {"f2": 0.0} and "contrast_2" in opts["bounds"] and "offset_2" in opts["bounds"]
    ed.rows["contrast"].upper.value = 0.8
    assert ed.fit_options()["bounds"]["contrast_1"] == (0.0, 0.8)


@pytest.mark.parametrize("n_phi", [0, -1, 1.5, True, "2"])
def test_editor_refuses_a_bad_number_of_angles(n_phi):
    with pytest.raises(ValueError, match="n_phi must be an integer >= 1 .the number of angles of the data."):
        ParameterEditor(STATIC, n_phi=n_phi)
