"""The floors of docs/architecture.md, checked on every module of the package.

Each module is parsed (never imported) and every import it makes — at the top or inside a
function — is resolved to an ``xpcsnb`` module; its floor must not be above the importer's.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xpcsnb"

#: Floor of each top-level part of the package (docs/architecture.md).
FLOORS = {
    "_version": 0, "_jax": 0, "_numeric": 0, "_warn": 0, "core": 0,
    "io": 1, "correlate": 1, "xsvs": 1, "models": 1,
    "fit": 2,
    "forward": 3, "pipeline": 3, "datasets": 3,
    "plot": 4, "widgets": 4,
    "accessor": 5,
    "__init__": 6, "__main__": 6, "cli": 6,
}
#: Parts of floor 1 that may import only core (and themselves), not each other.
SIBLINGS = {"io", "correlate", "xsvs", "models"}
MAX_LINES = 600
HEAVY = ("ipywidgets", "anywidget", "holoviews", "matplotlib")


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts)


def _part(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every xpcsnb import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    mod = _dotted(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    if path.name == "__init__.py":
        package = mod.rpartition(".")[0] if mod.endswith(".__init__") else mod
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "xpcsnb" or target.startswith("xpcsnb."):
                out.append((node.lineno, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "xpcsnb" or a.name.startswith("xpcsnb."):
                    out.append((node.lineno, a.name, []))
    return out


def _is_module(dotted: str) -> bool:
    p = PACKAGE.parent.joinpath(*dotted.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_respects_the_floors(path: Path) -> None:
    if path.name == "__init__.py":
        dotted = _dotted(path.parent) if path.parent != PACKAGE else "xpcsnb"
    else:
        dotted = _dotted(path)
    me = _part(dotted)
    assert me in FLOORS, f"{dotted}: part {me!r} has no floor in docs/architecture.md; add it there and here"
    problems = []
    for line, target, names in _imports(path):
        if target == "xpcsnb":
            # only submodules may be named: nothing imports the package root's attributes
            bad = [n for n in names if not _is_module(f"xpcsnb.{n}")]
            if me != "__init__" and (bad or not names):
                problems.append(f"line {line}: imports the package root ({', '.join(bad) or 'xpcsnb'})")
            targets = [f"xpcsnb.{n}" for n in names if _is_module(f"xpcsnb.{n}")]
        else:
            targets = [target]
        for t in targets:
            other = _part(t)
            if other not in FLOORS:
                continue
            if FLOORS[other] > FLOORS[me]:
                problems.append(f"line {line}: {me} (floor {FLOORS[me]}) imports {t} (floor {FLOORS[other]})")
            elif me in SIBLINGS and other in SIBLINGS and other != me:
                problems.append(f"line {line}: sibling {me} imports {t} (siblings share only core)")
    assert not problems, f"{dotted}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_is_small(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {n} lines (> {MAX_LINES}): split it by job"


def _fresh(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip()


@pytest.mark.parametrize("statement", ["import xpcsnb", "import xpcsnb.fit", "import xpcsnb.core",
                                       "import xpcsnb.io", "import xpcsnb.models",
                                       "import xpcsnb; xpcsnb.fit_nlsq; xpcsnb.simulate; xpcsnb.twotime"])
def test_import_loads_no_views(statement: str) -> None:
    out = _fresh(f"import sys; {statement}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert out == "", f"{statement!r} imported {out}"


def test_views_load_when_used() -> None:
    out = _fresh("import sys, xpcsnb; xpcsnb.widgets; print('ipywidgets' in sys.modules)")
    assert out == "True"


def test_import_xpcsnb_does_not_load_the_engines() -> None:
    out = _fresh("import sys, xpcsnb; print(','.join(m for m in ('jax', 'numpyro', 'scipy') if m in sys.modules))")
    assert out == "", f"'import xpcsnb' imported {out}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_has_no_io_and_no_jax(path: Path) -> None:
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
    assert not names & {"jax", "jaxlib", "h5py", "h5netcdf", "numpyro", "dask"}, f"core/{path.name} imports {names}"
