"""Uncompressed HDF5 frame stacks read through memory maps of the file (xpcsnb.io.h5map)."""

import gc
import mmap

import h5py
import numpy as np
import pytest

from xpcsnb.correlate import two_time
from xpcsnb.core.partition import from_labels
from xpcsnb.correlate.stream import iter_roi_chunks, roi_layout
from xpcsnb.io.frames import FramesError, frames_from_array, open_frames
from xpcsnb.io.h5map import MappedFrames, frame_runs, run_chunks

DSET = "/entry/data/data"


def _stack(n=40, h=9, w=11, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).poisson(3.0, (n, h, w)).astype(dtype)


def _write(path, data, reverse=False, userblock=0, **kw):
    """Write ``data`` at DSET; ``reverse`` writes the chunks last first, so that they lie
    in the file in the opposite order of the frames."""
    with h5py.File(path, "w", userblock_size=userblock) as f:
        d = f.create_dataset(DSET, shape=data.shape, dtype=kw.pop("dtype", data.dtype), **kw)
        c = d.chunks[0] if d.chunks else data.shape[0]
        starts = range(0, data.shape[0], c)
        for s in reversed(starts) if reverse else starts:
            d[s: s + c] = data[s: s + c]
        f["/entry/instrument/detector_1/frame_time"] = 0.01
    return path


def _mapped(a):
    """Whether an array's memory belongs to a memory map (walking its bases)."""
    while a is not None:
        if isinstance(a, mmap.mmap):
            return True
        a = getattr(a, "base", None) if not isinstance(a, memoryview) else a.obj
    return False


def _blocks(fr):
    """The dask chunks of a frame stack as its graph produces them (no concatenation, no copy)."""
    return [d.compute(scheduler="sync") for d in fr.data.to_delayed().ravel()]


