"""Streaming the ROI pixels of a frame stack in chunks (shared by all correlators).

A correlator never holds the whole stack: it asks :func:`iter_roi_chunks` for
consecutive blocks of frames, of which only the pixels inside the ROIs are kept (in
a layout chosen by the correlator), after checking them for NaN/inf and negative
counts. For a lazy (dask/HDF5) stack at most one block of raw frames is in memory
at a time, plus the gathered pixels handed to the correlator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import xarray as xr

from .._numeric import check_int as _check_int
from ..core.errors import CorrelatorError
from ..core.frames import as_frames
from ..core.partition import Partition, resolve_rois

__all__ = ["CorrelatorError", "RoiLayout", "check_choice", "check_int", "iter_roi_chunks", "resolve_frames",
           "resolve_input", "resolve_rois", "roi_layout"]


def resolve_frames(frames: Any, frame_time: float | None) -> tuple[xr.DataArray, float]:
    """Validate ``frames`` and return them with the frame period [s]."""
    da = as_frames(frames, frame_time)
    return da, float(da.attrs["frame_time"])


def resolve_input(frames: Any, rois: Any, frame_time: float | None, mask: Any | None,
                  ) -> tuple[xr.DataArray, float, Partition]:
    """The validated frames, frame period [s] and ROI partition of a correlator call
    (:func:`xpcsnb.core.frames.as_frames`, :func:`xpcsnb.core.partition.resolve_rois`)."""
    da, ft = resolve_frames(frames, frame_time)
    return da, ft, resolve_rois(rois, tuple(da.shape[1:]), mask)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a :class:`CorrelatorError` naming ``name``."""
    if not isinstance(value, str) or value not in choices:
        raise CorrelatorError(f"unknown {name} {value!r}; choose one of {choices}")
    return value


def check_int(name: str, value: Any, minimum: int = 1, *, power_of_two: bool = False) -> int:
    """:func:`xpcsnb._numeric.check_int` raising :class:`CorrelatorError`."""
    return _check_int(name, value, minimum, power_of_two=power_of_two, error=CorrelatorError)


@dataclass(frozen=True)
class RoiLayout:
    """Where the ROI pixels go in a gathered chunk.

    Attributes
    ----------
    index : ndarray of int, shape (n_cols,)
        Flat detector index of each gathered column (padding columns repeat a real
        pixel and have weight 0).
    weight : ndarray of float, shape (n_cols,)
        1 for a real pixel, 0 for padding.
    roi_of_col : ndarray of int, shape (n_cols,)
        0-based ROI of each column.
    block : int
        Columns per block (every block belongs to one ROI); ``n_cols`` is a multiple.
    npix : ndarray of int, shape (n_roi,)
        Real pixels per ROI.
    """

    index: np.ndarray
    weight: np.ndarray
    roi_of_col: np.ndarray
    block: int
    npix: np.ndarray

    @property
    def n_blocks(self) -> int:
        return self.index.size // self.block

    @cached_property
    def real(self) -> np.ndarray:
        """Whether each gathered column is a real pixel (not padding), bool (n_cols,)."""
        return self.weight > 0

    @property
    def roi_of_block(self) -> np.ndarray:
        return self.roi_of_col[:: self.block]


def roi_layout(part: Partition, rois: Any | None = None, block: int = 1) -> RoiLayout:
    """Pixels of the selected ROIs, sorted by ROI and padded to whole blocks per ROI.

    Parameters
    ----------
    part : Partition
    rois : sequence of int, optional
        0-based ROIs to include (default all).
    block : int
        Block width; each ROI's pixel list is padded to a multiple of it.
    """
    sel = np.arange(part.n_roi) if rois is None else np.asarray(rois, dtype=int)
    flat = part.labels.ravel()
    idx, wts, owner = [], [], []
    for r in sel:
        pix = np.flatnonzero(flat == r + 1)
        pad = (-pix.size) % block
        idx.append(np.concatenate([pix, np.full(pad, pix[0])]))
        wts.append(np.concatenate([np.ones(pix.size), np.zeros(pad)]))
        owner.append(np.full(pix.size + pad, r))
    return RoiLayout(
        index=np.concatenate(idx), weight=np.concatenate(wts), roi_of_col=np.concatenate(owner),
        block=int(block), npix=part.npix[sel],
    )


