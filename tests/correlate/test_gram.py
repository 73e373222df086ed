"""The two-time kernel (xpcsnb.correlate.gram): block layout, exactness fallback, mirroring."""

from pathlib import Path

import numpy as np
import pytest
from bruteforce_correlate import c2_bruteforce

import xpcsnb.correlate as xc
from xpcsnb.correlate.gram import (
    EXACT_F32,
    PixelBlocks,
    c2_from_gram,
    exact_in_float32,
    roi_c2,
    row_blocks,
    row_starts,
)
from xpcsnb.io.frames import frames_from_array

ROOT = Path(__file__).resolve().parents[2]
#: Rows per block of S (the step of the row blocks).
GRAM_BLOCK = row_starts(10**6).step


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


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.uint32, np.int32])
@pytest.mark.parametrize("average", [1, 3])
def test_storage_dtypes_give_the_brute_force(dtype, average):
    """Counts of up to 16 bits are kept in float32 (read in place by the update), 32-bit
    ones in their own dtype (cast per block) or float64 when averaged: every path gives
    the brute-force C2 of the (averaged) frames."""
    lab = _labels((700, 1100))
    rng = np.random.default_rng(5)
    x = rng.poisson(2.0, (60,) + lab.shape).astype(dtype)
    ds = xc.two_time(frames_from_array(x, frame_time=1e-3), lab, average=average, progress=False, sparse=False)
    xa = x.astype(np.float64).reshape(60 // average, average, *lab.shape).sum(axis=1)
    for r in range(2):
        np.testing.assert_allclose(ds.c2.values[r], c2_bruteforce(xa, lab, r + 1), rtol=1e-12)


def test_32bit_counts_beyond_float32_are_exact():
    """uint32 counts above 2^24 (not float32 numbers) are not rounded on the way in: the
    float64 fallback reads them from their own dtype."""
    lab = _labels((300,))
    rng = np.random.default_rng(6)
    x = rng.integers(2**24, 2**25, (30,) + lab.shape, dtype=np.uint32) | 1  # odd: no float32 has them
    assert not np.array_equal(x.astype(np.float32).astype(np.uint32), x)
    ds = xc.two_time(frames_from_array(x, frame_time=1e-3), lab, progress=False, sparse=False)
    np.testing.assert_allclose(ds.c2.values[0], c2_bruteforce(x, lab, 1), rtol=1e-13)
    np.testing.assert_allclose(ds.intensity.values[0], x[:, lab == 1].mean(axis=1, dtype=np.float64), rtol=1e-15)


#: A jaxlib that rejects the CPU compiler options of the Gram update: every jit given compiler options
#: also gets one that XLA does not know, before xpcsnb is imported (a fresh process: no cached update).
NO_CPU_OPTIONS = r"""
import sys
import jax
import numpy as np

real_jit = jax.jit

def jit(*args, **kw):
    if kw.get("compiler_options"):
        kw["compiler_options"] = {**kw["compiler_options"], "xla_cpu_no_such_option_xpcsnb": "1"}
    return real_jit(*args, **kw)

jax.jit = jit
if jax.default_backend() != "cpu":
    print("NOT CPU")
    sys.exit(0)
try:  # the option really is rejected
    jit(lambda a: a + 1, compiler_options={"xla_cpu_enable_fast_math": "false"}).lower(np.ones(3)).compile()
except Exception as err:
    print("REJECTED", "option" in str(err))
from xpcsnb.correlate.gram import roi_c2

x = np.load(sys.argv[1])
c2, _ = roi_c2(x)
np.save(sys.argv[2], c2)
print("DONE")
"""


def test_update_without_cpu_options(tmp_path):
    """A jaxlib that rejects the YNNPACK fusion options gets the plain update, same C2."""
    import os
    import subprocess
    import sys

    lab = _labels((900,))
    x = np.random.default_rng(7).poisson(1.0, (50,) + lab.shape).astype(np.uint16)
    np.save(tmp_path / "x.npy", x[:, lab == 1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", NO_CPU_OPTIONS, str(tmp_path / "x.npy"), str(tmp_path / "c2.npy")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    if "NOT CPU" in run.stdout:
        pytest.skip("the compiler options are used on the CPU backend only")
    assert "REJECTED True" in run.stdout and "DONE" in run.stdout, run.stdout + run.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "c2.npy"), c2_bruteforce(x, lab, 1), rtol=1e-12)


def test_block_pieces_alias_aligned_host_memory():
    """On the CPU the update reads the gathered pixels in place (no copy per block)."""
    import jax

    from xpcsnb.correlate.gram import block_pieces
    from xpcsnb.correlate.pages import mapped_empty

    xb = mapped_empty((1100, 1024), np.float32)
    xb[:] = 1.0
    pieces = block_pieces(xb)
    b = GRAM_BLOCK
    rows = list(range(0, 1100, b))
    assert [p.shape for p in pieces] == [shape for i in rows for shape in ((min(b, 1100 - i), 1024), (1100 - i, 1024))]
    assert len(rows) > 2  # several row blocks, the last one partial
    if jax.default_backend() == "cpu":
        starts = [xb[i:].ctypes.data for i in rows for _ in (0, 1)]
        assert [p.unsafe_buffer_pointer() for p in pieces] == starts


def test_c2_from_gram_mirrors_exactly():
    """Only the row blocks on and above the diagonal are read; the result is exactly symmetric."""
    rng = np.random.default_rng(4)
    b = GRAM_BLOCK
    n = 5 * b + 20  # six row blocks, the last one partial
    x = rng.random((n, 50))
    g = x @ x.T
    s = x.sum(axis=1)
    upper_only = g.copy()
    for i in range(b, n, b):
        upper_only[i: i + b, :i] = -1.0  # never read
    rows = row_blocks(upper_only)
    assert [r.shape for r in rows] == [(b, n - i) for i in range(0, 5 * b, b)] + [(20, 20)]
    out = c2_from_gram(rows, s, 50, np.empty((n, n)))
    np.testing.assert_array_equal(out, out.T)
    np.testing.assert_allclose(out, 50 * g / np.outer(s, s), rtol=1e-13)


def test_integer_counts_are_stored_as_float32_while_exact():
    """Integer counts of up to 32 bits are stored in float32 (read in place by the update);
    a count of magnitude ≥ 2^24 makes the store float64, so that no count is rounded."""
    from xpcsnb.correlate.gram import InexactStore

    rng = np.random.default_rng(8)
    for dtype in (np.uint16, np.uint32, np.int32):
        x = rng.poisson(3.0, (20, 700)).astype(dtype)
        blocks = PixelBlocks.from_pixels(x, 128)
        assert blocks.data.dtype == np.float32
        np.testing.assert_array_equal(blocks.roi(0), x)
    x = rng.poisson(3.0, (20, 700)).astype(np.uint32)
    x[7, 5] = 2**24 + 1
    blocks = PixelBlocks.from_pixels(x, 128)
    assert blocks.data.dtype == np.float64
    np.testing.assert_array_equal(blocks.roi(0), x)
    with pytest.raises(InexactStore):
        PixelBlocks.empty(20, np.array([700]), 128, np.float32).put(0, np.pad(x, ((0, 0), (0, 68))))
    c2, s = roi_c2(x)
    lab = np.zeros((1, 700), dtype=int) + 1
    np.testing.assert_allclose(c2, c2_bruteforce(x[:, None, :], lab, 1), rtol=1e-13)
