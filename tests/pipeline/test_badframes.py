"""Bad frames and pixels: robust flags, exclusion as missing data, and the record on the result."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pipeline_data import FRAME_TIME, tiny_frames, tiny_partition

import xpcsnb.correlate as xc
from xpcsnb.core.errors import CorrelatorError
from xpcsnb.correlate.badframes import flag_frames, flag_pixels, resolve_exclusions


@pytest.fixture(scope="module")
def stack():
    part, _ = tiny_partition()
    return tiny_frames(n_frames=64), part


def _brute_missing(x, labels, lag, level, valid):
    """Symmetric g2 of every ROI at one (level, lag), level frames with a missing frame
    dropped and only pairs of present level frames used (the definition written out)."""
    n = 2**level
    m = x.shape[0] // n
    xl = x[: m * n].reshape(m, n, *x.shape[1:]).sum(axis=1).astype(float)
    vl = valid[: m * n].reshape(m, n).all(axis=1)
    j = lag // n
    both = vl[: m - j] & vl[j:]
    out = []
    for r in range(1, labels.max() + 1):
        a, b = xl[: m - j][both][:, labels == r], xl[j:][both][:, labels == r]
        out.append((a * b).mean(axis=0).mean() / (a.mean() * b.mean()))
    return np.array(out)


def test_flag_frames_finds_beam_loss_and_burst():
    rng = np.random.default_rng(1)
    s = rng.poisson(1e4, 200).astype(float)
    s[[17, 90]] *= 0.05  # beam loss
    s[150] *= 3.0  # burst
    np.testing.assert_array_equal(flag_frames(s), [17, 90, 150])
    assert flag_frames(rng.poisson(1e4, 200)).size == 0  # shot noise alone is never flagged


def test_flag_pixels_finds_hot_and_dead():
    labels = np.zeros((10, 10), dtype=int)
    labels[:, :5], labels[:, 5:] = 1, 2
    rng = np.random.default_rng(2)
    mean = rng.poisson(200 * 5.0, (10, 10)) / 200  # 200 frames of mean 5
    mean[3, 1] = 80.0  # hot
    mean[7, 8] = 0.0  # dead
    np.testing.assert_array_equal(flag_pixels(mean, labels, n_frames=200), [31, 78])


def test_multitau_excludes_frames_as_missing(stack):
    x, part = stack
    bad = [5, 6, 40]
    spoiled = x.copy()
    spoiled[bad] *= 20  # whatever the excluded frames hold, it must not matter
    g = xc.multitau(spoiled, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, bad_frames=bad)
    valid = np.ones(x.shape[0], dtype=bool)
    valid[bad] = False
    for c in range(g.sizes["tau"]):
        lag, level = int(g["lag"][c]), int(g["level"][c])
        with np.errstate(invalid="ignore"), warnings.catch_warnings():  # a lag without pairs left: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            ref = _brute_missing(x, part.labels, lag, level, valid)
        np.testing.assert_allclose(g["g2"].values[:, c], ref, rtol=1e-10)
    assert np.isnan(g["g2"].values[:, -1]).all()  # lag 48: every pair of level-4 frames has a missing one
    np.testing.assert_array_equal(g.attrs["bad_frames"], bad)
    assert g.attrs["bad_frames_method"] == "given" and g["frame_excluded"].values[bad].all()
    assert np.isnan(g["intensity"].values[:, bad]).all() and np.isfinite(g["intensity"].values[:, 0]).all()


def test_multitau_auto_flags_a_beam_loss(stack):
    x, part = stack
    y = x.copy()
    y[[10, 11]] //= 20
    g = xc.multitau(y, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, bad_frames="auto")
    np.testing.assert_array_equal(g.attrs["bad_frames"], [10, 11])
    assert g.attrs["bad_frames_method"] == "auto" and g.attrs["n_bad_pixels"] == 0
    ref = xc.multitau(y, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, bad_frames=[10, 11])
    np.testing.assert_allclose(g["g2"], ref["g2"])


def test_no_exclusion_is_unchanged(stack):
    x, part = stack
    a = xc.multitau(x, part, frame_time=FRAME_TIME, num_bufs=4, progress=False)
    b = xc.multitau(x, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, bad_frames=[])
    np.testing.assert_allclose(a["g2"], b["g2"], rtol=1e-12)
    np.testing.assert_allclose(a["g2_err"], b["g2_err"], rtol=1e-12)


def test_bad_pixels_leave_their_roi(stack):
    x, part = stack
    y = x.copy()
    r, c = np.argwhere(part.labels == 1)[0]
    y[:, r, c] = 500  # hot pixel
    g = xc.multitau(y, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, bad_pixels="auto")
    assert g.attrs["bad_pixels"].tolist() == [r * part.shape[1] + c]
    assert int(g["npix"][0]) == part.npix[0] - 1
    mask = np.ones(part.shape, dtype=bool)
    mask[r, c] = False
    ref = xc.multitau(y, part, frame_time=FRAME_TIME, num_bufs=4, progress=False, mask=mask)
    np.testing.assert_allclose(g["g2"], ref["g2"], rtol=1e-12)


def test_two_time_marks_excluded_frames_missing(stack):
    x, part = stack
    full = xc.two_time(x[:32], part, frame_time=FRAME_TIME, progress=False)
    ex = xc.two_time(x[:32], part, frame_time=FRAME_TIME, progress=False, bad_frames=[3])
    assert np.isnan(ex["c2"].values[:, 3, :]).all() and np.isnan(ex["c2"].values[:, :, 3]).all()
    keep = np.delete(np.arange(32), 3)
    np.testing.assert_allclose(ex["c2"].values[:, keep][:, :, keep], full["c2"].values[:, keep][:, :, keep])
    assert ex["frame_excluded"].values.tolist() == [k == 3 for k in range(32)]
    with pytest.raises(CorrelatorError, match="needs every frame"):
        xc.two_time(x[:32], part, frame_time=FRAME_TIME, progress=False, bad_frames=[3], q=float(part.q[0]))


@pytest.mark.parametrize("kw, match", [
    ({"bad_frames": "sometimes"}, "'auto', None"),
    ({"bad_frames": [0, 999]}, "frame indices in 0"),
    ({"bad_pixels": np.zeros((3, 3), dtype=bool)}, "boolean"),
    ({"bad_frames": "auto", "threshold": -1.0}, "threshold"),
])
def test_bad_inputs(stack, kw, match):
    x, part = stack
    from xpcsnb.core.frames import as_frames

    with pytest.raises(CorrelatorError, match=match):
        resolve_exclusions(as_frames(x, FRAME_TIME), part, **kw)
