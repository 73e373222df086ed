"""Bad Rigaku event files and arguments, as a table: input → refused / accepted.

Each row of ``REFUSED`` is ``(description, call, expected class, message regex)``; each
call gets the test's temporary folder. Rows of ``ACCEPTED`` return the opened stack and
the number of frames it must have.
"""

import warnings

import numpy as np
import pytest

from xpcsnb.core.errors import FramesError
from xpcsnb.io.rigaku import encode_rigaku, open_rigaku

SHAPE = (16, 24)


def _frames(n=120, seed=0):
    x = np.random.default_rng(seed).poisson(0.05, (n,) + SHAPE).astype(np.uint16)
    x[:, 0, 0] = 1  # every frame holds an event
    return x


def _words(frame, pixel=0, count=1):
    """Raw event words (frame << 40 | pixel << 16 | count)."""
    frame = np.asarray(frame, dtype=np.uint64)
    return (frame << np.uint64(40)) | (np.uint64(pixel) << np.uint64(16)) | np.uint64(count)


def _file(tmp, name, words):
    path = tmp / name
    np.asarray(words, dtype="<u8").tofile(path)
    return path


def _corrupt_tail(tmp):
    """120 good frames, then one word whose frame field is 2^20."""
    return _file(tmp, "corrupt.bin", np.concatenate([encode_rigaku(_frames()), _words([1 << 20])]))


def _folder(tmp):
    (tmp / "scan").mkdir()
    _file(tmp / "scan", "scan.bin.000", encode_rigaku(_frames()))
    return tmp / "scan"


def _good(tmp):
    return _file(tmp, "good.bin", encode_rigaku(_frames()))


REFUSED = [
    ("a folder instead of a file",
     lambda tmp: open_rigaku(_folder(tmp), frame_time=1e-3, shape=SHAPE), IsADirectoryError,
     r"is a folder, not a Rigaku event file.*scan\.bin\.000"),
    ("an empty folder",
     lambda tmp: open_rigaku(tmp, frame_time=1e-3, shape=SHAPE), IsADirectoryError, r"holds no \*\.bin\* file"),
    ("a missing file",
     lambda tmp: open_rigaku(tmp / "missing.bin", frame_time=1e-3, shape=SHAPE), FileNotFoundError, "no such file"),
    ("no shape= (the file does not record the detector)",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3), FramesError, r"shape= is required.*'500k'"),
    ("an unknown detector name",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape="4M"), FramesError, r"unknown detector '4M'"),
    ("a shape that is not two positive integers",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape=(0, 24)), FramesError, "two positive integers"),
    ("a shape of three numbers",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape=(1, 16, 24)), FramesError, "two positive integers"),
    ("a trailing word with frame field 2^20 (1 048 577 frames)",
     lambda tmp: open_rigaku(_corrupt_tail(tmp), frame_time=1e-3, shape=SHAPE), FramesError,
     r"jumps from frame 119 to frame 1048576: 1048456 frames without any event, "
     r"more than the 121 frames.*2360 events.*corrupt.*"
     r"count=\d+\).*n_frames=1048577"),
    ("a first word far beyond frame 0",
     lambda tmp: open_rigaku(_file(tmp, "late.bin", _words([50_000, 50_001])), frame_time=1e-3, shape=SHAPE),
     FramesError, r"first event is in frame 50000: 50000 frames without any event before it.*n_frames=50002"),
    ("a corrupt word inside the file (frame order broken)",
     lambda tmp: open_rigaku(_file(tmp, "mid.bin", _words([0, 1, 1 << 20, 2, 3])), frame_time=1e-3, shape=SHAPE),
     FramesError, r"not ordered by frame \(event 3\)"),
    ("n_frames that is not an integer",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape=SHAPE, n_frames=130.5), FramesError,
     "n_frames must be an integer"),
    ("n_frames below the last frame",
     lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape=SHAPE, n_frames=50), FramesError, "n_frames=50"),
]

ACCEPTED = [
    ("the 500k by name", lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape="500k"), 120),
    ("the 500k by its full name", lambda tmp: open_rigaku(_good(tmp), frame_time=1e-3, shape="Rigaku XSPA-500k"), 120),
    ("a corrupt-looking gap confirmed by n_frames",
     lambda tmp: open_rigaku(_corrupt_tail(tmp), frame_time=1e-3, shape=SHAPE, n_frames=(1 << 20) + 1), (1 << 20) + 1),
    ("a gap of 5000 empty frames (below the 10 000-frame floor)",
     lambda tmp: open_rigaku(_file(tmp, "gap.bin", _words(np.r_[0:10, 5010:5020])), frame_time=1e-3, shape=SHAPE),
     5020),
    ("a gap of 15 000 frames in a file of 20 000 busy frames",
     lambda tmp: open_rigaku(_file(tmp, "long.bin", _words(np.r_[0:10_000, 25_000:35_000])), frame_time=1e-3,
                             shape=SHAPE), 35_000),
    ("the first event at frame 3", lambda tmp: open_rigaku(_file(tmp, "s.bin", _words([3, 4, 4])), frame_time=1e-3,
                                                           shape=SHAPE), 5),
]


@pytest.mark.parametrize("description, call, expected, match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(tmp_path, description, call, expected, match):
    with pytest.raises(expected, match=match):
        call(tmp_path)


@pytest.mark.parametrize("description, call, n_frames", ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_accepted_without_warning(tmp_path, description, call, n_frames):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fr = call(tmp_path)
    assert fr.shape[0] == n_frames and fr.dims == ("frame", "y", "x")


def test_events_across_index_blocks_are_counted_once(tmp_path):
    """A frame split between two index blocks keeps all its events: 5·10⁶ events in frames of
    10⁶ (every pixel of a 1000 × 1000 detector hit), so the index pass's blocks of a
    power-of-two number of events (up to 2^22) end inside frames."""
    x = np.random.default_rng(3).integers(1, 4, (5, 1000, 1000)).astype(np.uint16)
    fr = open_rigaku(_file(tmp_path, "blocks.bin", encode_rigaku(x)), frame_time=1e-3, shape=(1000, 1000))
    np.testing.assert_array_equal(fr.values, x)