"""A multi-q Dataset (3 q × 3 φ) through the whole API: model/residuals of its fits, frame averaging, CMC."""

import numpy as np
import pytest

import xpcsnb  # noqa: F401  (registers ds.xpcs)
from xpcsnb.core.errors import XpcsError
from xpcsnb.core.twotime import time_step
from xpcsnb.fit.cmc import fit_cmc
from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.result import parameter_values
from xpcsnb.forward import evaluate


@pytest.fixture(scope="module")
def joint(multiq_set):
    res = fit_nlsq(multiq_set, "static", return_model=True)
    assert bool(res["c2_nlsq_success"])
    return res


@pytest.fixture(scope="module")
def independent(multiq_set):
    res = fit_nlsq(multiq_set, "static", q_mode="independent", return_model=True)
    assert bool(res["c2_nlsq_success"].all())
    return res


def test_model_and_residuals_of_the_joint_fit(multiq_set, joint):
    """The per-(q, φ) scaling contrast_q<a>_<k> reaches the model: it is the fit's own model matrix."""
    assert "contrast_q2_1" in joint["param"].values
    model = multiq_set.xpcs.model("static", joint)
    assert model["c2"].dims == ("q", "phi", "t1", "t2")
    np.testing.assert_allclose(model["c2"].values, joint["c2_model"].values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model["q"].values, multiq_set["q"].values)
    resid = multiq_set.xpcs.residuals("static", joint)
    np.testing.assert_allclose(resid.values, (multiq_set["c2"] - joint["c2_model"]).values, rtol=0, atol=1e-12)
    by_name = evaluate(multiq_set, "static", parameter_values(joint))  # the same from the dict of names
    np.testing.assert_allclose(by_name["c2"].values, model["c2"].values, rtol=0, atol=1e-15)
    np.testing.assert_allclose(multiq_set.isel(q=1).xpcs.model("static", {
        **{n: float(joint["c2_nlsq_coefficients"].sel(param=n)) for n in ("D0", "alpha", "D_offset")},
        **{f"contrast_{k}": float(joint["c2_nlsq_coefficients"].sel(param=f"contrast_q1_{k}")) for k in range(3)},
        **{f"offset_{k}": float(joint["c2_nlsq_coefficients"].sel(param=f"offset_q1_{k}")) for k in range(3)},
    })["c2"].values, joint["c2_model"].values[1], rtol=0, atol=1e-12)


def test_model_of_the_independent_fit_is_evaluated_q_by_q(multiq_set, independent):
    model = multiq_set.xpcs.model("static", independent)
    assert model["c2"].dims == ("q", "phi", "t1", "t2")
    np.testing.assert_allclose(model["c2"].values, independent["c2_model"].values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(multiq_set.xpcs.residuals("static", independent).values,
                               (multiq_set["c2"] - independent["c2_model"]).values, rtol=0, atol=1e-12)


def test_multi_q_fits_are_refused_on_other_q(multiq_set, joint, independent):
    other = multiq_set.assign_coords(q=multiq_set["q"] * 1.1)
    for res in (joint, independent):
        with pytest.raises(XpcsError, match="evaluate a multi-q fit on the q values it was fitted to"):
            other.xpcs.model("static", res)
    with pytest.raises(XpcsError, match=r"fit per q .* select one fit with params.sel\(q=...\)"):
        multiq_set.isel(q=0).xpcs.model("static", independent)


@pytest.mark.parametrize("avg", ["stride", "coarsen"])
def test_fits_of_frame_averaged_multi_q_data(multiq_set, truths, avg):
    """Frame averaging (strided isel or coarsen) gives a Dataset every engine takes, with the new step."""
    if avg == "stride":
        ds = multiq_set.isel(t1=slice(None, None, 2), t2=slice(None, None, 2))
    else:
        ds = multiq_set.coarsen(t1=2, t2=2).mean()
    res = fit_nlsq(ds, "static")
    assert bool(res["c2_nlsq_success"]) and res.attrs["dt"] == pytest.approx(2 * time_step(multiq_set))
    assert int(res["c2_nlsq_n_data"]) == 9 * 15 * 14 // 2
    if avg == "stride":  # exactly the data on every other frame: unbiased
        for name, value in truths["static"].items():
            v, e = (float(res[f"c2_nlsq_{f}"].sel(param=name)) for f in ("coefficients", "stderr"))
            assert abs(v - value) < 3 * e, (name, v, e)


@pytest.mark.slow  # ~30 s of CPU (NUTS compile); 2 q × 2 φ runs in tests/fit/test_cmc.py
def test_cmc_of_the_3q_3phi_dataset_seeded_by_the_joint_fit(multiq_set):
    ds = multiq_set.isel(t1=slice(0, 16), t2=slice(0, 16))
    joint = fit_nlsq(ds, "static")
    out = fit_cmc(ds, "static", nlsq=joint, n_shards=2, shard_by="angle_balanced", num_warmup=60,
                  num_samples=60, seed=2, parallel=False, progress=False, warn=False)
    post = out["posterior"]
    assert post["contrast"].dims == ("chain", "draw", "q", "phi") and post["contrast"].shape[2:] == (3, 3)
    np.testing.assert_allclose(post["q"].values, multiq_set["q"].values)
    assert out.attrs["n_points"] == 9 * 16 * 15 // 2
    names = [f"contrast_q{a}_{k}" for a in range(3) for k in range(3)]
    fitted, err = (joint[f"c2_nlsq_{f}"].sel(param=names).values for f in ("coefficients", "stderr"))
    mean = post["contrast"].mean(("chain", "draw")).values.ravel()  # (q, φ) in the order of the NLSQ names
    assert np.all(np.abs(mean - fitted) < 3 * err + 0.005), (mean, fitted, err)


def test_plot_fit_of_multi_q_fits_draws_every_selected_q_and_phi(multiq_set, joint, independent):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xpcsnb.plot.twotime import plot_fit

    fig = plot_fit(multiq_set, joint)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 9 * 3  # data | model | residual for every (q, φ)
    assert images[-1].get_title() == "(data − model)/σ, q = 0.007 Å⁻¹, phi = 90°"
    np.testing.assert_allclose(images[4].images[0].get_array(), joint["c2_model"].values[0, 1])
    assert fig.get_suptitle().startswith("static: chi2_red = ")
    plt.close(fig)
    fig = plot_fit(multiq_set, independent, q=[0.007, 0.004], max_angles=2)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 2 * 2 * 3 and images[0].get_title() == "data, q = 0.007 Å⁻¹, phi = 0°"
    assert fig.get_suptitle().count("chi2_red") == 2  # one fit per q
    # rows (0.007, 0°), (0.007, 45°), (0.004, 0°), ...: panel 7 is the model of q = 0.004, φ = 0°
    np.testing.assert_allclose(images[7].images[0].get_array(), independent["c2_model"].values[0, 0])
    plt.close(fig)
    with pytest.raises(XpcsError, match="not on the grid of this Dataset"):
        plot_fit(multiq_set.isel(q=0), joint)
