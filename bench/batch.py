"""Speed of the file pipeline (issue 16): ``correlate_file`` vs the correlators alone, and
``batch`` on a 2-worker LocalCluster vs in-process.

1. ``correlate``: a raw HDF5 stack (default 10 000 × 256², Poisson counts, a 10-ring
   partition) → APS result file with :func:`xpcsnb.pipeline.correlate_file` (reading,
   multi-tau g2, intensity, writing) against :func:`xpcsnb.correlate.multitau` on the same
   stack already in memory. Target: ratio ≤ 1.2.
2. ``batch``: 8 small raw files (two-time + static fit each) with ``batch(...)`` in-process
   against ``batch(..., client=Client(LocalCluster(2 workers × 1 thread)))``. Timed
   separately: the in-process first file (JAX traces and compiles), the cluster start-up
   (until both workers are up), its warm-up (one file per worker, compiled code loaded
   from the shared persistent compilation cache) and the two batches; the speed-up of the
   batches (target ≥ 1.5 on 2 cores) and end to end. CPU/wall of each side shows how
   many cores it kept busy.

Both measure wall time on whatever machine runs them: note the load (``os.getloadavg``,
printed) — on a shared machine the ratios move.

Usage::

    PYTHONPATH=. python bench/batch.py [--frames 10000] [--size 256] [--files 8] [--skip-big] [--skip-batch]
                                       [--dask-profile]
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


def bench_batch(folder: Path, n_files: int, dask_profile: bool = False) -> dict:
    """In-process vs a 2-worker LocalCluster, every phase timed separately.

    Both sides share one fresh persistent JAX compilation cache: the in-process warm-up
    file compiles (and fills it), the workers' warm-up files load from it. Process CPU
    time is recorded next to wall time: CPU/wall is the number of cores a side really used,
    and CPU per file does not depend on what else the machine runs. ``dask_profile``: keep
    Dask's statistical profiler on in the workers (it samples every thread's stack every 10 ms).
    """
    import dask
    import sys

    from distributed import Client, LocalCluster

    from xpcsnb.pipeline import batch
    from xpcsnb.pipeline.batch import process_file
    from xpcsnb.pipeline.compile_cache import enable_compile_cache
    from xpcsnb.pipeline.config import load_config

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pipeline"))
    from pipeline_data import tiny_frames, tiny_partition, write_raw

    part, _ = tiny_partition(size=48, n_q=3)
    raw = folder / "raw"
    raw.mkdir()
    for k in range(n_files + 3):  # three warm-up files: one in-process, one per worker
        write_raw(raw / f"F{k:03d}.h5", tiny_frames(n_frames=256, size=48, seed=k))
    files = sorted(raw.glob("F*.h5"))
    warm, work = files[:3], files[3:]
    cfg = {"correlate": {"num_bufs": 8, "chunk": 64, "two_time": True},
           "fit": {"model": "static", "fixed": {"alpha": 0.0, "D_offset": 0.0}, "n_starts": 1}}
    cache = folder / "jax-cache"
    enable_compile_cache(cache)
    r: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    batch(warm[:1], qmap=part, config=cfg, output=folder / "warm_local", progress=False, compile_cache=cache)
    r["in_process_first_s"] = time.perf_counter() - t0  # trace + compile + one file
    t0, c0 = time.perf_counter(), time.process_time()
    s1 = batch(work, qmap=part, config=cfg, output=folder / "local", progress=False, compile_cache=cache)
    r["in_process_s"] = time.perf_counter() - t0
    r["in_process_cpu_per_file_s"] = (time.process_time() - c0) / len(work)
    r["in_process_cores"] = r["in_process_cpu_per_file_s"] * len(work) / r["in_process_s"]
    r["per_file_in_process_s"] = float(s1["seconds"].mean())

    t0 = time.perf_counter()
    dask.config.set({"distributed.worker.profile.enabled": dask_profile})
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                           silence_logs=40)
    client = Client(cluster)
    client.wait_for_workers(2)
    r["cluster_start_s"] = time.perf_counter() - t0
    try:
        from xpcsnb.pipeline.compile_cache import CompileCachePlugin

        t0 = time.perf_counter()
        client.register_plugin(CompileCachePlugin(cache))
        full = load_config(cfg)
        out = folder / "warm_dask"
        out.mkdir()
        pinned = [client.submit(process_file, str(f), part, full, str(out), False, False, workers=[w], pure=False)
                  for f, w in zip(warm[1:], client.scheduler_info()["workers"])]
        client.gather(pinned)
        r["cluster_warmup_s"] = time.perf_counter() - t0  # imports + compiled code loaded from the cache
        cpu0 = client.run(time.process_time)
        t0 = time.perf_counter()
        s2 = batch(work, qmap=part, config=cfg, output=folder / "dask", client=client, progress=False,
                   compile_cache=cache)
        r["cluster_s"] = time.perf_counter() - t0
        cpu1 = client.run(time.process_time)
        r["cluster_cpu_per_file_s"] = sum(cpu1[w] - cpu0[w] for w in cpu0) / len(work)
        r["cluster_cores"] = r["cluster_cpu_per_file_s"] * len(work) / r["cluster_s"]
        r["per_file_cluster_s"] = float(s2["seconds"].mean())
    finally:
        client.close()
        cluster.close()
    r["speedup"] = r["in_process_s"] / r["cluster_s"]
    # estimate for an otherwise idle 2-core machine: in-process keeps max(1, its measured cores) busy,
    # the two workers two cores; the wall time of each side is then its CPU time over those cores
    r["speedup_idle_2_cores"] = (r["in_process_cpu_per_file_s"] / min(2.0, max(r["in_process_cores"], 1.0))) / (
        r["cluster_cpu_per_file_s"] / 2.0)
    r["speedup_end_to_end"] = (r["in_process_first_s"] + r["in_process_s"]) / (
        r["cluster_start_s"] + r["cluster_warmup_s"] + r["cluster_s"])
    r["all_done"] = bool((s1["status"] == "done").all() and (s2["status"] == "done").all())
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--dask-profile", action="store_true", help="keep Dask's worker profiler on")
    args = ap.parse_args()
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.skip_big:
            r = bench_correlate(folder, args.frames, args.size)
            print(f"correlate {args.frames} x {args.size}^2: in-memory multitau {r['in_memory_s']:.1f} s, "
                  f"correlate_file {r['file_s']:.1f} s, ratio {r['ratio']:.2f} (target <= 1.2)")
        if not args.skip_batch:
            r = bench_batch(folder, args.files, dask_profile=args.dask_profile)
            print(f"batch {args.files} files, in-process: first file (trace + compile) "
                  f"{r['in_process_first_s']:.1f} s, "
                  f"then {r['in_process_s']:.1f} s ({r['per_file_in_process_s']:.2f} s/file, "
                  f"CPU {r['in_process_cpu_per_file_s']:.2f} s/file, {r['in_process_cores']:.2f} cores busy)")
            print(f"batch {args.files} files, 2-worker LocalCluster: start-up {r['cluster_start_s']:.1f} s, warm-up "
                  f"(one file per worker, compiled code from the cache) {r['cluster_warmup_s']:.1f} s, then "
                  f"{r['cluster_s']:.1f} s ({r['per_file_cluster_s']:.2f} s/file, "
                  f"CPU {r['cluster_cpu_per_file_s']:.2f} s/file, "
                  f"{r['cluster_cores']:.2f} cores busy)")
            print(f"speed-up {r['speedup']:.2f} (target >= 1.5); end to end with start-up and compile "
                  f"{r['speedup_end_to_end']:.2f}; estimated from CPU per file for an idle 2-core machine "
                  f"{r['speedup_idle_2_cores']:.2f}; all done: {r['all_done']}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
