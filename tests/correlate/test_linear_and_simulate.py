"""Linear-lag g2 and the speckle simulator."""

import numpy as np
import pytest
from bruteforce_correlate import g2_bruteforce, small_setup

import xpcsnb.correlate as xc
from xpcsnb.core.g2 import validate_g2
from xpcsnb.correlate import CorrelatorError
from xpcsnb.correlate.simulate import SimulationError


@pytest.mark.parametrize("normalization", ["symmetric", "ratio"])
def test_g2_linear_equals_bruteforce(normalization):
    frames, part, _, _ = small_setup(n_frames=300)
    ds = xc.g2_linear(frames, part, max_lag=40, normalization=normalization, progress=False)
    ref, ref_err = g2_bruteforce(frames.values, part.labels, [(0, j) for j in range(1, 41)], normalization)
    np.testing.assert_allclose(ds.g2.values, ref, rtol=1e-12)
    np.testing.assert_allclose(ds.g2_err.values, ref_err, rtol=1e-10)
    assert ds.attrs["ladder"] == "linear"
    validate_g2(ds)
    np.testing.assert_allclose(ds.tau.values, np.arange(1, 41) * 1e-3)
    with pytest.raises(CorrelatorError, match="fewer frames than lags"):
        xc.g2_linear(frames, part, max_lag=300, progress=False)


def test_simulator_is_seeded_and_has_the_stated_statistics():
    q = np.full((30, 30), 0.01)
    a = xc.simulate_frames(400, q, D=500.0, frame_time=1e-3, mean_count=3.0, n_modes=2, seed=5)
    b = xc.simulate_frames(400, q, D=500.0, frame_time=1e-3, mean_count=3.0, n_modes=2, seed=5)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.values.mean() == pytest.approx(3.0, rel=0.03)
    assert a.attrs["beta"] == 0.5 and a.attrs["D"] == 500.0
    # Γ = D q² = 0.05 /s·… per frame: 500 · 1e-4 · 1e-3 = 5e-5 → essentially frozen speckle;
    # g2(lag 1) = 1 + β within noise, and Var/mean² of the counts = β + 1/mean (Poisson)
    x = a.values.astype(float)
    assert np.mean(x[1:] * x[:-1]) / np.mean(x) ** 2 == pytest.approx(1.5, abs=0.04)
    c = xc.simulate_frames(400, q, D=5e5, frame_time=1e-3, mean_count=3.0, seed=5).values.astype(float)
    g2_1 = np.mean(c[1:] * c[:-1]) / np.mean(c) ** 2  # Γ = 0.05 per frame
    assert g2_1 == pytest.approx(1 + 0.5 * np.exp(-0.1), abs=0.04)


def test_expected_g2_level_smearing():
    part = xc.from_labels(np.ones((2, 2), int))
    q = np.full((2, 2), 1.0)
    e0 = xc.expected_g2(part, q, [8], D=0.1, frame_time=1.0, level=0)
    e1 = xc.expected_g2(part, q, [8], D=0.1, frame_time=1.0, level=1)
    manual = 1 + 0.5 * (0.25 * np.exp(-0.2 * 7) + 0.5 * np.exp(-0.2 * 8) + 0.25 * np.exp(-0.2 * 9))
    assert e0[0, 0] == pytest.approx(1 + 0.5 * np.exp(-1.6))
    assert e1[0, 0] == pytest.approx(manual)


def test_simulator_rejects_bad_parameters():
    q = np.zeros((4, 4))
    with pytest.raises(SimulationError, match="n_frames"):
        xc.simulate_frames(1, q, D=1.0, frame_time=1.0)
    with pytest.raises(SimulationError, match="n_modes"):
        xc.simulate_frames(10, q, D=1.0, frame_time=1.0, n_modes=0)
    with pytest.raises(SimulationError, match="mean_count"):
        xc.simulate_frames(10, q, D=1.0, frame_time=1.0, mean_count=-1.0)
    with pytest.raises(SimulationError, match="q_map"):
        xc.simulate_frames(10, np.zeros(4), D=1.0, frame_time=1.0)
