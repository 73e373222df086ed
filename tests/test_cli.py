"""The main job: ``xpcsnb demo`` writes its results and never overwrites files unasked."""

import pytest

from xpcsnb.cli import main, run_demo
from xpcsnb.fit import load_nlsq


@pytest.mark.slow
def test_demo_writes_results_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    paths = run_demo(out, quiet=True)
    assert len(paths) == 15 and all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    res = load_nlsq(paths["laminar_flow_laminar_flow_fit.nc"])  # kind-checked: an NLSQ result
    assert bool(res["c2_nlsq_success"]) and "c2_model" in res
    assert res.attrs["dt_units"] == "s" and res["unit"].sel(param="D0") == "Å²/s^(1+alpha)"
    # the real matrix has time in frames and no q: the saved result and the report say so
    bnl = load_nlsq(paths["bnl_two_time_350_static_fit.nc"])
    assert bnl.attrs["dt_units"] == "frame" and bnl.attrs["q_units"] == "arbitrary"
    assert bnl["unit"].sel(param="D0") == "(1/q)²/frame^(1+alpha)"
    report = paths["report.txt"].read_text(encoding="utf-8")
    assert "units                 t [frame], q [arbitrary]" in report and "(1/q)²·frame⁻¹⁻ᵅ" in report
    assert report.count("[[NLSQ fit]]") == 4 and "joint fit" in report and "Γ = D q²: D =" in report
    page = paths["index.html"].read_text(encoding="utf-8")
    assert all(f'src="{n}"' in page for n in paths if n.endswith(".png")) and "(1/q)²·frame⁻¹⁻ᵅ" in page
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    assert main(["demo", "--output", str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before


# --- correlate / fit / batch, run as `python -m xpcsnb` in subprocesses (tiny files) ---

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]


def _xpcsnb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", "xpcsnb", *map(str, args)], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module", autouse=True)
def _compile_cache(tmp_path_factory):
    """One persistent JAX compilation cache for this module's subprocesses: each later one loads
    what the first compiled (and nothing is written to the user's cache folder)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XPCSNB_COMPILE_CACHE", str(tmp_path_factory.mktemp("jax-cache")))
        yield


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """Two tiny raw files, their q-map file (written by save_aps) and an analysis config."""
    sys.path.insert(0, str(ROOT / "tests" / "pipeline"))
    from pipeline_data import tiny_frames, tiny_partition, write_raw

    from xpcsnb.io import save_aps

    d = tmp_path_factory.mktemp("cli")
    (d / "data").mkdir()
    for k in range(2):
        write_raw(d / "data" / f"A{k:03d}.h5", tiny_frames(n_frames=32, seed=k))
    part, _ = tiny_partition()
    save_aps(d / "qmap.hdf", partition=part)
    (d / "analysis.toml").write_text('[correlate]\nnum_bufs = 4\nchunk = 16\ntwo_time = true\n'
                                     '[fit]\nmodel = "static"\nfixed = { alpha = 0.0, D_offset = 0.0 }\nn_starts = 1\n')
    return d


def test_print_config_is_valid_toml_of_the_defaults():
    from xpcsnb.pipeline.config import default_config, merge_config

    run = _xpcsnb("fit", "--print-config", "--model", "laminar_flow")
    assert run.returncode == 0, run.stderr
    cfg = merge_config(tomllib.loads(run.stdout))
    assert cfg["fit"]["model"] == "laminar_flow" and cfg["correlate"] == default_config()["correlate"]
    assert cfg["cmc"] == default_config()["cmc"] and "[cmc]\nrun = false\npriors = {}" in run.stdout


def test_print_config_shows_the_priors_and_names_a_bad_one(tmp_path, capsys):
    path = tmp_path / "analysis.toml"
    path.write_text('[cmc]\nrun = true\npriors = { D0 = { kind = "lognormal", loc = 9.2, scale = 1.0 } }\n')
    assert main(["fit", "--print-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert 'priors = {D0 = {kind = "lognormal", loc = 9.2, scale = 1.0}}' in out
    assert tomllib.loads(out)["cmc"]["priors"] == {"D0": {"kind": "lognormal", "loc": 9.2, "scale": 1.0}}
    path.write_text('[cmc]\npriors = { D0 = { kind = "lognormal", loc = 9.2, scael = 1.0 } }\n')
    assert main(["fit", "--print-config", "--config", str(path)]) == 2
    assert "unknown key(s) ['scael'] in [cmc] priors.D0" in capsys.readouterr().err


@pytest.mark.slow
def test_correlate_then_fit_on_the_command_line(cli_files):
    d = cli_files
    out = d / "A000_results.hdf"
    run = _xpcsnb("correlate", d / "data" / "A000.h5", "--qmap", d / "qmap.hdf", "-o", out, "--two-time",
                  "--frames", "0:32", "--config", d / "analysis.toml", "-q")
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout and out.is_file()
    again = _xpcsnb("correlate", d / "data" / "A000.h5", "--qmap", d / "qmap.hdf", "-o", out, "-q")
    assert again.returncode == 2 and "overwrite" in again.stderr
    fit = _xpcsnb("fit", out, "--config", d / "analysis.toml", "-o", d / "fit.nc", "-q")
    assert fit.returncode == 0, fit.stderr
    res = load_nlsq(d / "fit.nc")
    assert res.sizes["q"] == 2 and bool(res["c2_nlsq_success"].all())
    bad = _xpcsnb("fit", out, "--config", d / "missing.toml", "-o", d / "fit2.nc")
    assert bad.returncode == 2 and "print-config" in bad.stderr


@pytest.mark.slow
def test_batch_on_the_command_line_resumes(cli_files):
    d = cli_files
    args = ("batch", d / "data" / "*.h5", "--qmap", d / "qmap.hdf", "--config", d / "analysis.toml",
            "-o", d / "results", "-q")
    first = _xpcsnb(*args)
    assert first.returncode == 0, first.stderr + first.stdout
    assert "2 done, 0 skipped, 0 failed" in first.stdout
    second = _xpcsnb(*args)
    assert second.returncode == 0 and "0 done, 2 skipped, 0 failed" in second.stdout
    assert sorted(p.name for p in (d / "results").iterdir()) == [
        "A000_fit.nc", "A000_results.hdf", "A001_fit.nc", "A001_results.hdf"]