def _check_values(x: np.ndarray, start: int, real: np.ndarray) -> None:
    """Raise on NaN/inf or negative counts among the real ROI pixels of a chunk."""
    if x.dtype.kind == "u":
        return
    xr_ = x[:, real]
    if x.dtype.kind == "f":
        bad = ~np.isfinite(xr_)
        if bad.any():
            rows = np.flatnonzero(bad.any(axis=1))
            raise CorrelatorError(
                f"frame(s) {(rows[:10] + start).tolist()} have NaN/inf in {int(bad[rows[0]].sum())} ROI pixel(s) "
                "(first listed frame); remove the bad frames or mask those pixels (nothing is filled silently)"
            )
    neg = xr_ < 0
    if neg.any():
        rows = np.flatnonzero(neg.any(axis=1))
        raise CorrelatorError(
            f"negative counts in ROI pixels of frame(s) {(rows[:10] + start).tolist()} "
            f"(min {xr_.min()!r}); subtract dark/offset correctly or mask those pixels"
        )


def _frame_blocks(part: Any) -> list[np.ndarray]:
    """The frames of ``part`` (a NumPy or dask array) in memory, as consecutive blocks of
    whole frames (for dask: one per chunk along frames, views where the chunks are, e.g.
    memory maps of the file, :mod:`xpcsnb.io.h5map`).

    A dask block is computed in this thread (the chunks are consumed in order anyway):
    the optimised graph of ``part`` (slicing fused into the reads, so that only the
    frames asked for are read) is run by dask's synchronous scheduler, keeping the
    chunks as they come: ``Array.compute`` would copy them into one new array, and
    ``dask.compute`` of its delayed blocks adds a fixed cost to every call (multi-tau
    calls this once per chunk). The scheduler is given as a function: naming it
    "synchronous" makes dask import distributed first.
    """
    if not hasattr(part, "__dask_graph__"):
        return [np.asarray(part)]
    from dask.array.core import concatenate3
    from dask.local import get_sync

    keys = part.__dask_keys__()
    values = get_sync(part.__dask_optimize__(part.__dask_graph__(), keys), keys)  # nested (frame, y, x)
    if part.numblocks[1:] == (1, 1):
        return [np.asarray(plane[0][0]) for plane in values]
    return [concatenate3([[[np.asarray(c) for c in row] for row in plane]]) for plane in values]


def _take_pixels(part: Any, index: np.ndarray) -> np.ndarray:
    """The pixels ``index`` (flat detector indices) of every frame of ``part``: (n, n_cols)."""
    blocks = _frame_blocks(part)
    if len(blocks) == 1:
        b = blocks[0]
        return np.take(b.reshape(b.shape[0], -1), index, axis=1)
    out = np.empty((part.shape[0], index.size), dtype=blocks[0].dtype)
    row = 0
    for b in blocks:
        m = b.shape[0]
        np.take(b.reshape(m, -1), index, axis=1, out=out[row: row + m], mode="clip")  # indices are valid
        row += m
    return out


def iter_roi_chunks(
    frames: xr.DataArray,
    layout: RoiLayout,
    chunk: int,
    *,
    start: int = 0,
    stop: int | None = None,
    progress: bool = False,
    desc: str = "frames",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame, pixels)`` with ``pixels`` of shape (n ≤ chunk, n_cols).

    Frames are read lazily block by block (dask/HDF5 stacks are computed one block
    at a time); values are checked for NaN/inf and negative counts on real ROI
    pixels. The dtype of the stack is kept.
    """
    from tqdm.auto import tqdm

    n = frames.shape[0] if stop is None else stop
    bar = tqdm(total=n - start, desc=desc, unit="frame", disable=not progress, leave=False)
    try:
        for s in range(start, n, chunk):
            e = min(s + chunk, n)
            yield s, read_roi_chunk(frames, layout, s, e)
            bar.update(e - s)
    finally:
        bar.close()


def read_roi_chunk(frames: xr.DataArray, layout: RoiLayout, start: int, stop: int) -> np.ndarray:
    """The ROI pixels (stop − start, n_cols) of frames ``start … stop − 1``, read and
    checked as by :func:`iter_roi_chunks` (safe to call from several threads at once)."""
    x = _take_pixels(frames.data[start:stop], layout.index)
    _check_values(x, start, layout.real)
    return x
