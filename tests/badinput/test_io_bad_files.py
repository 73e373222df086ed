"""Bad and crafted files for the readers: input → expected error, as a table.

Each case is ``(description, make_file, call, expected_exception, message_regex)``:
``make_file(folder)`` writes the file (in ``folder``) and returns its path, ``call(path)``
reads it the way a user would and must raise ``expected_exception`` whose message
matches ``message_regex`` (which names the file or the object path).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from xpcsnb.core.errors import ApsFileError, FramesError
from xpcsnb.io.aps8idi import open_aps
from xpcsnb.io.frames import open_frames

N = 6  # C2 size / delays
FRAMES = np.arange(8 * 16 * 16, dtype=np.uint16).reshape(8, 16, 16)
T0 = "/entry/instrument/detector_1/frame_time"
C2 = "/xpcs/twotime/correlation_map/c2_00001"
G2 = "/xpcs/multitau/normalized_g2"


# ---------------------------------------------------------------------------------
# file builders
# ---------------------------------------------------------------------------------
def _aps(folder: Path, name: str = "r_results.hdf", *, c2=None, g2=None) -> tuple[Path, h5py.File]:
    """A minimal current-layout result file, left open for the case to add its twist."""
    p = folder / name
    f = h5py.File(p, "w")
    f[T0] = 1e-3
    f["/xpcs/multitau/delay_list"] = np.arange(1, N + 1, dtype=float)
    f[G2] = np.ones((N, 1)) if g2 is None else g2
    if c2 is not False:
        f[C2] = np.triu(np.ones((N, N))) if c2 is None else c2
    return p, f


def _frames(folder: Path, name: str = "frames.h5", **kw) -> tuple[Path, h5py.File]:
    p = folder / name
    f = h5py.File(p, "w")
    f[T0] = 1e-3
    if kw.get("data", True):
        f.create_dataset("/entry/data/data", data=FRAMES)
    return p, f


def _outside(folder: Path) -> Path:
    """A folder next to (not below) the test file's folder: 'elsewhere on disk'."""
    other = folder.parent / f"{folder.name}_elsewhere"
    other.mkdir(exist_ok=True)
    return other


def c2_text(folder):
    p, f = _aps(folder, c2=np.array([[b"1.0"] * N] * N))
    f.close()
    return p


def c2_na(folder):
    p, f = _aps(folder, c2=np.array([[b"n/a"] * N] * N))
    f.close()
    return p


def g2_text(folder):
    p, f = _aps(folder, g2=np.array([[b"1.0"]] * N), c2=False)
    f.close()
    return p


def dangling_soft_g2(folder):
    p, f = _aps(folder, c2=False)
    del f[G2]
    f[G2] = h5py.SoftLink("/xpcs/multitau/gone")
    f.close()
    return p


def dangling_external_c2(folder):
    p, f = _aps(folder, c2=False)
    f[C2] = h5py.ExternalLink("missing_partner.h5", "/c2")
    f.close()
    return p


def soft_link_cycle(folder):
    p, f = _aps(folder, c2=False)
    f["/xpcs/twotime/loop_a"] = h5py.SoftLink("/xpcs/twotime/loop_b")
    f["/xpcs/twotime/loop_b"] = h5py.SoftLink("/xpcs/twotime/loop_a")
    del f[G2]
    f[G2] = h5py.SoftLink("/xpcs/twotime/loop_a")
    f.close()
    return p


