"""Detector frame stacks as xarray: ``frames(frame, y, x)`` from arrays or HDF5 files.

A frame stack is an :class:`xarray.DataArray` with dims ``("frame", "y", "x")``,
coordinates ``frame`` (0-based index), ``t(frame)`` = frame·frame_time [s], ``y`` and
``x`` [px], and attributes

* ``frame_time`` [s]: the frame period (time between the starts of two frames);
* ``exposure`` [s]: the counting time of one frame (≤ ``frame_time``);
* ``units``: the unit of the values (``"counts"`` = photons per pixel per frame).

HDF5 stacks are opened lazily (h5py + dask): nothing is read until a correlator asks
for a block of frames, so stacks larger than memory can be processed in chunks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

__all__ = [
    "DEFAULT_DATASET",
    "FRAME_DIMS",
    "FramesError",
    "as_frames",
    "frames_from_array",
    "open_frames",
]

#: Dimension names of a frame stack.
FRAME_DIMS = ("frame", "y", "x")
#: Where APS 8-ID-I (and many NeXus writers) put the frames.
DEFAULT_DATASET = "/entry/data/data"

#: Metadata paths tried, in order, for the frame period and the exposure [s].
_FRAME_TIME_PATHS = (
    "/entry/instrument/detector_1/frame_time",
    "/measurement/instrument/detector/exposure_period",
    "/entry/instrument/bluesky/metadata/t0",
)
_EXPOSURE_PATHS = (
    "/entry/instrument/detector_1/count_time",
    "/measurement/instrument/detector/exposure_time",
    "/entry/instrument/bluesky/metadata/t1",
)


class FramesError(ValueError):
    """Raised for an invalid frame stack or frame metadata."""


def _check_time(name: str, value: Any) -> float:
    try:
        v = float(np.asarray(value).squeeze())
    except (TypeError, ValueError) as exc:
        raise FramesError(f"{name} must be a number of seconds, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise FramesError(f"{name} must be finite and > 0 [s], got {v!r}")
    return v


def _check_times(frame_time: Any, exposure: Any | None) -> tuple[float, float]:
    ft = _check_time("frame_time", frame_time)
    ex = ft if exposure is None else _check_time("exposure", exposure)
    if ex > ft * (1 + 1e-9):
        raise FramesError(f"exposure ({ex!r} s) cannot exceed the frame period frame_time ({ft!r} s)")
    return ft, ex


def _check_shape_dtype(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 3:
        raise FramesError(f"frames must be 3-D (frame, y, x), got shape {tuple(shape)}")
    if min(shape) < 1:
        raise FramesError(f"frames must not be empty, got shape {tuple(shape)}")
    if dtype.kind not in "uif":
        raise FramesError(f"frames must be real numbers (unsigned/signed int or float), got dtype {dtype}")


def _wrap(data: Any, frame_time: float, exposure: float, units: str, attrs: dict[str, Any]) -> xr.DataArray:
    n, h, w = data.shape
    coords = {
        "frame": ("frame", np.arange(n), {"long_name": "frame index", "units": "1"}),
        "t": ("frame", frame_time * np.arange(n, dtype=float), {"long_name": "frame start time", "units": "s"}),
        "y": ("y", np.arange(h), {"long_name": "detector row", "units": "px"}),
        "x": ("x", np.arange(w), {"long_name": "detector column", "units": "px"}),
    }
    out_attrs = {"frame_time": frame_time, "frame_time_units": "s", "exposure": exposure,
                 "exposure_units": "s", "units": units, "long_name": "detector counts"}
    out_attrs.update(attrs)
    return xr.DataArray(data, dims=FRAME_DIMS, coords=coords, attrs=out_attrs, name="frames")


def frames_from_array(
    data: Any,
    *,
    frame_time: float,
    exposure: float | None = None,
    units: str = "counts",
    attrs: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a NumPy (or dask) array of frames as a frame stack.

    Parameters
    ----------
    data : array_like, shape (N, H, W)
        Counts per pixel and frame. NumPy arrays are not copied; dask arrays stay lazy.
    frame_time : float
        Frame period [s].
    exposure : float, optional
        Counting time per frame [s], ≤ ``frame_time``; default ``frame_time``.
    units : str
        Unit of the values, default ``"counts"`` (photons).
    attrs : dict, optional
        Extra attributes (provenance).

    Returns
    -------
    xarray.DataArray
        dims ``(frame, y, x)``.

    Raises
    ------
    FramesError
        For a non-3-D or non-numeric array, or invalid times. Values (NaN, negative
        counts) are checked by the correlators on the pixels they use.
    """
    if not hasattr(data, "shape") or not hasattr(data, "dtype"):
        data = np.asarray(data)
    _check_shape_dtype(tuple(data.shape), np.dtype(data.dtype))
    ft, ex = _check_times(frame_time, exposure)
    return _wrap(data, ft, ex, units, dict(attrs or {}))


def _read_scalar(f: Any, paths: tuple[str, ...]) -> tuple[float | None, str | None]:
    for p in paths:
        if p in f:
            v = np.asarray(f[p][()]).squeeze()
            if v.size == 1 and np.issubdtype(v.dtype, np.number):
                return float(v), p
    return None, None


