"""Exposure series: frames of several exposure times, validated once.

An XSVS measurement is a set of frame stacks, one per exposure time ``T``. This module
turns the forms a user may hold into one validated :class:`ExposureSeries`:

* a DataArray with dims ``(exposure, frame, y, x)`` and an ``exposure`` coordinate [s];
* a mapping ``{T [s]: frames}`` with ``frames`` of dims ``(frame, y, x)``
  (ragged frame counts allowed);
* a sequence of ``(frame, y, x)`` stacks together with ``exposure=[T0, T1, ...]``;
* a single ``(frame, y, x)`` DataArray with ``attrs["count_time"]`` [s].

Exposure times come from the data (coordinate, mapping key, ``count_time``) or are given
once with ``exposure=``; they are never guessed. Frames are photon counts: they must be
finite, non-negative integers (flat-fielded, rounded frames are refused; pass raw counts
and ``flat_field=`` instead). Values are checked block by block while histogramming, so a
lazy (dask) stack is never loaded whole.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import FramesError, XsvsError
from ..core.frames import FRAME_DIMS, check_shape_dtype

__all__ = ["XsvsError", "ExposureSeries", "as_exposure_series", "check_counts"]

_SECONDS = {"s", "second", "seconds", "sec"}




@dataclass(frozen=True)
class ExposureSeries:
    """Validated frame stacks, one per exposure time.

    Attributes
    ----------
    exposure : ndarray, shape (n_exposure,)
        Exposure times [s], strictly increasing.
    frames : tuple of array-like
        ``frames[e]`` has shape ``(n_frames[e], H, W)``: photon counts for exposure ``e``
        (NumPy, dask or lazily indexed arrays; values are checked when read).
    """

    exposure: np.ndarray
    frames: tuple[Any, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """Detector shape ``(H, W)``."""
        return tuple(int(s) for s in self.frames[0].shape[1:])  # type: ignore[return-value]

    @property
    def n_frames(self) -> np.ndarray:
        """Number of frames of each exposure, shape (n_exposure,)."""
        return np.array([int(f.shape[0]) for f in self.frames])

    def blocks(self, e: int, block_size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_frame, block)`` of exposure ``e`` as NumPy arrays ``(F, H, W)``."""
        stack = self.frames[e]
        for start in range(0, int(stack.shape[0]), block_size):
            yield start, np.asarray(stack[start:start + block_size])


