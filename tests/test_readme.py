"""The README's two commands are what CI runs and what users type."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block(tag: str) -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(rf"<!-- {tag} -->\s*```bash\n(.*?)\n```\s*<!-- /{tag} -->", text, re.S)
    assert m, f"README has no {tag} block"
    return m.group(1).strip()


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first = text.index("<!-- demo-command -->")
    second = text.index("<!-- test-command -->")
    assert first < second < text.index("---")
    assert "xpcsnb demo" in _block("demo-command")
    assert "pytest" in _block("test-command") and "--nbmake" in _block("test-command")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "test-command" in ci  # .ci/run extracts the command from the README block verbatim


def _version_check(command: str) -> str:
    m = re.match(r"python3 -c '([^']*)' && ", command)
    assert m, "the command must start with the python3 version check: python3 -c '...' && ..."
    return m.group(1)


def test_both_commands_check_python_and_rebuild_a_stale_venv():
    for tag in ("demo-command", "test-command"):
        command = _block(tag)
        _version_check(command)
        # --clear: a .venv left by an older python3 is rebuilt; --upgrade-deps: an old bundled pip is upgraded
        assert "python3 -m venv --clear --upgrade-deps .venv && " in command, tag


def test_the_version_check_names_the_python_it_needs():
    import subprocess
    import sys

    code = _version_check(_block("demo-command"))
    assert code == _version_check(_block("test-command"))
    ok = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    old = subprocess.run([sys.executable, "-c", "import sys; sys.version_info = (3, 11, 7, 'final', 0)\n" + code],
                         capture_output=True, text=True)
    assert old.returncode == 1 and "xpcsnb needs Python >= 3.12" in old.stderr, (old.returncode, old.stderr)


def test_readme_saves_results_with_the_accessor_and_has_a_binder_badge():
    text = (ROOT / "README.md").read_text()
    assert ".to_netcdf(" not in text, "results are saved with res.xpcs.save(path) (atomic, never overwriting)"
    assert "res.xpcs.save(" in text
    assert re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\?urlpath=lab/tree/notebooks\)", text)
    assert "--overwrite" in text
