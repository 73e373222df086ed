"""Two-time correlations of 3 q rings × 3 φ sectors: multi-q Datasets, g2 cuts per (q, φ), real frame times."""

from functools import lru_cache

import numpy as np
import pytest
from bruteforce_correlate import c2_bruteforce, small_setup

import xpcsnb.correlate as xc
from xpcsnb.core.g2 import validate_g2
from xpcsnb.core.twotime import q_value, time_step, validate_twotime
from xpcsnb.correlate import CorrelatorError
from xpcsnb.io.frames import frames_from_array

FT = 1e-3  # frame time of small_setup


@lru_cache
def setup():
    frames, part, _, _ = small_setup(n_frames=80, n_q=3, n_phi=3)
    return frames, part, xc.two_time(frames, part, progress=False)


def _ring_means(part):
    rings = xc.twotime.roi_rings(part)
    return np.array([np.average(part.q[rings == g], weights=part.npix[rings == g]) for g in range(3)])


def test_c2_at_q_of_several_q_is_a_multi_q_dataset_of_the_rings():
    _, part, ds = setup()
    qm = _ring_means(part)
    mq = xc.c2_at_q(ds, [qm[0], qm[1] * 1.01, qm[2]])
    assert validate_twotime(mq) is mq
    assert mq.c2.dims == ("q", "phi", "t1", "t2") and mq.c2.shape == (3, 3, 80, 80)
    np.testing.assert_allclose(mq.q.values, qm, rtol=1e-12)
    assert mq.ring.values.tolist() == [0, 1, 2] and mq.q_requested.values[1] == pytest.approx(qm[1] * 1.01)
    # the sectors: each ROI's own angle, and their pixel-weighted mean over the rings
    np.testing.assert_allclose(mq.phi_roi.values, part.phi.reshape(3, 3), rtol=1e-12)
    w = part.npix.reshape(3, 3)
    z = (w * np.exp(1j * np.deg2rad(part.phi.reshape(3, 3)))).sum(0)  # circular mean
    np.testing.assert_allclose(mq.phi.values, np.rad2deg(np.angle(z)), rtol=1e-12, atol=1e-12)
    assert np.all(np.abs(mq.phi_roi.values - mq.phi.values) < 60.0)  # within half the sector spacing
    for a in range(3):
        one = xc.c2_at_q(ds, qm[a])
        np.testing.assert_array_equal(mq.c2.values[a], one.c2.values)
        assert q_value(mq.isel(q=a)) == one.attrs["q"]
        assert mq.roi_label.values[a].tolist() == one.attrs["rois"] and mq.npix.values[a].tolist() == one.attrs["npix"]
        r = mq.roi_label.values[a, 1]  # one (q, φ) ROI against the brute force
        np.testing.assert_allclose(mq.c2.values[a, 1], c2_bruteforce(setup()[0].values, part.labels, r), rtol=1e-12)
    every = xc.c2_at_q(ds, "all")
    np.testing.assert_array_equal(every.c2.values, mq.c2.values)
    assert np.all(np.isnan(every.q_requested.values))
    reordered = xc.c2_at_q(ds, [qm[2], qm[0]])  # the order of the request is kept
    assert reordered.ring.values.tolist() == [2, 0]
    np.testing.assert_array_equal(reordered.c2.values[0], mq.c2.values[2])


def test_two_time_with_several_q_correlates_only_those_rings():
    frames, part, ds = setup()
    qm = _ring_means(part)
    mq = xc.two_time(frames, part, q=[qm[0], qm[2]], progress=False)
    assert mq.c2.dims == ("q", "phi", "t1", "t2") and mq.ring.values.tolist() == [0, 2]
    np.testing.assert_array_equal(mq.c2.values, xc.c2_at_q(ds, [qm[0], qm[2]]).c2.values)
    np.testing.assert_array_equal(xc.two_time(frames, part, q="all", progress=False).c2.values,
                                  xc.c2_at_q(ds, "all").c2.values)


@pytest.mark.parametrize("q, match", [
    ("some", "a sequence of them or 'all'"),
    ([], "non-empty 1-D sequence"),
    ([[0.01]], "non-empty 1-D sequence"),
    ([np.nan, 0.01], "q must be a finite scattering vector > 0"),
    ([1e-9], "no q ring holds"),
])
def test_bad_q_lists_are_refused(q, match):
    _, _, ds = setup()
    with pytest.raises(CorrelatorError, match=match):
        xc.c2_at_q(ds, q)


