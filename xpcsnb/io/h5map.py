"""Reading uncompressed HDF5 frame stacks through memory maps of the file (no copy).

An uncompressed dataset, contiguous or chunked by whole frames, stores each frame as
plain bytes in the file. For such a stack :func:`frame_runs` finds the runs of frames
that lie in one contiguous byte range, and :class:`MappedFrames` (the array that
:func:`xpcsnb.io.frames.open_frames` hands to dask) returns a block of frames inside
one run as a read-only NumPy view of a memory map of the file: no copy into a fresh
buffer, the pages come straight from the operating system's file cache, and the map
is released with the block.

Everything else is read by h5py, so the values never differ: filters (compression,
shuffle, checksums), virtual, external or compact storage, chunks that split frames,
chunks not yet written, non-native byte order, a user block, or a file driver other
than ``sec2``. The map uses the descriptor h5py opened (a file renamed or replaced on
disk afterwards is not picked up). A file that got shorter since it was opened
(truncated) is refused with a :class:`~xpcsnb.core.errors.FramesError` naming it, on
both paths (:class:`GuardedFrames` for h5py reads, which would otherwise return zeros
past the end); as with any memory map, truncating the file while a block is mapped
makes reading that block fail with SIGBUS.
"""

from __future__ import annotations

import mmap
import os
import weakref
from typing import Any

import numpy as np

from ..core.errors import FramesError

__all__ = ["GuardedFrames", "MappedFrames", "frame_runs", "mapped_source", "run_chunks"]

#: h5py raises these for corrupt or unreadable data.
_H5_ERRORS = (OSError, RuntimeError, KeyError)


class GuardedFrames:
    """An h5py frame stack for :func:`dask.array.from_array` that refuses a truncated file.

    Every read first checks that the file is still as long as when it was opened (h5py
    returns zeros for bytes past the end) and turns h5py errors into
    :class:`~xpcsnb.core.errors.FramesError` naming the file and the dataset.

    Parameters
    ----------
    dset : h5py.Dataset, shape (N, H, W)
    """

    def __init__(self, dset: Any) -> None:
        self.dset = dset
        self.shape = tuple(dset.shape)
        self.dtype = dset.dtype
        self.ndim = len(self.shape)
        self.filename = os.path.abspath(dset.file.filename)
        self.name = str(dset.name)
        # a descriptor of our own on h5py's open file (fstat stays valid whatever h5py does)
        self._file = open(os.dup(dset.file.id.get_vfd_handle()), "rb", buffering=0)  # noqa: SIM115
        weakref.finalize(self, self._file.close)  # closed with the stack, not left to the GC (ResourceWarning)
        self.size = os.fstat(self._file.fileno()).st_size

    def check(self) -> None:
        """Raise :class:`FramesError` if the file is now shorter than when opened."""
        now = os.fstat(self._file.fileno()).st_size
        if now < self.size:
            raise FramesError(
                f"{self.filename} is {now} bytes long, {self.size} when it was opened: the file was "
                "truncated (or is being rewritten); its frames cannot be read, open it again when complete"
            )

    def read(self, key: Any) -> np.ndarray:
        """``dset[key]`` after :meth:`check`, h5py errors named."""
        self.check()
        try:
            return self.dset[key]
        except _H5_ERRORS as exc:
            raise FramesError(f"cannot read {self.filename}:{self.name} ({type(exc).__name__}: {exc}); "
                              "the file may be truncated or corrupt") from exc

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.read(key)


def _mappable(dset: Any, dcpl: Any, layout: int) -> bool:
    """Whether the bytes of ``dset`` (N, H, W) are its values as stored, in a plain file
    (``dcpl``: its creation property list, ``layout`` that list's layout)."""
    import h5py

    return (
        dset.file.driver == "sec2"
        and dset.file.userblock_size == 0
        and dset.dtype.kind in "uif"
        and dset.dtype.isnative
        and dcpl.get_nfilters() == 0
        and dcpl.get_external_count() == 0
        and layout in (h5py.h5d.CONTIGUOUS, h5py.h5d.CHUNKED)
    )


