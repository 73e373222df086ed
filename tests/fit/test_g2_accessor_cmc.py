"""ds.xpcs on g2 and two-time Datasets (dispatch on the Dataset kind), and CMC on a g2 problem."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xpcsnb  # noqa: E402
from xpcsnb.accessor import dataset_kind  # noqa: E402
from xpcsnb.core.g2 import validate_g2  # noqa: E402
from xpcsnb.fit.g2nlsq import fit_g2_nlsq  # noqa: E402
from xpcsnb.models.onetime import single_exponential  # noqa: E402

TAU = np.geomspace(1e-3, 10.0, 40)


def _g2(rates=(5.0, 50.0), seed=0):
    rng = np.random.default_rng(seed)
    y = np.array([single_exponential(TAU, 1.0, 0.2, g) for g in rates])
    err = np.full(y.shape, 0.003)
    return xpcsnb.g2(y + err * rng.standard_normal(y.shape), tau=TAU, q=np.linspace(0.01, 0.03, len(rates)), g2_err=err)


def test_dataset_kind_dispatch(static_set) -> None:
    g2 = _g2()
    res = g2.xpcs.fit_nlsq("single_exponential")
    assert [dataset_kind(d) for d in (static_set, g2, res)] == ["twotime", "g2", "result"]
    assert g2.xpcs.validate() is g2
    assert static_set.xpcs.validate() is static_set


def test_accessor_fit_is_the_plain_function() -> None:
    g2 = _g2()
    a = g2.xpcs.fit_nlsq("single_exponential", rate_law="diffusive")
    b = fit_g2_nlsq(g2, "single_exponential", rate_law="diffusive")
    np.testing.assert_array_equal(a["g2_nlsq_coefficients"], b["g2_nlsq_coefficients"])


def test_plot_of_a_g2_dataset_with_its_fit() -> None:
    import matplotlib.pyplot as plt

    g2 = _g2()
    fig = g2.xpcs.plot(g2.xpcs.fit_nlsq("single_exponential"))
    assert fig is not None and len(fig.axes) >= 2
    plt.close("all")


def test_rates_view_of_a_g2_result() -> None:
    import matplotlib.pyplot as plt

    g2 = _g2(rates=(5.0, 20.0, 45.0))  # Γ ∝ q² at q = 0.01, 0.02, 0.03
    res = g2.xpcs.fit_nlsq("single_exponential")
    fig = res.xpcs.plot_rates(law="diffusive")
    ax = fig.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "D =" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(xpcsnb.core.errors.XpcsError, match="plot_rates"):
        res.xpcs.plot()
    plt.close("all")


def test_g2_from_c2_lag_average_and_age_window(static_set) -> None:
    full = static_set.xpcs.g2_from_c2()
    validate_g2(full)
    assert full.sizes["roi"] == static_set.sizes["phi"]
    t = static_set["t1"].values
    window = static_set.xpcs.g2_from_c2(age=(t[0], t[len(t) // 2]))
    validate_g2(window)
    assert window["t_age"].ndim == 0 and t[0] < float(window["t_age"]) < t[len(t) // 2]
    res = full.xpcs.fit_nlsq("stretched_exponential")
    assert res["g2_nlsq_success"].any()


def test_cmc_per_roi_through_the_cmc_machinery() -> None:
    g2 = _g2(rates=(20.0,), seed=1)
    nlsq = g2.xpcs.fit_nlsq("single_exponential")
    post = g2.xpcs.fit_cmc("single_exponential", nlsq=nlsq, num_warmup=100, num_samples=100, warn=False)
    p = post["posterior"].to_dataset()
    assert set(p.data_vars) == {"baseline", "contrast", "gamma"}
    assert p["gamma"].dims == ("roi", "chain", "draw")
    mean, sd = float(p["gamma"].mean()), float(p["gamma"].std())
    est = float(nlsq["g2_nlsq_coefficients"].sel(param="gamma")[0])
    err = float(nlsq["g2_nlsq_stderr"].sel(param="gamma")[0])
    assert abs(mean - est) < 3 * err and 0.5 < sd / err < 2.0
    assert abs(mean - 20.0) < 4 * sd
    assert post.attrs["model_kind"] == "g2"
    assert post["diagnostics"]["r_hat"].dims == ("roi", "param")


def test_cmc_samples_the_rois_whose_nlsq_fit_succeeded_and_names_the_others() -> None:
    g2 = _g2(rates=(20.0, 5.0), seed=2)
    g2["g2"][1, 3:] = np.nan  # 3 valid points for 3 parameters: no fit (NO_DATA)
    nlsq = g2.xpcs.fit_nlsq("single_exponential")
    assert nlsq["g2_nlsq_success"].values.tolist() == [True, False]
    with pytest.warns(UserWarning, match=r"position\(s\) 1 \(NO_DATA\) not sampled"):
        post = g2.xpcs.fit_cmc("single_exponential", nlsq=nlsq, num_warmup=50, num_samples=50, warn=False,
                               progress=False)
    assert post["posterior"]["roi"].values.tolist() == [0]
    assert post.attrs["rois_not_sampled"].startswith("[1]")
    with pytest.raises(xpcsnb.core.errors.G2Error, match="ROI 1 has 3 valid point.*drop it"):
        g2.xpcs.fit_cmc("single_exponential", nlsq=nlsq, rois=[0, 1], num_warmup=50, num_samples=50)


@pytest.mark.slow
def test_cmc_derived_quantity_of_the_double_exponential() -> None:
    from xpcsnb.models.onetime import double_exponential

    rng = np.random.default_rng(2)
    y = double_exponential(TAU, 1.0, 0.25, 200.0, 5.0, 0.5) + 0.002 * rng.standard_normal(TAU.size)
    g2 = xpcsnb.g2(y, tau=TAU, g2_err=np.full(TAU.size, 0.002))
    post = g2.xpcs.fit_cmc("double_exponential", num_warmup=60, num_samples=60, warn=False)
    p = post["posterior"].to_dataset()
    assert np.all(p["gamma_fast"] > p["gamma_slow"])
