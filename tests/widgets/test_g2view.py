"""G2View kernel side: one-time curves + Γ(q) linked by the ROI selection; two-time cuts linked to the map."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core import G2Error, g2
from xpcsnb.models.onetime import single_exponential
from xpcsnb.widgets.cuts import lag_average
from xpcsnb.widgets.g2view import G2View, q_colours

TAU = np.geomspace(1e-4, 1.0, 30)
Q = np.array([0.002, 0.004, 0.006, 0.008])
GAMMA = 1e6 * Q**2


def _g2():
    y = np.asarray(single_exponential(TAU, 1.0, 0.2, GAMMA[:, None]))
    e = np.full(y.shape, 0.004)
    y = y + e * np.random.default_rng(1).standard_normal(y.shape)
    return g2(y, tau=TAU, q=Q, g2_err=e, roi=np.arange(1, 5))


def _result():
    coef = np.stack([np.ones(4), np.full(4, 0.2), GAMMA], axis=1)
    return xr.Dataset(
        {"g2_nlsq_coefficients": (("roi", "param"), coef), "g2_nlsq_stderr": (("roi", "param"), 0.02 * coef),
         "g2_nlsq_success": ("roi", np.ones(4, bool))},
        coords={"roi": np.arange(1, 5), "param": ["baseline", "contrast", "gamma"], "q": ("roi", Q)},
        attrs={"model": "single_exponential"})


def test_onetime_selection_highlights_the_roi_in_both_plots():
    v = G2View(_g2(), _result())
    assert v.mode == "onetime"
    assert v.rates is not None and float(v.rates["D"]) == pytest.approx(1e6, rel=1e-6)
    assert v.selected == 1
    v.select(3)
    assert v.selected == 3 and v.roi.value == 2
    # the selected curve is drawn with its error bars and last (on top); its Γ point is ringed
    assert v.curves.value.count("class='roi selected'") == 1
    assert v.curves.value.rindex("data-row='2'") > v.curves.value.rindex("data-row='0'")
    assert "<line" in v.curves.value.split("class='roi selected'")[1]
    assert "class='roi selected' data-row='2'" in v.rates_plot.value
    assert v.curves.value.count("xpcsnb-g2-model") == 4
    assert "D = 1e+06 Å²·s⁻¹" in v.rates_plot.value  # the fitted law in text units
    with pytest.raises(ValueError, match="lag averages are of two-time data"):
        v.lag_averaged()
    with pytest.raises(ValueError, match="no ROI 9"):
        v.select(9)


def test_onetime_without_result_has_no_rates_and_rejects_bad_input():
    v = G2View(_g2())
    assert v.rates is None and v.rates_plot.value == "" and "xpcsnb-g2-model" not in v.curves.value
    with pytest.raises(G2Error, match="'g2' .* or 'c2'"):
        G2View(xr.Dataset({"x": ("a", [1.0])}))
    with pytest.raises(TypeError, match="Dataset"):
        G2View(np.zeros((3, 3)))


def test_q_colours_run_from_dark_to_light():
    c = q_colours(np.array([0.001, np.nan, 0.01]))
    assert c[1] == "#888888" and c[0] != c[2]
    assert sum(int(c[0][i:i + 2], 16) for i in (1, 3, 5)) < sum(int(c[2][i:i + 2], 16) for i in (1, 3, 5))


def test_twotime_cut_lag_average_and_links(static_set):
    from truths import simulate_set

    t = static_set["t1"].values
    clean = simulate_set("static", noise=0.0)
    v = G2View(static_set, xr.Dataset({"c2_model": clean["c2"]}))
    assert v.mode == "twotime"
    v.age.value = 5
    tau, d, m = v.cut_at(5)
    np.testing.assert_allclose(tau, t[6:] - t[5])
    np.testing.assert_array_equal(d, static_set["c2"].transpose("phi", "t1", "t2").values[0, 5, 6:])
    np.testing.assert_allclose(m, clean["c2"].transpose("phi", "t1", "t2").values[0, 5, 6:])
    assert "t1 = 1.25 s" in v.cut.value and "xpcsnb-g2-model" in v.lagavg.value
    # the map's angle picker sets the angle of the cuts
    v.map.phi_index = 2
    assert f"φ = {float(static_set['phi'][2]):g}°" in v.age_label.value
    tau_l, g_l = lag_average(static_set["c2"].transpose("phi", "t1", "t2").values[2], t)
    tau_v, g_v, m_v = v.lag_averaged()  # the map's angle
    np.testing.assert_allclose(tau_v, tau_l)
    assert g_v == pytest.approx(g_l, nan_ok=True) and v.lag_averaged(2)[1] == pytest.approx(g_l, nan_ok=True)
    np.testing.assert_allclose(m_v, lag_average(clean["c2"].transpose("phi", "t1", "t2").values[2], t)[1])
    with pytest.raises(ValueError, match="angle index 3 is out of range"):
        v.lag_averaged(3)
    # zooming the map moves the age to the centre of the visible t1 window
    v.map.zoom(t1=(t[20], t[30]))
    assert v.selected == 25


def test_twotime_updates_at_1000_squared_are_slices():
    import time

    t = 0.01 * np.arange(1000)
    c2 = 1 + 0.2 * np.exp(-np.abs(t[:, None] - t[None, :]))
    ds = xr.Dataset({"c2": (("t1", "t2"), c2)}, coords={"t1": t, "t2": t, "phi": 0.0})
    v = G2View(ds)
    t0 = time.perf_counter()
    v.age.value = 400
    elapsed = time.perf_counter() - t0
    tau, d, _ = v.cut_at(400)
    np.testing.assert_array_equal(d, c2[400, 401:])
    assert "t1 = 4 s" in v.age_label.value
    assert elapsed < 1.0, elapsed  # ~10 ms measured; generous for a busy CI


def test_a_click_on_a_curve_or_a_rate_point_selects_its_roi():
    v = G2View(_g2(), _result())
    v.rates_plot.picked = 3  # the page sends the data-row of the clicked Γ point
    assert v.selected == 4 and v.rates_plot.picked == -1
    assert "class='roi selected' data-row='3'" in v.curves.value
    v.curves.picked = 0
    assert v.selected == 1
    v.curves.picked = 99  # not a row: ignored
    assert v.selected == 1


def test_a_click_on_the_map_sets_the_age_of_the_cut(static_set):
    v = G2View(static_set)
    assert "renderWithPick" in v.map._esm and "export default { render };" not in v.map._esm
    v.map.pick_row = 12  # the page sends the t1 row under the click
    assert v.selected == 12 and v.map.pick_row == -1
    assert f"t1 = {float(static_set['t1'][12]):.4g} s" in v.cut.value


def test_twotime_cuts_carry_the_time_unit_of_the_data():
    t = np.arange(20.0)
    c2 = 1 + 0.2 * np.exp(-np.abs(t[:, None] - t[None, :]) / 5)
    ds = xr.Dataset({"c2": (("t1", "t2"), c2)},
                    coords={"t1": ("t1", t, {"units": "frame"}), "t2": ("t2", t, {"units": "frame"}), "phi": 0.0})
    v = G2View(ds)
    v.age.value = 5
    assert "t1 = 5 frame" in v.age_label.value and "τ [frame]" in v.cut.value and "τ [frame]" in v.lagavg.value
    assert "τ [s]" not in v.cut.value


def test_svg_figures_can_be_downloaded(static_set):
    import base64

    v = G2View(static_set)
    v.age.value = 3
    for widget, name in ((v.cut, "c2_cut.svg"), (v.lagavg, "g2_lag_average.svg")):
        page = widget.value
        assert f"download='{name}'" in page
        data = page[page.index("base64,") + 7:]
        svg = base64.b64decode(data[:data.index("'")]).decode()
        assert svg.startswith("<svg") and svg == page[:page.index("<div><a")]