def _as_seconds(values: Any, name: str, units: str | None = None) -> np.ndarray:
    if units is not None and str(units).strip().lower() not in _SECONDS:
        raise XsvsError(f"{name} has units {units!r}; exposure times must be given in seconds ('s')")
    t = np.atleast_1d(np.asarray(values, dtype=float))
    if t.ndim != 1:
        raise XsvsError(f"{name} must be one-dimensional, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise XsvsError(f"{name} must be finite and > 0 [s], got {t.tolist()}")
    if np.unique(t).size != t.size:
        raise XsvsError(f"{name} has repeated exposure times: {t.tolist()}; merge their frames first")
    return t


def _stack(frames: Any, what: str) -> Any:
    """One (frame, y, x) stack, checked by :mod:`xpcsnb.core.frames` (a boolean stack of a
    binary detector counts 0/1 photons), with the 2 frames XSVS needs for error bars."""
    arr = frames.data if isinstance(frames, xr.DataArray) else frames
    if isinstance(frames, xr.DataArray) and frames.ndim == 3 and frames.dims[1:] != FRAME_DIMS[1:]:
        raise XsvsError(f"{what} must have dims (frame, y, x), got {frames.dims}")
    if not hasattr(arr, "shape") or not hasattr(arr, "dtype"):
        arr = np.asarray(arr)
    dtype = np.dtype(arr.dtype)
    try:
        check_shape_dtype(tuple(arr.shape), np.dtype(np.uint8) if dtype == bool else dtype)
    except FramesError as err:
        raise XsvsError(f"{what}: {err}; XSVS needs photon counts") from err
    if arr.shape[0] < 2:
        raise XsvsError(f"{what} has {arr.shape[0]} frame(s); at least 2 are needed for error bars")
    return arr


def _count_time(da: xr.DataArray) -> float | None:
    for key in ("count_time", "exposure"):
        if key in da.attrs:
            return float(_as_seconds(da.attrs[key], f"attrs[{key!r}]", da.attrs.get("count_time_units"))[0])
    return None


def _check_given(t_data: np.ndarray | None, exposure: Any, n: int) -> np.ndarray:
    if exposure is None:
        if t_data is None:
            raise XsvsError(
                "exposure times are unknown: give an 'exposure' coordinate [s], use a mapping "
                "{T: frames}, or pass exposure=[...] (they are never guessed)"
            )
        return t_data
    units = exposure.attrs.get("units") if isinstance(exposure, xr.DataArray) else None
    t = _as_seconds(exposure, "exposure", units)
    if t.size != n:
        raise XsvsError(f"exposure has {t.size} time(s) but the data hold {n} frame stack(s)")
    if t_data is not None and not np.allclose(t, t_data, rtol=1e-9, atol=0):
        raise XsvsError(f"exposure={t.tolist()} disagrees with the times in the data {t_data.tolist()}")
    return t


def as_exposure_series(series: Any, exposure: Any | None = None) -> ExposureSeries:
    """Validate an exposure series and sort it by exposure time.

    Parameters
    ----------
    series : DataArray, mapping, sequence or ExposureSeries
        DataArray ``(exposure, frame, y, x)`` with an ``exposure`` coordinate [s]; or a
        ``(frame, y, x)`` DataArray with ``attrs["count_time"]`` [s]; or a mapping
        ``{T [s]: (frame, y, x) frames}``; or a sequence of ``(frame, y, x)`` stacks.
    exposure : array_like, optional
        Exposure times [s], one per stack. Required for a plain sequence or an array
        without times; when the data carry times too, both must agree.

    Returns
    -------
    ExposureSeries
        Sorted by increasing exposure time.

    Raises
    ------
    XsvsError
        Unknown or non-positive or repeated exposure times, a mismatch between exposure
        times and frame stacks, stacks of different detector shapes, fewer than two
        frames in a stack, or a non-numeric dtype.
    """
    if isinstance(series, ExposureSeries):
        if exposure is not None:
            _check_given(series.exposure, exposure, series.exposure.size)
        return series
    if isinstance(series, xr.DataArray):
        if series.ndim == 4:
            if series.dims != ("exposure", "frame", "y", "x"):
                raise XsvsError(f"series must have dims (exposure, frame, y, x), got {series.dims}")
            t_data = None
            if "exposure" in series.coords:
                c = series.coords["exposure"]
                t_data = _as_seconds(c.values, "exposure coordinate", c.attrs.get("units"))
            t = _check_given(t_data, exposure, series.sizes["exposure"])
            stacks = [_stack(series.isel(exposure=i).data, f"frames of exposure {t[i]:g} s")
                      for i in range(t.size)]
        elif series.ndim == 3:
            t = _check_given(None if _count_time(series) is None else np.array([_count_time(series)]),
                             exposure, 1)
            stacks = [_stack(series, "series")]
        else:
            raise XsvsError(f"series must have dims (exposure, frame, y, x) or (frame, y, x), got {series.dims}")
    elif isinstance(series, Mapping):
        if len(series) == 0:
            raise XsvsError("series is an empty mapping")
        keys = list(series.keys())
        t = _check_given(_as_seconds(keys, "exposure times (mapping keys)"), exposure, len(keys))
        stacks = [_stack(series[k], f"frames of exposure {k!r} s") for k in keys]
    elif isinstance(series, Sequence) and not isinstance(series, (str, bytes)):
        if len(series) == 0:
            raise XsvsError("series is an empty sequence")
        if exposure is None:
            raise XsvsError("a sequence of frame stacks needs exposure=[T0, T1, ...] in seconds")
        t = _check_given(None, exposure, len(series))
        stacks = [_stack(s, f"frame stack {i}") for i, s in enumerate(series)]
    elif hasattr(series, "shape") and len(series.shape) == 4:
        if exposure is None:
            raise XsvsError("an (exposure, frame, y, x) array needs exposure=[T0, T1, ...] in seconds")
        t = _check_given(None, exposure, int(series.shape[0]))
        stacks = [_stack(series[i], f"frames of exposure {t[i]:g} s") for i in range(t.size)]
    else:
        raise XsvsError(f"cannot read an exposure series from {type(series).__name__}")
    shapes = {tuple(s.shape[1:]) for s in stacks}
    if len(shapes) != 1:
        raise XsvsError(f"frame stacks have different detector shapes: {sorted(shapes)}")
    order = np.argsort(t, kind="stable")
    return ExposureSeries(exposure=t[order], frames=tuple(stacks[i] for i in order))


def check_counts(block: np.ndarray, what: str) -> np.ndarray:
    """Return ``block`` as integer photon counts, or raise if it is not counts.

    Integer blocks keep their dtype (no copy); float blocks with integral values become
    int64.

    Parameters
    ----------
    block : ndarray
        Values read from the detector.
    what : str
        Description used in error messages (e.g. "exposure 0.001 s, frames 0-63").

    Raises
    ------
    XsvsError
        NaN/inf, negative or non-integer values.
    """
    if np.issubdtype(block.dtype, np.floating):
        if not np.all(np.isfinite(block)):
            raise XsvsError(f"{what}: {int(np.sum(~np.isfinite(block)))} NaN/inf value(s); mask them instead")
        if np.any(block != np.round(block)):
            raise XsvsError(
                f"{what}: non-integer values (e.g. flat-fielded frames); XSVS needs raw photon "
                "counts, give the flat field with flat_field= instead"
            )
    if block.dtype == bool:
        return block.astype(np.uint8)
    if not np.issubdtype(block.dtype, np.unsignedinteger) and block.size and block.min() < 0:
        raise XsvsError(f"{what}: negative count(s) (min {block.min()}); photon counts must be >= 0")
    return block if np.issubdtype(block.dtype, np.integer) else block.astype(np.int64)
