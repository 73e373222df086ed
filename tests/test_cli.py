"""The main job: ``xpcsnb demo`` writes its results and never overwrites files unasked."""

from xpcsnb.cli import main, run_demo
from xpcsnb.fit import load_nlsq


def test_demo_writes_results_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    paths = run_demo(out, quiet=True)
    assert len(paths) == 11 and all(p.exists() and p.stat().st_size > 0 for p in paths.values())
    res = load_nlsq(paths["laminar_flow_laminar_flow_fit.nc"])  # kind-checked: an NLSQ result
    assert bool(res["c2_nlsq_success"]) and "c2_model" in res
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    assert main(["demo", "--output", str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before
