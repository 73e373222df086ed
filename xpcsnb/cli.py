"""Command line: ``xpcsnb demo|correlate|fit|batch`` (also ``python -m xpcsnb ...``).

``correlate``, ``fit`` and ``batch`` parse their options here and run the jobs of
:mod:`xpcsnb.pipeline` (raw frames -> APS result file -> fits; see docs/batch.md).

The demo analyses the embedded demo data end to end: it fits the static and the
laminar-flow models to the synthetic demo two-time sets and the static model to the
real measured matrix (BNL: time in frames, q unknown, so its D0 is reported in
(1/q)²/frame^(1+α) with an arbitrary q), correlates simulated frames (multi-tau g2 with
its fitted curves, two-time C2 with a static fit) and an XSVS exposure series, prints
the fit reports and writes them to ``report.txt`` and an HTML summary (``index.html``: fit
tables, figures, report) next to the NetCDF results and the PNG figures (data | model |
residual per angle, colour bars labelled).

Files: every file is written atomically (a hidden temporary ``.<name>.*.xpcsnb-tmp`` in
the output folder, fsync, rename), so a run killed part-way leaves only complete files
plus temporaries, which the next run removes. A rerun into the same folder refuses while
any of the demo's own files exist, naming them; ``--overwrite`` replaces exactly those
files. Other files in the folder are never touched, so the folder need not be empty.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__ as _VERSION

__all__ = ["main", "run_demo"]


def _outputs(out: Path, names: Sequence[str], overwrite: bool) -> dict[str, Path]:
    """The demo's output paths; removes temporaries of a killed run, refuses existing outputs."""
    from .io.results import clean_temporaries

    paths = {n: out / n for n in names}
    for p in paths.values():
        clean_temporaries(p)
    clash = [str(p) for p in paths.values() if p.exists()]
    if clash and not overwrite:
        raise FileExistsError(f"refusing to overwrite the files of an earlier demo run: {clash}; pass --overwrite "
                              "to replace them (other files are never touched) or choose another --output")
    out.mkdir(parents=True, exist_ok=True)
    return paths


def _save_png(fig, path: Path) -> None:
    """Save a figure as PNG atomically (temporary file in the folder, then rename)."""
    from .io.results import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)


