"""The APS path table is the single source of HDF5 paths; the aps8idi package's split modules."""

from __future__ import annotations

import ast
from importlib.resources import files
from pathlib import Path

import h5py
import numpy as np
import pytest

import xpcsnb.io
from xpcsnb.io import frames as frames_mod
from xpcsnb.io.aps8idi import PATHS, open_aps, open_g2, read_g2
from xpcsnb.io.aps8idi.meta import time_step_attrs
from xpcsnb.io.aps8idi.paths import paths_of
from xpcsnb.io.frames import open_frames

IO = Path(str(files(xpcsnb.io)))
ROOTS = ("/entry", "/xpcs", "/exchange", "/measurement")


def _path_literals(source: str) -> list[str]:
    """String constants (f-string parts included) that spell an HDF5 path of an APS layout."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if any(text.startswith(r) for r in ROOTS) or any(f" {r}/" in text for r in ROOTS):
                out.append(text)
    return out


@pytest.mark.parametrize("module", sorted(
    [p for p in (IO / "aps8idi").glob("*.py") if p.name != "paths.py"]
    + [IO / "frames.py", IO / "backend.py", IO / "h5map.py", IO / "h5safe.py", IO / "qmap.py"]),
    ids=lambda p: p.name)
def test_no_module_spells_an_aps_path_outside_the_table(module):
    assert _path_literals(module.read_text(encoding="utf-8")) == []


def test_the_table_spells_the_paths():
    assert _path_literals((IO / "aps8idi" / "paths.py").read_text(encoding="utf-8"))  # the detector


def test_frames_reader_uses_the_table():
    assert frames_mod.DEFAULT_DATASET == paths_of("frames")[0]
    assert frames_mod._FRAME_TIME_PATHS == paths_of("t0")
    assert frames_mod._EXPOSURE_PATHS == paths_of("count_time")


@pytest.mark.parametrize("t0_path", paths_of("t0"))
def test_open_frames_reads_every_frame_time_path_of_the_table(tmp_path, t0_path):
    p = tmp_path / "f.h5"
    with h5py.File(p, "w") as f:
        f[paths_of("frames")[0]] = np.zeros((4, 3, 2), np.uint16)
        f[t0_path] = 2.5e-3
    stack = open_frames(p)
    assert stack.attrs["frame_time_source"] == t0_path
    assert stack.attrs["frame_time"] == pytest.approx(2.5e-3)


@pytest.mark.parametrize("module", sorted((IO / "aps8idi").glob("*.py")), ids=lambda p: p.name)
def test_split_modules_stay_small(module):
    assert len(module.read_text(encoding="utf-8").splitlines()) <= 400


def test_every_table_entry_has_paths():
    for key, sources in PATHS.items():
        assert sources and all(s.path.startswith("/") for s in sources), key


def test_one_time_step_block_for_both_analyses(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8), twotime_stride=2, twotime_avg=3,
                        multitau_stride=1, multitau_avg=2)
    with h5py.File(p, "r") as f:
        dt2, a2 = time_step_attrs(f, "twotime")
        dtm, am = time_step_attrs(f, "multitau")
    assert dt2 == pytest.approx(1e-3 * 6) and a2 == {"twotime_dt": dt2, "twotime_stride": 2, "twotime_avg": 3}
    assert dtm == pytest.approx(1e-3 * 2) and am == {"multitau_dt": dtm, "multitau_stride": 1, "multitau_avg": 2}
    ds = open_aps(p)
    for key, value in {**a2, **am}.items():
        assert ds.attrs[key] == value
    np.testing.assert_allclose(ds.t1.values, dt2 * np.arange(8))
    np.testing.assert_allclose(ds.tau.values, ds.delay.values * dtm)
    assert read_g2 is open_g2  # the former name


def test_missing_timing_is_said_once_per_analysis(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8), frame_time=None)
    with h5py.File(p, "r") as f:
        dt, attrs = time_step_attrs(f, "twotime")
    assert dt is None and attrs["twotime_t"].startswith("not available: missing frame time")


def test_read_g2_matches_open_aps(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8))
    g2 = read_g2(p)
    full = open_aps(p)
    np.testing.assert_array_equal(g2.g2.values, full.g2.values)
    np.testing.assert_array_equal(g2.q.values, full.q.values)
    np.testing.assert_array_equal(g2.tau.values, full.tau.values)
    assert "c2" not in g2


def test_read_g2_without_g2_says_so(tmp_path, aps):
    p = aps.write_nexus(tmp_path / "A_results.hdf", c2=aps.c2_set([2], 8), with_multitau=False)
    with pytest.raises(xpcsnb.io.ApsFileError, match="holds no multi-tau g2"):
        read_g2(p)
