"""Frame stacks: NumPy wrapping and lazy HDF5 reading."""

import h5py
import numpy as np
import pytest

from xpcsnb.io.frames import FramesError, as_frames, frames_from_array, open_frames


def test_frames_from_array_layout_and_units():
    x = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    fr = frames_from_array(x, frame_time=0.01, exposure=0.005)
    assert fr.dims == ("frame", "y", "x")
    assert fr.attrs["frame_time"] == 0.01 and fr.attrs["exposure"] == 0.005
    assert fr["t"].attrs["units"] == "s" and fr["x"].attrs["units"] == "px"
    np.testing.assert_allclose(fr["t"].values, [0.0, 0.01])
    assert np.shares_memory(fr.values, x)  # not copied


@pytest.mark.parametrize(
    "data, kw, match",
    [
        (np.zeros((3, 4)), {"frame_time": 1.0}, "3-D"),
        (np.zeros((2, 3, 4), dtype=complex), {"frame_time": 1.0}, "real numbers"),
        (np.zeros((2, 3, 4)), {"frame_time": -1.0}, "frame_time"),
        (np.zeros((2, 3, 4)), {"frame_time": 1.0, "exposure": 2.0}, "exceed"),
        (np.zeros((0, 3, 4)), {"frame_time": 1.0}, "empty"),
    ],
)
def test_frames_from_array_rejects(data, kw, match):
    with pytest.raises(FramesError, match=match):
        frames_from_array(data, **kw)


def test_as_frames_checks_frame_time():
    fr = frames_from_array(np.zeros((2, 3, 4)), frame_time=1.0)
    with pytest.raises(FramesError, match="disagrees"):
        as_frames(fr, 2.0)
    with pytest.raises(FramesError, match="frame_time"):
        as_frames(np.zeros((2, 3, 4)))
    assert as_frames(np.zeros((2, 3, 4)), 0.5).attrs["frame_time"] == 0.5


def _write(path, data, dataset="/entry/data/data", frame_time=None):
    with h5py.File(path, "w") as f:
        f[dataset] = data
        if frame_time is not None:
            f["/entry/instrument/detector_1/frame_time"] = frame_time
            f["/entry/instrument/detector_1/count_time"] = frame_time / 2


def test_open_frames_is_lazy_and_reads_metadata(tmp_path):
    data = np.random.default_rng(0).poisson(1.0, (10, 5, 6)).astype(np.uint16)
    p = tmp_path / "frames.h5"
    _write(p, data, frame_time=0.002)
    fr = open_frames(p, chunk_frames=4)
    assert hasattr(fr.data, "dask") and fr.data.chunks[0] == (4, 4, 2)
    assert fr.attrs["frame_time"] == 0.002 and fr.attrs["exposure"] == 0.001
    assert fr.attrs["source"] == str(p)
    np.testing.assert_array_equal(fr.values, data)


def test_open_frames_any_dataset_path_and_errors(tmp_path):
    data = np.ones((3, 2, 2), dtype=np.float32)
    p = tmp_path / "f.h5"
    _write(p, data, dataset="/exchange/frames")
    with pytest.raises(FramesError, match="frame period"):
        open_frames(p, "/exchange/frames")
    fr = open_frames(p, "/exchange/frames", frame_time=1.0)
    assert fr.shape == (3, 2, 2)
    with pytest.raises(FramesError, match="no dataset"):
        open_frames(p, frame_time=1.0)
    with pytest.raises(FramesError, match="no such file"):
        open_frames(tmp_path / "missing.h5", frame_time=1.0)
    txt = tmp_path / "x.h5"
    txt.write_text("not hdf5")
    with pytest.raises(FramesError, match="not an HDF5"):
        open_frames(txt, frame_time=1.0)


def test_roi_chunks_of_a_dask_stack_chunked_in_every_dim():
    """Chunks read from a dask stack (chunked in frame, y and x, misaligned with the read
    chunks) hold exactly the in-memory pixels, whatever the dask chunk grid."""
    import dask.array as dsa

    from xpcsnb.core.partition import from_labels
    from xpcsnb.correlate.stream import iter_roi_chunks, roi_layout

    rng = np.random.default_rng(5)
    x = rng.poisson(2.0, (23, 12, 10)).astype(np.uint16)
    lab = rng.integers(0, 4, (12, 10))
    lay = roi_layout(from_labels(lab), block=8)
    want = dict(iter_roi_chunks(frames_from_array(x, frame_time=1.0), lay, 5))
    for chunks in [(23, 12, 10), (4, 12, 10), (3, 5, 4)]:
        lazy = frames_from_array(dsa.from_array(x, chunks=chunks), frame_time=1.0)
        got = dict(iter_roi_chunks(lazy, lay, 5))
        assert got.keys() == want.keys()
        for s in want:
            np.testing.assert_array_equal(got[s], want[s])
