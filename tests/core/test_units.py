"""Text units: the registry's ASCII units → Unicode (one renderer for reports, widgets and plots)."""

from __future__ import annotations

import pytest

from xpcsnb.core.units import pretty_unit
from xpcsnb.models import registry


@pytest.mark.parametrize(("unit", "shown"), [
    # registry units
    ("Å²/s^(1+alpha)", "Å²·s⁻¹⁻ᵅ"),
    ("Å/s^(1+beta)", "Å·s⁻¹⁻ᵝ"),
    ("s⁻¹·s^(-beta)", "s⁻¹⁻ᵝ"),             # factors of one base merge
    ("Å²/s^(1+alpha_ref)", "Å²·s⁻¹⁻ᵅʳᵉᶠ"),
    ("Å²/s", "Å²·s⁻¹"),
    ("1/s", "s⁻¹"),
    ("s⁻¹", "s⁻¹"),
    ("s", "s"),
    ("deg", "deg"),
    ("1", ""),
    ("", ""),
    # data in frames with an arbitrary q (the result's units follow the data)
    ("(1/q)²/frame^(1+alpha)", "(1/q)²·frame⁻¹⁻ᵅ"),
    ("1/Å", "Å⁻¹"),
    ("1/Å^2", "Å⁻²"),
    ("Å^-1", "Å⁻¹"),
    ("s^-1", "s⁻¹"),
    ("m^2", "m²"),
    ("kg*m^2/s^2", "kg·m²·s⁻²"),
    ("s^(2-alpha)", "s²⁻ᵅ"),
    ("photons/pixel", "photons·pixel⁻¹"),
    ("s/s", ""),                               # powers cancel
    # powers without superscript form keep the caret; unreadable text is kept
    ("Å^2.07/s", "Å^2.07·s⁻¹"),
    ("Å²/s^(1+q)", "Å²·s^(-1-q)"),
    ("arbitrary units", "arbitrary units"),
    ("s/", "s/"),
])
def test_pretty_unit(unit: str, shown: str) -> None:
    assert pretty_unit(unit) == shown


def test_every_registry_unit_is_shown_without_carets() -> None:
    for name in registry.model_names():
        for p in registry.get_model(name).parameters:
            shown = pretty_unit(p.unit)
            assert "^" not in shown and "alpha" not in shown and "beta" not in shown, (p.unit, shown)
