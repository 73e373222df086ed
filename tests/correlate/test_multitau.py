"""Multi-tau g2 against an independent brute force, streaming, physics and bad inputs."""

from functools import lru_cache

import h5py
import numpy as np
import pytest
from bruteforce_correlate import g2_bruteforce, small_setup

import xpcsnb.correlate as xc
from xpcsnb.core.g2 import validate_g2
from xpcsnb.correlate import CorrelatorError, PartitionError
from xpcsnb.io.frames import frames_from_array, open_frames


@lru_cache
def setup():
    return small_setup(n_frames=611)


def _pairs(ds):
    return list(zip(ds.level.values, ds.lag.values >> ds.level.values))


@pytest.mark.parametrize(
    "ladder, normalization, chunk, levels_per_stage",
    [("skbeam", "symmetric", 64, 2), ("aps", "symmetric", 64, 3), ("aps", "ratio", 8, 1), ("skbeam", "ratio", 16, 3)],
)
def test_multitau_equals_bruteforce(ladder, normalization, chunk, levels_per_stage):
    frames, part, _, _ = setup()
    ds = xc.multitau(frames, part, ladder=ladder, normalization=normalization, chunk=chunk,
                     levels_per_stage=levels_per_stage, progress=False)
    ref, ref_err = g2_bruteforce(frames.values, part.labels, _pairs(ds), normalization)
    np.testing.assert_allclose(ds.g2.values, ref, rtol=1e-12)
    np.testing.assert_allclose(ds.g2_err.values, ref_err, rtol=1e-10)
    assert ds.lag.values.max() < frames.shape[0]
    assert ds.tau.attrs["units"] == "s"
    np.testing.assert_allclose(ds.tau.values, ds.lag.values * 1e-3)
    np.testing.assert_allclose(ds.q.values, part.q)
    validate_g2(ds)  # the one g2 schema of the data model
    assert ds.g2.dims == ("roi", "tau") and ds.roi.values.tolist() == list(range(1, part.n_roi + 1))
    # intensity trace = mean counts per pixel per frame
    np.testing.assert_allclose(ds.intensity.values[0], frames.values[:, part.labels == 1].mean(axis=1))


def test_label_map_and_mask_inputs():
    frames, part, _, _ = setup()
    mask = np.ones(part.shape, bool)
    mask[:, :5] = False
    ds = xc.multitau(frames.values, part.labels, frame_time=1e-3, mask=mask, progress=False)
    labels = np.where(mask, part.labels, 0)
    ref, _ = g2_bruteforce(frames.values, labels, _pairs(ds))
    np.testing.assert_allclose(ds.g2.values, ref, rtol=1e-12)
    assert "q" not in ds.coords and "phi" not in ds.coords  # a bare label map carries no q, phi
    validate_g2(ds)


def test_streamed_hdf5_equals_in_memory(tmp_path):
    frames, part, _, _ = setup()
    p = tmp_path / "stack.h5"
    with h5py.File(p, "w") as f:
        f["/entry/data/data"] = frames.values
        f["/entry/instrument/detector_1/frame_time"] = 1e-3
    lazy = open_frames(p, chunk_frames=50)
    a = xc.multitau(lazy, part, progress=False)
    b = xc.multitau(frames, part, progress=False)
    np.testing.assert_array_equal(a.g2.values, b.g2.values)
    np.testing.assert_array_equal(a.g2_err.values, b.g2_err.values)
    assert a.attrs["source"] == str(p)


def test_known_g1_is_recovered_within_error_bars():
    frames, part, q, D = small_setup(n_frames=3000, size=48, n_q=3, mean_count=2.0, seed=11)
    ds = xc.multitau(frames, part, progress=False)
    expected = xc.expected_g2(part, q, ds.lag.values, D=D, frame_time=1e-3, mean_count=2.0, n_modes=2,
                              level=ds.level.values)
    z = (ds.g2.values - expected) / ds.g2_err.values
    assert np.mean(np.abs(z) < 3) > 0.95
    assert abs(np.mean(z)) < 0.5
    # the contrast and the decay are really there: g2(lag 1) near 1 + β e^{-2Γ} falls to 1
    assert np.all(ds.g2.values[:, 0] > 1.25)
    assert np.all(ds.g2.values[:, -1] < 1.1)


def test_bad_inputs_give_clear_errors():
    frames, part, _, _ = setup()
    with pytest.raises(PartitionError, match="shape"):
        xc.multitau(frames, part, mask=np.ones((3, 3), bool), progress=False)
    labels = part.labels.copy()
    labels[labels == 2] = 5  # labels 2..4 empty
    with pytest.raises(PartitionError, match="no .*pixel"):
        xc.multitau(frames, labels, progress=False)
    neg = frames.values.astype(np.int16)
    neg[7, part.labels == 1] = -1
    with pytest.raises(CorrelatorError, match=r"negative counts .*frame\(s\) \[7\]"):
        xc.multitau(frames_from_array(neg, frame_time=1e-3), part, progress=False)
    bad = frames.values.astype(np.float64)
    bad[100] = np.nan
    with pytest.raises(CorrelatorError, match=r"frame\(s\) \[100\] have NaN"):
        xc.multitau(frames_from_array(bad, frame_time=1e-3), part, progress=False)
    with pytest.raises(CorrelatorError, match="fewer frames than lags"):
        xc.multitau(frames[:5], part, progress=False)
    with pytest.raises(CorrelatorError, match="normalization"):
        xc.multitau(frames, part, normalization="mean", progress=False)
    with pytest.raises(CorrelatorError, match="power of two"):
        xc.multitau(frames, part, chunk=48, progress=False)
    dark = np.zeros((40,) + frames.shape[1:], dtype=np.uint16)
    with pytest.raises(CorrelatorError, match="no counts"):
        xc.multitau(frames_from_array(dark, frame_time=1e-3), part, progress=False)


def test_nan_outside_the_rois_is_allowed():
    frames, part, _, _ = setup()
    x = frames.values[:200].astype(np.float32)
    x[:, part.labels == 0] = np.nan  # e.g. detector gaps, masked
    ds = xc.multitau(frames_from_array(x, frame_time=1e-3), part, progress=False)
    ref, _ = g2_bruteforce(frames.values[:200], part.labels, _pairs(ds))
    np.testing.assert_allclose(ds.g2.values, ref, rtol=1e-12)
