"""The two-time kernel (xpcsnb.correlate.gram): block layout, exactness fallback, mirroring."""

import numpy as np
import pytest
from bruteforce_correlate import c2_bruteforce

import xpcsnb.correlate as xc
from xpcsnb.correlate.gram import EXACT_F32, PixelBlocks, c2_from_gram, exact_in_float32, roi_c2, row_blocks
from xpcsnb.io.frames import frames_from_array


def _labels(sizes, shape=(64, 64), seed=0):
    """ROIs of the given pixel counts scattered over the detector (label k + 1)."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(np.prod(shape), dtype=int)
    pix = rng.permutation(lab.size)
    start = 0
    for k, n in enumerate(sizes):
        lab[pix[start: start + n]] = k + 1
        start += n
    return lab.reshape(shape)


def test_pixel_blocks_layout_round_trip():
    rng = np.random.default_rng(1)
    x = rng.poisson(2.0, (7, 2500)).astype(np.uint16)
    blocks = PixelBlocks.from_pixels(x, 1024)
    assert blocks.data.shape == (3, 7, 1024) and blocks.first.tolist() == [0, 3]
    np.testing.assert_array_equal(blocks.roi(0), x)
    assert not blocks.data[2, :, 2500 - 2048:].any()  # the padding of the last block is zero
    assert blocks.occupancy(0) == pytest.approx(np.count_nonzero(x) / x.size)


@pytest.mark.parametrize("sizes", [(1500, 600, 2100), (40, 300, 1030)])
def test_two_time_roi_sizes_spanning_padded_blocks(sizes):
    """ROIs of several pixel blocks, partial last blocks and small ROIs (small block size)
    give the brute-force C2; frames in float32 (non-integer) take the float64 path."""
    lab = _labels(sizes)
    rng = np.random.default_rng(2)
    x = rng.poisson(1.5, (90,) + lab.shape).astype(np.uint16)
    ds = xc.two_time(frames_from_array(x, frame_time=1e-3), lab, progress=False, sparse=False)
    for r in range(len(sizes)):
        np.testing.assert_allclose(ds.c2.values[r], c2_bruteforce(x, lab, r + 1), rtol=1e-12)
        np.testing.assert_allclose(ds.intensity.values[r], x[:, lab == r + 1].mean(axis=1), rtol=1e-12)
    xf = x.astype(np.float32) * np.float32(0.75)
    ds = xc.two_time(frames_from_array(xf, frame_time=1e-3), lab, select=[2], progress=False, sparse=False)
    np.testing.assert_allclose(ds.c2.values[0], c2_bruteforce(xf, lab, 2), rtol=1e-12)


def test_bright_integer_counts_fall_back_to_float64():
    """max_t Σ_p I² ≥ 2^24 makes float32 sums inexact: the result is recomputed in float64 and
    equals the brute force to 1e-12 (float32 alone is off by ~1e-7)."""
    lab = _labels((400,))
    rng = np.random.default_rng(3)
    x = rng.poisson(300.0, (40,) + lab.shape).astype(np.uint16)
    pix = x[:, lab == 1].astype(np.float64)
    assert np.max(np.sum(pix**2, axis=1)) > EXACT_F32
    ds = xc.two_time(frames_from_array(x, frame_time=1e-3), lab, progress=False, sparse=False)
    np.testing.assert_allclose(ds.c2.values[0], c2_bruteforce(x, lab, 1), rtol=1e-12)
    # the float32 products really are inexact here (so the test above needs the fallback)
    g32 = pix.astype(np.float32) @ pix.T.astype(np.float32)
    assert not exact_in_float32(row_blocks(g32))
    assert np.max(np.abs(g32 - pix @ pix.T) / (pix @ pix.T)) > 1e-9
    c2, s = roi_c2(x[:, lab == 1])
    np.testing.assert_allclose(c2, c2_bruteforce(x, lab, 1), rtol=1e-12)
    np.testing.assert_allclose(s, pix.sum(axis=1), rtol=0)


def test_c2_from_gram_mirrors_exactly():
    """Only the row blocks on and above the diagonal are read; the result is exactly symmetric."""
    rng = np.random.default_rng(4)
    n = 1300  # three row blocks of 512, the last one partial
    x = rng.random((n, 50))
    g = x @ x.T
    s = x.sum(axis=1)
    upper_only = g.copy()
    for i in range(512, n, 512):
        upper_only[i: i + 512, :i] = -1.0  # never read
    rows = row_blocks(upper_only)
    assert [r.shape for r in rows] == [(512, 1300), (512, 788), (276, 276)]
    out = c2_from_gram(rows, s, 50, np.empty((n, n)))
    np.testing.assert_array_equal(out, out.T)
    np.testing.assert_allclose(out, 50 * g / np.outer(s, s), rtol=1e-13)