def _chunk_offsets(dset: Any) -> dict[int, int] | None:
    """File offset of every chunk of a dataset chunked by whole frames, by first frame;
    None when a chunk is missing (not written) or not stored as plain bytes."""
    n, h, w = dset.shape
    c = dset.chunks[0]
    size = c * h * w * dset.dtype.itemsize
    offsets: dict[int, int] = {}
    bad: list[int] = []

    def visit(info: Any) -> None:
        if info.filter_mask != 0 or info.size != size or info.byte_offset is None:
            bad.append(info.chunk_offset[0])
        else:
            offsets[int(info.chunk_offset[0])] = int(info.byte_offset)

    try:
        dset.id.chunk_iter(visit)
    except (AttributeError, NotImplementedError):  # h5py/HDF5 without H5Dchunk_iter
        for i in range(dset.id.get_num_chunks()):
            visit(dset.id.get_chunk_info(i))
    if bad or len(offsets) != -(-n // c):
        return None
    return offsets


def frame_runs(dset: Any) -> list[tuple[int, int, int]] | None:
    """Runs of frames stored contiguously in the file.

    Parameters
    ----------
    dset : h5py.Dataset, shape (N, H, W)

    Returns
    -------
    list of (start, stop, offset) or None
        Frames ``start … stop − 1`` occupy the bytes from ``offset`` on, one frame after
        the other; None when the dataset cannot be mapped (see the module docstring).
        A contiguous dataset is one run; a chunked one has a run per chunk, merged where
        chunks follow each other in the file.
    """
    import h5py

    dcpl = dset.id.get_create_plist()
    layout = dcpl.get_layout()
    if not _mappable(dset, dcpl, layout):
        return None
    n, h, w = dset.shape
    frame_bytes = h * w * dset.dtype.itemsize
    if layout == h5py.h5d.CONTIGUOUS:
        off = dset.id.get_offset()
        return None if off is None else [(0, n, int(off))]
    c = dset.chunks[0]
    if tuple(dset.chunks[1:]) != (h, w):
        return None
    offsets = _chunk_offsets(dset)
    if offsets is None:
        return None
    runs: list[tuple[int, int, int]] = []
    for start in range(0, n, c):
        stop, off = min(start + c, n), offsets[start]
        if runs and runs[-1][1] == start and runs[-1][2] + (start - runs[-1][0]) * frame_bytes == off:
            runs[-1] = (runs[-1][0], stop, runs[-1][2])
        else:
            runs.append((start, stop, off))
    return runs


def run_chunks(runs: list[tuple[int, int, int]], chunk_frames: int) -> tuple[int, ...]:
    """Dask chunk sizes along frames: every run cut into pieces of at most ``chunk_frames``."""
    sizes: list[int] = []
    for start, stop, _ in runs:
        full, rest = divmod(stop - start, chunk_frames)
        sizes += [chunk_frames] * full + ([rest] if rest else [])
    return tuple(sizes)


def _frame_range(key: Any, shape: tuple[int, int, int]) -> tuple[int, int] | None:
    """(start, stop) when ``key`` selects frames start … stop − 1 (step 1) and whole frames."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) > 3 or not all(isinstance(k, slice) for k in key):
        return None
    key = key + (slice(None),) * (3 - len(key))
    start, stop, step = key[0].indices(shape[0])
    if step != 1 or stop <= start:
        return None
    for k, size in zip(key[1:], shape[1:]):
        if k.indices(size) != (0, size, 1):
            return None
    return start, stop


def _read_ahead(mm: mmap.mmap, fd: int, offset: int, nbytes: int) -> None:
    """Ask the kernel to read a new map ``mm`` and the ``nbytes`` of the file after it at
    ``offset`` into the page cache in the background (no-ops where unsupported, e.g. on
    pages already cached): pages of a file not in the cache then arrive while the
    previous block is processed, instead of one fault at a time (a two-time of 2000
    frames from a file out of the cache: 0.58-0.62 s instead of 0.89-1.16 s)."""
    if hasattr(mmap, "MADV_WILLNEED"):
        mm.madvise(mmap.MADV_WILLNEED)
    if nbytes > 0 and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, nbytes, os.POSIX_FADV_WILLNEED)


class MappedFrames(GuardedFrames):
    """An HDF5 frame stack as an array for :func:`dask.array.from_array`.

    Indexing with a range of whole frames inside one run of :func:`frame_runs` returns a
    read-only view of a memory map of the file; any other index is read by h5py.

    Parameters
    ----------
    dset : h5py.Dataset, shape (N, H, W)
    runs : list of (start, stop, offset)
        From :func:`frame_runs` (kept as ``runs``).
    """

    def __init__(self, dset: Any, runs: list[tuple[int, int, int]]) -> None:
        super().__init__(dset)
        self.runs = list(runs)
        self._starts = np.array([r[0] for r in runs])
        self._frame_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize

    def __getitem__(self, key: Any) -> np.ndarray:
        frames = _frame_range(key, self.shape)
        if frames is not None:
            view = self._view(*frames)
            if view is not None:
                return view
        return self.read(key)

    def _view(self, start: int, stop: int) -> np.ndarray | None:
        """Frames start … stop − 1 as a view of a memory map, or None if they span runs."""
        i = int(np.searchsorted(self._starts, start, side="right")) - 1
        r0, r1, off = self.runs[i]
        if stop > r1:
            return None
        first = off + (start - r0) * self._frame_bytes
        base = first - first % mmap.ALLOCATIONGRANULARITY
        nbytes = (stop - start) * self._frame_bytes
        self.check()
        try:
            mm = mmap.mmap(self._file.fileno(), nbytes + first - base, access=mmap.ACCESS_READ, offset=base)
        except (OSError, ValueError) as exc:  # e.g. "mmap length is greater than file size"
            raise FramesError(f"cannot map frames {start}…{stop - 1} of {self.filename}:{self.name} ({exc}); "
                              "the file may be truncated") from exc
        ahead = min(stop - start, r1 - stop) * self._frame_bytes  # the next block of the run, if read in order
        _read_ahead(mm, self._file.fileno(), first + nbytes, ahead)
        count = nbytes // self.dtype.itemsize
        return np.frombuffer(mm, self.dtype, count=count, offset=first - base).reshape((stop - start,) + self.shape[1:])


def _uncached(dset: Any) -> Any:
    """``dset`` opened again without a chunk cache (reads go straight to the file)."""
    import h5py

    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(0, 0, 1.0)
    return h5py.Dataset(h5py.h5d.open(dset.file.id, dset.name.encode(), dapl))


def mapped_source(dset: Any) -> MappedFrames | None:
    """A :class:`MappedFrames` of ``dset`` when it can be mapped, else None.

    As a guard, the first and the last frame read through the map are compared with
    h5py's reading of them (through a handle without chunk cache, so that HDF5 reads
    just those frames, not their whole chunks: 0.2 ms instead of 5-7 ms per frame for
    chunks of 64 × 256² uint16); any difference (or a failing map) means None.
    """
    runs = frame_runs(dset)
    if not runs:
        return None
    try:
        src = MappedFrames(dset, runs)
        check = _uncached(dset)
        n = dset.shape[0]
        for k in (0, n - 1):
            view = src._view(k, k + 1)
            if view is None or not np.array_equal(view, check[k: k + 1]):
                return None
    except (OSError, ValueError):
        return None
    return src
