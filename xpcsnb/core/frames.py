"""Detector frame stacks as xarray: ``frames(frame, y, x)`` from arrays or HDF5 files.

A frame stack is an :class:`xarray.DataArray` with dims ``("frame", "y", "x")``,
coordinates ``frame`` (0-based index), ``t(frame)`` = frame·frame_time [s], ``y`` and
``x`` [px], and attributes

* ``frame_time`` [s]: the frame period (time between the starts of two frames);
* ``exposure`` [s]: the counting time of one frame (≤ ``frame_time``);
* ``units``: the unit of the values (``"counts"`` = photons per pixel per frame).

This module is the only frame validator: every reader and correlator builds or checks
its stacks here. Readers live in :mod:`xpcsnb.io` (HDF5 stacks are opened lazily there).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .errors import FramesError

__all__ = ["FRAME_DIMS", "FramesError", "as_frames", "check_frame_times", "check_shape_dtype", "frames_from_array",
           "wrap_frames"]

#: Dimension names of a frame stack.
FRAME_DIMS = ("frame", "y", "x")


def _check_time(name: str, value: Any) -> float:
    try:
        v = float(np.asarray(value).squeeze())
    except (TypeError, ValueError) as exc:
        raise FramesError(f"{name} must be a number of seconds, got {value!r}") from exc
    if not np.isfinite(v) or v <= 0:
        raise FramesError(f"{name} must be finite and > 0 [s], got {v!r}")
    return v


def check_frame_times(frame_time: Any, exposure: Any | None) -> tuple[float, float]:
    ft = _check_time("frame_time", frame_time)
    ex = ft if exposure is None else _check_time("exposure", exposure)
    if ex > ft * (1 + 1e-9):
        raise FramesError(f"exposure ({ex!r} s) cannot exceed the frame period frame_time ({ft!r} s)")
    return ft, ex


def check_shape_dtype(shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(shape) != 3:
        raise FramesError(f"frames must be 3-D (frame, y, x), got shape {tuple(shape)}")
    if min(shape) < 1:
        raise FramesError(f"frames must not be empty, got shape {tuple(shape)}")
    if dtype.kind not in "uif":
        raise FramesError(f"frames must be real numbers (unsigned/signed int or float), got dtype {dtype}")


def wrap_frames(data: Any, frame_time: float, exposure: float, units: str, attrs: dict[str, Any]) -> xr.DataArray:
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
    check_shape_dtype(tuple(data.shape), np.dtype(data.dtype))
    ft, ex = check_frame_times(frame_time, exposure)
    return wrap_frames(data, ft, ex, units, dict(attrs or {}))



def as_frames(frames: Any, frame_time: float | None = None) -> xr.DataArray:
    """Return ``frames`` as a validated frame stack.

    Accepts a frame DataArray (dims ``(frame, y, x)``, ``frame_time`` attribute) or a
    3-D NumPy/dask array (then ``frame_time`` [s] is required). A ``frame_time`` given
    together with a DataArray must agree with its attribute.
    """
    if isinstance(frames, xr.DataArray):
        if frames.dims != FRAME_DIMS:
            raise FramesError(f"frames must have dims {FRAME_DIMS}, got {frames.dims}")
        check_shape_dtype(tuple(frames.shape), np.dtype(frames.dtype))
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
