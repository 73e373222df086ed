"""Compressed HDF5 detector stacks (hdf5plugin), EDF/TIFF/CBF series (fabio), pyFAI PONI geometry."""

from __future__ import annotations

import builtins
import sys

import h5py
import numpy as np
import pytest

from xpcsnb.core.errors import FramesError, PartitionError
from xpcsnb.io import open_frames, open_image_series, read_poni
from xpcsnb.io.frames import register_filters

FRAMES = (np.random.default_rng(3).poisson(2.0, (6, 16, 12))).astype(np.uint32)


def _compressed(tmp_path, name, **filter_kwargs):
    p = tmp_path / f"{name}.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("/entry/data/data", data=FRAMES, chunks=(2, 16, 12), **filter_kwargs)
        f["/entry/instrument/detector_1/frame_time"] = 1e-3
    return p


@pytest.mark.parametrize("codec", ["bitshuffle_lz4", "blosc_lz4", "blosc_zstd", "zstd"])
def test_compressed_stacks_are_read(tmp_path, codec):
    hdf5plugin = pytest.importorskip("hdf5plugin", reason="hdf5plugin (a dependency) is not installed here")
    filt = {
        "bitshuffle_lz4": lambda: hdf5plugin.Bitshuffle(cname="lz4"),
        "blosc_lz4": lambda: hdf5plugin.Blosc(cname="lz4", shuffle=hdf5plugin.Blosc.BITSHUFFLE),
        "blosc_zstd": lambda: hdf5plugin.Blosc(cname="zstd"),
        "zstd": lambda: hdf5plugin.Zstd(),
    }[codec]()
    p = _compressed(tmp_path, codec, **filt)
    with h5py.File(p, "r") as f:
        assert f["/entry/data/data"].id.get_create_plist().get_nfilters() >= 1  # really compressed
    stack = open_frames(p)
    np.testing.assert_array_equal(stack.values, FRAMES)
    assert stack.attrs["frame_time"] == 1e-3


def test_missing_filter_is_named(tmp_path, monkeypatch):
    p = _compressed(tmp_path, "gz", compression="gzip")
    monkeypatch.setattr(h5py.h5z, "filter_avail", lambda code: False)
    with pytest.raises(FramesError, match=r"gz.h5:/entry/data/data is compressed with HDF5 filter 1 .*hdf5plugin"):
        open_frames(p)


def test_register_filters_says_whether_hdf5plugin_is_there(monkeypatch):
    real_import = builtins.__import__

    def no_plugin(name, *a, **k):
        if name == "hdf5plugin":
            raise ImportError("simulated absence")
        return real_import(name, *a, **k)
    monkeypatch.delitem(sys.modules, "hdf5plugin", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_plugin)
    assert register_filters() is False


