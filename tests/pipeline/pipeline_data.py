"""Tiny raw files for the pipeline tests: simulated speckle frames in the APS HDF5 layout."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

FRAME_TIME = 0.05


def tiny_partition(size: int = 24, n_q: int = 2):
    """A (q) partition of a size × size detector: n_q rings, one φ sector."""
    import xpcsnb.correlate as xc

    geom = xc.Geometry((size, size), (size / 2 - 0.5, size / 2 - 0.5), 0.5, 75e-6, energy=12.0)
    q = geom.q_map()
    return xc.partition(q, np.linspace(0.3, 0.95, n_q + 1) * q.max()), q


def tiny_frames(n_frames: int = 64, size: int = 24, seed: int = 0) -> np.ndarray:
    """Simulated speckle counts (n_frames, size, size), uint16."""
    import xpcsnb.correlate as xc

    _, q = tiny_partition(size)
    fr = xc.simulate_frames(n_frames, q, D=2.0e4, frame_time=FRAME_TIME, mean_count=4.0, n_modes=2, seed=seed)
    return np.asarray(getattr(fr, "values", fr)).astype(np.uint16)


def write_raw(path: Path, frames: np.ndarray, frame_time: float = FRAME_TIME) -> Path:
    """An HDF5 frame file as open_frames reads it (/entry/data/data + the frame period)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("/entry/data/data", data=frames, chunks=(16, *frames.shape[1:]))
        f.create_dataset("/entry/instrument/detector_1/frame_time", data=frame_time)
    return path
