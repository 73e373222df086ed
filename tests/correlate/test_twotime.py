"""Two-time C2 against an independent brute force, the data model, cuts and bad inputs."""

from functools import lru_cache

import h5py
import numpy as np
import pytest
from bruteforce_correlate import c2_bruteforce, level_frames, small_setup

import xpcsnb.correlate as xc
from xpcsnb.correlate import CorrelatorError
from xpcsnb.core.g2 import valid_points, validate_g2
from xpcsnb.io.frames import frames_from_array, open_frames
from xpcsnb.core.twotime import time_step, validate_twotime


@lru_cache
def setup():
    return small_setup(n_frames=240, n_q=2, n_phi=3)


def test_two_time_equals_bruteforce_full_symmetric():
    frames, part, _, _ = setup()
    ds = xc.two_time(frames, part, chunk=50, progress=False)
    assert ds.c2.dims == ("roi", "t1", "t2") and ds.sizes["roi"] == part.n_roi
    for r in range(part.n_roi):
        np.testing.assert_allclose(ds.c2.values[r], c2_bruteforce(frames.values, part.labels, r + 1), rtol=1e-12)
    np.testing.assert_array_equal(ds.c2.values, np.swapaxes(ds.c2.values, 1, 2))
    assert ds.t1.attrs["units"] == "s" and time_step(ds) == pytest.approx(1e-3, rel=1e-12) and "dt" not in ds.attrs


def test_sparse_gram_path_equals_dense_and_bruteforce():
    """Photon-sparse frames (≈ 0.2 % occupancy): the CSR Gram path, chosen by "auto" on the CPU,
    gives the brute-force C2, as does the dense JAX path."""
    from xpcsnb.correlate.gram import SPARSE_OCCUPANCY, use_sparse

    _, part, _, _ = setup()
    rng = np.random.default_rng(3)
    x = rng.poisson(0.0015, (300,) + part.shape).astype(np.uint16)
    x[:, part.labels > 0] += (rng.random((300, int((part.labels > 0).sum()))) < 0.0005).astype(np.uint16)
    pix = x[:, part.labels == 1]
    occupancy = np.count_nonzero(pix) / pix.size
    assert occupancy < SPARSE_OCCUPANCY and use_sparse("auto", lambda: occupancy)
    assert not use_sparse("auto", lambda: 1.0) and use_sparse(True, lambda: 1.0) and not use_sparse(False, lambda: 0.0)
    fr = frames_from_array(x, frame_time=1e-3)
    for mode in ("auto", True, False):
        ds = xc.two_time(fr, part, select=[1], average=10, progress=False, sparse=mode)
        summed = x.reshape(30, 10, *part.shape).sum(axis=1)
        np.testing.assert_allclose(ds.c2.values[0], c2_bruteforce(summed, part.labels, 1), rtol=1e-12)
    sparse_ds = xc.two_time(fr, part, select=[1, 2], average=10, progress=False, sparse=True)
    dense_ds = xc.two_time(fr, part, select=[1, 2], average=10, progress=False, sparse=False)
    np.testing.assert_allclose(sparse_ds.c2.values, dense_ds.c2.values, rtol=1e-12)


def test_float_frames_use_float64_path():
    frames, part, _, _ = setup()
    x = frames.values.astype(np.float64) * 0.5  # non-integer counts
    ds = xc.two_time(frames_from_array(x, frame_time=1e-3), part, select=[2], progress=False)
    np.testing.assert_allclose(ds.c2.values[0], c2_bruteforce(x, part.labels, 2), rtol=1e-12)


def test_average_frames():
    frames, part, _, _ = setup()
    ds = xc.two_time(frames, part, select=[1, 4], average=4, chunk=30, progress=False)
    summed = level_frames(frames.values, 2)
    np.testing.assert_allclose(ds.c2.values[1], c2_bruteforce(summed, part.labels, 4), rtol=1e-12)
    assert time_step(ds) == pytest.approx(4e-3)
    with pytest.raises(CorrelatorError, match="multiple of average"):
        xc.two_time(frames[:239], part, average=4, progress=False)


def test_streamed_equals_in_memory(tmp_path):
    frames, part, _, _ = setup()
    p = tmp_path / "s.h5"
    with h5py.File(p, "w") as f:
        f["/entry/data/data"] = frames.values
    a = xc.two_time(open_frames(p, frame_time=1e-3, chunk_frames=32), part, chunk=64, progress=False)
    b = xc.two_time(frames, part, progress=False)
    np.testing.assert_array_equal(a.c2.values, b.c2.values)


