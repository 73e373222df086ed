"""Kernel-side tests of the C2 canvas viewer: encoding, limits, downsampling, traits, errors."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import traitlets
import xarray as xr

from xpcsnb.core.twotime import twotime
from xpcsnb.widgets.c2view import (
    COLORMAPS,
    EXACT_HOVER_PIXELS,
    NAN_CODE,
    TOP_CODE,
    C2View,
    block_mean,
    colormap_luts,
    decode_uint8,
    display_limits,
    encode_uint8,
    round_limits,
)


def _c2(n_phi: int = 2, n: int = 40, seed: int = 3) -> np.ndarray:
    """Symmetric C2-like stacks: a decaying band plus seeded noise, distinct per angle."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    lag = np.abs(t[:, None] - t[None, :])
    out = []
    for k in range(n_phi):
        a = 1.0 + (0.3 + 0.05 * k) * np.exp(-lag / (5.0 + 3 * k))
        noise = rng.normal(0, 0.01, (n, n))
        out.append(a + 0.5 * (noise + noise.T))
    return np.asarray(out)


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return twotime(_c2(), dt=0.1, phi=[0.0, 90.0], q=0.0054)


# ---------------------------------------------------------------- pure functions
def test_encode_decode_within_half_a_step_with_clipping_and_nan() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(-1.0, 3.0, (17, 23))
    a[3, 4] = np.nan
    vmin, vmax = 0.0, 2.0
    buf = encode_uint8(a, vmin, vmax)
    assert len(buf) == a.size
    codes = np.frombuffer(buf, np.uint8).reshape(a.shape)
    assert codes[3, 4] == NAN_CODE
    finite = np.isfinite(a)
    assert codes[finite].max() <= TOP_CODE
    back = decode_uint8(buf, a.shape, vmin, vmax)
    assert np.isnan(back[3, 4])
    step = (vmax - vmin) / TOP_CODE
    expected = np.clip(a, vmin, vmax)
    assert np.nanmax(np.abs(back - expected)) <= 0.5 * step + 1e-12
    assert codes[a < vmin].max() == 0 and codes[(a > vmax) & finite].min() == TOP_CODE


@pytest.mark.parametrize("lims", [(1.0, 1.0), (2.0, 1.0), (np.nan, 1.0), (0.0, np.inf)])
def test_encode_rejects_bad_limits(lims: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="vmin < vmax"):
        encode_uint8(np.zeros((2, 2)), *lims)


def test_display_limits_are_off_diagonal_percentiles() -> None:
    c2 = _c2(n_phi=3, n=30)
    c2[:, np.arange(30), np.arange(30)] = 50.0  # a diagonal spike must not move the scale
    off = np.concatenate([c2[k][~np.eye(30, dtype=bool)] for k in range(3)])
    lo, hi = display_limits(c2)
    assert lo == pytest.approx(np.percentile(off, 1)) and hi == pytest.approx(np.percentile(off, 99))
    slo, shi = display_limits(c2 - 1.0, symmetric=True)
    assert shi == pytest.approx(np.percentile(np.abs(off - 1.0), 99)) and slo == -shi


def test_display_limits_constant_data_and_all_nan() -> None:
    lo, hi = display_limits(np.full((1, 5, 5), 2.0))
    assert lo < 2.0 < hi
    with pytest.raises(ValueError, match="no finite value"):
        display_limits(np.full((1, 4, 4), np.nan))


def test_block_mean_matches_brute_force_with_partial_edge_blocks() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(11, 8))
    f = 3
    got = block_mean(a, f)
    assert got.shape == (4, 3)
    for bi in range(4):
        for bj in range(3):
            block = a[bi * f:(bi + 1) * f, bj * f:(bj + 1) * f]
            assert got[bi, bj] == pytest.approx(block.mean())
    t = np.arange(10.0)
    np.testing.assert_allclose(block_mean(t, 4), [1.5, 5.5, 8.5])
    np.testing.assert_array_equal(block_mean(a, 1), a)
    with pytest.raises(ValueError, match="factor"):
        block_mean(a, 0)


def test_luts_are_matplotlib_colormaps() -> None:
    luts = np.frombuffer(colormap_luts(), np.uint8).reshape(len(COLORMAPS), 256, 3)
    for k, name in enumerate(COLORMAPS):
        ref = np.round(255 * matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3])
        np.testing.assert_array_equal(luts[k], ref.astype(np.uint8))


