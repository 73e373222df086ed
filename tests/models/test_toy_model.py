"""A third model family registered inside this file runs through every public path.

The toy family is a single-exponential two-time model,
``C2 = offset + contrast · exp(−2Γ|t1 − t2|)`` (Γ [1/s]), defined and registered here
without touching a library file: simulate, NLSQ, CMC, ``ds.xpcs.model`` and the
parameter editor find it by name; simulate, evaluate and the editor also take it as an
unregistered Model object.
"""

import jax.numpy as jnp
import numpy as np
import pytest

import xpcsnb
from xpcsnb.forward import evaluate
from xpcsnb.models import Model, Parameter, get_model, model_names, register, registry, unregister
from xpcsnb.widgets import ParameterEditor

GAMMA = 2.0  # [1/s]


def single_exp_signal(theta, grid, i=None, j=None, k=None):
    """``exp(−2Γ|t2 − t1|)``: (n_rows, N, N) on the full grid, or (n,) at the points (i, j, k)."""
    gamma = theta[0]
    if i is None:
        lag = jnp.abs(grid.t[None, :] - grid.t[:, None])
        return jnp.broadcast_to(jnp.exp(-2.0 * gamma * lag), (grid.phi.shape[0],) + lag.shape)
    return jnp.exp(-2.0 * gamma * jnp.abs(grid.t[j] - grid.t[i]))


def make_toy(name: str = "toy_single_exp") -> Model:
    return Model(
        name=name,
        signal=single_exp_signal,
        parameters=(Parameter("gamma", "1/s", 1e-2, 50.0, 1.0, "relaxation rate Γ of g1 = exp(−Γ|t2 − t1|)"),),
        time_convention="the Dataset's own times t1 [s]",
    )


@pytest.fixture
def toy():
    model = register(make_toy())
    try:
        yield model
    finally:
        unregister(model.name)
    assert model.name not in model_names()


def _closed_form(ds, gamma, contrast, offset):
    t = ds["t1"].values
    return offset + contrast * np.exp(-2.0 * gamma * np.abs(t[None, :] - t[:, None]))


def test_registered_toy_is_known_by_name(toy):
    assert get_model("toy_single_exp") is toy
    assert registry.physics_names("toy_single_exp") == ("gamma",)
    assert registry.MODELS["toy_single_exp"] == toy.parameters
    assert registry.get("toy_single_exp", "gamma").unit == "1/s"


def test_simulate_and_model_follow_the_closed_form(toy):
    t = 0.05 * np.arange(30)
    ds = xpcsnb.simulate("toy_single_exp", {"gamma": GAMMA}, t, phi=[0.0, 45.0], q=0.005,
                         contrast=[0.3, 0.2], offset=1.0)
    np.testing.assert_allclose(ds["c2"].values[0], _closed_form(ds, GAMMA, 0.3, 1.0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(ds["c2"].values[1], _closed_form(ds, GAMMA, 0.2, 1.0), rtol=0, atol=1e-14)
    m = ds.xpcs.model("toy_single_exp", {"gamma": 0.5, "contrast_0": 0.1, "contrast_1": 0.4, "offset": 1.1})
    np.testing.assert_allclose(m["c2"].values[1], _closed_form(ds, 0.5, 0.4, 1.1), rtol=0, atol=1e-14)


def test_nlsq_recovers_gamma_and_model_reproduces_the_fit(toy):
    t = 0.05 * np.arange(40)
    ds = xpcsnb.simulate("toy_single_exp", {"gamma": GAMMA}, t, phi=[0.0, 90.0], q=0.005, contrast=0.3,
                         offset=1.0, noise=0.01, seed=3)
    res = ds.xpcs.fit_nlsq("toy_single_exp")
    assert bool(res["c2_nlsq_success"])
    gamma = float(res["c2_nlsq_coefficients"].sel(param="gamma"))
    err = float(res["c2_nlsq_stderr"].sel(param="gamma"))
    assert 0 < err < 0.1 * GAMMA
    assert abs(gamma - GAMMA) < 3 * err, (gamma, err)
    fitted = ds.xpcs.model("toy_single_exp", res)
    vals = {str(n): float(v) for n, v in zip(res["param"].values, res["c2_nlsq_coefficients"].values)}
    np.testing.assert_allclose(fitted["c2"].values[1], _closed_form(ds, gamma, vals["contrast_1"], vals["offset_1"]),
                               rtol=0, atol=1e-12)


def test_parameter_editor_builds_rows_for_the_toy(toy):
    ed = ParameterEditor("toy_single_exp")
    assert list(ed.rows) == ["gamma", "contrast", "offset"]
    assert ed.rows["gamma"].unit == "1/s" and ed.rows["gamma"].initial.number == 1.0
    ed.rows["gamma"].upper.value = 10.0
    opts = ParameterEditor("toy_single_exp", n_phi=2).fit_options()
    assert opts["bounds"]["gamma"] == (1e-2, 50.0) and set(opts["bounds"]) == {
        "gamma", "contrast_0", "contrast_1", "offset_0", "offset_1"}
    assert ed.fit_options()["bounds"]["gamma"] == (1e-2, 10.0)


def test_cmc_samples_the_toy(toy):
    t = 0.1 * np.arange(12)
    ds = xpcsnb.simulate("toy_single_exp", {"gamma": GAMMA}, t, phi=0.0, q=0.005, contrast=0.3, offset=1.0,
                         noise=0.005, seed=5)
    tree = ds.xpcs.fit_cmc("toy_single_exp", num_warmup=50, num_samples=50, num_chains=2, n_shards=1,
                           parallel=False, progress=False, warn=False, seed=1)
    draws = tree["posterior"]["gamma"].values
    assert draws.shape == (2, 50) and np.all(np.isfinite(draws))
    assert tree.attrs["model"] == "toy_single_exp"
    assert abs(np.median(draws) - GAMMA) < 0.5 * GAMMA


def test_an_unregistered_model_object_works_without_the_registry():
    toy = make_toy("toy_unregistered")
    assert "toy_unregistered" not in model_names()
    t = 0.05 * np.arange(20)
    ds = xpcsnb.simulate(toy, {"gamma": 1.5}, t, phi=[0.0, 30.0], q=[0.004, 0.006], contrast=0.25)
    assert ds["c2"].dims == ("q", "phi", "t1", "t2")
    np.testing.assert_allclose(ds["c2"].values[1, 0], _closed_form(ds, 1.5, 0.25, 1.0), rtol=0, atol=1e-14)
    m = evaluate(ds, toy, {"gamma": 1.5, "contrast_q1_0": 0.1, "contrast_q0_0": 0.2, "contrast_q0_1": 0.3,
                           "contrast_q1_1": 0.4, "offset": 1.0})
    np.testing.assert_allclose(m["c2"].values[0, 1], _closed_form(ds, 1.5, 0.3, 1.0), rtol=0, atol=1e-14)
    np.testing.assert_allclose(m["c2"].values[1, 0], _closed_form(ds, 1.5, 0.1, 1.0), rtol=0, atol=1e-14)
    assert list(ParameterEditor(toy).rows) == ["gamma", "contrast", "offset"]
    with pytest.raises(ValueError, match="unknown model 'toy_unregistered'"):
        get_model("toy_unregistered")