def test_model_dataset_for_a_q_ring_is_fit_ready():
    frames, part, _, _ = setup()
    ds = xc.two_time(frames, part, progress=False)
    q_ring1 = np.average(part.q[3:], weights=part.npix[3:])
    m = xc.two_time(frames, part, q=q_ring1 * 1.01, progress=False)
    validate_twotime(m)
    assert m.c2.dims == ("phi", "t1", "t2") and m.sizes["phi"] == 3
    assert m.attrs["q"] == pytest.approx(q_ring1) and m.attrs["q_requested"] == pytest.approx(q_ring1 * 1.01)
    np.testing.assert_allclose(m.phi.values, part.phi[3:])
    np.testing.assert_array_equal(m.c2.values, ds.c2.values[3:])
    np.testing.assert_array_equal(xc.c2_at_q(ds, q_ring1).c2.values, m.c2.values)


def test_single_ring_without_sectors_gets_phi_zero():
    frames, _, q, _ = setup()
    part = xc.partition(q, [0.4 * q.max(), 0.6 * q.max()])
    m = xc.two_time(frames, part, q=0.5 * q.max(), progress=False)
    assert m.phi.values.tolist() == [0.0]


def test_g2_from_c2_and_age_cuts():
    frames, part, _, _ = setup()
    ds = xc.two_time(frames, part, select=[1, 2], progress=False)
    g = xc.g2_from_c2(ds)
    validate_g2(g)
    assert g.g2.dims == ("roi", "tau") and g.roi.values.tolist() == [1, 2]
    np.testing.assert_allclose(g.q.values, part.q[:2])
    assert g.npix.values.tolist() == part.npix[:2].tolist()
    c = ds.c2.values[1]
    n = c.shape[0]
    np.testing.assert_allclose(g.tau.values, ds.t1.values[1:])  # tau = 0 is not a g2 lag
    assert g.c2_diagonal.values[1] == pytest.approx(np.mean(np.diag(c)), rel=1e-12)
    for k in (1, 7, n - 1):
        assert g.g2.values[1, k - 1] == pytest.approx(np.mean([c[i, i + k] for i in range(n - k)]), rel=1e-12)
    one = xc.g2_age_resolved(ds, n_ages=1)
    validate_g2(one)
    np.testing.assert_allclose(one.g2.values[0], g.g2.values, rtol=1e-12)
    five = xc.g2_age_resolved(ds, n_ages=5)
    validate_g2(five)
    assert five.g2.dims == ("t_age", "roi", "tau") and five.g2.shape == (5, 2, n - 1)
    assert five.t_age.attrs["units"] == "s"
    # the lag-3 cut of age bin 1 averages the right elements
    t = ds.t1.values
    lo, hi = five.attrs["age_edges"][1], five.attrs["age_edges"][2]
    vals = [c[i, i + 3] for i in range(n - 3) if lo <= 0.5 * (t[i] + t[i + 3]) < hi]
    assert five.g2.values[1, 1, 2] == pytest.approx(np.mean(vals), rel=1e-12)
    assert np.isnan(five.g2.values[0, 1, n - 2])  # no element of age bin 0 at the largest lag
    assert not valid_points(five).mask.values[0, 1, n - 2]


def test_g2_from_c2_of_the_model_dataset_has_one_roi_per_angle():
    frames, part, _, _ = setup()
    q_ring1 = np.average(part.q[3:], weights=part.npix[3:])
    m = xc.two_time(frames, part, q=q_ring1, progress=False)
    g = xc.g2_from_c2(m)
    validate_g2(g)
    assert g.roi.values.tolist() == [0, 1, 2]
    np.testing.assert_allclose(g.phi.values, m.phi.values)
    np.testing.assert_allclose(g.q.values, m.attrs["q"])
    assert g.tau.values[0] == pytest.approx(time_step(m))


def test_two_time_bad_inputs():
    frames, part, _, _ = setup()
    x = frames.values.copy()
    x[5, part.labels == 2] = 0
    with pytest.raises(CorrelatorError, match=r"ROI 2 has no counts in frame\(s\) \[5\]"):
        xc.two_time(frames_from_array(x, frame_time=1e-3), part, select=[2], progress=False)
    with pytest.raises(CorrelatorError, match="select"):
        xc.two_time(frames, part, select=[0], progress=False)
    with pytest.raises(CorrelatorError, match="at least 2"):
        xc.two_time(frames[:1], part, progress=False)
    with pytest.raises(CorrelatorError, match="not both"):
        xc.two_time(frames, part, select=[1], q=0.01, progress=False)
    with pytest.raises(CorrelatorError, match="sparse must be"):
        xc.two_time(frames, part, progress=False, sparse="yes")


