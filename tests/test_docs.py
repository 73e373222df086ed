"""The documentation: its sources checked cheaply, and one nitpicky build of the whole site.

The cheap tests catch drift with a clear message (a public name missing from the API
reference, a page citing a file that is not part of the site, a tutorial left out);
``test_the_site_builds_without_a_warning`` builds the site as CI and users do
(``sphinx-build -W --keep-going -n``, notebooks shown from their saved outputs) so that a
broken cross-reference in a page or a docstring fails the tests.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import xpcsnb

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts and "generated" not in p.parts
               and "notebooks" not in p.relative_to(DOCS).parts)


def _api_text() -> str:
    return "\n".join(p.read_text() for p in sorted(API.glob("*.md")))


def _names_in(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def test_every_name_of_the_package_face_is_in_the_api_reference():
    index = (API / "index.md").read_text()
    missing = [n for n in xpcsnb.__all__ if n != "__version__" and f"`xpcsnb.{n}`" not in index]
    assert not missing, f"docs/api/index.md does not list xpcsnb.{missing}: add a row to its face table"
    assert "__version__" in index


@pytest.mark.parametrize("module, page", [
    ("xpcsnb.core", "core"), ("xpcsnb.io", "io"), ("xpcsnb.io.results", "io"), ("xpcsnb.correlate", "correlate"),
    ("xpcsnb.xsvs", "xsvs"), ("xpcsnb.models", "models"), ("xpcsnb.fit", "fit"), ("xpcsnb.forward", "forward"),
    ("xpcsnb.widgets", "widgets"), ("xpcsnb.datasets", "datasets"), ("xpcsnb.plot.twotime", "plot"),
    ("xpcsnb.plot.g2", "plot"), ("xpcsnb.plot.xsvs", "plot"), ("xpcsnb.accessor", "accessor"),
])
def test_every_public_name_of_a_module_is_on_its_api_page(module, page):
    mod = importlib.import_module(module)
    text = (API / f"{page}.md").read_text()
    assert module in text, f"docs/api/{page}.md never names {module}"
    missing = sorted(set(mod.__all__) - _names_in(text))
    assert not missing, f"{module}.__all__ has {missing}, absent from docs/api/{page}.md: add them to its autosummary"


def test_every_accessor_method_is_in_the_api_reference():
    from xpcsnb.accessor import XpcsAccessor

    text = (API / "accessor.md").read_text()
    methods = [n for n, _ in inspect.getmembers(XpcsAccessor, inspect.isfunction) if not n.startswith("_")]
    assert methods
    missing = [n for n in methods if f"Dataset.xpcs.{n}" not in text]
    assert not missing, f"ds.xpcs.{missing} not in docs/api/accessor.md (autosummary of Dataset.xpcs.*)"


def _targets(page: Path) -> list[tuple[str, str]]:
    """(kind, target) of every link, toctree entry and {doc} role of a page."""
    text = page.read_text()
    out = [("link", t) for t in re.findall(r"\]\(([^)\s]+)\)", text)]
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        out += [("toctree", line.strip()) for line in block.splitlines()
                if line.strip() and not line.strip().startswith(":")]
    out += [("doc", t) for t in re.findall(r"\{doc\}`(?:[^`<]*<)?([^`>]+)>?`", text)]
    out += [("mention", t) for t in re.findall(r"(?<![\w/.(])([\w./-]+\.(?:md|ipynb))\b", text)]
    return out


def _inside_docs(page: Path, target: str, kind: str) -> Path | None:
    target = target.split("#")[0]
    if not target:
        return page
    base = DOCS if target.startswith("/") else page.parent
    path = Path(os.path.normpath(base / target.lstrip("/")))  # normpath: docs/notebooks stays inside docs
    if DOCS not in (path, *path.parents):
        return None
    candidates = [path] if path.suffix in (".md", ".ipynb") else [path.with_suffix(".md"), path.with_suffix(".ipynb")]
    return next((c for c in candidates if c.exists()), None)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_pages_cite_only_files_of_the_site(page):
    bad = []
    for kind, target in _targets(page):
        if re.match(r"[a-z]+:", target):        # http:, https:, mailto:
            continue
        if _inside_docs(page, target, kind) is None:
            bad.append(f"{kind} {target!r}")
    assert not bad, f"{page.relative_to(ROOT)} cites files that are not pages of docs/: {bad}"


def test_guides_leave_benchmarks_to_the_performance_page():
    offenders = [p.name for p in PAGES if p.name not in ("performance.md", "architecture.md")
                 and re.search(r"\bbench/\w+\.py", p.read_text())]
    assert not offenders, f"benchmark prose belongs in docs/performance.md, found in {offenders}"
    assert "bench/correlate.py" in (DOCS / "performance.md").read_text()


def test_every_tutorial_notebook_is_in_the_tutorials_index():
    link = DOCS / "notebooks"
    assert link.is_dir() and link.resolve() == (ROOT / "notebooks").resolve(), \
        "docs/notebooks must be the link to ../notebooks through which the site renders the tutorials"
    index = (DOCS / "tutorials.md").read_text()
    missing = [p.stem for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if f"notebooks/{p.stem}" not in index]
    assert not missing, f"docs/tutorials.md toctree misses {missing}"


def test_conf_renders_saved_outputs_and_the_docs_extra_has_the_tools():
    conf = (DOCS / "conf.py").read_text()
    assert re.search(r'^nb_execution_mode = "off"$', conf, re.M), "the tutorials are committed with outputs"
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["docs"]
    names = {re.split(r"[<>=!~\[ ]", r)[0].lower() for r in extra}
    assert {"sphinx", "myst-nb", "pydata-sphinx-theme", "numpydoc", "sphinx-autosummary-accessors"} <= names
    for ext in ("myst_nb", "numpydoc", "sphinx.ext.autosummary", "sphinx_autosummary_accessors"):
        assert f'"{ext}"' in conf
    assert 'html_theme = "pydata_sphinx_theme"' in conf


def test_the_test_extra_installs_the_docs_tools():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "xpcsnb[docs]" in extras["test"], "the README test command builds the site: the test extra needs the docs extra"


def test_intersphinx_reads_only_inventories_shipped_with_the_docs():
    """The build runs offline: every intersphinx inventory is a small file of docs/_inv."""
    conf = (DOCS / "conf.py").read_text()
    names = re.findall(r'"(\w+)": "https://', conf[conf.index("intersphinx_mapping"):])
    assert names, "conf.py lists no intersphinx projects"
    for name in names:
        inv = DOCS / "_inv" / f"{name}.inv"
        assert inv.is_file(), f"{inv.relative_to(ROOT)} missing: run python docs/_inv/make_inventories.py"
        assert inv.stat().st_size < 20_000, f"{inv.name} is not trimmed"


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    """``sphinx-build -W --keep-going -n``: any warning (a broken reference too) fails."""
    for module in ("sphinx", "myst_nb", "numpydoc", "pydata_sphinx_theme", "sphinx_autosummary_accessors"):
        importlib.import_module(module)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
           "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    problems = [line for line in run.stderr.splitlines()  # numpydoc's own (Python) warnings too: a dropped section
                if "WARNING" in line or "ERROR" in line or ("numpydoc" in line and "Warning:" in line)]
    report = "\n".join(problems[:40]) or run.stderr[-2000:]
    assert run.returncode == 0 and not problems, f"the docs build failed ({len(problems)} warnings):\n{report}"
    assert (tmp_path / "html" / "api" / "generated" / "xpcsnb.fit.fit_nlsq.html").is_file()
    assert (tmp_path / "html" / "notebooks" / "01_quickstart.html").is_file()
