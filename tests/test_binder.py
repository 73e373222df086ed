"""binder/: a complete, consistent pinned environment for mybinder.org.

postBuild installs xpcsnb with ``--no-deps``, so every dependency must come from the pins.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for n, line in enumerate((BINDER / "requirements.txt").read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)", line)
        assert m, f"binder/requirements.txt line {n} is not an exact pin name==version: {line!r}"
        name = canonicalize_name(m.group(1))
        assert name not in pins, f"binder/requirements.txt pins {name} twice"
        pins[name] = Version(m.group(2))
    return pins


def _unmet(requirements: list[str], pins: dict[str, Version]) -> list[str]:
    bad = []
    for req in map(Requirement, requirements):
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            bad.append(f"{req} (not pinned)")
        elif not req.specifier.contains(pinned, prereleases=True):
            bad.append(f"{req} (pinned {pinned})")
    return bad


def _expand(requirements: list[str]) -> list[str]:
    """Replace a self-reference ``xpcsnb[extra]`` by that extra's requirements."""
    out: list[str] = []
    for text in requirements:
        req = Requirement(text)
        if canonicalize_name(req.name) == "xpcsnb":
            for extra in sorted(req.extras):
                out += _expand(PROJECT["optional-dependencies"][extra])
        else:
            out.append(text)
    return out


def test_every_runtime_dependency_is_pinned_within_its_bounds():
    bad = _unmet(PROJECT["dependencies"], _pins())
    assert not bad, f"binder/requirements.txt misses or violates runtime dependencies of pyproject.toml: {bad}"


def test_the_pins_are_the_freeze_the_note_describes():
    """The note says: pip install '.[test]' jupyterlab, then pip freeze; so those are pinned too."""
    text = (BINDER / "requirements.txt").read_text()
    assert "pip install '.[test]' jupyterlab" in text and "pip freeze --exclude xpcsnb" in text
    pins = _pins()
    bad = _unmet(_expand(PROJECT["optional-dependencies"]["test"]) + ["jupyterlab"], pins)
    assert not bad, f"the test extra and jupyterlab are not all pinned: {bad}"
    assert "xpcsnb" not in pins, "xpcsnb itself is installed by postBuild, not pinned"


def test_the_pins_resolve_for_the_runtime_python():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert m, f"binder/runtime.txt must read python-X.Y, got {runtime!r}"
    assert Version(f"{m.group(1)}.{m.group(2)}") in SpecifierSet(PROJECT["requires-python"]), \
        f"binder/runtime.txt {runtime} does not satisfy requires-python {PROJECT['requires-python']}"


def test_postbuild_checks_the_dependencies_and_start_runs_jax_on_the_cpu():
    post = (BINDER / "postBuild").read_text()
    assert "--no-deps" in post and 'requires("xpcsnb")' in post, "postBuild must check xpcsnb's dependencies"
    assert re.search(r"^export JAX_PLATFORMS=cpu$", (BINDER / "start").read_text(), re.M)
    assert 'exec "$@"' in (BINDER / "start").read_text()