def _save_text(text: str, path: Path) -> None:
    """Write a UTF-8 text file atomically (temporary file in the folder, then rename)."""
    from .io.results import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def run_demo(output: str | Path = "xpcsnb-demo-output", *, overwrite: bool = False, quiet: bool = False) -> dict[str, Path]:
    """Run the demo analysis; return the written files by name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    from . import datasets
    from .fit.nlsq import fit_nlsq
    from .fit.result import FitReport, save_nlsq
    from .plot.twotime import plot_fit

    out = Path(output)
    taken = next((p for p in (out, *out.parents) if p.exists()), None)
    if taken is not None and not taken.is_dir():
        raise NotADirectoryError(f"the output path must be a folder, but {taken} is a file; choose another --output")
    jobs = [
        ("static", "static", {}),
        ("laminar_flow", "laminar_flow", {}),
        # real data in frame units with a placeholder q = 1 (arbitrary units): D0 is q²·D in
        # 1/frame^(1+alpha), so the bounds are set for that scale; D(t) = D0 t^alpha (D_offset held at 0)
        ("bnl_two_time_350", "static", {"bounds": {"D0": (1e-6, 10.0)}, "initial": {"D0": 0.01},
                                        "fixed": {"D_offset": 0.0}}),
    ]
    names = [f"{d}_{m}_fit.nc" for d, m, _ in jobs] + [f"{d}_{m}_fit.png" for d, m, _ in jobs]
    names += ["frames_g2.nc", "frames_g2_fit.nc", "frames_c2_static_fit.nc", "frames_g2.png",
              "frames_c2_static_fit.png", "xsvs_results.nc", "xsvs.png", "report.txt", "index.html"]
    paths = _outputs(out, names, overwrite)
    lines: list[str] = []
    tables: dict[str, str] = {}

    def say(*parts: object) -> None:
        lines.append(" ".join(map(str, parts)))
        if not quiet:
            print(*parts)

    say(f"xpcsnb {_VERSION} demo: fit reports (figures and NetCDF results in this folder)")
    failures = []
    for data_name, model, kw in jobs:
        ds = datasets.load(data_name)
        say(f"\n=== {data_name}: {ds.sizes['phi']} angle(s) x {ds.sizes['t1']}² — model {model} ===")
        res = fit_nlsq(ds, model, return_model=True, **kw)
        say(str(FitReport(res)))
        tables[data_name] = FitReport(res)._repr_html_()
        if data_name in datasets.DEMO_TRUTH:
            truth = datasets.DEMO_TRUTH[data_name]
            z = {k: (float(res["c2_nlsq_coefficients"].sel(param=k)) - v) / float(res["c2_nlsq_stderr"].sel(param=k))
                 for k, v in truth.items()}
            say("    (fit - truth)/stderr: " + ", ".join(f"{k} {v:+.2f}" for k, v in z.items()))
        if not bool(res["c2_nlsq_success"]):
            failures.append(data_name)
        save_nlsq(res, paths[f"{data_name}_{model}_fit.nc"], overwrite=overwrite)
        if ds.attrs.get("dt_units") == "frame":
            d0 = float(res["c2_nlsq_coefficients"].sel(param="D0"))
            alpha = float(res["c2_nlsq_coefficients"].sel(param="alpha"))
            rate = d0 * 100.0 ** alpha
            say(f"    time in frames, q {ds.attrs.get('q_units')}: C2 - offset = contrast·exp(-q² ∫D dt) with q²·D(t) = "
                f"{d0:.4g}·t^{alpha:.3g} [1/frame] (t in frames); at age t = 100 frames q²·D = {rate:.3g} 1/frame, "
                f"a 1/e lag of {1 / rate:.3g} frames")
        fig = plot_fit(ds, res, figsize_per=4.5 if ds.sizes["phi"] == 1 else 2.8)
        _save_png(fig, paths[f"{data_name}_{model}_fit.png"])
        matplotlib.pyplot.close(fig)
    failures += _frames_job(paths, say)
    failures += _xsvs_job(paths, say)
    say(f"\nwrote {len(paths)} files to {out.resolve()}")
    _save_text("\n".join(lines) + "\n", paths["report.txt"])
    _save_text(_summary_html(lines, tables, [n for n in names if n.endswith(".png")]), paths["index.html"])
    if failures:
        raise RuntimeError(f"demo fits failed: {failures}")
    return paths


def _summary_html(lines: Sequence[str], tables: dict[str, str], figures: Sequence[str]) -> str:
    """A self-contained HTML summary: fit tables, the figures (relative links) and the text report."""
    import html

    parts = [f"<h2>{html.escape(name)}</h2>{table}" for name, table in tables.items()]
    parts += [f'<h3>{html.escape(f)}</h3><img src="{html.escape(f)}" style="max-width:100%">' for f in figures]
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>xpcsnb demo</title></head><body>"
            f"<h1>xpcsnb {html.escape(_VERSION)} demo</h1>{''.join(parts)}"
            f"<h2>Report (report.txt)</h2><pre>{html.escape(chr(10).join(lines))}</pre></body></html>\n")


def _frames_job(paths: dict[str, Path], say) -> list[str]:
    """Simulated speckle frames → multi-tau g2 and two-time C2 → static fit (D0 = 2·D)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from . import correlate as xc
    from .fit.g2nlsq import fit_g2_nlsq, g2_model_curves
    from .fit.rates import fit_rates
    from .fit.nlsq import fit_nlsq
    from .fit.result import FitReport, save_nlsq
    from .io.results import save_result
    from .plot.twotime import plot_fit

    geom = xc.Geometry(shape=(64, 64), beam_center=(31.5, 31.5), distance=2.0, pixel_size=75e-6, energy=12.0)
    q_map = geom.q_map()
    part = xc.partition(q_map, np.linspace(0.003, 0.007, 5), phi_map=geom.phi_map(),
                        phi_edges=np.linspace(-180, 180, 4))
    D, frame_time = 2.0e4, 0.1
    say(f"\n=== simulated frames: 600 x 64², {part.n_roi} (q, phi) ROIs, speckle with D = {D:g} Å²/s ===")
    frames = xc.simulate_frames(600, q_map, D=D, frame_time=frame_time, mean_count=1.0, n_modes=2, seed=0)
    g2 = xc.multitau(frames, part, num_bufs=8, progress=False)
    save_result(g2, paths["frames_g2.nc"], kind="g2", overwrite=True)
    g2fit = fit_g2_nlsq(g2, "single_exponential")
    rates = fit_rates(g2fit, law="diffusive")
    say(f"    multi-tau g2, single-exponential fit per ROI ({int(g2fit['g2_nlsq_success'].sum())} of {part.n_roi} "
        f"succeeded), Γ = D q²: D = {float(rates['D']):.5g} ± {float(rates['D_stderr']):.2g} Å²/s "
        f"(simulated {D:.5g} Å²/s)")
    save_nlsq(g2fit, paths["frames_g2_fit.nc"], overwrite=True)
    c2 = xc.two_time(frames, part, q=0.0045, progress=False)
    fit = fit_nlsq(c2, "static", fixed={"alpha": 0.0, "D_offset": 0.0}, return_model=True)
    say(str(FitReport(fit)))
    d0, e = float(fit["c2_nlsq_coefficients"].sel(param="D0")), float(fit["c2_nlsq_stderr"].sel(param="D0"))
    say(f"    D0 = {d0:.5g} ± {e:.2g} Å²/s; the simulator's 2·D = {2 * D:.5g} Å²/s")
    save_nlsq(fit, paths["frames_c2_static_fit.nc"], overwrite=True)
    tau = np.geomspace(float(g2["tau"][0]), float(g2["tau"][-1]), 200)
    curves = g2_model_curves(g2fit, tau)
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    for i, r in enumerate(range(0, part.n_roi, 3)):
        gam = float(g2fit["g2_nlsq_coefficients"].isel(roi=r).sel(param="gamma"))
        ax.errorbar(g2["tau"], g2["g2"][r], g2["g2_err"][r], fmt="o", ms=3, color=f"C{i}",
                    label=f"q = {float(g2['q'][r]):.4f} Å⁻¹: data")
        ax.plot(tau, curves.isel(roi=r), "-", color=f"C{i}", label=f"single-exponential fit, Γ = {gam:.3g} s⁻¹")
    ax.set(xscale="log", xlabel="lag τ [s]", ylabel="g2(τ) [dimensionless]",
           title="multi-tau g2 of simulated frames with fitted model curves")
    ax.legend(fontsize=8)
    _save_png(fig, paths["frames_g2.png"])
    plt.close(fig)
    fig = plot_fit(c2, fit, figsize_per=4.0)
    _save_png(fig, paths["frames_c2_static_fit.png"])
    plt.close(fig)
    return [] if bool(fit["c2_nlsq_success"]) else ["frames"]