def test_chunked_stack_is_read_through_maps_of_the_file(tmp_path):
    x = _stack()
    p = _write(tmp_path / "a.h5", x, chunks=(8, 9, 11))
    with h5py.File(p) as f:
        d = f[DSET]
        runs = frame_runs(d)
        offsets = [d.id.get_chunk_info(k).byte_offset for k in range(5)]
    # runs tile the frames in order; each starts at its first chunk, whose successors follow it
    assert runs[0][0] == 0 and runs[-1][1] == 40 and all(a[1] == b[0] for a, b in zip(runs, runs[1:]))
    assert sorted(offsets) == offsets or len(runs) > 1
    for start, stop, off in runs:
        assert off == offsets[start // 8] and all(offsets[k] == off + (8 * k - start) * 9 * 11 * 2
                                                  for k in range(start // 8, stop // 8))
    fr = open_frames(p, chunk_frames=16)
    assert fr.data.chunks[0] == run_chunks(runs, 16)
    blocks = _blocks(fr)
    assert all(_mapped(b) and not b.flags.writeable for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), x)
    np.testing.assert_array_equal(fr.values, x)
    np.testing.assert_array_equal(fr[5:29, 2:7, 3].values, x[5:29, 2:7, 3])  # not whole frames: h5py


def test_contiguous_stack_is_one_run(tmp_path):
    x = _stack(dtype=np.float32)
    p = _write(tmp_path / "c.h5", x)
    with h5py.File(p) as f:
        assert f[DSET].chunks is None
        assert frame_runs(f[DSET]) == [(0, 40, f[DSET].id.get_offset())]
    fr = open_frames(p, chunk_frames=12)
    assert fr.data.chunks[0] == (12, 12, 12, 4)
    assert all(_mapped(b) for b in _blocks(fr))
    np.testing.assert_array_equal(fr.values, x)


def test_chunks_out_of_order_make_runs_and_chunks_per_chunk(tmp_path):
    x = _stack()
    p = _write(tmp_path / "r.h5", x, chunks=(8, 9, 11), reverse=True)
    with h5py.File(p) as f:
        runs = frame_runs(f[DSET])
    assert [r[:2] for r in runs] == [(s, s + 8) for s in range(0, 40, 8)]
    assert run_chunks(runs, 16) == (8,) * 5 and run_chunks([(0, 40, 0)], 16) == (16, 16, 8)
    fr = open_frames(p, chunk_frames=16)
    assert fr.data.chunks[0] == (8,) * 5
    assert all(_mapped(b) for b in _blocks(fr))
    np.testing.assert_array_equal(fr.values, x)
    # a read across runs (the correlators' chunks need not follow the dask chunks)
    lab = np.random.default_rng(1).integers(0, 3, (9, 11))
    lay = roi_layout(from_labels(lab), block=4)
    want = dict(iter_roi_chunks(frames_from_array(x, frame_time=0.01), lay, 13))
    got = dict(iter_roi_chunks(fr, lay, 13))
    assert got.keys() == want.keys()
    for s in want:
        np.testing.assert_array_equal(got[s], want[s])


def test_too_many_runs_fall_back_to_h5py_chunks(tmp_path):
    x = _stack(n=20)
    p = _write(tmp_path / "one.h5", x, chunks=(1, 9, 11), reverse=True)  # 20 runs of 1 frame
    fr = open_frames(p, chunk_frames=16)
    assert fr.data.chunks[0] == (16, 4)
    assert not any(_mapped(b) for b in _blocks(fr))
    np.testing.assert_array_equal(fr.values, x)


@pytest.mark.parametrize(
    "kw",
    [
        {"chunks": (8, 9, 11), "compression": "gzip"},
        {"chunks": (8, 9, 11), "shuffle": True},
        {"chunks": (8, 3, 11)},  # chunks split the frames
        {"dtype": ">u2"},  # not native byte order
        {"userblock": 512},
    ],
    ids=["gzip", "shuffle", "split-frames", "big-endian", "userblock"],
)
def test_stacks_that_cannot_be_mapped_are_read_by_h5py(tmp_path, kw):
    x = _stack()
    p = _write(tmp_path / "n.h5", x, **kw)
    with h5py.File(p) as f:
        assert frame_runs(f[DSET]) is None
    fr = open_frames(p, chunk_frames=16)
    assert fr.data.chunks[0] == (16, 16, 8)
    assert not any(_mapped(b) for b in _blocks(fr))
    np.testing.assert_array_equal(fr.values, x)


def test_unwritten_chunks_are_read_by_h5py_as_fill_values(tmp_path):
    p = tmp_path / "part.h5"
    x = _stack()
    with h5py.File(p, "w") as f:
        d = f.create_dataset(DSET, shape=x.shape, dtype=x.dtype, chunks=(8, 9, 11), fillvalue=7)
        d[:16] = x[:16]
        f["/entry/instrument/detector_1/frame_time"] = 0.01
        assert frame_runs(d) is None
    want = x.copy()
    want[16:] = 7
    np.testing.assert_array_equal(open_frames(p).values, want)


def test_memory_map_false_reads_with_h5py(tmp_path):
    x = _stack()
    p = _write(tmp_path / "a.h5", x, chunks=(8, 9, 11))
    fr = open_frames(p, chunk_frames=16, memory_map=False)
    assert not any(_mapped(b) for b in _blocks(fr))
    np.testing.assert_array_equal(fr.values, x)
    with pytest.raises(FramesError, match="memory_map must be True or False"):
        open_frames(p, memory_map="no")


def test_stacks_of_one_file_opened_differently_combine(tmp_path):
    """Mapped and h5py stacks (or other chunkings) of one file have distinct dask names."""
    x = _stack()
    p = _write(tmp_path / "r.h5", x, chunks=(8, 9, 11), reverse=True)
    a, b, c = open_frames(p, chunk_frames=16), open_frames(p, chunk_frames=16, memory_map=False), open_frames(p, chunk_frames=4)
    assert len({a.data.name, b.data.name, c.data.name}) == 3
    np.testing.assert_array_equal((a - b + c).values, x)


def test_mapped_blocks_outlive_the_stack(tmp_path):
    """A block keeps its own map (and descriptor): valid after the stack and file are gone."""
    x = _stack()
    p = _write(tmp_path / "a.h5", x, chunks=(8, 9, 11))
    fr = open_frames(p, chunk_frames=16)
    first = _blocks(fr)[0]
    assert _mapped(first)
    del fr
    gc.collect()
    np.testing.assert_array_equal(first, x[: first.shape[0]])


def test_mapped_frames_index_like_the_dataset(tmp_path):
    x = _stack()
    p = _write(tmp_path / "a.h5", x, chunks=(8, 9, 11), reverse=True)
    with h5py.File(p) as f:
        src = MappedFrames(f[DSET], frame_runs(f[DSET]))
        for key in [np.s_[3:7], np.s_[8:16], np.s_[3:12], np.s_[0:40:2], np.s_[2:5, 1:4], np.s_[5], np.s_[1:3, :, 4]]:
            np.testing.assert_array_equal(src[key], x[key])
        assert _mapped(src[8:16]) and not _mapped(src[3:12])  # inside one run / across two


def test_two_time_from_a_mapped_stack_equals_in_memory(tmp_path):
    x = _stack(n=48, h=16, w=16)
    p = _write(tmp_path / "a.h5", x, chunks=(16, 16, 16), reverse=True)
    lab = np.zeros((16, 16), int)
    lab[2:8, 2:14], lab[9:15, 2:14] = 1, 2
    want = two_time(frames_from_array(x, frame_time=0.01), lab, progress=False, chunk=20)
    for memory_map in (True, False):
        got = two_time(open_frames(p, memory_map=memory_map), lab, progress=False, chunk=20)
        np.testing.assert_array_equal(got["c2"].values, want["c2"].values)


def test_frame_runs_without_chunk_iter(tmp_path):
    """With an h5py/HDF5 that lacks H5Dchunk_iter the chunks are listed one by one: same runs."""
    calls = []

    class NoIter:
        def __init__(self, dsid):
            self._id = dsid

        def __getattr__(self, name):
            if name == "chunk_iter":
                raise AttributeError(name)
            if name == "get_chunk_info":
                calls.append(name)
            return getattr(self._id, name)

    class Proxy:
        def __init__(self, d):
            self.shape, self.chunks, self.dtype, self.file, self.id = d.shape, d.chunks, d.dtype, d.file, NoIter(d.id)

    x = _stack()
    p = _write(tmp_path / "r.h5", x, chunks=(8, 9, 11), reverse=True)
    with h5py.File(p) as f:
        d = f[DSET]
        runs = frame_runs(d)
        assert frame_runs(Proxy(d)) == runs and len(calls) == 5  # one lookup per chunk
        assert [r[:2] for r in runs] == [(s, s + 8) for s in range(0, 40, 8)]


@pytest.mark.parametrize("frame", [0, -1])
def test_guard_refuses_a_map_that_disagrees_with_h5py(tmp_path, monkeypatch, frame):
    """mapped_source compares the first and the last frame of the map with h5py's reading;
    a map whose bytes differ (here: one byte of that frame changed in the mapped memory)
    is not used. A change in a frame between them is not seen (the control)."""
    from xpcsnb.io import h5map

    x = _stack()
    p = _write(tmp_path / "a.h5", x, chunks=(8, 9, 11))
    real = mmap.mmap

    class Altered(bytearray):
        def madvise(self, *args):
            pass

    with h5py.File(p, "r") as f:
        d = f[DSET]
        src = h5map.mapped_source(d)
        assert src is not None
        np.testing.assert_array_equal(src[0:8], x[:8])
        np.testing.assert_array_equal(src[32:40], x[32:])
        runs = frame_runs(d)

        def alter(k):
            """Maps of the file from now on have the first byte of frame k inverted."""
            start, _, offset = next(r for r in runs if r[0] <= k < r[1])
            where = offset + (k - start) * x[0].nbytes

            def altered_map(fileno, length, access=None, offset=0):
                mem = Altered(real(fileno, length, access=access, offset=offset))
                if offset <= where < offset + length:
                    mem[where - offset] ^= 0xFF
                return mem

            monkeypatch.setattr(mmap, "mmap", altered_map)

        alter(20)
        assert h5map.mapped_source(d) is not None
        alter(len(x) - 1 if frame == -1 else 0)
        assert h5map.mapped_source(d) is None
