"""The two-time part of :mod:`.write`: C2 maps of two-time Datasets → ``/xpcs/twotime``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ...core.twotime import q_value, uniform_time_step, validate_twotime
from .grid import BinGrid
from .paths import write_path
from .store import put as _put

__all__ = ["c2_bin_ids", "twotime_maps", "write_twotime"]


def twotime_maps(twotime: Any) -> tuple[list[tuple[float, float, np.ndarray]], float | None]:
    """(q, φ, C2) of every map of a (multi-q) two-time Dataset or a sequence of them, and dt [s]."""
    if twotime is None:
        return [], None
    items = list(twotime) if isinstance(twotime, Sequence) and not isinstance(twotime, xr.Dataset) else [twotime]
    maps: list[tuple[float, float, np.ndarray]] = []
    steps = set()
    for ds in items:
        validate_twotime(ds)
        steps.add(uniform_time_step(ds["t1"].values, name="t1"))
        parts = [ds.isel(q=i) for i in range(ds.sizes["q"])] if "q" in ds["c2"].dims else [ds]
        for one in parts:
            q = q_value(one)
            for k, phi in enumerate(one["phi"].values):
                maps.append((q, float(phi), np.asarray(one["c2"].values[k], dtype=np.float64)))
    sizes = {m.shape[0] for _, _, m in maps}
    if len(sizes) != 1:
        raise ValueError(f"the two-time maps differ in size {sorted(sizes)}; one result file holds one frame grid")
    dt = steps.pop()
    if steps and not all(np.isclose(dt, s, rtol=1e-9) for s in steps):
        raise ValueError(f"the two-time Datasets have different time steps {sorted(steps | {dt})} s")
    return maps, dt


def c2_bin_ids(maps: list[tuple[float, float, np.ndarray]], grid: BinGrid) -> list[int]:
    """The 1-based bin of each map: the bin at the nearest (q, φ), which must be unique and close."""
    ids = []
    for q, phi, _ in maps:
        dq = np.abs(grid.q - q) / q
        dphi = np.abs((grid.phi - phi + 180.0) % 360.0 - 180.0)
        ok = np.flatnonzero((dq <= 1e-6) & (dphi <= 1e-6))
        if ok.size == 0:
            ok = np.flatnonzero((dq == dq.min()) & (dphi == dphi[dq == dq.min()].min()))
            if dq[ok[0]] > 0.05 or dphi[ok[0]] > 0.5 * max(np.diff(np.unique(grid.phi)).min(initial=360.0), 1e-9):
                raise ValueError(f"no bin of the q-map lies at the two-time map's q={q:.6g} 1/Å, phi={phi:g} deg "
                                 f"(bins: q {np.unique(grid.q).tolist()}, phi {np.unique(grid.phi).tolist()})")
        ids.append(int(ok[0]) + 1)
    if len(set(ids)) != len(ids):
        raise ValueError("two two-time maps fall on the same q-map bin; give each (q, phi) once")
    return ids


def _lag_means(c: np.ndarray) -> np.ndarray:
    """Mean of C2 along each diagonal k = 0 … N−1 (the one-time g2 of the map)."""
    return np.array([np.diagonal(c, k).mean() for k in range(c.shape[0])])


def write_twotime(f: h5py.File, maps: list[tuple[float, float, np.ndarray]], ids: list[int], avg: int) -> None:
    order = np.argsort(ids)
    mats = [maps[k][2] for k in order]
    n = mats[0].shape[0]
    _put(f, "twotime_stride", 1)
    _put(f, "twotime_avg", int(avg))
    _put(f, "processed_bins", np.asarray(ids, dtype=np.int64)[order])
    for j, c in enumerate(mats):
        f.create_dataset(f"{write_path('c2_group')}/c2_{j + 1:05d}", data=np.triu(c), fletcher32=True, chunks=True)
    _put(f, "c2_g2", np.stack([_lag_means(c) for c in mats], axis=1))
    seg = n // 5
    if seg >= 2:
        parts = [[_lag_means(c[s * seg:(s + 1) * seg, s * seg:(s + 1) * seg]) for s in range(5)] for c in mats]
        _put(f, "c2_g2_segments", np.transpose(np.asarray(parts), (2, 1, 0)))  # (seg, 5, Nc)
    else:
        _put(f, "c2_g2_segments", np.stack([_lag_means(c) for c in mats], axis=1)[:, None, :])
    _put(f, "c2_delay", np.arange(n, dtype=np.float64), units="frame")