def test_two_time_reports_the_first_bad_chunk_in_frame_order():
    """Chunks are read by two threads; NaN or negative counts are reported for the first
    bad frames in frame order, whichever thread read them first."""
    frames, part, _, _ = setup()
    x = frames.values.astype(np.float64)
    roi = part.labels == 1
    x[37, roi] = np.nan  # chunk 9 of 4 frames
    x[13, roi] = -1.0  # chunk 3
    x[90, roi] = np.nan
    with pytest.raises(CorrelatorError, match=r"negative counts in ROI pixels of frame\(s\) \[13\]"):
        xc.two_time(frames_from_array(x, frame_time=1e-3), part, chunk=4, progress=False)
    x[13, roi] = 1.0
    with pytest.raises(CorrelatorError, match=r"frame\(s\) \[37\] have NaN"):
        xc.two_time(frames_from_array(x, frame_time=1e-3), part, chunk=4, progress=False)
    # the threads fill disjoint rows: the result equals the single-chunk read
    one = xc.two_time(frames, part, chunk=10**6, progress=False)
    many = xc.two_time(frames, part, chunk=3, progress=False)
    np.testing.assert_array_equal(one.c2.values, many.c2.values)


def test_q_selects_the_ring_that_holds_it_and_nothing_else():
    frames, part, _, _ = setup()
    ds = xc.two_time(frames, part, progress=False, sparse=True)
    edges = part.q_edges
    ring_of = {g: ds.c2.values[ds.ring.values == g] for g in (0, 1)}
    # anywhere inside a ring's edges, even far from its mean q, selects that ring
    for g, q in ((0, edges[0] * 1.0001), (1, edges[2] * 0.9999), (1, 0.5 * (edges[1] + edges[2]))):
        np.testing.assert_array_equal(xc.c2_at_q(ds, q).c2.values, ring_of[g])
    # on the shared edge: the ring of nearer mean q
    means = [np.average(part.q[ds.ring.values == g], weights=part.npix[ds.ring.values == g]) for g in (0, 1)]
    nearer = int(abs(means[1] - edges[1]) < abs(means[0] - edges[1]))
    assert xc.c2_at_q(ds, edges[1]).attrs["ring"] == nearer
    # outside every ring, or not a q at all: an error that lists the rings
    for bad in (edges[0] * 0.99, edges[-1] * 1.01, 10.0):
        with pytest.raises(CorrelatorError, match=r"no q ring holds .*the rings span \[") as err:
            xc.c2_at_q(ds, bad)
        assert f"{edges[0]:.6g}" in str(err.value)
    for bad in (np.nan, -0.01, 0.0, np.inf, None, "0.01"):
        with pytest.raises(CorrelatorError, match="q must be a finite scattering vector > 0"):
            xc.c2_at_q(ds, bad)


def test_q_without_ring_edges_allows_half_the_spacing():
    frames, part, _, _ = setup()
    lab = np.where(part.labels > 0, (part.labels - 1) // 3 + 1, 0)  # one ROI per ring, q given, no edges
    ds = xc.two_time(frames, xc.from_labels(lab, q=[0.01, 0.02]), progress=False, sparse=True)
    assert xc.c2_at_q(ds, 0.0149).attrs["ring"] == 0 and xc.c2_at_q(ds, 0.0151).attrs["ring"] == 1
    assert xc.c2_at_q(ds, 0.0249).attrs["q"] == pytest.approx(0.02)
    with pytest.raises(CorrelatorError, match=r"no q ring at q=0.0251 .*tolerance 0.005.*0.01, 0.02"):
        xc.c2_at_q(ds, 0.0251)
    one = xc.two_time(frames, xc.from_labels(lab == 1, q=[0.01]), progress=False, sparse=True)
    assert xc.c2_at_q(one, 0.0109).attrs["ring"] == 0  # a single ring: 10 % of its q
    with pytest.raises(CorrelatorError, match="tolerance 0.001"):
        xc.c2_at_q(one, 0.0111)
