"""Rigaku photon-event files: exact round trip, lazy chunks, correlators on them, bad files."""

import numpy as np
import pytest
from bruteforce_correlate import c2_bruteforce

import xpcsnb
import xpcsnb.correlate as xc
from xpcsnb.io import FramesError, encode_rigaku, open_rigaku
from xpcsnb.io.frames import frames_from_array


def _sparse_frames(n=120, shape=(16, 24), mean=0.05, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.poisson(mean, (n,) + shape).astype(np.uint16)
    x[7] = 0  # a frame without any photon
    x[3, 2, 5] = 4095  # the largest count the format holds
    return x


def _write(path, x, extra=None):
    words = encode_rigaku(x)
    if extra is not None:
        words = np.concatenate([words, extra])
    words.tofile(path)
    return path


def test_round_trip_is_exact_and_lazy(tmp_path):
    x = _sparse_frames()
    path = _write(tmp_path / "scan.bin", x)
    fr = open_rigaku(path, frame_time=1e-3, shape=x.shape[1:], chunk=32)
    assert fr.dims == ("frame", "y", "x") and fr.shape == x.shape and fr.dtype == np.uint16
    assert fr.chunks[0] == (32, 32, 32, 24)  # dask-backed, densified chunk by chunk
    assert fr.attrs["frame_time"] == 1e-3 and fr.attrs["n_events"] == int(np.count_nonzero(x))
    np.testing.assert_array_equal(fr.values, x)
    np.testing.assert_array_equal(fr[40:50, 3:9, 2].values, x[40:50, 3:9, 2])
    # trailing empty frames exist only when asked for
    longer = open_rigaku(path, frame_time=1e-3, shape=x.shape[1:], n_frames=130)
    assert longer.shape[0] == 130 and int(longer[120:].sum()) == 0


def test_correlators_on_an_event_file_equal_the_dense_stack(tmp_path):
    x = _sparse_frames(n=200, mean=0.4, seed=2)
    x[7] = x[8]  # C2 needs photons in every frame of an ROI
    x[3, 2, 5] = 3
    path = _write(tmp_path / "scan.bin", x)
    labels = np.zeros(x.shape[1:], dtype=int)
    labels[:, :12], labels[:, 12:] = 1, 2
    fr = open_rigaku(path, frame_time=1e-3, shape=x.shape[1:], chunk=50)
    dense = frames_from_array(x, frame_time=1e-3)
    tt = xc.two_time(fr, labels, progress=False)
    np.testing.assert_allclose(tt.c2.values[1], c2_bruteforce(x, labels, 2), rtol=1e-12)
    np.testing.assert_array_equal(tt.c2.values, xc.two_time(dense, labels, progress=False).c2.values)
    g2 = xc.multitau(fr, labels, progress=False)
    np.testing.assert_array_equal(g2.g2.values, xc.multitau(dense, labels, progress=False).g2.values)
    assert xpcsnb.open_rigaku is open_rigaku


def test_bad_event_files_are_refused(tmp_path):
    x = _sparse_frames()
    with pytest.raises(FileNotFoundError):
        open_rigaku(tmp_path / "missing.bin", frame_time=1e-3)
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\0" * 12)
    with pytest.raises(FramesError, match="whole number of 8-byte"):
        open_rigaku(odd, frame_time=1e-3)
    words = encode_rigaku(x)
    shuffled = tmp_path / "shuffled.bin"
    words[::-1].copy().tofile(shuffled)
    with pytest.raises(FramesError, match="not ordered by frame"):
        open_rigaku(shuffled, frame_time=1e-3, shape=x.shape[1:])
    path = _write(tmp_path / "scan.bin", x)
    with pytest.raises(FramesError, match="outside the 100-pixel detector"):
        open_rigaku(path, frame_time=1e-3, shape=(10, 10))
    with pytest.raises(FramesError, match="n_frames=50"):
        open_rigaku(path, frame_time=1e-3, shape=x.shape[1:], n_frames=50)
    with pytest.raises(FramesError, match="frame_time"):
        open_rigaku(path, frame_time=-1.0, shape=x.shape[1:])
    offset = tmp_path / "module.bin"
    (encode_rigaku(x) + (np.uint64(1000) << np.uint64(16))).tofile(offset)
    np.testing.assert_array_equal(open_rigaku(offset, frame_time=1e-3, shape=x.shape[1:], pixel_offset=1000).values, x)
    with pytest.raises(FramesError, match="integers in 0"):
        encode_rigaku(np.full((1, 2, 2), 5000))