# ---------------------------------------------------------------- fabio image series
def test_missing_fabio_names_the_extra(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_fabio(name, *a, **k):
        if name == "fabio" or name.startswith("fabio."):
            raise ImportError("simulated absence")
        return real_import(name, *a, **k)
    monkeypatch.delitem(sys.modules, "fabio", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_fabio)
    (tmp_path / "a.edf").write_bytes(b"")
    with pytest.raises(ImportError, match=r"pip install 'xpcsnb\[formats\]'"):
        open_image_series(tmp_path / "a.edf", frame_time=0.1)


@pytest.mark.parametrize("ext", ["edf", "tif", "cbf"])
def test_image_series_round_trip(tmp_path, ext):
    fabio = pytest.importorskip("fabio", reason="fabio (the 'formats' extra) is not installed here")
    cls = {"edf": fabio.edfimage.EdfImage, "tif": fabio.tifimage.TifImage, "cbf": fabio.cbfimage.CbfImage}[ext]
    data = FRAMES.astype(np.int32)
    for k, frame in enumerate(data):
        cls(data=frame).write(str(tmp_path / f"img_{k:03d}.{ext}"))
    stack = open_image_series(str(tmp_path / f"img_*.{ext}"), frame_time=0.01, exposure=0.008)
    assert stack.dims == ("frame", "y", "x") and stack.shape == data.shape
    assert stack.chunks[0] == (1,) * data.shape[0]  # lazy: one frame per chunk
    np.testing.assert_array_equal(stack.values, data)
    np.testing.assert_allclose(stack["t"].values, 0.01 * np.arange(data.shape[0]))
    assert stack.attrs["exposure"] == 0.008 and stack.attrs["files"] == data.shape[0]
    files = sorted(tmp_path.glob(f"*.{ext}"))[::-1]  # an explicit list keeps its order
    np.testing.assert_array_equal(open_image_series(files, frame_time=0.01).values, data[::-1])


def test_image_series_bad_input(tmp_path):
    pytest.importorskip("fabio", reason="fabio (the 'formats' extra) is not installed here")
    with pytest.raises(FramesError, match="no file matches"):
        open_image_series(str(tmp_path / "*.edf"), frame_time=0.1)
    with pytest.raises(FramesError, match="no such file"):
        open_image_series([tmp_path / "missing.edf"], frame_time=0.1)
    import fabio

    fabio.edfimage.EdfImage(data=np.zeros((4, 4), np.int32)).write(str(tmp_path / "a_0.edf"))
    fabio.edfimage.EdfImage(data=np.zeros((5, 4), np.int32)).write(str(tmp_path / "a_1.edf"))
    stack = open_image_series(str(tmp_path / "a_*.edf"), frame_time=0.1)
    with pytest.raises(FramesError, match=r"a_1.edf frame 0 is int32 \(5, 4\); the series is"):
        stack.values
    with pytest.raises(FramesError, match="frame_time must be finite"):
        open_image_series(str(tmp_path / "a_*.edf"), frame_time=-1)


# ---------------------------------------------------------------- PONI
PONI_V2 = """# Nota: C-Order, 1 refers to the Y axis, 2 to the X axis
# Calibration done at Wed Dec 2 12:00:00 2026
poni_version: 2
Detector: Eiger2_4M
Detector_config: {"pixel1": 7.5e-05, "pixel2": 7.5e-05, "max_shape": [2162, 2068], "orientation": 3}
Distance: 5.0
Poni1: 0.0811875
Poni2: 0.0775875
Rot1: 0
Rot2: 0
Rot3: 0
Wavelength: 1.0332e-10
"""
PONI_V1 = """PixelSize1: 1.72e-04
PixelSize2: 1.72e-04
Distance: 2.5
Poni1: 0.0172
Poni2: 0.0344
Rot1: 0.0
Rot2: 0.0
Rot3: 0.0
Wavelength: 1.5406e-10
"""


def test_poni_v2(tmp_path):
    p = tmp_path / "eiger.poni"
    p.write_text(PONI_V2)
    g = read_poni(p)
    assert g.shape == (2162, 2068) and g.distance == 5.0
    assert g.beam_center == pytest.approx((0.0775875 / 7.5e-5 - 0.5, 0.0811875 / 7.5e-5 - 0.5))
    assert g.lambda_angstrom == pytest.approx(1.0332)
    # the beam-centre pixel has q = 0 only at its exact position: pixel (1082, 1034) is half a pixel off
    qm = g.q_map()
    iy, ix = np.unravel_index(np.argmin(qm), qm.shape)
    assert (ix, iy) == (int(round(g.beam_center[0])), int(round(g.beam_center[1])))


def test_poni_v1_needs_a_shape(tmp_path):
    p = tmp_path / "pilatus.poni"
    p.write_text(PONI_V1)
    with pytest.raises(PartitionError, match="pass shape="):
        read_poni(p)
    g = read_poni(p, shape=(195, 487))
    assert g.beam_center == pytest.approx((199.5, 99.5)) and g.pixel_size == (1.72e-4, 1.72e-4)


@pytest.mark.parametrize(("edit", "match"), [
    (lambda t: t.replace("Rot2: 0\n", "Rot2: 0.01\n"), r"tilted detector \(Rot2 = 0.01 rad\)"),
    (lambda t: t.replace("Distance: 5.0\n", ""), "has no 'Distance' entry"),
    (lambda t: t.replace("Wavelength: 1.0332e-10", "Wavelength: n/a"), "Wavelength must be a number"),
    (lambda t: t.replace('"pixel1": 7.5e-05, "pixel2": 7.5e-05, ', ""), "gives no pixel size"),
    (lambda t: t + "garbage line\n", "line 13: expected 'key: value'"),
])
def test_bad_poni_is_named(tmp_path, edit, match):
    p = tmp_path / "bad.poni"
    p.write_text(edit(PONI_V2))
    with pytest.raises(PartitionError, match=match):
        read_poni(p)
