"""HDF5 frame stacks: ``open_frames(path)`` → a lazy frame stack ``frames(frame, y, x)``.

The frame-stack data model (dims, coordinates, attributes, validation) lives in
:mod:`xpcsnb.core.frames`; this module only reads files.

HDF5 stacks are opened lazily (h5py + dask): nothing is read until a correlator asks
for a block of frames, so stacks larger than memory can be processed in chunks. The
frame, frame-time and exposure paths come from the APS path table
(:data:`xpcsnb.io.aps8idi.paths.PATHS`: ``frames``, ``t0``, ``count_time``). Links out of
the file's folder and external raw storage are refused unless ``allow_external=True``
(:mod:`xpcsnb.io.h5safe`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.frames import FRAME_DIMS, FramesError, as_frames, check_frame_times, check_shape_dtype, frames_from_array, wrap_frames
from .aps8idi.paths import paths_of
from .h5safe import get_object, open_reader, read_dataset

__all__ = [
    "DEFAULT_DATASET",
    "FRAME_DIMS",
    "FramesError",
    "as_frames",
    "frames_from_array",
    "open_frames",
    "register_filters",
]

#: Where APS 8-ID-I (and many NeXus writers) put the frames (the path table's ``frames``).
DEFAULT_DATASET = paths_of("frames")[0]

#: Metadata paths tried, in order, for the frame period and the exposure [s]
#: (the path table's ``t0`` and ``count_time``).
_FRAME_TIME_PATHS = paths_of("t0")
_EXPOSURE_PATHS = paths_of("count_time")


def _read_scalar(f: Any, paths: tuple[str, ...]) -> tuple[float | None, str | None]:
    """First numeric scalar among ``paths`` (dangling links skipped): (value, path)."""
    for p in paths:
        obj = get_object(f, p, dangling="none")
        if obj is not None and hasattr(obj, "dtype"):
            v = np.asarray(read_dataset(f, obj, p)).squeeze()
            if v.size == 1 and np.issubdtype(v.dtype, np.number):
                return float(v), p
    return None, None


def register_filters() -> bool:
    """Register the HDF5 compression filters of detector files (bitshuffle-LZ4, Blosc, Zstd, ...)
    through :mod:`hdf5plugin`; True when it is installed (importing it registers them)."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        return False
    return True


def _check_filters(dset: Any, where: str) -> None:
    """Refuse a dataset compressed with an HDF5 filter that is not available, naming it."""
    import h5py

    register_filters()
    dcpl = dset.id.get_create_plist()
    for i in range(dcpl.get_nfilters()):
        code, _flags, _values, name = dcpl.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            label = name.decode(errors="replace") if isinstance(name, bytes) else str(name)
            raise FramesError(
                f"{where} is compressed with HDF5 filter {code} ({label!r}), which is not available; "
                "install hdf5plugin (pip install hdf5plugin, a dependency of xpcsnb) to read "
                "bitshuffle-LZ4, Blosc, Zstd and LZ4 compressed detector files"
            )


def open_frames(
    path: str | Path,
    dataset: str = DEFAULT_DATASET,
    *,
    frame_time: float | None = None,
    exposure: float | None = None,
    chunk_frames: int = 256,
    units: str = "counts",
    memory_map: bool = True,
    allow_external: bool = False,
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
        (``xpcsnb.io.h5map``; same values, a block of frames costs no fresh buffer).
        Ignored where the file does not allow it (compression, virtual datasets …), or
        where it would make more than 4 times as many dask chunks.
    allow_external : bool
        Follow links out of the file's folder and read external raw storage or outside
        virtual sources (default False: refused); only for trusted local files.

    Returns
    -------
    xarray.DataArray
        Lazy (dask-backed) stack with dims ``(frame, y, x)``; the file stays open
        (read-only) while the array is alive. ``attrs["source"]`` names the file.

    Raises
    ------
    FramesError
        Missing or non-HDF5 file, missing/dangling/cyclic dataset path, a link or
        storage outside the folder (without ``allow_external``), no frame period, or
        (when read) a file truncated since it was opened or an h5py read error.
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
    f = open_reader(path, error=FramesError, allow_external=allow_external)
    try:
        dset = get_object(f, dataset)
        if dset is None:
            raise FramesError(f"{path} has no dataset {dataset!r}")
        if not isinstance(dset, h5py.Dataset):
            raise FramesError(f"{dataset!r} in {path} is a group, not a dataset")
        check_shape_dtype(tuple(dset.shape), dset.dtype)
        _check_filters(dset, f"{path}:{dataset}")
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
        ft, ex = check_frame_times(frame_time, exposure)
        data = _lazy(dset, int(chunk_frames), memory_map, name=f"frames-{path.name}-{dataset}")
    except Exception:
        f.close()
        raise
    out = wrap_frames(data, ft, ex, units, attrs)
    return out


def _lazy(dset: Any, chunk_frames: int, memory_map: bool, name: str) -> Any:
    """The dask array of an h5py dataset: over :class:`~xpcsnb.io.h5map.MappedFrames`
    when it can be mapped without making more than 4 times as many chunks, else over h5py
    (:class:`~xpcsnb.io.h5map.GuardedFrames`: a truncated file raises, never reads zeros)."""
    import dask.array as da

    from .h5map import GuardedFrames, mapped_source, run_chunks

    n, h, w = dset.shape
    chunk_frames = min(chunk_frames, n)
    src = mapped_source(dset) if memory_map else None
    if src is not None:
        sizes = run_chunks(src.runs, chunk_frames)
        if len(sizes) <= 4 * -(-n // chunk_frames):  # names differ by chunking: a graph may hold both
            return da.from_array(src, chunks=(sizes, (h,), (w,)), lock=True, asarray=True, name=f"{name}-{chunk_frames}-mmap")
    return da.from_array(GuardedFrames(dset), chunks=(chunk_frames, h, w), lock=True, asarray=True,
                         name=f"{name}-{chunk_frames}")

