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
#: ``xpcsnb demo`` in a process that dies (exit status 9, a SIGKILL stand-in) when the demo renames
#: the finished temporary of ``victim`` onto its name: its bytes are written and synced, the rename
#: never happens. The demo's data sets are the suite's small simulated sets (the demo fits are not
#: under test here, its writing is).
KILLED = r"""
import os, sys
from pathlib import Path

import xpcsnb.datasets
from truths import simulate_set
from xpcsnb.cli import main

out, victim = sys.argv[1], sys.argv[2]
xpcsnb.datasets.load = lambda name: simulate_set("laminar_flow" if name == "laminar_flow" else "static", n=16)
real_replace = os.replace

def replace(src, dst, *args, **kw):
    if Path(dst).name == victim:
        os._exit(9)
    return real_replace(src, dst, *args, **kw)

os.replace = replace
sys.exit(main(["demo", "-o", out]))
"""
#: The file whose rename kills the run (the demo's first NetCDF and first PNG), and the demo's
#: files finished before it.
VICTIMS = {"png": ("static_static_fit.png", ["static_static_fit.nc"]), "nc": ("static_static_fit.nc", [])}


@pytest.mark.slow  # a demo process up to its first fit (JAX compile): ~11 s of CPU each
@pytest.mark.parametrize("writer", ["png", "nc"])
def test_demo_killed_while_writing_leaves_no_partial_output_and_rerun_works(tmp_path, monkeypatch, writer):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import xpcsnb.datasets
    from xpcsnb.io.results import load_result

    victim, done = VICTIMS[writer]
    out = tmp_path / "demo"
    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests.parent), str(tests), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", KILLED, str(out), victim], capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 9, run.stderr[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert victim not in names  # nothing half-written under the target name
    temporaries = [n for n in names if n.startswith(f".{victim}.") and n.endswith(".xpcsnb-tmp")]
    assert len(temporaries) == 1 and (out / temporaries[0]).stat().st_size > 0, names
    assert sorted(n for n in names if not n.startswith(".")) == done
    if done:  # the finished file is complete, and a rerun refuses while it exists, naming it and the way out ...
        assert load_result(out / "static_static_fit.nc", kind="nlsq")["c2_nlsq_coefficients"].size > 0
        with pytest.raises(FileExistsError, match=r"earlier demo run.*static_static_fit\.nc.*--overwrite"):
            run_demo(out, quiet=True)
    (out / "notes.txt").write_text("mine")

    class Started(Exception):
        pass

    def started(name):
        raise Started(name)

    # ... and with --overwrite (or without a finished file) starts (stopped at its first data set here), removing the killed run's temporary
    monkeypatch.setattr(xpcsnb.datasets, "load", started)
    with pytest.raises(Started):
        run_demo(out, overwrite=bool(done), quiet=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([*done, "notes.txt"])


def test_demo_refusal_names_the_earlier_files_and_the_way_out(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "static_static_fit.nc").write_bytes(b"\0" * 96)  # e.g. a 96-byte leftover of an old version
    assert main(["demo", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "static_static_fit.nc" in err and "--overwrite" in err and "File exists" not in err
    assert (out / "static_static_fit.nc").read_bytes() == b"\0" * 96
