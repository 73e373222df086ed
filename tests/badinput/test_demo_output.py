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


# ---------------------------------------------------------------------------------
# a demo killed mid-run: no partial file under an output's name, and the rerun works
# ---------------------------------------------------------------------------------
KILLED = r'''
import os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from xpcsnb import cli
from xpcsnb.io.results import save_result

out, writer = sys.argv[1], sys.argv[2]
paths = cli._outputs(__import__("pathlib").Path(out), ["done.png", "done.nc", "cut.png", "cut.nc"], False)
fig = plt.figure()
fig.gca().plot([0, 1], [1, 0])
ds = xr.Dataset({"g2": ("tau", np.linspace(1.3, 1.0, 200))})
cli._save_png(fig, paths["done.png"])
save_result(ds, paths["done.nc"], kind="g2")
os.fsync = lambda fd: os._exit(9)  # SIGKILL stand-in: the bytes are written, the rename never happens
if writer == "png":
    cli._save_png(fig, paths["cut.png"])
else:
    save_result(ds, paths["cut.nc"], kind="g2")
'''


@pytest.mark.parametrize("writer", ["png", "nc"])
def test_demo_killed_while_writing_leaves_no_partial_output_and_rerun_works(tmp_path, writer):
    import subprocess
    import sys

    from xpcsnb.cli import _outputs
    from xpcsnb.io.results import load_result

    out = tmp_path / "demo"
    run = subprocess.run([sys.executable, "-c", KILLED, str(out), writer], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 9, run.stderr
    names = sorted(p.name for p in out.iterdir())
    assert "cut.png" not in names and "cut.nc" not in names  # nothing half-written under the target name
    assert any(n.startswith(f".cut.{writer}.") and n.endswith(".xpcsnb-tmp") for n in names), names
    assert (out / "done.png").read_bytes().startswith(b"\x89PNG")
    assert load_result(out / "done.nc", kind="g2")["g2"].size == 200  # the finished files are complete
    own = ["done.png", "done.nc", "cut.png", "cut.nc"]
    with pytest.raises(FileExistsError, match=r"earlier demo run.*done\.png.*--overwrite"):
        _outputs(out, own, overwrite=False)
    (out / "notes.txt").write_text("mine")
    _outputs(out, own, overwrite=True)  # the rerun: starts, and removes the killed run's temporaries
    assert sorted(p.name for p in out.iterdir()) == ["done.nc", "done.png", "notes.txt"]


def test_demo_refusal_names_the_earlier_files_and_the_way_out(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "static_static_fit.nc").write_bytes(b"\0" * 96)  # e.g. a 96-byte leftover of an old version
    assert main(["demo", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "static_static_fit.nc" in err and "--overwrite" in err and "File exists" not in err
    assert (out / "static_static_fit.nc").read_bytes() == b"\0" * 96
