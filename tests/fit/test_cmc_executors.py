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
from truths import simulate_cmc_set
from xpcsnb.fit.cmc import fit_cmc

ds = simulate_cmc_set(12, seed=3)
out = fit_cmc(ds, "static", n_shards=2, num_warmup=20, num_samples=20, num_chains=2, seed=0,
              parallel=True, progress=False, warn=False)
print("RESULT", out.attrs["executor"], out["posterior"].sizes["draw"])
"""


def _run(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    paths = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]  # tests/: the shared truths
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(args, input=stdin, capture_output=True, text=True, cwd=cwd, env=env, timeout=TIMEOUT_S)


# --------------------------------------------------------------------------- detection
#: A script asking unsafe_main() from its top level, from functions, and under guards of
#: either operand order or a look-alike; each answer is printed with the line it came from.
PROBE = """\
from xpcsnb.fit.cmc.executors import unsafe_main


def ask():
    return unsafe_main()


def show(label, why):
    print(label, "safe" if why is None else f"UNSAFE {why}", flush=True)


show("top-level", unsafe_main())
show("function-outside", ask())
if __name__ == "__main__":
    show("guard", unsafe_main())
    show("guard-function", ask())
if "__main__" == __name__:
    show("reversed-guard", unsafe_main())
if __name__ != "__mp_main__":
    show("look-alike", unsafe_main())
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict[str, str]:
    """The answers of PROBE run as the main script: its code runs at the top level of a module
    that stands in for ``__main__`` (as ``python probe.py`` would run it), in this process."""
    import contextlib
    import io
    import types

    path = tmp_path_factory.mktemp("probe") / "probe.py"
    path.write_text(PROBE)
    main = types.ModuleType("__main__")
    main.__file__ = str(path)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setitem(sys.modules, "__main__", main)
        exec(compile(PROBE, str(path), "exec"), main.__dict__)
    answers = dict(line.split(" ", 1) for line in out.getvalue().splitlines())
    return {k: v.replace(str(path), "<probe>") for k, v in answers.items()}


@pytest.mark.parametrize("case", ["top-level", "function-outside", "look-alike"])
def test_calls_outside_the_main_guard_are_unsafe(probe, case):
    """Spawned workers would run these lines again: the answer names the script's line."""
    line = next(n for n, text in enumerate(PROBE.splitlines(), 1) if f'show("{case}"' in text)
    assert probe[case] == (f"UNSAFE the script <probe> reaches fit_cmc from line {line} outside an "
                           "`if __name__ == \"__main__\":` block, so every worker process would run the script again")


@pytest.mark.parametrize("case", ["guard", "guard-function", "reversed-guard"])
def test_calls_under_the_main_guard_are_safe(probe, case):
    """Either operand order of the guard, directly or through a function called under it."""
    assert probe[case] == "safe"


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
