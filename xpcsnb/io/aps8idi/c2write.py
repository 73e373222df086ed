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

__all__ = ["c2_bin_ids", "nearest_cell", "twotime_maps", "write_twotime"]


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


def nearest_cell(grid_values: np.ndarray, value: float, *, circular: bool = False) -> int | None:
    """Index of the grid centre nearest ``value`` if it lies closer than half the grid spacing, else None.

    A one-value grid accepts a relative difference of 1e-3 (1e-3 deg for angles).
    ``circular`` compares angles modulo 360°.
    """
    g = np.asarray(grid_values, dtype=float)
    d = np.abs((g - value + 180.0) % 360.0 - 180.0) if circular else np.abs(g - value)
    k = int(np.argmin(d))
    if g.size > 1:
        gaps = np.diff(np.sort(g))
        return k if d[k] < 0.5 * float(gaps.min()) else None
    return k if d[k] <= (1e-3 if circular else 1e-3 * abs(float(g[0]))) else None


def c2_bin_ids(maps: list[tuple[float, float, np.ndarray]], grid: BinGrid) -> list[int]:
    """The 1-based bin of each map: the bin on the grid cell nearest its (q, φ), within half a spacing."""
    cell_to_bin = {int(c): b + 1 for b, c in enumerate(grid.index_mapping)}
    ids = []
    for q, phi, _ in maps:
        iq = nearest_cell(grid.q_grid, q)
        iphi = nearest_cell(grid.phi_grid, phi, circular=True)
        b = None if iq is None or iphi is None else cell_to_bin.get(iq * grid.phi_grid.size + iphi)
        if b is None:
            raise ValueError(f"no bin of the q-map lies at the two-time map's q={q:.6g} 1/Å, phi={phi:g} deg "
                             f"(grid: q {grid.q_grid.tolist()}, phi {grid.phi_grid.tolist()})")
        ids.append(b)
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
