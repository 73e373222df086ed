"""``save_aps``: write results as an APS 8-ID-I NeXus result file (the layout the reader and xpcs-viewer read).

Every path comes from the one path table (:data:`~.paths.PATHS`, first source of each
quantity). Conventions (see ``docs/io.md``):

* times: ``t0`` (``frame_time``) is the frame period; multi-tau lags are stored in
  frames (``delay_list``, stride = avg = 1, ``tau = delay · t0``); the two-time step is
  ``t0 · avg`` with ``avg`` a whole number of frames;
* C2: the upper triangle (diagonal included) of each map, ``c2_00001 …`` in the order of
  ``processed_bins`` (ascending bin ids), plus its lag averages ``normalized_g2`` and
  their 5 segments, as boost-corr writes them; the time origin is not stored (the
  reader's ``t_k = k·dt``);
* bins: the q-map of ``partition`` (or the (q, φ) of the g2 / two-time ROIs), static bins
  equal to the dynamic ones;
* the file is written to a temporary file in the same folder, flushed (``fsync``) and
  renamed; an existing file is never replaced unless ``overwrite=True``;
* every array dataset carries the Fletcher-32 checksum (HDF5 cannot filter 0-d
  datasets: scalars and strings are stored without it).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ..._version import __version__
from ...core.g2 import validate_g2
from ...core.partition import HC_KEV_ANGSTROM, Geometry, Partition
from .c2write import c2_bin_ids as _c2_bin_ids
from .c2write import nearest_cell
from .c2write import twotime_maps as _twotime_maps
from .c2write import write_twotime as _write_twotime
from .grid import BinGrid, grid_from_partition, grid_from_values
from .paths import write_path
from .store import atomic_write as _atomic
from .store import put as _put

__all__ = ["META_KEYS", "save_aps", "write_qmap"]

#: Keys accepted in ``meta`` (units: s, s, keV, m, m, px, text, Geometry).
META_KEYS = ("frame_time", "count_time", "energy", "distance", "pixel_size", "beam_center", "start_time",
             "geometry")


def _meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    m = dict(meta or {})
    unknown = sorted(set(m) - set(META_KEYS))
    if unknown:
        raise ValueError(f"unknown meta key(s) {unknown}; known: {list(META_KEYS)}")
    geo = m.pop("geometry", None)
    if geo is not None:
        if not isinstance(geo, Geometry):
            raise TypeError(f"meta['geometry'] must be an xpcsnb Geometry, got {type(geo).__name__}")
        px = np.atleast_1d(np.asarray(geo.pixel_size, dtype=float))
        m.setdefault("energy", HC_KEV_ANGSTROM / geo.lambda_angstrom)
        m.setdefault("distance", geo.distance)
        m.setdefault("pixel_size", tuple(px.tolist()) if px.size == 2 else float(px[0]))
        m.setdefault("beam_center", tuple(geo.beam_center))
    for k, n in (("frame_time", 1), ("count_time", 1), ("energy", 1), ("distance", 1), ("pixel_size", (1, 2)),
                 ("beam_center", 2)):
        if k not in m:
            continue
        try:
            v = np.atleast_1d(np.asarray(m[k], dtype=float))
        except (TypeError, ValueError):
            v = np.array([np.nan])
        sizes = n if isinstance(n, tuple) else (n,)
        if isinstance(m[k], bool) or v.ndim != 1 or v.size not in sizes or not np.all(np.isfinite(v)) or (
                k != "beam_center" and np.any(v <= 0)):
            what = "(x, y) in pixels" if k == "beam_center" else "a finite number > 0" + (
                " or (y, x)" if k == "pixel_size" else "")
            raise ValueError(f"meta[{k!r}] must be {what}, got {m[k]!r}")
    if "start_time" in m and not isinstance(m["start_time"], str):
        raise TypeError(f"meta['start_time'] must be text (ISO 8601), got {type(m['start_time']).__name__}")
    return m


def write_qmap(f: h5py.File, grid: BinGrid, part: Partition | None, meta: Mapping[str, Any]) -> None:
    """Write the ``/xpcs/qmap`` group: bin lists, index mapping, names, and the maps of ``part``."""
    n = np.array([grid.q_grid.size, grid.phi_grid.size], dtype=np.int64)
    for kind in ("dynamic", "static"):
        _put(f, f"{kind}_v0", grid.q_grid, units="1/A")
        _put(f, f"{kind}_v1", grid.phi_grid, units="degree")
        _put(f, f"{kind}_num_pts", n)
        _put(f, f"{kind}_index_mapping", grid.index_mapping)
    _put(f, "map_names", np.array([b"q", b"phi"]))
    _put(f, "map_units", np.array([b"1/A", b"degree"]))
    h = hashlib.sha1(np.ascontiguousarray(grid.q_grid).tobytes() + np.ascontiguousarray(grid.phi_grid).tobytes()
                     + np.ascontiguousarray(grid.index_mapping).tobytes())
    if part is not None:
        labels = np.asarray(part.labels).astype(np.uint32)
        h.update(labels.tobytes())
        _put(f, "roi_dynamic", labels)
        _put(f, "roi_static", labels)
        _put(f, "mask", (labels > 0).astype(np.int32))
    if "beam_center" in meta:
        bx, by = (float(v) for v in meta["beam_center"])
        _put(f, "beam_center_x", bx, units="pixel")
        _put(f, "beam_center_y", by, units="pixel")
    if "distance" in meta:
        _put(f, "qmap_distance", float(meta["distance"]), units="m")
    if "pixel_size" in meta:
        _put(f, "qmap_pixel_size", float(np.atleast_1d(meta["pixel_size"])[-1]), units="m")
    if "energy" in meta:
        _put(f, "qmap_energy", float(meta["energy"]), units="keV")
    f[write_path("qmap_group")].attrs["hash"] = h.hexdigest()


def _bins(g2: xr.Dataset | None, c2: list[tuple[float, float, np.ndarray]], part: Partition | None) -> BinGrid:
    if part is not None:
        return grid_from_partition(part)
    if g2 is not None:
        if "q" not in g2.coords:
            raise ValueError("g2 has no q coordinate: pass partition= (or a g2 with q(roi)) to write its q-map")
        phi = g2["phi"].values if "phi" in g2.coords else np.full(g2.sizes["roi"], np.nan)
        return grid_from_values(g2["q"].values, phi)
    return grid_from_values([q for q, _, _ in c2], [p for _, p, _ in c2])


def _frame_time(meta: Mapping[str, Any], g2: xr.Dataset | None, dt_c2: float | None) -> float | None:
    if "frame_time" in meta:
        return float(meta["frame_time"])
    if dt_c2 is not None:  # avg = 1: xpcs-viewer scales C2 by t0 whatever the twotime config says
        return dt_c2
    if g2 is not None and "frame_time" in g2.attrs:
        return float(g2.attrs["frame_time"])
    if g2 is not None:
        return float(g2["tau"].values[0])
    return None


def _whole(ratio: float, what: str, t0: float) -> int:
    k = int(round(ratio))
    if k < 1 or abs(ratio - k) > 1e-6 * max(k, 1):
        raise ValueError(f"{what} is not a whole number of frame times t0 = {t0!r} s (ratio {ratio!r}); "
                         "pass meta={'frame_time': ...} with the frame period [s]")
    return k


def _check_g2_bins(g2: xr.Dataset, grid: BinGrid, with_partition: bool) -> None:
    """The g2 ROIs must be the q-map's bins: same number, labels 1 … n with a partition, and
    each ROI's q and φ on its bin's grid cell (nearest centre, within half a spacing)."""
    if g2.sizes["roi"] != grid.n_bins:
        raise ValueError(f"g2 has {g2.sizes['roi']} ROIs but the q-map has {grid.n_bins} bins")
    if with_partition and not np.array_equal(g2["roi"].values, np.arange(1, grid.n_bins + 1)):
        raise ValueError(f"g2 roi labels {g2['roi'].values.tolist()[:8]} are not the partition's labels "
                         f"1 … {grid.n_bins} in order")
    n1 = grid.phi_grid.size
    for name, values, axis, circular in (("q", grid.q_grid, 0, False), ("phi", grid.phi_grid, 1, True)):
        if name not in g2.coords or (name == "phi" and np.all(np.isnan(g2["phi"].values))):
            continue
        expect = grid.index_mapping // n1 if axis == 0 else grid.index_mapping % n1
        got = [nearest_cell(values, float(v), circular=circular) for v in g2[name].values]
        bad = [k for k, (c, e) in enumerate(zip(got, expect)) if c != e]
        if bad:
            k = bad[0]
            raise ValueError(f"g2 ROI {g2['roi'].values[k]} has {name} = {g2[name].values[k]:.6g}, but its q-map bin "
                             f"is at {name} = {values[expect[k]]:.6g}: the g2 and the partition do not match")


def _write_g2(f: h5py.File, g2: xr.Dataset, grid: BinGrid, t0: float) -> None:
    tau = g2["tau"].values
    delay = None
    for name in ("lag", "delay"):
        if name in g2.coords and g2[name].dims == ("tau",) and np.array_equal(g2[name].values * t0, tau):
            delay = g2[name].values.astype(np.float64)
    if delay is None:
        delay = tau / t0
    _put(f, "delay", delay, units="frame")
    _put(f, "g2", g2["g2"].transpose("roi", "tau").values.T)
    if "g2_err" in g2:
        _put(f, "g2_err", g2["g2_err"].transpose("roi", "tau").values.T)
    _put(f, "multitau_stride", 1)
    _put(f, "multitau_avg", 1)


def _image(a: Any, name: str) -> np.ndarray:
    v = np.asarray(a.values if isinstance(a, xr.DataArray) else a)
    if v.ndim == 3 and v.shape[0] == 1:
        v = v[0]
    if v.ndim != 2 or v.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric (y, x) image, got {v.dtype} shape {v.shape}")
    return v


def _intensity(a: Any, part: Partition | None) -> np.ndarray:
    """(2, Nf): frame index and the summed detector intensity per frame."""
    if isinstance(a, xr.DataArray) and a.ndim == 2 and "roi" in a.dims:
        if part is None:
            raise ValueError("intensity per ROI (roi, frame) needs partition= (pixels per ROI) to be summed")
        per_roi = a.transpose("roi", ...).values
        if per_roi.shape[0] != part.n_roi:
            raise ValueError(f"intensity has {per_roi.shape[0]} ROIs but the partition {part.n_roi}")
        total = np.sum(per_roi * part.npix[:, None], axis=0)  # counts per pixel per frame × pixels
    else:
        v = np.asarray(a.values if isinstance(a, xr.DataArray) else a, dtype=np.float64)
        if v.ndim == 2 and v.shape[0] == 2:
            return v
        if v.ndim != 1:
            raise ValueError(f"intensity must be (frame,), (2, frame) or a (roi, frame) DataArray, got shape {v.shape}")
        total = v
    return np.vstack([np.arange(total.size, dtype=np.float64), total])


def save_aps(
    path: str | os.PathLike[str],
    *,
    g2: xr.Dataset | None = None,
    twotime: xr.Dataset | Sequence[xr.Dataset] | None = None,
    partition: Partition | None = None,
    saxs_2d: Any | None = None,
    intensity: Any | None = None,
    meta: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an APS 8-ID-I NeXus result file (``*_results.hdf``), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist.
    g2 : xarray.Dataset, optional
        A g2 Dataset (:mod:`xpcsnb.core.g2`, dims ``(roi, tau)``); one ROI per bin of the
        q-map, in bin order (with ``partition``: its labels ``1 … n``).
    twotime : xarray.Dataset or sequence of them, optional
        Two-time Datasets (single- or multi-q); each (q, φ) map is stored as the C2 of the
        q-map bin at that (q, φ). All share one frame grid.
    partition : Partition, optional
        The ROI partition: written as ``/xpcs/qmap`` (ROI maps, bin lists, mask =
        labelled pixels). Without it the bins come from the g2 (or two-time) (q, φ) and
        no maps are written (xpcs-viewer needs the maps).
    saxs_2d : array_like, shape (H, W), optional
        Time-averaged image [photon/pixel/frame]; with ``partition`` also its mean per
        bin (``scattering_1d``).
    intensity : array_like, optional
        Intensity vs frame: ``(frame,)`` total, ``(2, frame)`` as APS stores it, or a
        ``(roi, frame)`` DataArray per ROI [counts/pixel/frame] summed with ``partition``.
    meta : mapping, optional
        ``frame_time`` [s] (frame period t0; default the two-time step, else the g2's
        ``frame_time`` attribute, else its first lag), ``count_time`` [s], ``energy`` [keV], ``distance`` [m],
        ``pixel_size`` [m], ``beam_center`` (x, y) [px], ``start_time`` (text), or
        ``geometry`` (a :class:`~xpcsnb.core.partition.Geometry` giving the four before).
    overwrite : bool
        Replace an existing file (default False: :class:`FileExistsError`).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    FileExistsError, FileNotFoundError, IsADirectoryError
        Existing target without ``overwrite``; missing folder; a folder as target.
    ValueError, TypeError
        Inputs that are not valid g2 / two-time Datasets, unknown ``meta`` keys, a
        two-time map without a q-map bin, time steps that are not whole frames.
    """
    target = Path(path).expanduser()
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file name such as {target / 'A001_results.hdf'}")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist; create it first")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    if all(v is None for v in (g2, twotime, partition, saxs_2d, intensity)):
        raise ValueError("nothing to write: give g2, twotime, partition, saxs_2d or intensity")
    m = _meta(meta)
    if isinstance(partition, Partition):  # the geometry a q-map file carried (open_qmap)
        a = partition.attrs
        for key, src in (("distance", "detector_distance"), ("pixel_size", "pixel_size"), ("energy", "energy")):
            if src in a:
                m.setdefault(key, a[src])
        if "beam_center_x" in a and "beam_center_y" in a:
            m.setdefault("beam_center", (a["beam_center_x"], a["beam_center_y"]))
    if g2 is not None:
        validate_g2(g2)
        if "t_age" in g2["g2"].dims:
            raise ValueError("an age-resolved g2 (t_age, roi, tau) has no place in an APS file; select one age")
    if partition is not None and not isinstance(partition, Partition):
        raise TypeError(f"partition must be an xpcsnb Partition (e.g. from open_qmap), got {type(partition).__name__}")
    maps, dt_c2 = _twotime_maps(twotime)
    image = None if saxs_2d is None else _image(saxs_2d, "saxs_2d")
    if image is not None and partition is not None and image.shape != partition.shape:
        raise ValueError(f"saxs_2d has shape {image.shape} but the partition {partition.shape}")
    it = None if intensity is None else _intensity(intensity, partition)
    grid = None if (g2 is None and not maps and partition is None) else _bins(g2, maps, partition)
    ids = _c2_bin_ids(maps, grid) if maps else []
    if g2 is not None:
        _check_g2_bins(g2, grid, partition is not None)
    t0 = _frame_time(m, g2, dt_c2)
    avg = _whole(dt_c2 / t0, f"the two-time step {dt_c2!r} s", t0) if maps else 1

    def write(f: h5py.File) -> None:
        f.attrs["creator"] = f"xpcsnb {__version__}"
        f.create_group(write_path("bluesky_metadata"))  # the layout marker xpcs-viewer checks
        _put(f, "start_time", str(m.get("start_time", "")))
        if t0 is not None:
            _put(f, "t0", t0, units="s")
            _put(f, "count_time", float(m.get("count_time", t0)), units="s")
        if "energy" in m:
            _put(f, "energy", float(m["energy"]), units="keV")
        if "distance" in m:
            _put(f, "distance", float(m["distance"]), units="m")
        if "pixel_size" in m:
            px = np.atleast_1d(np.asarray(m["pixel_size"], dtype=float))
            _put(f, "pixel_size_x", float(px[-1]), units="m")
            _put(f, "pixel_size_y", float(px[0]), units="m")
        if grid is not None:
            write_qmap(f, grid, partition, m)
        if g2 is not None:
            _write_g2(f, g2, grid, t0)
        if maps:
            _write_twotime(f, maps, ids, avg)
        if image is not None:
            _put(f, "saxs_2d", image[None].astype(np.float64))
            if partition is not None:
                lab = partition.labels.ravel()
                s1 = np.bincount(lab, weights=image.ravel().astype(float), minlength=partition.n_roi + 1)[1:]
                s1 = s1 / partition.npix
                _put(f, "saxs_1d", s1[None, :])
                _put(f, "saxs_1d_segments", s1[None, :])
        if it is not None:
            _put(f, "I_t", it)

    _atomic(target, overwrite, write)
    return target
