"""Bad input to the correlators and to XSVS: each row is input → expected error.

Every call must fail fast with an :class:`~xpcsnb.core.errors.XpcsError` subclass whose
message names the input and says what to do; nothing is accepted silently. The data are
tiny (20 frames of 8 × 8 pixels) and the two-time rows take the sparse (SciPy) path, so
nothing is compiled.
"""

import numpy as np
import pytest
import xarray as xr

from xpcsnb import xsvs
from xpcsnb.core.errors import CorrelatorError, FramesError, PartitionError, XpcsError, XsvsError
from xpcsnb.core.frames import frames_from_array
from xpcsnb.core.partition import Geometry, from_labels, partition
from xpcsnb.correlate import c2_at_q, g2_linear, multitau, multitau_ladder, simulate_frames, two_time
from xpcsnb.correlate.simulate import SimulationError

RNG = np.random.default_rng(0)
COUNTS = RNG.poisson(2.0, (20, 8, 8)).astype(np.uint16)
FRAMES = frames_from_array(COUNTS, frame_time=1e-3)
LABELS = np.repeat([[1, 1, 1, 1, 2, 2, 2, 2]], 8, axis=0)
GEO = Geometry(shape=(8, 8), beam_center=(0.0, 0.0), distance=5.0, pixel_size=75e-6, energy=10.0)
RINGS = partition(GEO.q_map(), np.linspace(0.0, GEO.q_map().max() * 1.001, 3))  # 2 rings, q < 0.01 1/Å
SERIES = {1e-3: COUNTS.astype(np.int64), 2e-3: COUNTS.astype(np.int64)}


def _frames(fill_at=None, value=None, dtype=float):
    x = COUNTS.astype(dtype)
    if fill_at is not None:
        x[fill_at] = value
    return frames_from_array(x, frame_time=1e-3)


def _two_time(frames=FRAMES, rois=RINGS, **kw):
    return two_time(frames, rois, progress=False, **{"sparse": True, **kw})


def _visibility(series=None, rois=LABELS, **kw):
    return xsvs.visibility(SERIES if series is None else series, rois, progress=False, **kw)


def _hot_pixel():
    hot = COUNTS.astype(np.int64)
    hot[3, 2, 5] = 2**31
    return {1e-3: hot}


def _vis_ok():
    return _visibility()


