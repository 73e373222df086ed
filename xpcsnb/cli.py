"""Command line: ``xpcsnb demo`` (also ``python -m xpcsnb demo``) runs the main job.

The demo analyses the embedded demo data end to end: it fits the static and the
laminar-flow models to the synthetic demo two-time sets and the static model to the
real measured matrix, prints the fit reports, and writes NetCDF results and PNG
figures (data | model | residual per angle) to an output folder. Existing files are
never overwritten unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "run_demo"]


def _outputs(out: Path, names: Sequence[str], overwrite: bool) -> dict[str, Path]:
    paths = {n: out / n for n in names}
    clash = [str(p) for p in paths.values() if p.exists()]
    if clash and not overwrite:
        raise FileExistsError(f"refusing to overwrite existing file(s) {clash}; pass --overwrite or choose --output")
    out.mkdir(parents=True, exist_ok=True)
    return paths


def run_demo(output: str | Path = "xpcsnb-demo-output", *, overwrite: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Run the demo analysis; return the written files by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    from . import datasets
    from .fit.nlsq import fit_nlsq
    from .plot.twotime import plot_fit

    out = Path(output)
    jobs = [
        ("static", "static", {}),
        ("laminar_flow", "laminar_flow", {}),
        # real data in frame units (q = 1): D0 is q²·D in frame^-(1+alpha), so the bounds are set for
        # that scale; D(t) = D0 t^alpha (D_offset held at 0)
        ("bnl_two_time_350", "static", {"bounds": {"D0": (1e-6, 10.0)}, "initial": {"D0": 0.01},
                                        "fixed": {"D_offset": 0.0}}),
    ]
    names = [f"{d}_{m}_fit.nc" for d, m, _ in jobs] + [f"{d}_{m}_fit.png" for d, m, _ in jobs]
    paths = _outputs(out, names, overwrite)
    say = (lambda *a: None) if quiet else print
    failures = []
    for data_name, model, kw in jobs:
        ds = datasets.load(data_name)
        say(f"\n=== {data_name}: {ds.sizes['phi']} angle(s) x {ds.sizes['t1']}² — model {model} ===")
        res = fit_nlsq(ds, model, return_model=True, **kw)
        say(res.report())
        if data_name in datasets.DEMO_TRUTH:
            truth = datasets.DEMO_TRUTH[data_name]
            z = {k: (float(res["c2_nlsq_coefficients"].sel(param=k)) - v) / float(res["c2_nlsq_stderr"].sel(param=k))
                 for k, v in truth.items()}
            say("    (fit - truth)/stderr: " + ", ".join(f"{k} {v:+.2f}" for k, v in z.items()))
        if not bool(res["success"]):
            failures.append(data_name)
        res.to_netcdf(paths[f"{data_name}_{model}_fit.nc"], engine="h5netcdf")
        fig = plot_fit(ds, res)
        fig.savefig(paths[f"{data_name}_{model}_fit.png"], dpi=80)
        matplotlib.pyplot.close(fig)
    say(f"\nwrote {len(paths)} files to {out.resolve()}")
    if failures:
        raise RuntimeError(f"demo fits failed: {failures}")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xpcsnb`` command."""
    parser = argparse.ArgumentParser(prog="xpcsnb", description="xpcsnb: XPCS analysis in notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="analyse the embedded demo data end to end")
    demo.add_argument("--output", "-o", default="xpcsnb-demo-output", help="output folder (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            run_demo(args.output, overwrite=args.overwrite)
        except FileExistsError as err:
            print(f"xpcsnb demo: {err}", file=sys.stderr)
            return 2
    return 0
