"""Kernel-side tests of the workbench (FitPanel): background fits, Cancel, one fit at a time,
out-of-date marks, selectors, the flagged result table, correlation matrix, exports, g2 cuts.

Clicks go through ``button.click()``; the fit runs in a worker process, ``panel.wait()`` waits for it.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core.errors import XpcsError
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.result import load_nlsq
from xpcsnb.widgets.cuts import g2_svg, lag_average, nice_ticks
from xpcsnb.widgets.fitpanel import FitPanel, explore, residual
from xpcsnb.widgets.table import (
    correlation_matrix,
    flag_parameters,
    load_parameters,
    parameters_csv,
    parameters_dataset,
    parameters_json,
    result_table_html,
    save_parameters,
)


@pytest.fixture(scope="module")
def fitted(static_set: xr.Dataset) -> tuple[FitPanel, xr.Dataset]:
    """A panel after one fit from the panel (2 of 3 angles selected)."""
    panel = FitPanel(static_set, "static")
    panel.phi_select.value = (0, 2)
    assert panel.editor.n_phi == 2
    panel.fit_button.click()
    assert panel.running  # returned at once: the fit runs in the background
    panel.fit_button.click()  # a double click runs one fit
    assert panel.ignored_clicks == 1
    res = panel.wait(timeout=300)
    assert res is not None, panel.error
    return panel, res


def _gone(pid: int | None) -> bool:
    """True when no process ``pid`` exists (any more)."""
    assert pid is not None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ---------------------------------------------------------------- the fit
def test_panel_fit_matches_fit_nlsq_and_recovers_truth(fitted, static_set: xr.Dataset, truths) -> None:
    panel, res = fitted
    assert not panel.running and panel.fit_button.description == "Fit" and not panel.fit_button.disabled
    assert bool(res["c2_nlsq_success"]) and panel.error == "" and res.sizes["phi"] == 2
    data = static_set.isel(phi=[0, 2])
    ref = fit_nlsq(data, "static", **panel.editor.fit_options(), return_model=True)
    np.testing.assert_allclose(res["c2_nlsq_coefficients"].values, ref["c2_nlsq_coefficients"].values, rtol=1e-8)
    for name in ("D0", "alpha"):
        v, e = float(res["c2_nlsq_coefficients"].sel(param=name)), float(res["c2_nlsq_stderr"].sel(param=name))
        assert abs(v - truths["static"][name]) < 5 * e, (name, v, e)
    assert panel.progress.bar_style in ("success", "warning") and "succeeded" in panel.status.value
    assert "NLSQ fit: success" in panel.result_html.value and "correlation matrix" in panel.result_html.value
    assert "parameters.csv" in panel.exports.value and "parameters.json" in panel.exports.value


def test_diagnostics_show_data_model_and_weighted_residual(fitted, static_set: xr.Dataset) -> None:
    panel, res = fitted
    data = static_set.isel(phi=[0, 2])
    assert panel.tabs.get_title(2) == "Diagnostics"
    assert panel.tabs.children[2].children[0].children == (panel.fit_viewer, panel.model_view, panel.residual_view)
    expected = (data["c2"].values - res["c2_model"].values) / data["sigma"].values
    rv = panel.residual_view
    np.testing.assert_allclose(np.frombuffer(rv.values, np.float32).reshape(40, 40), expected[0], atol=1e-4)
    assert rv.vmin == -rv.vmax and "weighted" in rv.title
    panel.fit_viewer.phi_index = 1  # the three maps follow one angle
    assert rv.phi_index == panel.model_view.phi_index == 1
    np.testing.assert_allclose(np.frombuffer(rv.values, np.float32).reshape(40, 40), expected[1], atol=1e-4)
    assert "φ = 90°" in panel.fit_g2.value and "xpcsnb-g2-model" in panel.fit_g2.value
    np.testing.assert_allclose(residual(data, res).values, data["c2"].values - res["c2_model"].values)


def test_cmc_tab_is_seeded_from_the_nlsq_fit(fitted, static_set: xr.Dataset) -> None:
    panel, res = fitted
    assert not panel.cmc_button.disabled
    cmc = panel.setup_cmc()
    assert panel.cmc_panel is cmc and cmc in panel.tabs.children[3].children
    assert cmc.nlsq is res and cmc.data.sizes["phi"] == 2
    with pytest.raises(ValueError, match="fit with NLSQ first"):
        FitPanel(static_set, "static").setup_cmc()


def test_edit_marks_the_result_out_of_date(static_set: xr.Dataset, fitted) -> None:
    _, res = fitted
    panel = FitPanel(static_set, "static")
    panel.phi_select.value = (0, 2)
    panel.show_result(res)  # a result fitted elsewhere is shown as the panel's own
    assert panel.result is res and not panel.stale and "out of date" not in panel.result_html.value
    assert not panel.cmc_button.disabled and not panel.use_result_button.disabled
    panel.editor.rows["D0"].initial.value = "5e3"
    assert panel.stale and "out of date" in panel.result_html.value and "out of date" in panel.status.value
    assert panel.residual_view.title.endswith("out of date (settings changed since this fit)")
    panel.show_result(res)
    assert not panel.stale
    panel.reset_button.click()
    assert panel.stale
    panel.show_result(res)
    panel.n_starts.value = 2
    assert panel.stale


def test_show_result_refuses_a_result_of_other_data(static_set: xr.Dataset, fitted) -> None:
    _, res = fitted
    panel = FitPanel(static_set, "static")  # all three angles selected
    with pytest.raises(ValueError, match="fitted on the angles .* select those angles first"):
        panel.show_result(res)
    panel.phi_select.value = (0, 2)
    with pytest.raises(ValueError, match="no c2_model: fit with return_model=True"):
        panel.show_result(res.drop_vars(["c2_model", "c2_residual"], errors="ignore"))
    with pytest.raises(ValueError, match="'laminar_flow' fit but the panel's model is 'static'"):
        panel.show_result(res.assign_attrs(model="laminar_flow"))
    with pytest.raises(XpcsError, match="not an NLSQ result"):
        panel.show_result(static_set)
    assert panel.result is None


def test_cancel_stops_the_worker_and_reenables_fit(static_set: xr.Dataset) -> None:
    panel = FitPanel(static_set, "static")
    panel.fit_button.click()
    assert panel.running and not panel.cancel_button.disabled and panel.job.running
    panel.cancel_button.click()
    assert panel.cancel_button.disabled and "cancelling" in panel.status.value
    assert panel.wait(timeout=120) is None and panel.result is None and panel.job.state == "cancelled"
    assert _gone(panel.job.pid)  # the worker process is gone
    assert "cancelled" in panel.status.value and panel.progress.bar_style == "warning"
    assert not panel.fit_button.disabled and panel.fit_button.description == "Fit" and not panel.running


def test_invalid_settings_block_the_fit_and_say_why(static_set: xr.Dataset) -> None:
    panel = FitPanel(static_set, "static")
    panel.editor.rows["D0"].initial.value = "1e"
    assert panel.fit_button.disabled and "highlighted in red" in panel.status.value
    panel.fit_button.click()  # a programmatic click runs the handler even when disabled
    assert panel.result is None and not panel.running and "D0: initial" in panel.error
    assert panel.progress.bar_style == "danger"
    panel.reset_button.click()
    assert not panel.fit_button.disabled


def test_selectors(static_set: xr.Dataset, multiq_set: xr.Dataset, laminar_set: xr.Dataset) -> None:
    panel = FitPanel(static_set, "static")
    assert "laminar_flow" not in panel.model_select.options  # no gap L in the data
    panel.scaling_select.value = "shared"
    assert panel.editor.fit_options()["bounds"]["contrast"] == (0.0, 1.0)
    panel.scaling_select.value = "individual"
    panel.per_angle.value = True
    assert "contrast_2" in panel.editor.rows
    panel.phi_select.value = ()
    assert panel.fit_button.disabled and "at least one angle" in panel.status.value
    mq = FitPanel(multiq_set, "static")
    assert len(mq.q_select.options) == 3 and not mq.q_select.disabled
    mq.q_select.value = 2
    assert mq.viewer.q == pytest.approx(0.007) and "q = 0.007" in mq.header.value
    assert mq.fit_data.attrs["q"] == pytest.approx(0.007) and mq.fit_data.sizes["phi"] == 3
    flow = explore(laminar_set)
    assert flow.model == "laminar_flow" and "gamma_dot_t0" in flow.editor.rows
    flow.model_select.value = "static"
    assert "gamma_dot_t0" not in flow.editor.rows and flow.editor.model == "static"


def test_panel_input_errors(static_set: xr.Dataset) -> None:
    with pytest.raises(ValueError, match="needs the gap L"):
        FitPanel(static_set, "laminar_flow")
    with pytest.raises(ValueError, match="unknown model"):
        FitPanel(static_set, "ballistic")
    assert explore(static_set).model == "static"


# ---------------------------------------------------------------- result table
def _with(res: xr.Dataset, name: str, **fields: float) -> xr.Dataset:
    out = res.copy(deep=True)
    for f, v in fields.items():
        out[f"c2_nlsq_{f}"].loc[{"param": name}] = v
    return out


def test_flags_at_bound_and_badly_determined(fitted) -> None:
    _, res = fitted
    d0, lo = float(res["c2_nlsq_coefficients"].sel(param="D0")), float(res["c2_nlsq_lower"].sel(param="D0"))
    flagged = _with(_with(res, "D0", coefficients=lo), "alpha", stderr=2.3 * abs(
        float(res["c2_nlsq_coefficients"].sel(param="alpha"))))
    flags = flag_parameters(flagged)
    assert flags["D0"][0] == "at lower bound"
    assert flags["alpha"] == ["badly determined (relative error 230 %)"]
    huge = _with(res, "D0", stderr=45 * d0)
    assert "badly determined (relative error 4500 %)" in flag_parameters(huge)["D0"]
    assert "D0" not in flag_parameters(res) and "alpha" not in flag_parameters(res)
    html = result_table_html(flagged)
    assert "at lower bound" in html and "relative error 230 %" in html and "xpcsnb-flagged" in html
    assert "Å²·s⁻¹⁻ᵅ" in html and "^" not in html
    with pytest.raises(ValueError, match="rel_err_limit"):
        flag_parameters(res, rel_err_limit=0)


def test_correlation_matrix_and_highlight(fitted) -> None:
    _, res = fitted
    r = correlation_matrix(res)
    free = [str(n) for n, f in zip(res["param"].values, res["c2_nlsq_vary"].values) if f]
    assert list(r["cov_i"].values) == free
    np.testing.assert_allclose(np.diag(r.values), 1.0)
    np.testing.assert_allclose(r.values, r.values.T)
    assert np.all(np.abs(r.values) <= 1 + 1e-9)
    cov = res["c2_nlsq_covariance"].copy()
    s = np.sqrt(float(cov.sel(cov_i="D0", cov_j="D0")) * float(cov.sel(cov_i="alpha", cov_j="alpha")))
    hot = res.copy(deep=True)
    for a, b in (("D0", "alpha"), ("alpha", "D0")):
        hot["c2_nlsq_covariance"].loc[{"cov_i": a, "cov_j": b}] = 0.99 * s
    assert correlation_matrix(hot).sel(cov_i="D0", cov_j="alpha") == pytest.approx(0.99)
    assert result_table_html(hot).count("xpcsnb-corr-high") >= 2


def test_parameter_exports(fitted) -> None:
    _, res = fitted
    rows = list(csv.DictReader(io.StringIO(parameters_csv(res))))
    assert [r["parameter"] for r in rows] == [str(n) for n in res["param"].values]
    assert float(rows[0]["coefficients"]) == pytest.approx(float(res["c2_nlsq_coefficients"][0]))
    doc = json.loads(parameters_json(res))
    assert doc["fit"]["model"] == "static" and len(doc["parameters"]) == res.sizes["param"]


def test_parameters_netcdf_round_trip(fitted, tmp_path) -> None:
    panel, res = fitted
    flagged = _with(res, "alpha", stderr=3.0 * abs(float(res["c2_nlsq_coefficients"].sel(param="alpha"))))
    path = save_parameters(flagged, tmp_path / "p.nc")
    back = load_parameters(path)
    xr.testing.assert_identical(back.drop_attrs(), parameters_dataset(flagged).drop_attrs())
    assert back.attrs["xpcsnb_kind"] == "nlsq-parameters" and back.attrs["model"] == "static"
    for f in ("coefficients", "stderr", "lower", "upper"):
        np.testing.assert_array_equal(back[f].values, res[f"c2_nlsq_{f}"].values if f != "stderr"
                                      else flagged["c2_nlsq_stderr"].values)
    assert back["flags"].sel(param="alpha").item() == "badly determined (relative error 300 %)"
    assert back["unit"].sel(param="D0").item() == "Å²/s^(1+alpha)"
    np.testing.assert_array_equal(back["vary"].values, res["c2_nlsq_vary"].values)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        save_parameters(res, path)
    assert path.read_bytes() == before
    save_parameters(res, path, overwrite=True)
    assert load_parameters(path)["flags"].sel(param="alpha").item() == ""
    with pytest.raises(ValueError, match="holds a 'nlsq-parameters' result"):
        load_nlsq(path)
    # the panel offers the same file as a download
    link = panel.exports.value
    data = link[link.index("data:application/x-netcdf;base64,") + 33:]
    (tmp_path / "dl.nc").write_bytes(base64.b64decode(data[:data.index("'")]))
    xr.testing.assert_identical(load_parameters(tmp_path / "dl.nc").drop_attrs(), parameters_dataset(res).drop_attrs())


# ---------------------------------------------------------------- g2 cuts
def test_lag_average_of_an_exponential_map_is_g2() -> None:
    t = 0.05 * np.arange(30)
    c2 = 1.0 + 0.3 * np.exp(-2 * 1.5 * np.abs(t[:, None] - t[None, :]))
    tau, g2 = lag_average(c2, t)
    np.testing.assert_allclose(tau, t[1:])
    np.testing.assert_allclose(g2, 1.0 + 0.3 * np.exp(-3.0 * tau))
    with pytest.raises(ValueError, match="square"):
        lag_average(c2[:, :5], t)
    svg = g2_svg(tau, g2, g2, title="cut")
    assert svg.startswith("<svg") and "τ [s]" in svg and "xpcsnb-g2-model" in svg and svg.count("<circle") == 29


def test_nice_ticks() -> None:
    assert nice_ticks(0.0, 1.0, 5) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1.03, 1.27, 4) == pytest.approx([1.1, 1.2])