# ---------------------------------------------------------------- the widget
def test_viewer_state_matches_the_data(ds: xr.Dataset) -> None:
    v = C2View(ds)
    assert v.shape == [40, 40] and v.downsample_factor == 1 and v.note == ""
    assert v.phi == [0.0, 90.0] and v.t1 == pytest.approx(ds["t1"].values.tolist())
    assert v.time_unit == "s" and v.colormap == "viridis"
    assert (v.vmin, v.vmax) == pytest.approx(round_limits(*display_limits(ds["c2"].values)))
    lo, hi = display_limits(ds["c2"].values)
    assert v.vmin <= lo and v.vmax >= hi  # rounded outward
    # exact hover values: float32 of angle 0; the image encodes the same angle
    vals = np.frombuffer(v.values, np.float32).reshape(40, 40)
    np.testing.assert_array_equal(vals, ds["c2"].values[0].astype(np.float32))
    assert v.image == encode_uint8(ds["c2"].values[0], v.vmin, v.vmax)
    assert len(v.luts) == 768 * len(COLORMAPS)


def test_picking_an_angle_resends_that_angle(ds: xr.Dataset) -> None:
    v = C2View(ds)
    first = v.image
    v.phi_index = 1
    assert v.image != first
    assert v.image == encode_uint8(ds["c2"].values[1], v.vmin, v.vmax)
    np.testing.assert_array_equal(np.frombuffer(v.values, np.float32),
                                  ds["c2"].values[1].astype(np.float32).ravel())
    with pytest.raises(traitlets.TraitError, match="phi_index"):
        v.phi_index = 2


def test_colormap_change_needs_no_new_image(ds: xr.Dataset) -> None:
    v = C2View(ds)
    before = v.image
    sent: list[str] = []
    v.observe(lambda c: sent.append(c["name"]), names=["image", "values"])
    v.colormap = "magma"
    assert v.image is before and sent == []
    with pytest.raises(traitlets.TraitError):
        v.colormap = "jet"


def test_limits_reencode_and_are_validated(ds: xr.Dataset) -> None:
    v = C2View(ds)
    v.set_limits(1.0, 1.1)
    assert v.image == encode_uint8(ds["c2"].values[0], 1.0, 1.1)
    v.vmax = 1.2
    assert v.image == encode_uint8(ds["c2"].values[0], 1.0, 1.2)
    with pytest.raises(traitlets.TraitError, match="vmin < vmax"):
        v.vmin = 1.5
    with pytest.raises(ValueError, match="vmin < vmax"):
        v.set_limits(2.0, 1.0)


def test_downsampling_is_block_means_and_is_announced() -> None:
    c2 = _c2(n_phi=1, n=40)
    d = twotime(c2, dt=0.5, phi=10.0, q=0.01)
    v = C2View(d, max_size=16)
    assert v.downsample_factor == 3 and v.shape == [14, 14]
    assert "40×40 → 14×14" in v.note and "3×3 block means" in v.note
    np.testing.assert_allclose(v.displayed(), block_mean(c2[0], 3))
    np.testing.assert_allclose(v.t1, block_mean(0.5 * np.arange(40), 3))
    np.testing.assert_allclose(np.frombuffer(v.values, np.float32), block_mean(c2[0], 3).ravel(), rtol=1e-6)


def test_default_threshold_1024_and_exact_hover_auto() -> None:
    n = 1100
    t = np.arange(n)
    c2 = 1.0 + 0.3 * np.exp(-np.abs(t[:, None] - t[None, :]) / 50.0)
    v = C2View(twotime(c2, dt=1e-3, phi=0.0, q=0.01))
    assert v.downsample_factor == 2 and v.shape == [550, 550]
    assert 550 * 550 > EXACT_HOVER_PIXELS and v.values == b""  # quantised hover read-out
    assert len(v.image) == 550 * 550


def test_nan_values_are_counted_and_coded() -> None:
    c2 = _c2(n_phi=1, n=20)
    d = xr.DataArray(c2, dims=("phi", "t1", "t2"),
                     coords={"phi": [0.0], "t1": np.arange(20.0), "t2": np.arange(20.0)}, name="c2")
    d[0, 2, 5] = np.nan
    v = C2View(d)
    assert "1 non-finite value(s) shown grey" in v.note
    assert np.frombuffer(v.image, np.uint8)[2 * 20 + 5] == NAN_CODE


def test_residual_view_is_symmetric_and_diverging(ds: xr.Dataset) -> None:
    r = ds["c2"] - ds["c2"].mean()
    v = C2View(r, symmetric=True, title="residual")
    assert v.vmin == -v.vmax and v.colormap == "RdBu_r" and v.title == "residual"


def test_set_data_keeps_a_valid_angle(ds: xr.Dataset) -> None:
    v = C2View(ds)
    v.phi_index = 1
    v.set_data(ds.isel(phi=[1]))
    assert v.phi_index == 0 and v.phi == [90.0]
    assert v.image == encode_uint8(ds["c2"].values[1], v.vmin, v.vmax)