def open_frames(
    path: str | Path,
    dataset: str = DEFAULT_DATASET,
    *,
    frame_time: float | None = None,
    exposure: float | None = None,
    chunk_frames: int = 256,
    units: str = "counts",
    memory_map: bool = True,
) -> xr.DataArray:
    """Open an HDF5 frame stack lazily (h5py + dask).

    Parameters
    ----------
    path : str or Path
        HDF5 file.
    dataset : str
        Path of the (N, H, W) dataset inside the file, default ``/entry/data/data``.
    frame_time, exposure : float, optional
        Frame period and counting time [s]. When not given they are read from the
        file (``/entry/instrument/detector_1/frame_time`` and ``count_time``, or the
        legacy ``/measurement/instrument/detector/exposure_period`` and
        ``exposure_time``); a missing frame period is an error.
    chunk_frames : int
        Frames per dask chunk (at most; with ``memory_map`` the chunks also end where
        the frames stop being contiguous in the file, e.g. at every HDF5 chunk).
    units : str
        Unit of the values.
    memory_map : bool
        Read an uncompressed dataset (contiguous, or chunked by whole frames) through
        read-only memory maps of the file instead of copying it out with h5py
        (:mod:`xpcsnb.io.h5map`; same values, a block of frames costs no fresh buffer).
        Ignored where the file does not allow it (compression, virtual datasets …), or
        where it would make more than 4 times as many dask chunks.

    Returns
    -------
    xarray.DataArray
        Lazy (dask-backed) stack with dims ``(frame, y, x)``; the file stays open
        (read-only) while the array is alive. ``attrs["source"]`` names the file.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FramesError(f"no such file: {path}")
    if not h5py.is_hdf5(path):
        raise FramesError(f"{path} is not an HDF5 file")
    if int(chunk_frames) < 1:
        raise FramesError(f"chunk_frames must be >= 1, got {chunk_frames!r}")
    if not isinstance(memory_map, bool):
        raise FramesError(f"memory_map must be True or False, got {memory_map!r}")
    f = h5py.File(path, "r")
    try:
        if dataset not in f:
            raise FramesError(f"{path} has no dataset {dataset!r}")
        dset = f[dataset]
        if not isinstance(dset, h5py.Dataset):
            raise FramesError(f"{dataset!r} in {path} is a group, not a dataset")
        _check_shape_dtype(tuple(dset.shape), dset.dtype)
        attrs: dict[str, Any] = {"source": str(path), "dataset": dataset}
        if frame_time is None:
            frame_time, where = _read_scalar(f, _FRAME_TIME_PATHS)
            if frame_time is None:
                raise FramesError(
                    f"{path} carries no frame period (tried {', '.join(_FRAME_TIME_PATHS)}); pass frame_time=[s]"
                )
            attrs["frame_time_source"] = where
        if exposure is None:
            exposure, where = _read_scalar(f, _EXPOSURE_PATHS)
            if where is not None:
                attrs["exposure_source"] = where
        ft, ex = _check_times(frame_time, exposure)
        data = _lazy(dset, int(chunk_frames), memory_map, name=f"frames-{path.name}-{dataset}")
    except Exception:
        f.close()
        raise
    out = _wrap(data, ft, ex, units, attrs)
    return out


def _lazy(dset: Any, chunk_frames: int, memory_map: bool, name: str) -> Any:
    """The dask array of an h5py dataset: over :class:`~xpcsnb.io.h5map.MappedFrames`
    when it can be mapped without making more than 4 times as many chunks, else over h5py."""
    import dask.array as da

    from .h5map import mapped_source, run_chunks

    n, h, w = dset.shape
    chunk_frames = min(chunk_frames, n)
    src = mapped_source(dset) if memory_map else None
    if src is not None:
        sizes = run_chunks(src.runs, chunk_frames)
        if len(sizes) <= 4 * -(-n // chunk_frames):  # names differ by chunking: a graph may hold both
            return da.from_array(src, chunks=(sizes, (h,), (w,)), lock=True, asarray=True, name=f"{name}-{chunk_frames}-mmap")
    return da.from_array(dset, chunks=(chunk_frames, h, w), lock=True, asarray=True, name=f"{name}-{chunk_frames}")


def as_frames(frames: Any, frame_time: float | None = None) -> xr.DataArray:
    """Return ``frames`` as a validated frame stack.

    Accepts a frame DataArray (dims ``(frame, y, x)``, ``frame_time`` attribute) or a
    3-D NumPy/dask array (then ``frame_time`` [s] is required). A ``frame_time`` given
    together with a DataArray must agree with its attribute.
    """
    if isinstance(frames, xr.DataArray):
        if frames.dims != FRAME_DIMS:
            raise FramesError(f"frames must have dims {FRAME_DIMS}, got {frames.dims}")
        _check_shape_dtype(tuple(frames.shape), np.dtype(frames.dtype))
        attr_ft = frames.attrs.get("frame_time")
        if attr_ft is None and frame_time is None:
            raise FramesError("the frames carry no 'frame_time' attribute; pass frame_time=[s]")
        if attr_ft is not None and frame_time is not None:
            a, b = _check_time("frames.attrs['frame_time']", attr_ft), _check_time("frame_time", frame_time)
            if abs(a - b) > 1e-9 * a:
                raise FramesError(f"frame_time={b!r} s disagrees with the frames' frame_time attribute ({a!r} s)")
        if attr_ft is None:
            return frames.assign_attrs(frame_time=_check_time("frame_time", frame_time), frame_time_units="s")
        _check_time("frames.attrs['frame_time']", attr_ft)
        return frames
    if isinstance(frames, xr.Dataset):
        raise FramesError("expected a frame DataArray (frame, y, x), got a Dataset; pick its variable, e.g. ds['frames']")
    if frame_time is None:
        raise FramesError("frames given as a plain array need frame_time=[s]")
    return frames_from_array(frames, frame_time=frame_time)
