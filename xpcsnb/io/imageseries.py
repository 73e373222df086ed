"""EDF / TIFF / CBF frame series (ESRF, PETRA, lab sources) through :mod:`fabio` → a lazy frame stack.

``fabio`` is optional (``pip install 'xpcsnb[formats]'``); without it the reader raises an
:class:`ImportError` naming the extra. Files are read one frame at a time when the
correlators ask for them (dask); every file must hold frames of one shape and dtype.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.frames import FramesError, check_frame_times, check_shape_dtype, wrap_frames

__all__ = ["open_image_series"]


def _fabio() -> Any:
    try:
        import fabio
    except ImportError as exc:
        raise ImportError("reading EDF/TIFF/CBF image series needs fabio: pip install 'xpcsnb[formats]' "
                          "(or pip install fabio)") from exc
    return fabio


def _files(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        text = str(paths)
        if any(c in text for c in "*?["):
            found = sorted(glob.glob(os.path.expanduser(text)))
            if not found:
                raise FramesError(f"no file matches {text!r}")
            return [Path(p) for p in found]
        items: list[Any] = [paths]
    else:
        items = list(paths)
    if not items:
        raise FramesError("no image files given")
    out = []
    for p in items:
        if not isinstance(p, str | os.PathLike):
            raise TypeError(f"image paths must be str or os.PathLike, got {type(p).__name__}")
        q = Path(p).expanduser()
        if not q.is_file():
            raise FramesError(f"no such file: {q}")
        out.append(q)
    return out


def _read_frame(path: str, index: int, shape: tuple[int, int], dtype: str) -> np.ndarray:
    fabio = _fabio()
    try:
        with fabio.open(path) as img:
            data = img.data if index == 0 else img.getframe(index).data
    except Exception as exc:  # fabio raises many types for unreadable files
        raise FramesError(f"cannot read frame {index} of {path} ({type(exc).__name__}: {exc})") from exc
    data = np.asarray(data)
    if data.shape != shape or data.dtype != np.dtype(dtype):
        raise FramesError(f"{path} frame {index} is {data.dtype} {data.shape}; the series is {dtype} {shape}")
    return data


def open_image_series(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    frame_time: float,
    exposure: float | None = None,
    units: str = "counts",
) -> xr.DataArray:
    """Open a series of EDF, TIFF or CBF images (one or more frames per file) as a lazy frame stack.

    Parameters
    ----------
    paths : str, os.PathLike or sequence of them
        The files in frame order, or one glob pattern (``"scan/img_*.edf"``, sorted
        by name).
    frame_time : float
        Frame period [s] (image headers do not carry it reliably).
    exposure : float, optional
        Counting time per frame [s], default ``frame_time``.
    units : str
        Unit of the values.

    Returns
    -------
    xarray.DataArray
        ``frames(frame, y, x)`` (``xpcsnb.core.frames``), dask-backed, one chunk
        per frame; attrs ``source`` (the first file), ``files`` (their number).

    Raises
    ------
    ImportError
        When fabio is not installed (names the ``formats`` extra).
    FramesError
        No matching file, an unreadable file, or frames of another shape or dtype.
    """
    import dask
    import dask.array as da

    fabio = _fabio()
    files = _files(paths)
    ft, ex = check_frame_times(frame_time, exposure)
    try:
        with fabio.open(str(files[0])) as first:
            shape, dtype = tuple(first.data.shape), np.asarray(first.data).dtype
    except Exception as exc:
        raise FramesError(f"cannot read {files[0]} with fabio ({type(exc).__name__}: {exc})") from exc
    check_shape_dtype((1, *shape), dtype)
    blocks = []
    for p in files:
        try:
            with fabio.open(str(p)) as img:
                n = int(getattr(img, "nframes", 1) or 1)
        except Exception as exc:
            raise FramesError(f"cannot read {p} with fabio ({type(exc).__name__}: {exc})") from exc
        for k in range(n):
            block = dask.delayed(_read_frame)(str(p), k, shape, dtype.str)
            blocks.append(da.from_delayed(block, shape=shape, dtype=dtype)[None])
    data = da.concatenate(blocks, axis=0)
    attrs = {"source": str(files[0]), "files": len(files), "reader": "fabio"}
    return wrap_frames(data, ft, ex, units, attrs)