def test_one_ring_twice_or_rings_with_other_angles_are_refused():
    _, part, ds = setup()
    qm = _ring_means(part)
    with pytest.raises(CorrelatorError, match="select the same ring 1"):
        xc.c2_at_q(ds, [qm[1], qm[1] * 1.001])
    phi = ds.phi.values.copy()
    phi[ds.ring.values == 2] += 70.0  # more than half the 120° sector spacing
    with pytest.raises(CorrelatorError, match="same phi sectors in every ring"):
        xc.c2_at_q(ds.assign_coords(phi=("roi", phi)), "all")
    with pytest.raises(CorrelatorError, match="returned by two_time"):
        xc.c2_at_q(xc.c2_at_q(ds, "all"), qm[0])


def test_g2_from_a_multi_q_dataset_has_one_roi_per_q_and_phi():
    _, part, ds = setup()
    mq = xc.c2_at_q(ds, "all")
    g = xc.g2_from_c2(mq)
    validate_g2(g)
    assert g.g2.dims == ("roi", "tau") and g.sizes["roi"] == 9 and g.roi.values.tolist() == list(range(9))
    np.testing.assert_allclose(g.q.values, np.repeat(mq.q.values, 3))
    np.testing.assert_allclose(g.phi.values, np.tile(mq.phi.values, 3))
    assert g.ring.values.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert g.roi_label.values.tolist() == mq.roi_label.values.ravel().tolist()
    # the same curves as the raw (roi, t1, t2) output, ROI by ROI
    raw = xc.g2_from_c2(ds)
    for k, label in enumerate(g.roi_label.values):
        np.testing.assert_allclose(g.g2.values[k], raw.g2.sel(roi=label).values, rtol=1e-12)
    one = xc.g2_from_c2(mq.isel(q=1))  # q from the scalar coordinate of a selected q
    np.testing.assert_allclose(one.q.values, mq.q.values[1])
    np.testing.assert_allclose(one.g2.values, g.g2.values[3:6], rtol=1e-12)
    aged = xc.g2_age_resolved(mq, n_ages=2)
    validate_g2(aged)
    assert aged.g2.shape == (2, 9, 79)
    np.testing.assert_allclose(xc.g2_age_resolved(mq, n_ages=1).g2.values[0], g.g2.values, rtol=1e-12)


def test_two_time_keeps_the_real_frame_times():
    frames, part, ds = setup()
    qm = _ring_means(part)
    late = xc.two_time(frames[40:], part, progress=False)  # a window keeps its age: 40 frames in
    np.testing.assert_allclose(late.t1.values, FT * (40 + np.arange(40)), rtol=1e-12)
    assert late.t1.values[0] == pytest.approx(0.04) and time_step(late) == pytest.approx(FT)
    plain = xc.two_time(frames.values[40:], part, frame_time=FT, progress=False)  # no t coordinate: from 0
    np.testing.assert_array_equal(late.c2.values, plain.c2.values)
    assert plain.t1.values[0] == 0.0
    started = frames.assign_coords(t=frames.t + 3600.0)  # a stack that carries its start offset
    avg = xc.two_time(started, part, average=4, q=[qm[0], qm[1]], progress=False)
    np.testing.assert_allclose(avg.t1.values, 3600.0 + 4 * FT * np.arange(20), rtol=1e-12)
    assert time_step(avg) == pytest.approx(4 * FT) and "dt" not in avg.attrs
    np.testing.assert_allclose(xc.c2_at_q(xc.two_time(started, part, progress=False), qm[2]).t1.values,
                               3600.0 + FT * np.arange(80), rtol=1e-12)
    g = xc.g2_from_c2(avg)  # lags stay lags
    np.testing.assert_allclose(g.tau.values, 4 * FT * np.arange(1, 20), rtol=1e-9)


def test_strided_frames_are_refused_unless_their_period_is_set():
    frames, part, _ = setup()
    strided = frames.isel(frame=slice(None, None, 2))
    with pytest.raises(CorrelatorError, match=r"steps by 0.002 s .* frame_time is 0.001 s"):
        xc.two_time(strided, part, progress=False)
    ok = xc.two_time(strided.assign_attrs(frame_time=2 * FT), part, select=[1], progress=False)
    assert time_step(ok) == pytest.approx(2 * FT) and ok.t1.values[0] == 0.0
    np.testing.assert_allclose(ok.c2.values[0], c2_bruteforce(frames.values[::2], part.labels, 1), rtol=1e-12)
    gappy = frames_from_array(frames.values[:10], frame_time=FT)
    gappy = gappy.assign_coords(t=("frame", FT * np.array([0, 1, 2, 3, 5, 6, 7, 8, 9, 10.0])))
    with pytest.raises(CorrelatorError, match="strided or have gaps"):
        xc.two_time(gappy, part, progress=False)
