"""g2 and Γ(q) views build with the Agg backend, carry unit labels and draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from xpcsnb.core import G2Error, g2  # noqa: E402
from xpcsnb.fit.rates import fit_rates  # noqa: E402
from xpcsnb.models.onetime import single_exponential  # noqa: E402
from xpcsnb.plot.g2 import model_curves, plot_g2, plot_rates  # noqa: E402

TAU = np.geomspace(1e-4, 1.0, 40)
Q = np.array([0.002, 0.004, 0.006, 0.008, 0.01])
GAMMA = 1e6 * Q**2


def _data(err=True):
    rng = np.random.default_rng(0)
    y = np.asarray(single_exponential(TAU, 1.0, 0.2, GAMMA[:, None]))
    e = np.full(y.shape, 0.005)
    y = y + e * rng.standard_normal(y.shape)
    e[1, 3] = 0.0  # a point without data
    y[2, 5] = np.nan
    return g2(y, tau=TAU, q=Q, g2_err=e if err else None, roi=np.arange(1, 6))


def _fit():
    coef = np.stack([np.ones(5), np.full(5, 0.2), GAMMA], axis=1)
    return xr.Dataset(
        {"g2_nlsq_coefficients": (("roi", "param"), coef),
         "g2_nlsq_stderr": (("roi", "param"), 0.01 * coef),
         "g2_nlsq_success": ("roi", np.array([True, True, True, False, True]))},
        coords={"roi": np.arange(1, 6), "param": ["baseline", "contrast", "gamma"], "q": ("roi", Q)},
        attrs={"model": "single_exponential"},
    )


def _labels(fig):
    return {a.get_xlabel() for a in fig.axes} | {a.get_ylabel() for a in fig.axes}


def test_grid_with_fit_and_residuals():
    fig = plot_g2(_data(), _fit())
    labels = _labels(fig)
    assert {"τ [s]", "g2", "(g2 − fit)/σ"} <= labels
    assert len(fig.axes) == 10  # 5 data panels + 5 residual panels
    assert fig.axes[0].get_xscale() == "log"
    assert "q = 0.002 Å⁻¹" in fig.axes[0].get_title()
    plt.close(fig)


def test_model_curves_from_a_result_and_a_callable():
    ds = _data()
    m = model_curves(_fit(), TAU, ds["roi"].values)
    np.testing.assert_allclose(m, single_exponential(TAU, 1.0, 0.2, GAMMA[:, None]))
    c = model_curves(lambda t: np.ones_like(t), TAU, ds["roi"].values)
    assert c.shape == (5, TAU.size)
    fig = plot_g2(ds, lambda t: single_exponential(t, 1.0, 0.2, GAMMA[:, None]), layout="overlay")
    assert {"τ [s]", "g2", "q [Å⁻¹]"} <= _labels(fig) | {a.get_label() for a in fig.axes}
    plt.close(fig)


def test_overlay_without_fit_and_without_errors():
    fig = plot_g2(_data(err=False), layout="overlay", residuals=True)
    assert len(fig.axes) == 2  # the axis and its colour bar
    assert "τ [s]" in _labels(fig)
    plt.close(fig)
    fig = plot_g2(_data(err=False), _fit(), rois=[2, 4])
    assert "g2 − fit" in _labels(fig) and len(fig.axes) == 4
    plt.close(fig)


def test_rates_view():
    rng = np.random.default_rng(2)
    err = 0.05 * GAMMA
    r = fit_rates(q=Q, gamma=GAMMA + err * rng.standard_normal(5), gamma_err=err, law="power")
    fig = plot_rates(r)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "q [Å⁻¹]" and ax.get_ylabel() == "Γ [s⁻¹]"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert any("D =" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_bad_input():
    ds = _data()
    with pytest.raises(G2Error, match="layout"):
        plot_g2(ds, layout="stack")
    with pytest.raises(G2Error, match="not a one-time g2 model"):
        plot_g2(ds, _fit().assign_attrs(model="static"))
    with pytest.raises(G2Error, match="no ROI"):
        plot_g2(ds, rois=[9])
    with pytest.raises(G2Error, match="no ROI"):
        plot_g2(ds.assign_coords(roi=np.arange(11, 16)), _fit())
    with pytest.raises(G2Error, match="callable"):
        plot_g2(ds, fit=3.0)
    aged = g2(np.ones((2, 5, TAU.size)), tau=TAU, t_age=[1.0, 2.0])
    with pytest.raises(G2Error, match="t_age"):
        plot_g2(aged)
    with pytest.raises(G2Error, match="fit_rates"):
        plot_rates(ds)
