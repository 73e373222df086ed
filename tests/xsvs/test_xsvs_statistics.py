"""Histograms, input forms and input validation of xpcsnb.xsvs.visibility."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb import xsvs
from xpcsnb.correlate import Geometry, partition
from xpcsnb.xsvs import XsvsError


@pytest.fixture(scope="module")
def setup():
    geo = Geometry(shape=(40, 48), beam_center=(20.5, 18.0), distance=4.0, pixel_size=75e-6, energy=9.0)
    part = partition(geo.q_map(), np.linspace(4e-4, 2.5e-3, 4), phi_map=geo.phi_map(),
                     phi_edges=[-180, 0, 180])
    frames = xsvs.simulate_series(part, [2e-3, 1e-3, 4e-3], n_frames=12, beta0=0.4, rate=200.0,
                                  mean_count=[1.5, 0.8, 3.0], seed=2)
    return part, frames


def brute_histograms(frames: np.ndarray, labels: np.ndarray, n_k: int) -> np.ndarray:
    """pyxsvs-style loop: np.histogram per frame and ROI."""
    n_roi = labels.max()
    out = np.zeros((n_roi, frames.shape[0], n_k), dtype=int)
    for r in range(1, n_roi + 1):
        for f in range(frames.shape[0]):
            out[r - 1, f] = np.histogram(frames[f][labels == r], bins=np.arange(n_k + 1) - 0.5)[0]
    return out


def test_histograms_match_brute_force(setup):
    part, frames = setup
    vis = xsvs.visibility(frames, part, progress=False)
    np.testing.assert_array_equal(vis.exposure, [1e-3, 2e-3, 4e-3])  # sorted
    assert vis.exposure.attrs["units"] == "s"
    for T in vis.exposure.values:
        stack = frames.sel(exposure=T).values
        ref = brute_histograms(stack, part.labels, vis.sizes["k"])
        np.testing.assert_array_equal(vis.counts.sel(exposure=T).values, ref)
        # every pixel counted once, nothing truncated
        assert np.all(vis.counts.sel(exposure=T).sum("k") == vis.npix)
        trace = np.stack([[stack[f][part.labels == r].mean() for f in range(stack.shape[0])]
                          for r in range(1, part.n_roi + 1)])
        np.testing.assert_allclose(vis.mean_count_trace.sel(exposure=T).values, trace, rtol=1e-12)
        p_f = ref / part.npix[:, None, None]
        np.testing.assert_allclose(vis.P.sel(exposure=T).values, p_f.mean(1), rtol=1e-12)
        np.testing.assert_allclose(vis.P_err.sel(exposure=T).values,
                                   p_f.std(1, ddof=1) / np.sqrt(stack.shape[0]), rtol=1e-10, atol=1e-15)
    assert vis.sizes["k"] == int(frames.max()) + 1
    np.testing.assert_allclose(vis.q.values, part.q)
    np.testing.assert_allclose(vis.phi.values, part.phi)
    static = frames.sum(("exposure", "frame")) / float((12 * frames.exposure).sum())
    np.testing.assert_allclose(vis.static_image.values, static.values)
    for name, var in vis.variables.items():
        assert "units" in var.attrs, name


def test_input_forms_agree(setup):
    part, frames = setup
    ref = xsvs.visibility(frames, part, progress=False).drop_attrs()
    T = frames.exposure.values
    mapping = {float(t): frames.sel(exposure=t).values for t in T}
    as_list = [frames.sel(exposure=t).values.astype(float) for t in T]
    bare = frames.drop_vars("exposure")
    labels = xr.DataArray(part.labels, dims=("y", "x"))
    for series, kw in [(mapping, {}), (as_list, {"exposure": T}), (bare, {"exposure": T}),
                       (frames, {"exposure": T}), (frames.chunk({"frame": 5}), {})]:
        other = xsvs.visibility(series, part, progress=False, block_size=5, **kw).drop_attrs()
        xr.testing.assert_identical(other, ref)
    # a bare label map gives the same statistics with q/phi unknown
    lab = xsvs.visibility(frames, labels, progress=False)
    np.testing.assert_array_equal(lab.counts, ref.counts)
    assert np.all(np.isnan(lab.q))


def test_ragged_frame_counts():
    labels = np.tile(np.repeat([1, 2], 15), (15, 1))
    series = xsvs.simulate_series(labels, [1e-3, 3e-3], n_frames=[8, 5], beta0=0.3, mean_count=2.0,
                                  seed=4, as_mapping=True)
    vis = xsvs.visibility(series, labels, progress=False)
    np.testing.assert_array_equal(vis.n_frames, [8, 5])
    assert vis.frame_valid.sel(exposure=3e-3).sum() == 5
    assert np.all(np.isnan(vis.mean_count_trace.sel(exposure=3e-3).isel(frame=slice(5, None))))
    short = xsvs.visibility({3e-3: series[3e-3]}, labels, progress=False)
    for name in ("P", "P_err", "beta", "beta_err", "beta_ratio", "beta_variance", "mean_count"):
        np.testing.assert_allclose(vis[name].sel(exposure=3e-3).values[..., :short.sizes.get("k", 1)]
                                   if "k" in vis[name].dims else vis[name].sel(exposure=3e-3).values,
                                   short[name].isel(exposure=0).values[..., :vis.sizes["k"]]
                                   if "k" in short[name].dims else short[name].isel(exposure=0).values,
                                   rtol=1e-10, err_msg=name)


def test_mask_excludes_pixels(setup):
    part, frames = setup
    mask = np.ones(part.shape, bool)
    mask[:, :10] = False
    vis = xsvs.visibility(frames, part, mask=mask, progress=False)
    assert np.all(vis.labels.values[:, :10] == 0)
    np.testing.assert_array_equal(vis.npix, np.bincount(np.where(mask, part.labels, 0).ravel())[1:])
    assert "polarity" in vis.mask.attrs and vis.mask.dtype == bool


def _frames(shape=(6, 8), n=4, value=1):
    return np.full((n,) + shape, value, dtype=float)


@pytest.mark.parametrize(
    "series, kwargs, match",
    [
        ({1e-3: _frames(value=-1)}, {}, "negative"),
        ({1e-3: np.where(np.arange(48).reshape(6, 8) == 5, np.nan, _frames())}, {}, "NaN"),
        ({1e-3: _frames(value=1.5)}, {}, "non-integer"),
        ([_frames(), _frames()], {"exposure": [1e-3]}, "exposure has 1 time"),
        ([_frames(), _frames()], {}, "needs exposure"),
        (xr.DataArray(np.stack([_frames(), _frames()]), dims=("exposure", "frame", "y", "x")), {}, "unknown"),
        ({1e-3: _frames(), 2e-3: _frames()}, {"exposure": [1e-3, 3e-3]}, "disagrees"),
        ([_frames(), _frames()], {"exposure": [1e-3, 1e-3]}, "repeated"),
        ([_frames(), _frames()], {"exposure": [1e-3, -1.0]}, "> 0"),
        ({1e-3: _frames(), 2e-3: _frames(shape=(6, 9))}, {}, "different detector shapes"),
        ({1e-3: _frames(n=1)}, {}, "at least 2"),
        ({1e-3: _frames()}, {"mask": np.ones((5, 8), bool)}, "mask has shape"),
        ({1e-3: _frames()}, {"flat_field": np.ones((6, 7))}, "flat_field has shape"),
        ({1e-3: _frames()}, {"flat_field": np.zeros((6, 8))}, "flat_field must be finite and > 0"),
        ({1e-3: _frames(value=7)}, {"k_max": 5}, "k_max=5"),
        (xr.DataArray(np.stack([_frames()]), dims=("exposure", "frame", "y", "x"),
                      coords={"exposure": ("exposure", [1.0], {"units": "ms"})}), {}, "seconds"),
    ],
)
def test_bad_inputs_raise_clear_errors(series, kwargs, match):
    labels = np.ones((6, 8), int)
    labels[:, 4:] = 2
    with pytest.raises(XsvsError, match=match):
        xsvs.visibility(series, labels, progress=False, **kwargs)


def test_empty_roi_raises():
    labels = np.zeros((6, 8), int)
    labels[:, :4] = 1
    labels[:, 4:] = 3  # label 2 has no pixel
    with pytest.raises(XsvsError, match=r"\[2\]"):
        xsvs.visibility({1e-3: _frames()}, labels, progress=False)
    mask = np.ones((6, 8), bool)
    mask[:, :4] = False  # masks the whole of ROI 1
    with pytest.raises(XsvsError, match="no \\(unmasked\\) pixel"):
        xsvs.visibility({1e-3: _frames()}, np.where(labels == 3, 2, labels), mask=mask, progress=False)


def test_empty_q_ring_raises():
    geo = Geometry(shape=(30, 30), beam_center=(15, 15), distance=4.0, pixel_size=75e-6, energy=9.0)
    from xpcsnb.correlate import PartitionError

    with pytest.raises(PartitionError, match="empty"):
        partition(geo.q_map(), [1e-4, 2e-4, 5.0, 6.0])