def test_2d_matrix_with_scalar_phi(ds: xr.Dataset) -> None:
    v = C2View(ds["c2"].isel(phi=1))
    assert v.phi == [90.0] and v.shape == [40, 40]


@pytest.mark.parametrize(
    ("make", "err", "match"),
    [
        (lambda d: C2View(d, var="sigma"), ValueError, "no variable 'sigma'"),
        (lambda d: C2View(d["c2"].expand_dims(q=[0.01])), ValueError, "select one q"),
        (lambda d: C2View(d["c2"].rename(t1="x")), ValueError, "dims"),
        (lambda d: C2View(d["c2"].values), TypeError, "xarray"),
        (lambda d: C2View(d["c2"] * np.nan), ValueError, "NaN"),
        (lambda d: C2View(d, max_size=8), ValueError, "max_size"),
        (lambda d: C2View(d["c2"].isel(phi=0).drop_vars("phi")), ValueError, "scalar 'phi'"),
    ],
)
def test_bad_inputs_are_named(ds: xr.Dataset, make, err, match) -> None:
    with pytest.raises(err, match=match):
        make(ds)


# ---------------------------------------------------------------- figure polish (issue 17)
@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (1.0123, 1.3456, (1.0, 1.36)), (-0.0371, 0.0371, (-0.04, 0.04)), (0.0, 1.0, (0.0, 1.0)),
    (1003.0, 1187.0, (1000.0, 1190.0)),
])
def test_round_limits_widen_outward_to_round_steps(lo, hi, expected) -> None:
    got = round_limits(lo, hi)
    assert got == pytest.approx(expected) and got[0] <= lo and got[1] >= hi


def test_colour_bar_label_unit_and_title_with_phi_and_q(ds: xr.Dataset) -> None:
    v = C2View(ds)
    assert v.label == "c2" and v.time_unit == "s" and v.q == pytest.approx(0.0054)
    assert v.full_title().endswith("φ = 0°, q = 0.0054 Å⁻¹")
    r = ds["c2"].copy()
    r.attrs["units"] = "Å^2"
    assert C2View(r).unit == "Å²"


def test_zoom_resamples_the_visible_window_at_full_detail() -> None:
    n = 300
    t = 0.01 * np.arange(n)
    c2 = 1.0 + 0.3 * np.exp(-np.abs(t[:, None] - t[None, :]) / 0.2) + 1e-3 * np.arange(n)[:, None]
    v = C2View(twotime(c2, dt=0.01, phi=0.0, q=0.01), max_size=100)
    assert v.downsample_factor == 3 and v.shape == [100, 100] and "zoom in for full detail" in v.note
    v.zoom(t1=(0.5, 1.0), t2=(1.0, 1.5))
    assert v.window == [50, 101, 100, 151] and v.downsample_factor == 1 and v.note == ""
    np.testing.assert_allclose(v.displayed(), c2[50:101, 100:151])
    np.testing.assert_allclose(v.t1, t[50:101])
    assert v.image == encode_uint8(c2[50:101, 100:151], v.vmin, v.vmax)
    v.window = [-5, 10**6, 7, 7]  # from the page: clipped into the data, never below 2 × 2
    assert v.window[0] == 0 and v.window[1] == n and v.window[3] - v.window[2] == 2
    v.reset_zoom()
    assert v.window == [0, n, 0, n] and v.shape == [100, 100]
    with pytest.raises(ValueError, match="fewer than 2 frames"):
        v.zoom(t1=(0.501, 0.502))


def test_limit_requests_from_the_page(ds: xr.Dataset) -> None:
    v = C2View(ds)
    auto = (v.vmin, v.vmax)
    v.limit_request = {"vmin": 1.0, "vmax": 1.1, "n": 1}
    assert (v.vmin, v.vmax) == (1.0, 1.1) and v.image == encode_uint8(ds["c2"].values[0], 1.0, 1.1)
    v.limit_request = {"vmin": 2.0, "vmax": 1.0, "n": 2}
    assert (v.vmin, v.vmax) == (1.0, 1.1) and "vmin < vmax" in v.note
    v.limit_request = {"auto": True, "n": 3}
    assert (v.vmin, v.vmax) == pytest.approx(auto) and v.note == ""
    with pytest.raises(ValueError, match="percentiles"):
        v.auto_limits((99, 1))


def test_save_png_writes_a_figure(ds: xr.Dataset, tmp_path) -> None:
    import matplotlib.image

    v = C2View(ds)
    path = tmp_path / "view.png"
    v.save_png(str(path), dpi=50)
    img = matplotlib.image.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and len(np.unique(img.reshape(-1, img.shape[2]), axis=0)) > 20
