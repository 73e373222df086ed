"""Where CMC shards run: unguarded or unimportable main scripts run the shards in-process with a
warning (never a hang), and a worker process that dies fails the call at once (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xpcsnb.fit.cmc import executors

ROOT = Path(__file__).resolve().parents[2]
#: Generous: a cold JAX compile on a busy machine; the bug being guarded against never returned at all.
TIMEOUT_S = 600

FIT = """\
import numpy as np
from xpcsnb.fit.cmc import fit_cmc
from xpcsnb.forward import simulate

ds = simulate("static", {"D0": 1e4, "alpha": -0.3, "D_offset": 100.0}, np.arange(12.0), phi=[0.0, 45.0],
              q=0.0054, contrast=[0.3, 0.4], offset=[1.0, 1.01], noise=0.002, seed=3)
out = fit_cmc(ds, "static", n_shards=2, num_warmup=20, num_samples=20, num_chains=2, seed=0,
              parallel=True, progress=False, warn=False)
print("RESULT", out.attrs["executor"], out["posterior"].sizes["draw"])
"""


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=TIMEOUT_S)


# --------------------------------------------------------------------------- detection (fast)
GUARDED = """\
import x

def main():
    x.fit()

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(("line", "inside"), [(4, False), (7, True), (1, False)])
def test_guard_detection_by_line(line, inside):
    assert executors._guarded(GUARDED, line) is inside


@pytest.mark.parametrize("test", ['__name__ == "__main__"', "'__main__' == __name__"])
def test_guard_detection_either_operand_order(test):
    source = f"import x\nif {test}:\n    x.fit()\n"
    assert executors._guarded(source, 3)
    assert not executors._guarded(source.replace("__main__", "__mp_main__"), 3)


def test_pytest_main_is_safe_for_processes():
    """This process's main module (pytest's, behind its own guard) lets workers spawn."""
    assert executors.unsafe_main() is None


# --------------------------------------------------------------------------- scripts (subprocesses)
@pytest.mark.slow
def test_unguarded_script_runs_in_process_with_a_warning(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(FIT)
    done = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT sequential (worker processes unsafe here) 20" in done.stdout
    assert "RuntimeWarning" in done.stderr and "outside an `if __name__ == \"__main__\":`" in done.stderr
    assert "parallel=False" in done.stderr and "client=" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_script_piped_to_python_stdin_runs_in_process_with_a_warning(tmp_path):
    done = _run([sys.executable, "-"], tmp_path, stdin=FIT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT sequential (worker processes unsafe here) 20" in done.stdout
    assert "RuntimeWarning" in done.stderr and "'<stdin>', not from a file" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_worker_that_dies_fails_the_call_at_once(tmp_path):
    """A guarded script whose spawned workers die as they start: CMCWorkerError, not a hang."""
    script = tmp_path / "dying_workers.py"
    script.write_text(
        "import os\n"
        "if __name__ == '__mp_main__':  # a spawned worker importing this script dies\n"
        "    os._exit(3)\n"
        "if __name__ == '__main__':\n"
        "    from xpcsnb.fit.cmc import CMCWorkerError\n"
        "    try:\n"
        + textwrap.indent(FIT, " " * 8)
        + "    except CMCWorkerError as exc:\n"
        "        print('WORKER ERROR', exc)\n"
    )
    done = _run([sys.executable, str(script)], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "RESULT" not in done.stdout
    assert "WORKER ERROR a CMC worker process died or could not start" in done.stdout
    assert "parallel=False" in done.stdout and "__main__" in done.stdout
