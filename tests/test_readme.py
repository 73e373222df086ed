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
