"""Bad ``xpcsnb demo --output``: input → exit status and message (nothing is written)."""

import re

import pytest

from xpcsnb.cli import main, run_demo

CASES = [
    ("--output names an existing file", lambda tmp: tmp / "taken.txt", r"must be a folder, but .*taken\.txt is a file"),
    ("--output lies under an existing file", lambda tmp: tmp / "taken.txt" / "out",
     r"must be a folder, but .*taken\.txt is a file"),
]


@pytest.mark.parametrize("description, output, match", CASES, ids=[c[0] for c in CASES])
def test_demo_output_that_is_a_file(tmp_path, capsys, description, output, match):
    (tmp_path / "taken.txt").write_text("keep me")
    out = output(tmp_path)
    assert main(["demo", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "File exists" not in err and re.search(match, err)
    with pytest.raises(NotADirectoryError, match=match):
        run_demo(out, quiet=True)
    assert (tmp_path / "taken.txt").read_text() == "keep me"
