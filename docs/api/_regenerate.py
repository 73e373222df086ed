"""Regenerate the module pages ``docs/api/<module>.md`` from the modules' ``__all__``.

Run from the repository root: ``python docs/api/_regenerate.py``. The title and introduction
of each page are kept; names a subpackage re-exports from ``xpcsnb.core`` are linked to the
data-model page rather than documented twice. ``tests/test_docs.py`` fails when a page misses
a public name, so run this after adding one (and add face names to ``docs/api/index.md``).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["core", "io", "correlate", "xsvs", "models", "fit", "widgets"]
#: Public names that live in a submodule only: documented on the page of their package.
EXTRA: dict[str, dict[str, list[str] | None]] = {
    "io": {"xpcsnb.io.results": None},
    "core": {"xpcsnb.core.errors": ["UnitsWarning"], "xpcsnb.core.units": ["pretty_unit"]},
    "correlate": {"xpcsnb.correlate.stream": ["RoiLayout"]},
    "xsvs": {"xpcsnb.xsvs.statistics": ["K_MAX_LIMIT", "HIST_BYTES_MAX"]},
    "models": {"xpcsnb.models.onetime": ["Derived", "initial_g2_guess"], "xpcsnb.models.parameters": ["PRIOR_KINDS"],
               "xpcsnb.models.heterodyne": ["diagnose"],
               "xpcsnb.models.registry": ["MODELS", "get", "parameters", "physics_names"]},
    "fit": {"xpcsnb.fit.rates": ["fit_rates"], "xpcsnb.fit.cmc": ["CMCWorkerError"], "xpcsnb.fit.profile": None,
            "xpcsnb.fit.diagnostics": ["Thresholds", "THRESHOLDS", "ConvergenceWarning"],
            "xpcsnb.fit.report": ["flag_parameters", "report_html", "report_text"]},
    "widgets": {"xpcsnb.widgets.background": ["Bar"], "xpcsnb.widgets.editor": ["ParameterRow"],
                "xpcsnb.widgets.table": ["load_parameters", "parameters_csv", "parameters_dataset",
                                         "parameters_json", "result_table_html", "save_parameters"]},
}


def _autosummary(module: str, names: list[str]) -> list[str]:
    return ["", f".. currentmodule:: {module}", "", ".. autosummary::", "   :toctree: generated/", "",
            *(f"   {n}" for n in names)]


def page(mod: str) -> str:
    """The text of ``docs/api/<mod>.md``."""
    core = importlib.import_module("xpcsnb.core")
    m = importlib.import_module(f"xpcsnb.{mod}")
    old = (ROOT / "docs" / "api" / f"{mod}.md").read_text()
    head = old[:old.index("```{eval-rst}")]
    reexp = [n for n in m.__all__ if mod != "core" and n in core.__all__ and getattr(m, n) is getattr(core, n)]
    out = [head + "```{eval-rst}", f".. automodule:: xpcsnb.{mod}", "   :no-members:"]
    out += _autosummary(f"xpcsnb.{mod}", sorted((n for n in m.__all__ if n not in reexp), key=str.lower))
    for sub, names in EXTRA.get(mod, {}).items():
        try:
            sm = importlib.import_module(sub)
        except ImportError:
            continue
        names = [n for n in (names or sm.__all__) if hasattr(sm, n)]
        if names:
            out += _autosummary(sub, names)
    out += ["```", ""]
    if reexp:
        links = ", ".join(("{py:class}" if n[0].isupper() else "{py:func}") + f"`~xpcsnb.core.{n}`" for n in reexp)
        out += [f"Also available here, documented with the data model: {links}.", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    for mod in PAGES:
        (ROOT / "docs" / "api" / f"{mod}.md").write_text(page(mod))
