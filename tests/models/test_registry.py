"""The model registry: one table, built-in families, register/unregister, and bad definitions."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

import xpcsnb
from xpcsnb.core.errors import XpcsError
from xpcsnb.models import (HETERODYNE, LAMINAR_FLOW, STATIC, Mirror, Model, ModelError, Parameter, RateLaw,
                           get_model, make_grid, model_c2, model_names, register, registry, unregister)
from xpcsnb.models.homodyne import power


def _signal(theta, grid, i=None, j=None, k=None):
    lag = jnp.abs(grid.t[None, :] - grid.t[:, None]) if i is None else jnp.abs(grid.t[j] - grid.t[i])
    s = jnp.exp(-theta[0] * lag)
    return jnp.broadcast_to(s, (grid.phi.shape[0],) + s.shape) if i is None else s


def _p(name, lo=0.0, hi=1.0, init=0.5):
    return Parameter(name, "1", lo, hi, init, f"test parameter {name}")


def _model(name="toy_registry", **kw):
    kw.setdefault("parameters", (_p("rate"), _p("expo"), _p("shift")))
    return Model(name=name, signal=_signal, **kw)


@pytest.fixture
def cleanup():
    names = []
    yield names
    for n in names:
        if n in model_names():
            unregister(n)


def test_builtin_families_are_registered_in_order():
    assert model_names()[:3] == ("static", "laminar_flow", "heterodyne")
    assert get_model("static") is STATIC and get_model("laminar_flow") is LAMINAR_FLOW
    assert get_model("heterodyne") is HETERODYNE
    assert list(registry.MODELS)[:3] == ["static", "laminar_flow", "heterodyne"]
    assert registry.MODELS["laminar_flow"][:3] == STATIC.parameters
    assert registry.physics_names("static") == ("D0", "alpha", "D_offset")
    assert xpcsnb.models.get_model is get_model and xpcsnb.registry.get_model is get_model


def test_models_view_is_read_only_and_live(cleanup):
    with pytest.raises(TypeError):
        registry.MODELS["x"] = ()  # type: ignore[index]
    m = register(_model())
    cleanup.append(m.name)
    assert registry.MODELS["toy_registry"] == m.parameters
    assert registry.get("toy_registry", "expo").name == "expo"
    assert registry.get("toy_registry", "contrast") is registry.SCALING["contrast"]
    unregister("toy_registry")
    assert "toy_registry" not in registry.MODELS
    with pytest.raises(KeyError, match="unknown model 'toy_registry'.*static"):
        registry.MODELS["toy_registry"]


def test_name_helpers_take_a_model_object():
    m = _model("toy_object")
    assert registry.physics_names(m) == ("rate", "expo", "shift")
    assert list(registry.parameters(m)) == ["rate", "expo", "shift", "contrast", "offset"]
    assert registry.get(m, "shift").upper == 1.0
    with pytest.raises(KeyError, match="model 'toy_object' has no parameter 'D0'.*rate"):
        registry.get(m, "D0")


def test_duplicate_registration_is_refused_unless_replace(cleanup):
    first = register(_model("toy_dup"))
    cleanup.append("toy_dup")
    assert register(first) is first  # the same object again changes nothing
    second = _model("toy_dup")
    with pytest.raises(ModelError, match="'toy_dup' is already registered; pass replace=True"):
        register(second)
    assert get_model("toy_dup") is first
    assert register(second, replace=True) is second and get_model("toy_dup") is second
    with pytest.raises(ModelError, match="already registered"):
        register(_model("static"))
    assert get_model("static") is STATIC


def test_unknown_names_and_wrong_types():
    with pytest.raises(ModelError, match=r"unknown model 'nope'; registered models: \['static', 'laminar_flow', "
                                         r"'heterodyne'.*register"):
        get_model("nope")
    with pytest.raises(ValueError, match="unknown model"):  # ModelError is a ValueError and an XpcsError
        registry.physics_names("nope")
    assert issubclass(ModelError, XpcsError)
    with pytest.raises(TypeError, match="by name .str. or as an xpcsnb.models.Model, got int"):
        get_model(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="register.. takes an xpcsnb.models.Model, got str"):
        register("static")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="no model named 'nope' is registered"):
        unregister("nope")


BAD_DEFINITIONS = [
    ("empty name", dict(name=""), "non-empty string without spaces"),
    ("name with a space", dict(name="my model"), "non-empty string without spaces"),
    ("signal not callable", dict(signal=3.0), "signal must be callable"),
    ("no parameters", dict(parameters=()), "parameters is empty"),
    ("parameters as a string", dict(parameters="rate"), "must be a sequence of xpcsnb.models.Parameter"),
    ("a parameter that is not a Parameter", dict(parameters=(_p("rate"), "expo")), r"Parameter objects, got \['str'\]"),
    ("repeated parameter names", dict(parameters=(_p("rate"), _p("rate"))), r"unique; repeated: \['rate'\]"),
    ("a parameter named contrast", dict(parameters=(_p("rate"), _p("contrast"))), r"\['contrast'\] clash"),
    ("a parameter named like a per-angle offset", dict(parameters=(_p("offset_1"),)), r"\['offset_1'\] clash"),
    ("default_fixed of an unknown name", dict(default_fixed={"f2": 0.0}), r"default_fixed names \['f2'\]"),
    ("default_fixed value not finite", dict(default_fixed={"rate": math.nan}), "'rate' must be a finite number"),
    ("rate law of unknown names", dict(rate_laws=(RateLaw("rate", "alpha", "shift", power),)), r"names \['alpha'\]"),
    ("rate law not a RateLaw", dict(rate_laws=(("rate", "expo", "shift"),)), "must hold RateLaw objects"),
    ("start symmetry of an unknown name", dict(start_symmetries=(Mirror("phi0"),)), r"Mirror\('phi0'\) names no"),
    ("diagnose not callable", dict(diagnose="yes"), "diagnose must be callable"),
]


@pytest.mark.parametrize("description, change, message", BAD_DEFINITIONS, ids=[d[0] for d in BAD_DEFINITIONS])
def test_bad_model_definitions_are_refused(description, change, message):
    kw = dict(name="toy_bad", signal=_signal, parameters=(_p("rate"), _p("expo"), _p("shift")))
    kw.update(change)
    with pytest.raises(ModelError, match=message):
        Model(**kw)


def test_bad_parameter_definitions_are_refused():
    with pytest.raises(ValueError, match="Python identifier"):
        Parameter("D 0", "1", 0.0, 1.0, 0.5, "space in name")
    with pytest.raises(ValueError, match="lower bound 1.0 must be < upper bound 0.0"):
        Parameter("a", "1", 1.0, 0.0, 0.5, "inverted")
    with pytest.raises(ValueError, match="initial value 2.0 outside"):
        Parameter("a", "1", 0.0, 1.0, 2.0, "start outside")
    with pytest.raises(TypeError, match="prior must be an xpcsnb.models.Prior"):
        Parameter("a", "1", 0.0, 1.0, 0.5, "bad prior", prior=(0.0, 1.0))  # type: ignore[arg-type]


def test_models_compare_by_identity_and_hash():
    a, b = _model("toy_same"), _model("toy_same")
    assert a != b and a == a and len({a, b}) == 2
    assert "toy_same" in repr(a) and "rate" in repr(a)


def test_builtin_definitions_declare_their_symmetries_and_laws():
    for m in (LAMINAR_FLOW, HETERODYNE):
        assert Mirror("phi0") in m.start_symmetries
    assert [law.prefactor for law in HETERODYNE.rate_laws] == ["D0_ref", "D0_sample", "v0"]
    assert dict(HETERODYNE.default_fixed) == {"f2": 0.0}


def test_model_c2_is_offset_plus_contrast_times_signal():
    grid = make_grid(0.1 * np.arange(6), [0.0, 40.0, 80.0], 0.005, 2e6)
    theta = jnp.array([1e3, 0.2, 5.0, 0.01, 0.1, 0.0, 3.0])
    sig = np.asarray(LAMINAR_FLOW.signal(theta, grid))
    c, o = np.array([0.1, 0.2, 0.3]), np.array([1.0, 0.9, 1.1])
    np.testing.assert_allclose(np.asarray(model_c2(LAMINAR_FLOW, theta, grid, c, o)),
                               o[:, None, None] + c[:, None, None] * sig, rtol=0, atol=1e-15)
    np.testing.assert_allclose(np.asarray(model_c2(LAMINAR_FLOW, theta, grid, 0.5, 1.0)), 1.0 + 0.5 * sig,
                               rtol=0, atol=1e-15)