def _xsvs_job(paths: dict[str, Path], say) -> list[str]:
    """Simulated exposure series → photon statistics, NB contrast → β(T) fit, joint Γ = D q²."""
    import matplotlib.pyplot as plt
    import numpy as np

    from . import xsvs
    from .io.xsvs_results import save_xsvs
    from .correlate import Geometry, partition
    from .plot.xsvs import plot_contrast, plot_histograms

    geo = Geometry(shape=(96, 96), beam_center=(48.3, 47.6), distance=5.0, pixel_size=75e-6, energy=10.0)
    part = partition(geo.q_map(), np.linspace(6e-4, 3.6e-3, 6))
    D_true = 2.0e7
    exposure = np.geomspace(1e-4, 3e-2, 8)
    say(f"\n=== simulated XSVS series: {exposure.size} exposures x 40 frames of 96², {part.n_roi} q rings ===")
    frames = xsvs.simulate_series(part, exposure, n_frames=40, beta0=0.25, rate=D_true * part.q**2,
                                  mean_count=200.0 * exposure, seed=2024)
    vis = xsvs.visibility(frames, part, progress=False)
    res = xsvs.fit_dynamics(vis, model="exponential")
    joint = xsvs.fit_dynamics(vis, joint=True)
    d, e = float(joint["beta_nlsq_coefficients"].sel(param="D")), float(joint["beta_nlsq_stderr"].sel(param="D"))
    say(f"    joint fit Γ = D q²: D = {d:.5g} ± {e:.2g} Å²·s⁻¹ (simulated {D_true:.5g})")
    for r in range(part.n_roi):
        say(f"    q = {part.q[r]:.5f} Å⁻¹: Γ = {float(res['rate'][r]):.4g} ± {float(res['rate_err'][r]):.2g} s⁻¹ "
            f"(simulated {D_true * part.q[r] ** 2:.4g})")
    save_xsvs(res, paths["xsvs_results.nc"], overwrite=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    plot_histograms(res, roi=1, ax=axes[0])
    plot_contrast(res, ax=axes[1])
    _save_png(fig, paths["xsvs.png"])
    plt.close(fig)
    return []


def _config_with(config: str | None, section: str, **overrides) -> dict:
    """The configuration file (or the defaults) with the command line's explicit options on top."""
    from .pipeline.config import load_config, merge_config

    cfg = load_config(config)
    cfg[section].update({k: v for k, v in overrides.items() if v is not None})
    return merge_config(cfg)


def _client(address: str | None):
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed is a test dependency
        raise ImportError("--scheduler needs dask.distributed: pip install 'xpcsnb[distributed]'") from exc
    return Client(address)


def _run_job(args: argparse.Namespace) -> int:
    """The correlate / fit / batch jobs (implemented in :mod:`xpcsnb.pipeline`)."""
    from .pipeline import batch, cmc_file, correlate_file, fit_file, format_summary
    from .pipeline.config import dumps

    progress = not args.quiet
    cache: bool | str = False if args.compile_cache == "none" else (args.compile_cache or True)
    if args.command in ("correlate", "fit") and cache is not False and not getattr(args, "print_config", False):
        from .pipeline.compile_cache import enable_compile_cache

        enable_compile_cache(None if cache is True else cache)
    if args.command == "correlate":
        cfg = _config_with(args.config, "correlate", frames=args.frames, two_time=args.two_time or None,
                           bad_frames=args.bad_frames, bad_pixels=args.bad_pixels)
        info = correlate_file(args.raw, qmap=args.qmap, output=args.output, config=cfg, overwrite=args.overwrite,
                              progress=progress)
        print(f"wrote {info['output']}: {info['n_frames']} frames, {info['n_roi']} ROIs, "
              f"{info['n_bad_frames']} bad frame(s), {info['n_bad_pixels']} bad pixel(s) excluded")
        return 0
    if args.command == "fit":
        if args.print_config:
            print(dumps(_config_with(args.config, "fit", model=args.model)), end="")
            return 0
        if args.results is None or args.output is None:
            print("xpcsnb fit: give a result file and -o OUTPUT (or --print-config)", file=sys.stderr)
            return 2
        cfg = _config_with(args.config, "fit", model=args.model)
        out = Path(args.output)
        cmc_out = out.with_name(f"{out.stem}_cmc.nc") if cfg["cmc"]["run"] else None
        if cmc_out is not None and cmc_out.exists() and not args.overwrite:  # refuse before the NLSQ step
            raise FileExistsError(f"{cmc_out} exists; pass --overwrite to replace it")
        client = _client(args.scheduler)
        res = fit_file(args.results, output=out, config=cfg, client=client, overwrite=args.overwrite,
                       progress=progress)
        ok = next(res[v] for v in ("c2_nlsq_success", "g2_nlsq_success") if v in res).values
        print(f"wrote {out}: model {cfg['fit']['model']}, {int(ok.sum())} of {ok.size} fit(s) succeeded")
        if cmc_out is not None and ok.all():
            from .fit.cmc import cmc_warnings
            from .pipeline import load_cmc_by_q

            cmc_file(args.results, nlsq=res, output=cmc_out, config=cfg, client=client, overwrite=args.overwrite,
                     progress=progress)
            warned = sum(bool(cmc_warnings(t)) for t in load_cmc_by_q(cmc_out).values())
            print(f"wrote {cmc_out}: CMC, {warned} fit(s) with convergence warnings")
        return 0 if ok.all() else 1
    summary = batch(args.files, qmap=args.qmap, config=args.config, output=args.output,
                    client=_client(args.scheduler), overwrite=args.overwrite, progress=progress, compile_cache=cache)
    print(format_summary(summary))
    return 1 if summary.attrs["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xpcsnb`` command."""
    parser = argparse.ArgumentParser(prog="xpcsnb", description="xpcsnb: XPCS analysis in notebooks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="analyse the embedded demo data end to end")
    demo.add_argument("--output", "-o", default="xpcsnb-demo-output", help="output folder (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace existing output files")
    cor = sub.add_parser("correlate", help="raw frames -> APS result file (multi-tau g2, optional two-time)")
    cor.add_argument("raw", help="raw frame file (HDF5 or Rigaku .bin)")
    cor.add_argument("--qmap", required=True, help="q-map file (APS / pySimpleMask)")
    cor.add_argument("--output", "-o", required=True, help="result file (*_results.hdf)")
    cor.add_argument("--two-time", action="store_true", help="also the two-time C2 of every q ring")
    cor.add_argument("--frames", help="frame window start:stop (0-based, stop exclusive)")
    cor.add_argument("--bad-frames", choices=("none", "auto"), help="exclude outlier frames (default: config)")
    cor.add_argument("--bad-pixels", choices=("none", "auto"), help="exclude hot/dead pixels (default: config)")
    fit = sub.add_parser("fit", help="fit every q (and phi) of a result file (NLSQ; CMC with [cmc] run = true)")
    fit.add_argument("results", nargs="?", help="APS result file with two-time data")
    fit.add_argument("--model", help="two-time model (static, laminar_flow, ...: fits C2) or g2 model "
                     "(stretched_exponential, ...: fits g2); default: config")
    fit.add_argument("--output", "-o", help="NetCDF result file (fit.nc; the CMC result goes to fit_cmc.nc)")
    fit.add_argument("--print-config", action="store_true", help="print the default configuration (TOML) and exit")
    fit.add_argument("--scheduler", help="dask.distributed scheduler address: one task per q")
    bat = sub.add_parser("batch", help="correlate (and fit) many raw files; resumable")
    bat.add_argument("files", nargs="+", help='raw files or glob patterns (quote them: "data/*.h5")')
    bat.add_argument("--qmap", required=True, help="q-map file (APS / pySimpleMask)")
    bat.add_argument("--output", "-o", required=True, help="output folder")
    bat.add_argument("--scheduler", help="dask.distributed scheduler address: one task per file")
    for p in (cor, fit, bat):
        p.add_argument("--config", help="analysis configuration (TOML; see xpcsnb fit --print-config)")
        p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
        p.add_argument("--compile-cache", metavar="DIR", help="persistent JAX compilation cache folder, or 'none' "
                       "(default: $XPCSNB_COMPILE_CACHE or ~/.cache/xpcsnb/jax)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        try:
            run_demo(args.output, overwrite=args.overwrite)
        except (FileExistsError, NotADirectoryError) as err:
            print(f"xpcsnb demo: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        return _run_job(args)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, ImportError) as err:
        print(f"xpcsnb {args.command}: {err}", file=sys.stderr)
        return 2
