"""Photon-event files of the Rigaku XSPA detectors (APS 8-ID-I ``.bin``) as a lazy frame stack.

Format (as written by boost-corr's ``convert_sparse``): a flat
little-endian array of uint64 words, one per (frame, pixel) with photons, ordered by
frame::

    frame = w >> 40,   pixel = (w >> 16) & (2^21 − 1),   count = w & (2^12 − 1)

``pixel`` is the row-major index ``y·W + x`` on the module (512 × 1024 for the 500k).
Files of a 3M module carry a constant pixel offset per module (boost-corr subtracts
1024² when every index is at least that); pass it as ``pixel_offset`` explicitly.

The file is memory-mapped, never read whole: one pass over it (in blocks) checks the
frame order and the pixel range and counts the events per frame, and the returned
DataArray is backed by a dask array whose chunks are densified on demand from their
events only. The correlators stream it chunk by chunk like any lazy stack, so memory
stays bounded by one dense chunk; :func:`xpcsnb.correlate.two_time` then forms Gram
matrices from the nonzero counts when the data are photon-sparse (``sparse="auto"``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..core.frames import FramesError, check_frame_times, wrap_frames

__all__ = ["open_rigaku", "encode_rigaku", "RIGAKU_500K_SHAPE", "DETECTOR_SHAPES"]

#: Detector shape (y, x) of a Rigaku XSPA-500k (one module of the 3M).
RIGAKU_500K_SHAPE = (512, 1024)
#: Detector names accepted by ``open_rigaku(shape=...)`` (case, "Rigaku", "XSPA" and "-" ignored).
DETECTOR_SHAPES = {"500k": RIGAKU_500K_SHAPE}
#: Runs of empty frames up to this length are always accepted (see ``_index_pass``).
_GAP_FLOOR = 10_000
_FRAME_SHIFT = 40
_PIXEL_SHIFT = 16
_PIXEL_MASK = (1 << 21) - 1
_COUNT_MASK = (1 << 12) - 1
#: Events decoded per block during the index pass.
_BLOCK = 1 << 22


class _RigakuEvents:
    """Array-like (N, H, W) view of an event file: ``[frames, ...]`` densifies those frames."""

    def __init__(self, words: np.ndarray, offsets: np.ndarray, shape: tuple[int, int], pixel_offset: int) -> None:
        self.words = words
        self.offsets = offsets
        self.frame_shape = shape
        self.pixel_offset = pixel_offset
        self.shape = (offsets.size - 1,) + tuple(shape)
        self.dtype = np.dtype(np.uint16)
        self.ndim = 3

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        start, stop, step = key[0].indices(self.shape[0]) if isinstance(key[0], slice) else (None, None, None)
        if start is None or step != 1:
            raise TypeError("Rigaku event stacks are read by contiguous frame ranges")
        m = max(stop - start, 0)
        h, w = self.frame_shape
        out = np.zeros((m, h * w), dtype=self.dtype)
        if m:
            ev = np.asarray(self.words[self.offsets[start]: self.offsets[stop]])
            frame = (ev >> np.uint64(_FRAME_SHIFT)).astype(np.int64) - start
            pixel = ((ev >> np.uint64(_PIXEL_SHIFT)) & np.uint64(_PIXEL_MASK)).astype(np.int64) - self.pixel_offset
            count = (ev & np.uint64(_COUNT_MASK)).astype(self.dtype)
            np.add.at(out, (frame, pixel), count)
        return out.reshape(m, h, w)[(slice(None),) + key[1:]]


def _index_pass(words: np.ndarray, n_pixels: int, pixel_offset: int, n_frames: int | None) -> np.ndarray:
    """Event offsets per frame (n_frames + 1,), after checking order, pixel range and frame jumps.

    Without ``n_frames``, the longest run of frames without any event must not exceed
    ``max(_GAP_FLOOR, number of frames holding events)``: a longer jump is a corrupt word
    (a frame field of 2^20 would add a million empty frames).
    """
    firsts, runs = [], []
    last, n_busy = -1, 0
    gap = (0, 0, -1, 0)  # (empty frames, event index, frame before, frame of the event)
    for b in range(0, words.size, _BLOCK):
        ev = np.asarray(words[b: b + _BLOCK])
        frame = (ev >> np.uint64(_FRAME_SHIFT)).astype(np.int64)
        step = np.diff(frame, prepend=last)
        if np.any(step < 0):
            bad = b + int(np.flatnonzero(step < 0)[0])
            raise FramesError(f"events are not ordered by frame (event {bad}): not a Rigaku .bin file, or a "
                              "corrupted one")
        k = int(np.argmax(step))
        if step[k] - 1 > gap[0]:
            gap = (int(step[k]) - 1, b + k, int(frame[k] - step[k]), int(frame[k]))
        last = int(frame[-1])
        pixel = ((ev >> np.uint64(_PIXEL_SHIFT)) & np.uint64(_PIXEL_MASK)).astype(np.int64) - pixel_offset
        if pixel.min() < 0 or pixel.max() >= n_pixels:
            raise FramesError(f"pixel index {int(pixel.max() if pixel.max() >= n_pixels else pixel.min())} "
                              f"(after pixel_offset={pixel_offset}) is outside the {n_pixels}-pixel detector; "
                              "check shape= (and pixel_offset= for a 3M module file, e.g. 1048576)")
        starts = np.flatnonzero(step > 0)
        n_busy += starts.size
        if starts.size == 0 or starts[0] != 0:  # the block continues the previous block's last frame
            starts = np.concatenate([[0], starts])
        firsts.append(frame[starts])
        runs.append(np.diff(np.append(starts, frame.size)))
    found = last + 1
    if n_frames is None:
        if gap[0] > max(_GAP_FLOOR, n_busy):
            g, i, before, after = gap
            where = (f"the first event is in frame {after}: {g} frames without any event before it" if i == 0 else
                     f"event {i} (byte {8 * i}) jumps from frame {before} to frame {after}: {g} frames without "
                     "any event")
            keep = "" if i == 0 else (f"If it is the trailing word, keep the events before it: "
                                      f"np.fromfile(path, '<u8', count={i}).tofile(new_path); ")
            raise FramesError(
                f"{where}, more than the {n_busy} frames that hold the file's {words.size} events: a corrupt "
                f"word, not data. {keep}if the gap is real, pass n_frames={found} to confirm it"
            )
        n_frames = found
    elif int(n_frames) != n_frames or n_frames < 1:
        raise FramesError(f"n_frames must be an integer >= 1, got {n_frames!r}")
    elif n_frames < found:
        raise FramesError(f"n_frames={n_frames} but the file holds events of frame {found - 1}; "
                          "nothing is dropped silently: pass n_frames >= the last frame + 1")
    if n_frames < 1:
        raise FramesError("the file holds no event and n_frames is not given: the number of frames is unknown")
    counts = np.zeros(int(n_frames), dtype=np.int64)
    if firsts:
        np.add.at(counts, np.concatenate(firsts), np.concatenate(runs))
    return np.concatenate([[0], np.cumsum(counts)])


def _detector_shape(shape: Any) -> tuple[int, int]:
    """(y, x) from an explicit shape or a known detector name."""
    if shape is None:
        raise FramesError("shape= is required (the file does not record the detector size): pass shape=(H, W) or "
                          f"a detector name, one of {sorted(DETECTOR_SHAPES)} (e.g. shape='500k' for the "
                          "Rigaku XSPA-500k, 512 × 1024, one module of the 3M)")
    if isinstance(shape, str):
        key = shape.lower().replace("-", "").replace("_", "").replace(" ", "")
        for prefix in ("rigaku", "xspa"):
            key = key.removeprefix(prefix)
        if key not in DETECTOR_SHAPES:
            raise FramesError(f"unknown detector {shape!r}; known: {sorted(DETECTOR_SHAPES)}, or pass shape=(H, W)")
        return DETECTOR_SHAPES[key]
    try:
        h, w = (int(v) for v in shape)
        ok = h >= 1 and w >= 1 and (h, w) == tuple(shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FramesError(f"shape must be two positive integers (y, x) or a detector name, got {shape!r}")
    return h, w


def open_rigaku(
    path: str | os.PathLike[str],
    *,
    frame_time: float,
    exposure: float | None = None,
    shape: tuple[int, int] | str | None = None,
    n_frames: int | None = None,
    pixel_offset: int = 0,
    chunk: int = 64,
) -> xr.DataArray:
    """Open a Rigaku photon-event ``.bin`` file as a lazy frame stack (frame, y, x).

    Parameters
    ----------
    path : path-like
        The event file (uint64 words, see the module documentation).
    frame_time : float
        Frame period [s] (the file holds none).
    exposure : float, optional
        Counting time per frame [s], ≤ ``frame_time``; default ``frame_time``.
    shape : (int, int) or str
        Detector shape (y, x), or a name from ``DETECTOR_SHAPES`` (``"500k"``: the
        Rigaku XSPA-500k, 512 × 1024, one module of the 3M). Required: the file does
        not record it.
    n_frames : int, optional
        Number of frames, when the last frames may hold no photon; default the last
        frame with an event + 1. Without it, a run of empty frames longer than both
        10 000 frames and the number of frames holding events is refused as a corrupt
        word; giving ``n_frames`` confirms such a gap.
    pixel_offset : int
        Subtracted from every pixel index (3M module files); must leave them in range.
    chunk : int
        Frames per dask chunk (each chunk is densified on its own, as uint16).

    Returns
    -------
    xarray.DataArray
        uint16 counts, dims (frame, y, x), dask-backed; attrs ``frame_time``,
        ``exposure``, ``source``, ``format``, ``n_events``.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, FramesError
        Missing file; a folder; a size that is not a whole number of 8-byte words;
        events out of frame order; an absurd jump in frame index (a corrupt word);
        pixel indices outside the detector; invalid times; no or invalid shape.
    """
    import dask.array as da

    p = Path(path)
    if p.is_dir():
        bins = sorted(x.name for x in p.glob("*.bin*"))[:5]
        raise IsADirectoryError(f"{p} is a folder, not a Rigaku event file: pass the path of one .bin file"
                                + (f" (it holds {bins})" if bins else " (it holds no *.bin* file)"))
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    size = p.stat().st_size
    if size % 8:
        raise FramesError(f"{p} is {size} bytes, not a whole number of 8-byte event words: not a Rigaku .bin file")
    h, w = _detector_shape(shape)
    if int(pixel_offset) != pixel_offset or pixel_offset < 0:
        raise FramesError(f"pixel_offset must be an integer >= 0, got {pixel_offset!r}")
    if int(chunk) != chunk or chunk < 1:
        raise FramesError(f"chunk must be an integer >= 1, got {chunk!r}")
    ft, ex = check_frame_times(frame_time, exposure)
    words = np.memmap(p, dtype="<u8", mode="r") if size else np.zeros(0, dtype="<u8")
    offsets = _index_pass(words, h * w, int(pixel_offset), n_frames)
    events = _RigakuEvents(words, offsets, (h, w), int(pixel_offset))
    data = da.from_array(events, chunks=(int(chunk), h, w), asarray=False, fancy=False, name=f"rigaku-{p.name}")
    attrs = {"source": str(p), "format": "Rigaku 64-bit photon events", "n_events": int(offsets[-1])}
    return wrap_frames(data, ft, ex, "counts", attrs)


def encode_rigaku(frames: Any) -> np.ndarray:
    """Encode a stack of counts (N, H, W) as Rigaku event words (uint64), ordered by frame.

    The inverse of what :func:`open_rigaku` reads (counts must be integers in 0 … 4095;
    H·W ≤ 2^21); for tests, examples and converting dense data to the event format.
    """
    x = np.asarray(frames)
    if x.ndim != 3:
        raise FramesError(f"frames must be 3-D (frame, y, x), got shape {x.shape}")
    if x.shape[1] * x.shape[2] > _PIXEL_MASK + 1:
        raise FramesError(f"a {x.shape[1]}×{x.shape[2]} frame has more pixels than the format's 2^21")
    if x.dtype.kind not in "ui" or (x.size and (x.min() < 0 or x.max() > _COUNT_MASK)):
        raise FramesError("counts must be integers in 0 … 4095 for the Rigaku event format")
    frame, pixel = np.nonzero(x.reshape(x.shape[0], -1))
    count = x.reshape(x.shape[0], -1)[frame, pixel].astype(np.uint64)
    return ((frame.astype(np.uint64) << np.uint64(_FRAME_SHIFT))
            | (pixel.astype(np.uint64) << np.uint64(_PIXEL_SHIFT)) | count).astype("<u8")