CASES = [
    # --- correlators: q selection -------------------------------------------------
    ("two_time q far above every ring", lambda: _two_time(q=10.0), CorrelatorError, r"no q ring holds q=10 "),
    ("two_time q = NaN", lambda: _two_time(q=np.nan), CorrelatorError, r"q must be a finite .*> 0"),
    ("two_time q = 0", lambda: _two_time(q=0.0), CorrelatorError, r"q must be a finite"),
    ("two_time q as text", lambda: _two_time(q="0.005"), CorrelatorError, r"q must be a finite"),
    ("two_time q without q values on the ROIs", lambda: _two_time(rois=LABELS, q=0.005), CorrelatorError,
     "carry no q"),
    ("c2_at_q far from the rings of a result", lambda: c2_at_q(_two_time(), 1.0), CorrelatorError,
     r"no q ring holds q=1 "),
    ("c2_at_q beyond half the spacing (no edges)",
     lambda: c2_at_q(_two_time(rois=from_labels(LABELS, q=[0.01, 0.02])), 0.03),
     CorrelatorError, r"no q ring at q=0.03 .*tolerance"),
    ("two_time select and q together", lambda: _two_time(q=0.005, select=[1]), CorrelatorError, "not both"),
    ("two_time select a fractional label", lambda: _two_time(select=[1.5]), CorrelatorError, r"select must hold"),
    ("two_time select a missing label", lambda: _two_time(select=[3]), CorrelatorError, r"1 … 2"),
    # --- correlators: frames -----------------------------------------------------------
    ("NaN in an ROI pixel", lambda: g2_linear(_frames((4, 1, 1), np.nan), LABELS, progress=False),
     CorrelatorError, r"frame\(s\) \[4\] have NaN"),
    ("negative count in an ROI pixel", lambda: _two_time(_frames((6, 2, 2), -1)), CorrelatorError,
     r"negative counts .*frame\(s\) \[6\]"),
    ("frames of 2 dims", lambda: g2_linear(COUNTS[0], LABELS, frame_time=1e-3), FramesError, "3-D"),
    ("frames with other dims", lambda: g2_linear(FRAMES.rename(frame="time"), LABELS), FramesError, "dims"),
    ("plain array without frame_time", lambda: g2_linear(COUNTS, LABELS), FramesError, "frame_time"),
    ("negative frame_time", lambda: g2_linear(COUNTS, LABELS, frame_time=-1.0), FramesError,
     r"frame_time must be finite and > 0"),
    ("complex frames", lambda: g2_linear(COUNTS.astype(complex), LABELS, frame_time=1e-3), FramesError,
     "real numbers"),
    ("a Dataset instead of frames", lambda: g2_linear(FRAMES.to_dataset(), LABELS), FramesError, "Dataset"),
    # --- correlators: ROIs and mask --------------------------------------------------
    ("ROI map of another shape", lambda: g2_linear(FRAMES, LABELS[:, :6]), PartitionError,
     r"ROI map has shape \(8, 6\)"),
    ("ROI label without pixel", lambda: g2_linear(FRAMES, np.where(LABELS == 2, 3, LABELS)), PartitionError,
     r"label\(s\) \[2\] have no"),
    ("all-zero ROI map", lambda: g2_linear(FRAMES, 0 * LABELS), PartitionError, "no ROI"),
    ("label 2**31 - 1 on one pixel", lambda: g2_linear(FRAMES, np.where(LABELS == 2, 2**31 - 1, LABELS)),
     PartitionError, "go up to 2147483647"),
    ("fractional labels", lambda: g2_linear(FRAMES, LABELS + 0.5), PartitionError, "integers"),
    ("mask of another shape", lambda: g2_linear(FRAMES, LABELS, mask=np.ones((8, 7), bool)), PartitionError,
     r"mask has shape \(8, 7\)"),
    ("mask that empties an ROI", lambda: g2_linear(FRAMES, from_labels(LABELS), mask=LABELS == 1),
     PartitionError, r"\[2\] have no \(unmasked\) pixel"),
    ("a Dataset as ROIs", lambda: g2_linear(FRAMES, RINGS.to_dataset()), PartitionError, "Dataset"),
    # --- correlators: parameters ---------------------------------------------------------
    ("two_time chunk 2.5", lambda: _two_time(chunk=2.5), CorrelatorError, "chunk must be an integer"),
    ("two_time chunk True", lambda: _two_time(chunk=True), CorrelatorError, "chunk must be an integer"),
    ("two_time average 0", lambda: _two_time(average=0), CorrelatorError, "average must be an integer >= 1"),
    ("two_time average not dividing N", lambda: _two_time(average=3), CorrelatorError, "multiple of average"),
    ("two_time sparse 'yes'", lambda: _two_time(sparse="yes"), CorrelatorError, "sparse must be"),
    ("g2_linear max_lag NaN", lambda: g2_linear(FRAMES, LABELS, max_lag=np.nan), CorrelatorError,
     "max_lag must be an integer"),
    ("g2_linear max_lag >= N", lambda: g2_linear(FRAMES, LABELS, max_lag=20), CorrelatorError,
     "fewer frames than lags"),
    ("g2_linear unknown normalization", lambda: g2_linear(FRAMES, LABELS, normalization="boost"),
     CorrelatorError, "unknown normalization"),
    ("multitau chunk not a power of two", lambda: multitau(FRAMES, LABELS, chunk=48), CorrelatorError,
     "power of two"),
    ("multitau odd num_bufs", lambda: multitau(FRAMES, LABELS, num_bufs=7), CorrelatorError, "num_bufs"),
    ("multitau unknown ladder", lambda: multitau(FRAMES, LABELS, ladder="boost"), CorrelatorError,
     "unknown ladder"),
    ("multitau block 0", lambda: multitau(FRAMES, LABELS, block=0), CorrelatorError, "block must be"),
    # --- XSVS -----------------------------------------------------------------------------
    ("one hot pixel of 2**31 counts", lambda: _visibility(_hot_pixel()), XsvsError,
     r"2147483648 photons \(frame 3, pixel y=2, x=5\).*stop at 65536 photons.*mask"),
    ("k_max far beyond memory", lambda: _visibility(k_max=2**40), XsvsError, r"k_max=1099511627776.*GiB"),
    ("k_max NaN", lambda: _visibility(k_max=np.nan), XsvsError, "k_max must be an integer >= 2"),
    ("count above k_max", lambda: _visibility(k_max=2), XsvsError, r"> k_max=2"),
    ("ratio_k negative", lambda: _visibility(ratio_k=-1), XsvsError, "ratio_k must be"),
    ("block_size 0.5", lambda: _visibility(block_size=0.5), XsvsError, "block_size must be"),
    ("flat_groups 0", lambda: _visibility(flat_groups=0), XsvsError, "flat_groups must be"),
    ("beta_max NaN", lambda: _visibility(beta_max=np.nan), XsvsError, "beta_max must be"),
    ("NaN counts", lambda: _visibility({1e-3: _frames((2, 3, 3), np.nan).values}), XsvsError, "NaN"),
    ("negative counts", lambda: _visibility({1e-3: _frames((2, 3, 3), -2).values}), XsvsError, "negative"),
    ("flat-fielded (non-integer) counts", lambda: _visibility({1e-3: COUNTS * 0.5 + 0.25}), XsvsError,
     "non-integer"),
    ("stack of 2 dims", lambda: _visibility({1e-3: COUNTS[0]}), XsvsError, "3-D"),
    ("complex stack", lambda: _visibility({1e-3: COUNTS.astype(complex)}), XsvsError, "real numbers"),
    ("a single frame", lambda: _visibility({1e-3: COUNTS[:1]}), XsvsError, "at least 2"),
    ("stack dims (frame, x, y)", lambda: _visibility({1e-3: xr.DataArray(COUNTS, dims=("frame", "x", "y"))}),
     XsvsError, r"dims \(frame, y, x\)"),
    ("exposure times not given", lambda: _visibility([COUNTS, COUNTS]), XsvsError, "needs exposure"),
    ("exposure time NaN", lambda: _visibility([COUNTS, COUNTS], exposure=[1e-3, np.nan]), XsvsError, "> 0"),
    ("ROI label without pixel", lambda: _visibility(rois=np.where(LABELS == 2, 3, LABELS)), XsvsError,
     r"\[2\]"),
    ("ROI map of another shape", lambda: _visibility(rois=LABELS[:6]), XsvsError, r"shape \(6, 8\)"),
    ("mask of another shape", lambda: _visibility(mask=np.ones((8, 7), bool)), XsvsError, "mask has shape"),
    ("flat field with a zero", lambda: _visibility(flat_field=np.where(LABELS == 1, 0.0, 1.0)), XsvsError,
     "flat_field must be finite and > 0"),
    ("fit_dynamics unknown model", lambda: xsvs.fit_dynamics(_vis_ok(), model="cumulant"), XsvsError, "model"),
    ("fit_dynamics joint without q", lambda: xsvs.fit_dynamics(_vis_ok(), joint=True), XsvsError, "q > 0"),
    ("fit_dynamics unknown estimator", lambda: xsvs.fit_dynamics(_vis_ok(), estimator="beta_fast"), XsvsError,
     "beta_fast"),
    ("fit_dynamics stretch_bounds reversed", lambda: xsvs.fit_dynamics(_vis_ok(), stretch_bounds=(1.5, 0.5)),
     XsvsError, "stretch_bounds must be"),
    ("fit_dynamics q_exponent NaN", lambda: xsvs.fit_dynamics(_vis_ok(), joint=True, q_exponent=np.nan),
     XsvsError, "q_exponent must be"),
    ("nb_pmf of a negative count", lambda: xsvs.nb_pmf(np.array([1, -1]), 1.0, 0.5), XsvsError,
     r"non-negative integer photon counts, got \[-1\]"),
    # --- simulators and ladders (public helpers) ---------------------------------------------
    ("simulate_frames with D = NaN", lambda: simulate_frames(4, GEO, D=np.nan, frame_time=1e-3), SimulationError,
     "D must be finite"),
    ("multitau_ladder num_bufs NaN", lambda: multitau_ladder(100, np.nan), CorrelatorError,
     "num_bufs must be an integer"),
    ("multitau_ladder num_levels 0", lambda: multitau_ladder(100, 8, num_levels=0), CorrelatorError,
     "num_levels must be an integer >= 1"),
]


@pytest.mark.parametrize("description, call, expected, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error(description, call, expected, message):
    assert issubclass(expected, XpcsError)
    with pytest.raises(expected, match=message):
        call()
