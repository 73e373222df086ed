"""Benchmark: XSVS photon histogramming throughput on 256 × 256 frames.

Compares the vectorised histogramming of :func:`xpcsnb.xsvs.visibility` (one
``np.bincount`` per block of frames over the combined (frame, ROI, k) index) with a
pyxsvs-style reference measured in the same run: ``np.histogram`` per frame and per ROI
(with the ROI pixel indices precomputed, which favours the reference).

Run::

    /work/main/.venv/bin/python bench/xsvs.py [--frames 512] [--rings 20] [--sectors 1] [--mean-count 1.0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from xpcsnb import xsvs
from xpcsnb.correlate import Geometry, partition
from xpcsnb.xsvs.statistics import frame_statistics, pixel_table


def make_frames(part, n_frames: int, mean_count: float, seed: int) -> np.ndarray:
    frames = xsvs.simulate_series(part, [1e-3], n_frames=n_frames, beta0=0.3, mean_count=mean_count, seed=seed)
    return frames.isel(exposure=0).values.astype(np.uint16)


def naive_histograms(frames: np.ndarray, labels: np.ndarray, n_k: int) -> np.ndarray:
    """pyxsvs-style loops: one np.histogram per frame and ROI."""
    n_roi = int(labels.max())
    idx = [np.flatnonzero(labels.ravel() == r) for r in range(1, n_roi + 1)]
    bins = np.arange(n_k + 1) - 0.5
    out = np.zeros((frames.shape[0], n_roi, n_k), dtype=np.int64)
    for f in range(frames.shape[0]):
        flat = frames[f].ravel()
        for r in range(n_roi):
            out[f, r] = np.histogram(flat[idx[r]], bins=bins)[0]
    return out


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=512)
    ap.add_argument("--naive-frames", type=int, default=64)
    ap.add_argument("--rings", type=int, default=20)
    ap.add_argument("--sectors", type=int, default=1, help="phi sectors per ring")
    ap.add_argument("--mean-count", type=float, default=1.0)
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    geo = Geometry(shape=(256, 256), beam_center=(128, 128), distance=5.0, pixel_size=75e-6, energy=10.0)
    qm = geo.q_map()
    phi = dict(phi_map=geo.phi_map(), phi_edges=np.linspace(-180, 180, args.sectors + 1)) if args.sectors > 1 else {}
    part = partition(qm, np.linspace(qm[128, 132], qm[128, 255], args.rings + 1), **phi)
    frames = make_frames(part, args.frames, args.mean_count, seed=0)
    table = pixel_table(part.labels)
    n_used = int(part.npix.sum())
    print(f"frames: {args.frames} x 256 x 256 uint16, {args.rings} q rings x {args.sectors} phi sectors = {part.n_roi} ROIs, {n_used} ROI pixels "
          f"({n_used / 65536:.0%}), mean count {args.mean_count}, max count {int(frames.max())}")

    def ours():
        blocks = ((s, frames[s:s + args.block]) for s in range(0, frames.shape[0], args.block))
        return frame_statistics(blocks, table, frames.shape[0], (256, 256))

    stats = ours()
    n_k = stats.counts.shape[2]
    sub = frames[: args.naive_frames]
    ref = naive_histograms(sub, part.labels, n_k)
    assert np.array_equal(ref, stats.counts[: args.naive_frames]), "histograms differ from the reference"

    t_ours = best_of(ours, args.repeat)
    t_naive = best_of(lambda: naive_histograms(sub, part.labels, n_k), args.repeat)
    fps_ours = args.frames / t_ours
    fps_naive = args.naive_frames / t_naive
    t_vis = best_of(lambda: xsvs.visibility({1e-3: frames}, part, progress=False, block_size=args.block), 1)
    print(f"xpcsnb histogramming (bincount, blocks of {args.block}): {fps_ours:10.1f} frames/s")
    print(f"naive np.histogram per frame and ROI (pyxsvs style): {fps_naive:10.1f} frames/s")
    print(f"speed-up: {fps_ours / fps_naive:.1f}x (identical histograms checked on {args.naive_frames} frames)")
    print(f"full visibility() incl. ML fit and estimators: {args.frames / t_vis:10.1f} frames/s")


if __name__ == "__main__":
    main()
