"""Speed of the file pipeline (issue 16): ``correlate_file`` vs the correlators alone, and
``batch`` on a 2-worker LocalCluster vs in-process.

1. ``correlate``: a raw HDF5 stack (default 10 000 × 256², Poisson counts, a 10-ring
   partition) → APS result file with :func:`xpcsnb.pipeline.correlate_file` (reading,
   multi-tau g2, intensity, writing) against :func:`xpcsnb.correlate.multitau` on the same
   stack already in memory. Target: ratio ≤ 1.2.
2. ``batch``: 8 small raw files (two-time + static fit each) with ``batch(...)`` in-process
   against ``batch(..., client=Client(LocalCluster(2 workers × 1 thread)))``, after one
   warm-up file on each side (JAX compiles). Target: speed-up ≥ 1.5 on 2 cores.

Both measure wall time on whatever machine runs them: note the load (``os.getloadavg``,
printed) — on a shared machine the ratios move.

Usage::

    PYTHONPATH=. python bench/batch.py [--frames 10000] [--size 256] [--files 8] [--skip-big] [--skip-batch]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np


def _partition(size: int, n_q: int = 10):
    import xpcsnb.correlate as xc

    geom = xc.Geometry((size, size), (size / 2 - 0.5, size / 2 - 0.5), 0.5 * size / 24, 75e-6, energy=12.0)
    q = geom.q_map()
    return xc.partition(q, np.linspace(0.2, 0.95, n_q + 1) * q.max())


def write_stack(path: Path, n_frames: int, size: int, seed: int = 0, frame_time: float = 1e-3) -> Path:
    """A raw file of Poisson counts (mean 0.05 photon/pixel/frame, uint16) written in blocks."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        d = f.create_dataset("/entry/data/data", shape=(n_frames, size, size), dtype=np.uint16,
                             chunks=(min(256, n_frames), size, size))
        for s in range(0, n_frames, 1000):
            e = min(s + 1000, n_frames)
            d[s:e] = rng.poisson(0.05, (e - s, size, size)).astype(np.uint16)
        f.create_dataset("/entry/instrument/detector_1/frame_time", data=frame_time)
    return path


def bench_correlate(folder: Path, n_frames: int, size: int) -> dict:
    from xpcsnb.correlate import multitau
    from xpcsnb.io.frames import open_frames
    from xpcsnb.pipeline import correlate_file

    raw = write_stack(folder / "big.h5", n_frames, size)
    part = _partition(size)
    cfg = {"correlate": {"num_bufs": 8, "chunk": 64}}
    x = open_frames(raw).values  # in memory
    multitau(x[:128], part, frame_time=1e-3, progress=False)  # compile outside the clocks
    t0 = time.perf_counter()
    multitau(x, part, frame_time=1e-3, chunk=64, progress=False)
    t_mem = time.perf_counter() - t0
    del x
    t0 = time.perf_counter()
    correlate_file(raw, qmap=part, output=folder / "big_results.hdf", config=cfg, progress=False)
    t_file = time.perf_counter() - t0
    return {"in_memory_s": t_mem, "file_s": t_file, "ratio": t_file / t_mem}


def bench_batch(folder: Path, n_files: int) -> dict:
    import sys

    from distributed import Client, LocalCluster

    from xpcsnb.pipeline import batch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pipeline"))
    from pipeline_data import tiny_frames, tiny_partition, write_raw

    part, _ = tiny_partition(size=48, n_q=3)
    raw = folder / "raw"
    raw.mkdir()
    for k in range(n_files + 2):  # two warm-up files: one per worker
        write_raw(raw / f"F{k:03d}.h5", tiny_frames(n_frames=256, size=48, seed=k))
    files = sorted(raw.glob("F*.h5"))
    cfg = {"correlate": {"num_bufs": 8, "chunk": 64, "two_time": True},
           "fit": {"model": "static", "fixed": {"alpha": 0.0, "D_offset": 0.0}, "n_starts": 1}}
    batch(files[:1], qmap=part, config=cfg, output=folder / "warm_local", progress=False)
    t0 = time.perf_counter()
    s1 = batch(files[2:], qmap=part, config=cfg, output=folder / "local", progress=False)
    t_local = time.perf_counter() - t0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        batch(files[:2], qmap=part, config=cfg, output=folder / "warm_dask", client=client, progress=False)
        t0 = time.perf_counter()
        s2 = batch(files[2:], qmap=part, config=cfg, output=folder / "dask", client=client, progress=False)
        t_dask = time.perf_counter() - t0
    ok = bool((s1["status"] == "done").all() and (s2["status"] == "done").all())
    return {"in_process_s": t_local, "cluster_s": t_dask, "speedup": t_local / t_dask, "all_done": ok}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_big:
            r = bench_correlate(folder, args.frames, args.size)
            print(f"correlate {args.frames} x {args.size}^2: in-memory multitau {r['in_memory_s']:.1f} s, "
                  f"correlate_file {r['file_s']:.1f} s, ratio {r['ratio']:.2f} (target <= 1.2)")
        if not args.skip_batch:
            r = bench_batch(folder, args.files)
            print(f"batch {args.files} files: in-process {r['in_process_s']:.1f} s, 2-worker LocalCluster "
                  f"{r['cluster_s']:.1f} s, speed-up {r['speedup']:.2f} (target >= 1.5), all done: {r['all_done']}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