def corrupt_aps(folder):
    p, f = _aps(folder)
    f.close()
    os.truncate(p, os.path.getsize(p) // 2)  # HDF5 signature intact, the rest cut
    return p


def external_link_outside_aps(folder):
    secret = _outside(folder) / "secret.h5"
    with h5py.File(secret, "w") as s:
        s["c2"] = np.triu(np.full((N, N), 7.0))
    p, f = _aps(folder, c2=False)
    f[C2] = h5py.ExternalLink(str(secret), "/c2")
    f.close()
    return p


def external_raw_c2(folder):
    raw = _outside(folder) / "private.bin"
    np.triu(np.full((N, N), 7.0)).tofile(raw)
    p, f = _aps(folder, c2=False)
    f.create_dataset(C2, shape=(N, N), dtype="<f8", external=[(str(raw), 0, N * N * 8)])
    f.close()
    return p


def dangling_frames(folder):
    p, f = _frames(folder, data=False)
    f["/entry/data/data"] = h5py.ExternalLink("missing_master.h5", "/entry/data/data")
    f.close()
    return p


def external_link_outside_frames(folder):
    secret = _outside(folder) / "other_frames.h5"
    with h5py.File(secret, "w") as s:
        s["d"] = FRAMES
    p, f = _frames(folder, data=False)
    f["/entry/data/data"] = h5py.ExternalLink(str(secret), "/d")
    f.close()
    return p


def external_raw_frames(folder):
    raw = _outside(folder) / "any_file.bin"
    FRAMES.tofile(raw)
    p, f = _frames(folder, data=False)
    f.create_dataset("/entry/data/data", shape=FRAMES.shape, dtype=FRAMES.dtype,
                     external=[(str(raw), 0, FRAMES.nbytes)])
    f.close()
    return p


def virtual_outside_frames(folder):
    src = _outside(folder) / "vds_source.h5"
    with h5py.File(src, "w") as s:
        s["d"] = FRAMES
    layout = h5py.VirtualLayout(shape=FRAMES.shape, dtype=FRAMES.dtype)
    layout[:] = h5py.VirtualSource(str(src), "d", shape=FRAMES.shape)
    p, f = _frames(folder, data=False)
    f.create_virtual_dataset("/entry/data/data", layout)
    f.close()
    return p


def _truncate_after_open(memory_map: bool):
    def call(path):
        stack = open_frames(path, memory_map=memory_map, chunk_frames=2)
        os.truncate(path, os.path.getsize(path) // 2)
        return stack.values

    return call


def plain_frames(folder):
    p, f = _frames(folder)
    f.close()
    return p


def _corrupt_byte(path: Path, position: int) -> Path:
    """Flip every bit of one byte: a corruption that only the HDF5 metadata decoder sees."""
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def corrupt_c2_group_index(folder):
    """The B-tree of the C2 group (the last group created) has a broken signature: listing fails."""
    p, f = _aps(folder)
    f["/xpcs/twotime/correlation_map/c2_00002"] = np.triu(np.ones((N, N)))
    f.close()
    return _corrupt_byte(p, p.read_bytes().rfind(b"TREE"))


def _corrupt_units(offset: int):
    def make(folder):
        p, f = _aps(folder)
        f[T0].attrs["units"] = np.bytes_("s")
        f.close()
        return _corrupt_byte(p, p.read_bytes().find(b"units") + offset)

    return make


CASES = [
    ("C2 stored as text b'1.0' is refused, not converted", c2_text, open_aps, ApsFileError,
     r"r_results\.hdf:/xpcs/twotime/correlation_map/c2_00001 stores \|S3 values, not numbers"),
    ("C2 stored as b'n/a' names the dataset and dtype", c2_na, open_aps, ApsFileError,
     r"c2_00001 stores \|S3 values, not numbers"),
    ("g2 stored as text is refused", g2_text, open_aps, ApsFileError,
     r"/xpcs/multitau/normalized_g2 stores \|S3 values"),
    ("dangling soft link to g2", dangling_soft_g2, open_aps, ApsFileError,
     r"/xpcs/multitau/normalized_g2 is a soft link to /xpcs/multitau/gone whose target is missing"),
    ("dangling external link to a C2", dangling_external_c2, open_aps, ApsFileError,
     r"c2_00001 is an external link to missing_partner\.h5:/c2 whose target is missing"),
    ("soft-link cycle", soft_link_cycle, open_aps, ApsFileError,
     r"r_results\.hdf:/xpcs/multitau/normalized_g2 .*cycle of links"),
    ("corrupt (cut) result file", corrupt_aps, open_aps, ApsFileError,
     r"cannot open .*r_results\.hdf as HDF5 .*truncated or corrupt"),
    ("external link to a file outside the folder (APS)", external_link_outside_aps, open_aps, ApsFileError,
     r"c2_00001 is an external link to .*secret\.h5:/c2 that resolves to .*outside .*allow_external=True"),
    ("external raw storage (APS)", external_raw_c2, open_aps, ApsFileError,
     r"c2_00001 stores its values in external raw file\(s\) .*private\.bin.*refused"),
    ("dangling external link to the frames", dangling_frames, open_frames, FramesError,
     r"frames\.h5:/entry/data/data is an external link to missing_master\.h5:/entry/data/data whose target"),
    ("external link to frames outside the folder", external_link_outside_frames, open_frames, FramesError,
     r"/entry/data/data is an external link .*outside .*allow_external=True"),
    ("external raw storage (frames)", external_raw_frames, open_frames, FramesError,
     r"/entry/data/data stores its values in external raw file\(s\) .*any_file\.bin"),
    ("virtual dataset reading a file outside the folder", virtual_outside_frames, open_frames, FramesError,
     r"/entry/data/data is a virtual dataset reading .*vds_source\.h5.*allow_external=True"),
    ("file truncated after open_frames(memory_map=False)", plain_frames, _truncate_after_open(False), FramesError,
     r"frames\.h5 is \d+ bytes long, \d+ when it was opened: the file was truncated"),
    ("file truncated under a memory map", plain_frames, _truncate_after_open(True), FramesError,
     r"frames\.h5 is \d+ bytes long, \d+ when it was opened: the file was truncated"),
    ("corrupt index of the C2 group (listing its members fails)", corrupt_c2_group_index, open_aps, ApsFileError,
     r"cannot list the members of .*r_results\.hdf:/xpcs/twotime/correlation_map \(RuntimeError.*corrupt"),
    ("corrupt 'units' attribute value (unknown string encoding)", _corrupt_units(9), open_aps, ApsFileError,
     r"attribute 'units' of .*r_results\.hdf:/entry/instrument/detector_1/frame_time \(TypeError"),
    ("corrupt 'units' attribute message (cannot tell if it exists)", _corrupt_units(-4), open_aps, ApsFileError,
     r"attribute 'units' of .*r_results\.hdf:/entry/instrument/detector_1/frame_time \(RuntimeError"),
]


@pytest.mark.parametrize(("description", "make_file", "call", "expected", "message"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_file_raises_a_named_error(tmp_path, description, make_file, call, expected, message):
    folder = tmp_path / "data"
    folder.mkdir()
    path = make_file(folder)
    with pytest.raises(expected, match=message):
        call(path)


@pytest.mark.parametrize("make_file", [external_raw_frames, virtual_outside_frames, external_link_outside_frames])
def test_allow_external_reads_trusted_frames(tmp_path, make_file):
    folder = tmp_path / "data"
    folder.mkdir()
    stack = open_frames(make_file(folder), allow_external=True)
    np.testing.assert_array_equal(stack.values, FRAMES)


def test_allow_external_reads_trusted_result_file(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    ds = open_aps(external_raw_c2(folder), allow_external=True)
    np.testing.assert_array_equal(ds.c2.values[0], np.full((N, N), 7.0))


def test_links_inside_the_folder_are_followed(tmp_path):
    """A sibling file (e.g. the unnormalised-G2 partner, a VDS master's data) is fine."""
    folder = tmp_path / "data"
    folder.mkdir()
    with h5py.File(folder / "frames_data.h5", "w") as s:
        s["d"] = FRAMES
    p, f = _frames(folder, data=False)
    f["/entry/data/data"] = h5py.ExternalLink("frames_data.h5", "/d")
    f.close()
    np.testing.assert_array_equal(open_frames(p).values, FRAMES)


def test_broken_mask_link_is_dropped_with_a_warning_and_a_note(tmp_path):
    p, f = _aps(tmp_path, c2=False)
    f["/xpcs/qmap/mask"] = h5py.ExternalLink("mask_partner.h5", "/mask")
    f.close()
    with pytest.warns(UserWarning, match=r"/xpcs/qmap/mask is a broken link to mask_partner\.h5:/mask"):
        ds = open_aps(p)
    assert "mask" not in ds
    assert "broken link" in ds.attrs["mask_note"]
    assert "g2" in ds  # the rest is read
