"""Legitimate controls: correct inputs across the public API run without error AND without warnings.

The bad-input tables of this folder check that every wrong input is refused clearly;
this table checks the other half of issue 19: no legitimate input is refused, and none
draws a warning (each row runs under ``warnings.simplefilter("error")``). Each row is
``(description, call)``; ``call(tmp_path)`` does what a user would and returns the result,
which the row's check (if any) inspects. The data are tiny; the two-time correlations
take the sparse (SciPy) path, and only three rows compile an NLSQ fit.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

from xpcsnb import xsvs
from xpcsnb.core.frames import frames_from_array
from xpcsnb.core.g2 import g2
from xpcsnb.core.partition import Geometry, from_labels, partition
from xpcsnb.core.twotime import twotime
from xpcsnb.correlate import g2_from_c2, g2_linear, multitau, two_time
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.priors import resolve_priors
from xpcsnb.fit.rates import fit_rates
from xpcsnb.fit.result import load_nlsq, save_nlsq
from xpcsnb.forward import evaluate, simulate
from xpcsnb.io.aps8idi import open_aps, open_twotime
from xpcsnb.io.frames import open_frames
from xpcsnb.io.results import load_result, save_result
from xpcsnb.io.rigaku import encode_rigaku, open_rigaku
from xpcsnb.models.parameters import Prior

#: every warning fails a control, including ResourceWarnings of unclosed files reported by the GC
pytestmark = pytest.mark.filterwarnings("error")

_spec = importlib.util.spec_from_file_location("io_writers", Path(__file__).parents[1] / "io" / "conftest.py")
io_writers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(io_writers)  # the APS file writers of tests/io/conftest.py

RNG = np.random.default_rng(7)
COUNTS = RNG.poisson(2.0, (24, 8, 8)).astype(np.uint16)
GEO = Geometry(shape=(8, 8), beam_center=(0.0, 0.0), distance=5.0, pixel_size=75e-6, energy=10.0)
RINGS = partition(GEO.q_map(), np.linspace(0.0, GEO.q_map().max() * 1.001, 3))  # two q rings
STATIC = {"D0": 1.0e4, "alpha": 0.0, "D_offset": 0.0}
T = 0.25 * np.arange(16)


def _c2(n: int = 8, n_phi: int = 2) -> np.ndarray:
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    return np.broadcast_to(1.0 + 0.3 * np.exp(-lag / 3.0), (n_phi, n, n)).copy()


def _small_static() -> xr.Dataset:
    return simulate("static", STATIC, T, phi=[0.0, 90.0], q=0.0054, contrast=0.3, offset=1.0, noise=0.005, seed=1)


def _frames_file(tmp: Path, dtype=np.uint32) -> Path:
    p = tmp / "frames.h5"
    with h5py.File(p, "w") as f:
        f["/entry/data/data"] = COUNTS.astype(dtype)
    return p


def _rigaku_file(tmp: Path) -> Path:
    frames = RNG.poisson(0.05, (30, 16, 24)).astype(np.uint16)
    frames[:, 0, 0] = 1
    p = tmp / "scan.bin"
    encode_rigaku(frames).astype("<u8").tofile(p)
    return p


def _saved_fit(tmp: Path) -> xr.Dataset:
    res = fit_nlsq(_small_static(), "static", fixed={"alpha": 0.0, "D_offset": 0.0})
    save_nlsq(res, tmp / "fit.nc")
    return load_nlsq(tmp / "fit.nc")


CONTROLS = [
    ("twotime with Unix timestamps t = 1.7e9 + 1 ms steps",
     lambda tmp: twotime(_c2(), t=1.7e9 + 1e-3 * np.arange(8), phi=[0.0, 90.0], q=0.005)),
    ("twotime with phi in whole degrees and dt in seconds",
     lambda tmp: twotime(_c2(n_phi=3), t=0.1 * np.arange(8), phi=[0.0, 45.0, 90.0], q=0.005)),
    ("twotime of one 2-D float32 matrix, frame units (dt = 1)",
     lambda tmp: twotime(_c2(n_phi=1)[0].astype(np.float32), t=np.arange(8.0), q=0.005)),
    ("twotime with one angle in radians-like range (a single sector centre near 0°)",
     lambda tmp: twotime(_c2(n_phi=1), t=np.arange(8.0), phi=[0.5], q=0.005)),
    ("frames with uint32 counts", lambda tmp: frames_from_array(COUNTS.astype(np.uint32), frame_time=1e-3)),
    ("multi-tau g2 of uint16 frames on q rings",
     lambda tmp: multitau(frames_from_array(COUNTS, frame_time=1e-3), RINGS, num_bufs=4, progress=False)),
    ("linear g2 of frames on integer labels",
     lambda tmp: g2_linear(frames_from_array(COUNTS, frame_time=1e-3), np.repeat([[1] * 4 + [2] * 4], 8, axis=0),
                           max_lag=5, progress=False)),
    ("two-time C2 of the ring holding q",
     lambda tmp: two_time(frames_from_array(COUNTS, frame_time=1e-3), RINGS, q=float(RINGS.q[0]), progress=False,
                          sparse=True)),
    ("g2 from a simulated C2", lambda tmp: g2_from_c2(_small_static())),
    ("the g2 schema with q, phi and errors",
     lambda tmp: g2(1.0 + 0.2 * np.exp(-np.outer([1.0, 2.0], np.arange(1, 6))), tau=np.arange(1, 6) * 1e-3,
                    q=[0.002, 0.004], g2_err=np.full((2, 5), 0.01), phi=[0.0, 0.0])),
    ("diffusive rate law Γ = D q²",
     lambda tmp: fit_rates(q=np.array([0.002, 0.004, 0.006]), gamma=2e4 * np.array([0.002, 0.004, 0.006]) ** 2,
                           gamma_err=np.full(3, 0.01), law="diffusive")),
    ("XSVS visibility of a valid two-exposure series",
     lambda tmp: xsvs.visibility({1e-3: COUNTS.astype(np.int64), 2e-3: COUNTS.astype(np.int64)},
                                 from_labels(np.repeat([[1] * 4 + [2] * 4], 8, axis=0)), progress=False)),
    ("simulate a multi-q Dataset", lambda tmp: simulate("static", STATIC, T, phi=[0.0, 90.0], q=[0.004, 0.006])),
    ("evaluate a model on a multi-q Dataset",
     lambda tmp: evaluate(simulate("static", STATIC, T, phi=[0.0], q=[0.004, 0.006]), "static",
                          {**STATIC, "contrast": 0.3, "offset": 1.0})),
    ("simulate laminar flow with a gap L", lambda tmp: simulate(
        "laminar_flow", {"D0": 1e4, "alpha": 0.0, "D_offset": 0.0, "gamma_dot_t0": 1e-3, "beta": 0.0,
                         "gamma_dot_t_offset": 0.0, "phi0": 0.0}, T, phi=[0.0, 90.0], L=2e6)),
    ("fit_nlsq with fixed parameters, saved and loaded", _saved_fit),
    ("fit_nlsq with (lower, upper) bounds and an initial value",
     lambda tmp: fit_nlsq(_small_static(), "static", bounds={"D0": (1e3, 1e5)}, initial={"D0": 2e4},
                          fixed={"D_offset": 0.0})),
    ("priors with their mass inside the bounds",
     lambda tmp: resolve_priors("static", ["D0"], [1e2], [1e5], priors={"D0": Prior("lognormal", np.log(1e4), 1.0)})),
    ("open_aps of a valid current-layout (NeXus) result file",
     lambda tmp: open_aps(io_writers.write_nexus(tmp / "A_results.hdf", c2=io_writers.c2_set([1, 3], 6)))),
    ("open_aps of a valid legacy result file",
     lambda tmp: open_aps(io_writers.write_legacy(tmp / "L_results.hdf", c2=io_writers.c2_set([1, 2], 6)))),
    ("open_twotime at a q of the file",
     lambda tmp: open_twotime(io_writers.write_nexus(tmp / "B_results.hdf", c2=io_writers.c2_set([1, 3], 6)),
                              q=0.002)),
    ("open_frames of uint32 HDF5 frames (memory map)",
     lambda tmp: open_frames(_frames_file(tmp), frame_time=1e-3).values),
    ("open_frames without a memory map", lambda tmp: open_frames(_frames_file(tmp, np.uint16), frame_time=1e-3,
                                                                 memory_map=False).values),
    ("open_rigaku with shape=", lambda tmp: open_rigaku(_rigaku_file(tmp), frame_time=1e-3, shape=(16, 24)).values),
    ("save_result / load_result of a g2 Dataset (checksummed)", lambda tmp: load_result(save_result(
        multitau(frames_from_array(COUNTS, frame_time=1e-3), RINGS, num_bufs=4, progress=False), tmp / "g2.nc",
        kind="g2"), kind="g2")),
]


@pytest.mark.parametrize("description, call", CONTROLS, ids=[c[0] for c in CONTROLS])
def test_legitimate_input_runs_without_error_or_warning(tmp_path, description, call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call(tmp_path)
    assert out is not None


def test_the_table_has_at_least_twenty_controls():
    assert len(CONTROLS) >= 20
