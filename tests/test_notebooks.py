"""The tutorials are committed with fresh outputs: every notebook's code equals its jupytext twin.

The ``.py`` files (jupytext percent format) are the sources; the ``.ipynb`` files carry the
outputs shown on GitHub, in the docs and on Binder before anything runs. Regenerate a
notebook after editing its source with
``jupytext --to ipynb --execute notebooks/NAME.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (pip install -e '.[test]')")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))


def _code_cells(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def test_every_source_has_a_notebook_and_back() -> None:
    assert SOURCES, "no tutorial sources in notebooks/"
    assert {p.stem for p in SOURCES} == {p.stem for p in NOTEBOOKS.glob("*.ipynb")}


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_outputs_are_fresh(source: Path) -> None:
    paired = jupytext.read(source.with_suffix(".ipynb"))
    text = jupytext.read(source)
    assert _code_cells(paired) == _code_cells(text), (
        f"{source.with_suffix('.ipynb').name} is stale: its code differs from {source.name}; run "
        f"jupytext --to ipynb --execute {source.relative_to(NOTEBOOKS.parent)}")
    code = [c for c in paired.cells if c.cell_type == "code"]
    missing = [k for k, c in enumerate(code) if c.get("execution_count") is None]
    assert not missing, f"{source.with_suffix('.ipynb').name}: code cells {missing} were never executed"
    assert any(c.get("outputs") for c in code), f"{source.with_suffix('.ipynb').name} has no outputs at all"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{source.with_suffix('.ipynb').name} was saved with an error output: {errors[0].get('ename')}"
