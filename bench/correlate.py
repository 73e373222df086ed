"""Benchmark of xpcsnb's correlators against the read-once floor, boost-corr and scikit-beam.

Usage::

    python bench/correlate.py [--mt-frames 10000] [--tt-frames 2000] [--size 256]
                              [--ref-python /work/benchvenv/bin/python] [--repeats 3]

What it does (every timed case runs in a fresh subprocess; peak RSS is that process's
``VmHWM``, so it includes whatever the case holds in memory):

1. Simulates the guide's frames (``shared/guides/correlators.md`` §4): 256×256 uint16,
   M = 2 speckle modes (β = 0.5), Γ = 0.5 (r/120)² per frame with r the pixel radius,
   mean 2/(1 + (r/40)²) photons/px/frame, seed 0; written chunk by chunk (bounded
   memory) to an uncompressed HDF5 file ``/entry/data/data`` (chunks of 64 frames) in
   ``--workdir``, reused when present. ROIs: 10 rings r = 10–120 px; two-time on
   rings 2, 5, 8.
2. Floors: ``read_mem`` = ``frames.sum(dtype=uint64)`` of the stack already in RAM
   (the guide's floor, "read once from memory"); ``read_stream`` = reading the HDF5
   file in 64-frame chunks (page cache warm: every streamed case, this one included,
   reads the whole file once before its clock starts, as this VM drops cached file
   pages) and summing each chunk.
3. xpcsnb: multi-tau streamed from the HDF5 file (``open_frames`` → ``multitau``, which
   reads this uncompressed file through memory maps, :mod:`xpcsnb.io.h5map`; the
   stack is never held: peak RSS is chunk + accumulators + the JAX runtime) and in
   memory (stack loaded before the clock); two-time likewise. The table's timings are
   a first call in a fresh process, JAX compilation included; the second call of the
   same shapes (compiled) is printed below it. The streamed and in-memory results are
   compared. ``fresh_mem`` times the first touch of the memory a two-time result needs
   (its ROI pixels and float64 output) in a fresh process with the stack loaded,
   allocated as ``two_time`` does (:mod:`xpcsnb.correlate.pages`); ``fresh_numpy`` the
   same through NumPy, which advises huge pages: on a virtual machine whose guest memory
   is handed back to the host those faults can cost ~2.5 ms/MB. A first call pays
   this, the read-once floor does not.
   Each case runs ``--repeats`` times (fresh processes), round robin over all cases
   (xpcsnb's, the floors and the references': case 1, 2, …, then again), so that a slow
   spell of the machine hits every case alike rather than all repeats of one; the
   fastest run of each is reported (peak RSS: the largest).
4. With ``--ref-python`` (an interpreter that has boost-corr 0.1.7 + torch CPU and/or
   scikit-beam 0.0.27) the same frames go through boost-corr (multi-tau, two-time)
   and scikit-beam (multi-tau; two-time on the first ``--skb-tt-frames`` frames, as
   it needs minutes for 2,000), with the stack in RAM before the clock, and their
   g2/C2 are compared with xpcsnb's: exactly at level-0 lags, and at all lags for
   scikit-beam's own ladder.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

H5_PATH = "/entry/data/data"
FRAME_TIME = 1e-3  # s; the guide's rates are per frame
TT_RINGS = (2, 5, 8)


# ----------------------------------------------------------------------------- data
def ring_labels(size: int) -> np.ndarray:
    """10 equal-width rings r = 10–120 px (scaled to the detector size)."""
    s = size / 256
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) / s
    lab = np.digitize(r, np.linspace(10, 120, 11))
    lab[(r < 10) | (r >= 120)] = 0
    return lab.astype(np.int32)


def make_frames(path: Path, n: int, size: int) -> None:
    import h5py

    from xpcsnb.correlate import iter_simulated_frames

    s = size / 256
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2) / s
    d = 0.5 / 120**2 / FRAME_TIME  # Γ = D r² per second with q := r
    mean = 2.0 / (1.0 + (r / 40.0) ** 2)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        dset = f.create_dataset(H5_PATH, shape=(n, size, size), dtype=np.uint16, chunks=(64, size, size))
        f["/entry/instrument/detector_1/frame_time"] = FRAME_TIME
        f["/entry/instrument/detector_1/count_time"] = FRAME_TIME
        k = 0
        for block in iter_simulated_frames(n, r, D=d, frame_time=FRAME_TIME, mean_count=mean, n_modes=2, seed=0, chunk=256):
            dset[k: k + block.shape[0]] = block
            k += block.shape[0]
    tmp.rename(path)
    lab = ring_labels(size)
    for name, labels in (("qmap_mt.h5", lab), ("qmap_tt.h5", _tt_labels(lab))):
        with h5py.File(path.parent / name, "w") as f:
            f["/qmap/dynamic_roi_map"] = labels
            f["/qmap/static_roi_map"] = labels
            f["/qmap/mask"] = (labels > 0).astype(np.int32)


def _tt_labels(lab: np.ndarray) -> np.ndarray:
    out = np.zeros_like(lab)
    for k, ring in enumerate(TT_RINGS, start=1):
        out[lab == ring] = k
    return out


def load_stack(path: Path, n: int) -> np.ndarray:
    import h5py

    with h5py.File(path, "r") as f:
        return f[H5_PATH][:n]


def _rss_mib() -> float:
    """Peak RSS of this process [MiB]: VmHWM (ru_maxrss would carry the parent's peak across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -------------------------------------------------------------------- xpcsnb workers
def warm_file(path: Path) -> None:
    """Read the whole file once (untimed), so that a streamed case finds it in the page
    cache as its floor does: this VM's host takes back guest memory and with it cached
    file pages (of the 256 MB two-time file only 117 MB were cached minutes after a run
    had read it), which turned streamed cases into disk reads at random."""
    buf = bytearray(8 << 20)
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass


def _case_frames(case: str, path: Path, n: int) -> tuple:
    """The frames of a ``*_stream`` (lazy HDF5) or ``*_mem`` (loaded) case and the clock start:
    streamed cases time the opening too (file warmed first, :func:`warm_file`), in-memory
    ones start after the stack is loaded."""
    from xpcsnb.io.frames import frames_from_array, open_frames

    if case.endswith("_stream"):
        warm_file(path)
        t = time.perf_counter()
        return open_frames(path)[:n], t
    x = load_stack(path, n)
    t = time.perf_counter()
    return frames_from_array(x, frame_time=FRAME_TIME), t


def worker(case: str, path: Path, n: int, out: Path) -> dict:
    import xpcsnb.correlate as xc

    lab = ring_labels(int(_size_of(path)))
    res: dict = {"case": case, "n": n}
    if case == "read_mem":
        x = load_stack(path, n)
        t = time.perf_counter()
        x.sum(dtype=np.uint64)
        res["wall"] = time.perf_counter() - t
    elif case == "read_stream":
        import h5py

        warm_file(path)
        t = time.perf_counter()
        with h5py.File(path, "r") as f:
            d = f[H5_PATH]
            tot = 0
            for s in range(0, n, 64):
                tot += int(d[s: min(s + 64, n)].sum(dtype=np.uint64))
        res["wall"] = time.perf_counter() - t
    elif case in ("mt_stream", "mt_mem"):
        fr, t = _case_frames(case, path, n)
        ds = xc.multitau(fr, lab, ladder="skbeam", progress=False)
        res["wall"] = time.perf_counter() - t
        t = time.perf_counter()
        da = xc.multitau(fr, lab, ladder="aps", progress=False)
        res["wall_aps"] = time.perf_counter() - t
        np.savez(out, g2=ds.g2.values, err=ds.g2_err.values, lag=ds.lag.values, level=ds.level.values,
                 g2_aps=da.g2.values, lag_aps=da.lag.values, level_aps=da.level.values)
    elif case in ("fresh_mem", "fresh_numpy"):
        # the first touch of the memory a two-time result needs (the ROI pixels and the float64
        # output), in a fresh process with the stack loaded: what page faults cost on this machine,
        # allocated as two_time does (fresh_mem: own memory maps) or by NumPy (huge pages advised)
        from xpcsnb.correlate.pages import mapped_empty

        empty = mapped_empty if case == "fresh_mem" else np.empty
        x = load_stack(path, n)
        npix = int(np.isin(lab, TT_RINGS).sum())
        t = time.perf_counter()
        a = empty((n, npix), x.dtype)
        a.fill(1)
        b = empty((len(TT_RINGS), n, n), np.float64)
        b.fill(1.0)
        res["wall"] = time.perf_counter() - t
    elif case in ("tt_stream", "tt_mem"):
        fr, t = _case_frames(case, path, n)
        ds = xc.two_time(fr, lab, select=TT_RINGS, progress=False)
        res["wall"] = time.perf_counter() - t
        t = time.perf_counter()
        xc.two_time(fr, lab, select=TT_RINGS, progress=False)
        res["wall_warm"] = time.perf_counter() - t
        np.save(out, ds.c2.values.astype(np.float32))
    else:
        raise SystemExit(f"unknown case {case}")
    res["rss_mib"] = _rss_mib()
    return res


def _size_of(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return f[H5_PATH].shape[1]


# ------------------------------------------------------------------ reference worker
REF_SCRIPT = textwrap.dedent(
    r'''
    import json, resource, sys, time
    import numpy as np, h5py
    case, path, n, out, workdir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    with h5py.File(path, "r") as f:
        x = f["/entry/data/data"][:n]
    res = {"case": case, "n": n}
    if case == "bc_mt":
        import torch
        from boost_corr.multitau import MultitauCorrelator
        from boost_corr.xpcs_aps_8idi.xpcs_qpartitionmap import XpcsQPartitionMap
        t = time.perf_counter()
        qpm = XpcsQPartitionMap(workdir + "/qmap_mt.h5", device="cpu")
        crop = None if qpm.mask_crop is None else qpm.mask_crop.cpu().numpy()
        mc = MultitauCorrelator(x.shape[1:], frame_num=n, device="cpu", queue_size=8, auto_queue=True,
                                mask_crop=qpm.mask_crop, max_memory=4)
        for s in range(0, n, 8):
            b = x[s:s + 8].reshape(-1, x.shape[1] * x.shape[2])
            if crop is not None:
                b = b[:, crop]
            mc.process(torch.from_numpy(b.astype(np.int16)))
        mc.post_process()
        _, om = mc.get_results()
        r = qpm.normalize_multitau(om)
        res["wall"] = time.perf_counter() - t
        np.savez(out, g2=np.asarray(r["g2"]).T, err=np.asarray(r["g2_err"]).T, lag=np.asarray(r["delay_list"]))
    elif case == "bc_tt":
        import torch
        from boost_corr.twotime import TwotimeCorrelator
        from boost_corr.xpcs_aps_8idi.xpcs_qpartitionmap import XpcsQPartitionMap
        t = time.perf_counter()
        qpm = XpcsQPartitionMap(workdir + "/qmap_tt.h5", flag_sort=True, crop_ratio_threshold=1.01, device="cpu")
        crop = qpm.mask_crop.cpu().numpy()
        tc = TwotimeCorrelator(qpm.qinfo, frame_num=n, det_size=x.shape[1:], method="normal",
                               mask_crop=qpm.mask_crop, device="cpu")
        for s in range(0, n, 8):
            b = x[s:s + 8].reshape(-1, x.shape[1] * x.shape[2])[:, crop]
            tc.process(torch.from_numpy(b.astype(np.int16)))
        tc.post_processing(smooth_method="sqmap")
        c2 = [c for c in tc.calc_normal_twotime()]
        res["wall"] = time.perf_counter() - t
        np.save(out, np.stack(c2).astype(np.float32))
    elif case == "skb_mt":
        from skbeam.core.correlation import multi_tau_auto_corr
        lab = np.load(sys.argv[6])
        num_levels = int(sys.argv[7])
        t = time.perf_counter()
        g2, lags = multi_tau_auto_corr(num_levels, 8, lab, x)
        res["wall"] = time.perf_counter() - t
        np.savez(out, g2=np.asarray(g2)[1:].T, lag=np.asarray(lags)[1:])
    elif case == "skb_tt":
        from skbeam.core.correlation import two_time_corr
        lab = np.load(sys.argv[6])
        t = time.perf_counter()
        c2 = two_time_corr(lab, x, n, n, 1).g2
        res["wall"] = time.perf_counter() - t
        np.save(out, np.asarray(c2, dtype=np.float32))
    hwm = [l for l in open("/proc/self/status").read().splitlines() if l.startswith("VmHWM:")]
    res["rss_mib"] = int(hwm[0].split()[1]) / 1024.0
    print("RESULT " + json.dumps(res))
    '''
)


def run_sub(cmd: list[str], timeout: float) -> dict | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"  (timed out after {timeout:.0f} s: {' '.join(cmd[:4])} …)")
        return None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  (failed: {' '.join(cmd[:4])} …)\n" + textwrap.indent((p.stdout + p.stderr)[-2000:], "    "))
    return None


def best(runs: list[dict | None]) -> dict | None:
    """The fastest of a case's runs, with the largest peak RSS of them (None if all failed)."""
    runs = [r for r in runs if r is not None]
    if not runs:
        return None
    fastest = dict(min(runs, key=lambda r: r["wall"]))
    fastest["rss_mib"] = max(r["rss_mib"] for r in runs)
    return fastest


def interleaved(jobs: list[tuple[str, list[str]]], repeats: int, timeout: float) -> dict[str, dict | None]:
    """Run every job ``repeats`` times, round robin (job 1, 2, …, then again), and keep the
    fastest run of each: a slow spell of the machine then hits all cases alike instead of
    every repeat of one case, which keeps the ratios between cases honest."""
    runs: dict[str, list[dict | None]] = {key: [] for key, _ in jobs}
    for r in range(repeats):
        for key, cmd in jobs:
            print(f"  round {r + 1}/{repeats}: {key}", flush=True)
            runs[key].append(run_sub(cmd, timeout))
    return {key: best(v) for key, v in runs.items()}


# ---------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mt-frames", type=int, default=10000)
    ap.add_argument("--tt-frames", type=int, default=2000)
    ap.add_argument("--skb-tt-frames", type=int, default=400)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per case; the fastest is reported")
    ap.add_argument("--ref-python", default=os.environ.get("XPCSNB_BENCH_REF_PYTHON"))
    ap.add_argument("--skip-skbeam", action="store_true")
    ap.add_argument("--workdir", default="/tmp/xpcsnb_bench_correlate")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--frames-path", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print("RESULT " + json.dumps(worker(a.worker, Path(a.frames_path), a.n, Path(a.out))))
        return

    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    n_all = max(a.mt_frames, a.tt_frames)
    path = wd / f"frames_{n_all}_{a.size}.h5"
    if not path.exists():
        print(f"simulating {n_all} frames of {a.size}² into {path} (once) …", flush=True)
        t = time.perf_counter()
        make_frames(path, n_all, a.size)
        print(f"  done in {time.perf_counter() - t:.0f} s")
    else:
        print(f"reusing {path}")
    px = a.size * a.size
    me = [sys.executable, os.path.abspath(__file__), "--frames-path", str(path)]

    def ours(case: str, n: int) -> list[str]:
        ext = ".npy" if case.startswith("tt") else ".npz"
        return me + ["--worker", case, "--n", str(n), "--out", str(wd / f"{case}_{n}{ext}")]

    ours_cases = (("read_mem", a.mt_frames), ("read_stream", a.mt_frames), ("mt_stream", a.mt_frames),
                  ("mt_mem", a.mt_frames), ("read_mem", a.tt_frames), ("read_stream", a.tt_frames),
                  ("fresh_mem", a.tt_frames), ("fresh_numpy", a.tt_frames), ("tt_stream", a.tt_frames),
                  ("tt_mem", a.tt_frames))
    jobs = [(f"xpcsnb {case} N={n}", ours(case, n)) for case, n in ours_cases]
    ref_cases: list[tuple[str, int]] = []
    if a.ref_python:
        script = wd / "ref_worker.py"
        script.write_text(REF_SCRIPT)
        lab = ring_labels(a.size)
        np.save(wd / "labels_mt.npy", lab)
        np.save(wd / "labels_tt.npy", _tt_labels(lab))
        cases = [("bc_mt", a.mt_frames, []), ("bc_tt", a.tt_frames, [])]
        if not a.skip_skbeam:
            num_levels = int(np.floor(np.log2(a.mt_frames / 4)))
            cases += [("skb_mt", a.mt_frames, [str(wd / "labels_mt.npy"), str(num_levels)]),
                      ("skb_tt", a.skb_tt_frames, [str(wd / "labels_tt.npy")])]
        for case, n, extra in cases:
            ext = ".npy" if case.endswith("_tt") else ".npz"
            cmd = [a.ref_python, str(script), case, str(path), str(n), str(wd / f"{case}_{n}{ext}"), str(wd)] + extra
            jobs.append((f"reference {case} N={n}", cmd))
            ref_cases.append((case, n))
    else:
        print("no --ref-python given: boost-corr / scikit-beam comparison skipped")
    print(f"running {len(jobs)} cases × {a.repeats} fresh processes, round robin …", flush=True)
    done = interleaved(jobs, a.repeats, a.timeout)

    rows: list[tuple[str, str, int, dict | None]] = []
    res = {}
    for case, n in ours_cases:
        res[(case, n)] = done[f"xpcsnb {case} N={n}"]
        rows.append(("xpcsnb" if case[:2] in ("mt", "tt") else "floor", case, n, res[(case, n)]))
    ref = {}
    for case, n in ref_cases:
        ref[case] = done[f"reference {case} N={n}"]
        rows.append(("boost-corr" if case.startswith("bc") else "scikit-beam", case, n, ref[case]))

    floor = {n: res.get(("read_mem", n)) for n in (a.mt_frames, a.tt_frames, a.skb_tt_frames)}
    print("\n| package | case | N | wall [s] | frames/s | pixel-frames/s | peak RSS [MiB] | × read_mem | × read_stream |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pkg, case, n, r in rows:
        if r is None:
            print(f"| {pkg} | {case} | {n} | failed | | | | | |")
            continue
        fm, fs = floor.get(n), res.get(("read_stream", n))
        x_mem = f"{r['wall'] / fm['wall']:.1f}" if fm else "–"
        x_str = f"{r['wall'] / fs['wall']:.1f}" if fs else "–"
        print(f"| {pkg} | {case} | {n} | {r['wall']:.3f} | {n / r['wall']:.0f} | {n * px / r['wall']:.3g} | "
              f"{r['rss_mib']:.0f} | {x_mem} | {x_str} |")
    mt = res.get(("mt_stream", a.mt_frames))
    if mt and "wall_aps" in mt:
        print(f"\nxpcsnb multi-tau, aps ladder (streamed, second call in the same process): {mt['wall_aps']:.3f} s")
    if mt and ref.get("bc_mt"):
        print(f"speed-up over boost-corr, multi-tau N={a.mt_frames} (streamed vs in-RAM): "
              f"{ref['bc_mt']['wall'] / mt['wall']:.2f}×")
    fresh = res.get(("fresh_mem", a.tt_frames))
    for case in ("tt_stream", "tt_mem"):
        r, fm = res.get((case, a.tt_frames)), floor.get(a.tt_frames)
        if r and "wall_warm" in r and fm:
            print(f"xpcsnb two-time {case}, second call in the same process (compiled): {r['wall_warm']:.3f} s "
                  f"= {r['wall_warm'] / fm['wall']:.1f}× read_mem")
        if r and fm and fresh:
            print(f"xpcsnb two-time {case}, first call: {r['wall']:.3f} s = {r['wall'] / fm['wall']:.1f}× read_mem, of which "
                  f"first-touching its memory costs ≥ {fresh['wall']:.3f} s here (fresh_mem = {fresh['wall'] / fm['wall']:.1f}× read_mem)")
    tt = res.get(("tt_stream", a.tt_frames))
    if tt and ref.get("bc_tt"):
        print(f"speed-up over boost-corr, two-time N={a.tt_frames}: {ref['bc_tt']['wall'] / tt['wall']:.2f}×")
    compare(wd, a, ref)


def compare(wd: Path, a: argparse.Namespace, ref: dict) -> None:
    print("\nagreement:")
    ms, mm = wd / f"mt_stream_{a.mt_frames}.npz", wd / f"mt_mem_{a.mt_frames}.npz"
    if ms.exists() and mm.exists():
        s, m = np.load(ms), np.load(mm)
        print(f"  multi-tau streamed vs in-memory: max |Δg2| = {np.max(np.abs(s['g2'] - m['g2'])):.2e}, "
              f"max |Δerr| = {np.max(np.abs(s['err'] - m['err'])):.2e}")
    ts, tm = wd / f"tt_stream_{a.tt_frames}.npy", wd / f"tt_mem_{a.tt_frames}.npy"
    if ts.exists() and tm.exists():
        print(f"  two-time streamed vs in-memory: max |ΔC2| = {np.max(np.abs(np.load(ts) - np.load(tm))):.2e}")
    if not ms.exists():
        return
    s = np.load(ms)
    if ref.get("skb_mt"):
        k = np.load(wd / f"skb_mt_{a.mt_frames}.npz")
        common, i, j = np.intersect1d(s["lag"], k["lag"], return_indices=True)
        d = np.abs(s["g2"][:, i] - k["g2"][:, j])
        lvl0 = s["level"][i] == 0
        print(f"  vs scikit-beam multi-tau ({common.size} common lags): level-0 lags max |Δg2| = {d[:, lvl0].max():.2e}, "
              f"all lags {d.max():.2e} (rel {np.max(d / np.abs(k['g2'][:, j])):.2e})")
    if ref.get("bc_mt"):
        b = np.load(wd / f"bc_mt_{a.mt_frames}.npz")
        common, i, j = np.intersect1d(s["lag_aps"], b["lag"], return_indices=True)
        d = np.abs(s["g2_aps"][:, i] - b["g2"][:, j])
        lvl0 = s["level_aps"][i] == 0
        print(f"  vs boost-corr multi-tau (aps ladder, {common.size} common lags): level-0 max |Δg2| = {d[:, lvl0].max():.2e}, "
              f"all lags {d.max():.2e}  (boost-corr sums in bfloat16/float32)")
    if ts.exists() and ref.get("bc_tt"):
        c = np.load(ts)
        u = np.load(wd / f"bc_tt_{a.tt_frames}.npy")
        iu = np.triu_indices(c.shape[-1])
        d = np.abs(c[:, iu[0], iu[1]] - u[:, iu[0], iu[1]])
        print(f"  vs boost-corr two-time (upper triangle, float32): max |ΔC2| = {d.max():.2e}")
    if ref.get("skb_tt"):
        import xpcsnb.correlate as xc
        from xpcsnb.io.frames import frames_from_array

        path = wd / f"frames_{max(a.mt_frames, a.tt_frames)}_{a.size}.h5"
        x = load_stack(path, a.skb_tt_frames)
        ours = xc.two_time(frames_from_array(x, frame_time=FRAME_TIME), ring_labels(a.size), select=TT_RINGS,
                           progress=False).c2.values
        k = np.load(wd / f"skb_tt_{a.skb_tt_frames}.npy")
        il = np.tril_indices(ours.shape[-1])
        d = np.abs(ours[:, il[0], il[1]] - k[:, il[0], il[1]])
        print(f"  vs scikit-beam two-time (N={a.skb_tt_frames}, lower triangle): max |ΔC2| = {d.max():.2e} "
              f"(rel {np.max(d / np.abs(k[:, il[0], il[1]])):.2e})")


if __name__ == "__main__":
    main()
