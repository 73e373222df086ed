"""Bad input to g2 Datasets and g2 fits, as a table: input → the error and the words that say what to do."""

from __future__ import annotations

import numpy as np
import pytest

import xpcsnb
from xpcsnb.core.errors import G2Error, XpcsError
from xpcsnb.fit.g2nlsq import fit_g2_nlsq

TAU = np.geomspace(1e-3, 1.0, 20)
Y = 1.0 + 0.2 * np.exp(-2 * 10.0 * TAU)


def _good(**kw):
    args = {"tau": TAU, "q": [0.01, 0.02], "g2_err": np.full((2, TAU.size), 0.01)} | kw
    return xpcsnb.g2(np.stack([Y, Y]), **args)


BUILD = [
    # (description, call, error, words in the message)
    ("g2 with 3 dims and no t_age", lambda: xpcsnb.g2(np.ones((2, 2, TAU.size)), tau=TAU), G2Error, "t_age"),
    ("tau not increasing", lambda: xpcsnb.g2(Y, tau=TAU[::-1]), G2Error, "strictly increasing"),
    ("tau repeated", lambda: xpcsnb.g2(Y, tau=np.r_[TAU[:1], TAU[:-1]]), G2Error, "strictly increasing"),
    ("tau zero", lambda: xpcsnb.g2(Y, tau=np.r_[0.0, TAU[1:]]), G2Error, "Drop the zero lag"),
    ("tau negative", lambda: xpcsnb.g2(Y, tau=np.r_[-1e-3, TAU[1:]]), G2Error, "> 0"),
    ("tau of the wrong length", lambda: xpcsnb.g2(Y, tau=TAU[:-1]), G2Error, r"lag\(s\)"),
    ("q zero", lambda: _good(q=[0.0, 0.02]), G2Error, "q must be > 0"),
    ("q negative", lambda: _good(q=[-0.01, 0.02]), G2Error, "q must be > 0"),
    ("q one value for two ROIs", lambda: _good(q=[0.01]), G2Error, "one value per ROI"),
    ("negative g2_err", lambda: _good(g2_err=-np.ones((2, TAU.size))), G2Error, "standard errors"),
]


@pytest.mark.parametrize("what,call,error,words", BUILD, ids=[b[0] for b in BUILD])
def test_g2_dataset_inputs(what, call, error, words) -> None:
    with pytest.raises(error, match=words):
        call()


def test_wrong_dims_of_a_hand_made_dataset() -> None:
    ds = _good().transpose("tau", "roi")
    with pytest.raises(G2Error, match="transpose"):
        ds.xpcs.fit_nlsq("single_exponential")


def test_age_resolved_g2_is_fitted_one_age_at_a_time() -> None:
    ds = xpcsnb.g2(np.ones((2, 1, TAU.size)) + 0.1, tau=TAU, t_age=[1.0, 2.0])
    with pytest.raises(G2Error, match="isel"):
        fit_g2_nlsq(ds, "single_exponential")


def test_a_g2_model_on_two_time_data(static_set) -> None:
    with pytest.raises(XpcsError, match="g2_from_c2"):
        static_set.xpcs.fit_nlsq("stretched_exponential")
    with pytest.raises(ValueError, match="g2_from_c2"):
        xpcsnb.fit_nlsq(static_set, "single_exponential")
    with pytest.raises(XpcsError, match="g2_from_c2"):
        static_set.xpcs.fit_cmc("stretched_exponential")


def test_a_two_time_model_on_g2_data() -> None:
    g2 = _good()
    with pytest.raises(XpcsError, match="static.*twotime.*choose one of"):
        g2.xpcs.fit_nlsq("static")
    with pytest.raises(G2Error, match="choose a g2 model"):
        fit_g2_nlsq(g2, "laminar_flow")
    with pytest.raises(XpcsError, match="twotime"):
        g2.xpcs.fit_cmc("static")


FIT = [
    ("unknown parameter name", {"bounds": {"D0": (0.0, 1.0)}}, "not parameters of this g2 fit"),
    ("fixed outside its bounds", {"fixed": {"stretch": 9.0}}, "outside its bounds"),
    ("per-angle scaling", {"spec": xpcsnb.FitSpec(scaling="shared")}, "no per-angle scaling"),
    ("unknown rate law", {"rate_law": "ballistic"}, "diffusive"),
    ("joint without a law", {"q_mode": "joint"}, "rate_law"),
    ("independent with a law", {"q_mode": "independent", "rate_law": "power"}, "drop q_mode"),
    ("unknown q_mode", {"q_mode": "all"}, "q_mode"),
    ("p with the diffusive law", {"rate_law": "diffusive", "p": 1.5}, "p = 2"),
    ("p without a law", {"p": 2.0}, "rate_law='power'"),
    ("p not a number", {"rate_law": "power", "p": np.nan}, "p must be a finite number"),
    ("p a string", {"rate_law": "power", "p": "2"}, "p must be a finite number"),
    ("the law's own rate in bounds", {"rate_law": "diffusive", "bounds": {"gamma": (1.0, 2.0)}},
     "not parameters of this g2 fit"),
]


@pytest.mark.parametrize("what,kwargs,words", FIT, ids=[f[0] for f in FIT])
def test_g2_fit_options(what, kwargs, words) -> None:
    with pytest.raises(XpcsError, match=words):
        fit_g2_nlsq(_good(), "stretched_exponential", **kwargs)


def test_a_rate_law_needs_q() -> None:
    ds = xpcsnb.g2(np.stack([Y, Y]), tau=TAU)
    with pytest.raises(G2Error, match="needs q"):
        ds.xpcs.fit_nlsq("single_exponential", rate_law="diffusive")


def test_cmc_refuses_a_joint_or_foreign_nlsq_result() -> None:
    ds = _good()
    joint = fit_g2_nlsq(ds, "single_exponential", rate_law="diffusive")
    with pytest.raises(G2Error, match="independent"):
        ds.xpcs.fit_cmc("single_exponential", nlsq=joint)
    other = fit_g2_nlsq(ds, "stretched_exponential")
    with pytest.raises(G2Error, match="not 'single_exponential'"):
        ds.xpcs.fit_cmc("single_exponential", nlsq=other)


ACCESSOR = [
    # (description, Dataset fixture, options, words): options of the other kind of fit are refused, not dropped
    ("contrast= on g2", "g2", {"contrast": 0.05}, r"contrast= cannot be used.*fixed=\{'contrast'"),
    ("scaling= on g2", "g2", {"scaling": "shared"}, "scaling= cannot be used"),
    ("free= and offset= on g2", "g2", {"free": ["stretch"], "offset": 1.0}, "free=, offset= cannot be used"),
    ("return_model= on g2", "g2", {"return_model": True}, "return_model= cannot be used"),
    ("rate_law= on two-time", "twotime", {"rate_law": "diffusive"}, "rate_law= cannot be used.*g2_from_c2"),
    ("p= on two-time", "twotime", {"p": 2.0}, "p= cannot be used"),
]


@pytest.mark.parametrize("what,kind,kwargs,words", ACCESSOR, ids=[a[0] for a in ACCESSOR])
def test_accessor_refuses_options_of_the_other_kind_of_fit(what, kind, kwargs, words, static_set) -> None:
    ds, model = (_good(), "stretched_exponential") if kind == "g2" else (static_set, "static")
    with pytest.raises(XpcsError, match=words):
        ds.xpcs.fit_nlsq(model, **kwargs)


@pytest.mark.parametrize("age,words", [
    ((1.0, 2.0, 3.0), "one window"), ((2.0, 1.0), "t_start < t_end"), ((0.0, np.nan), "one window"),
    ((100.0, 200.0), r"hold no pair of frames.*span"),
])
def test_g2_from_c2_age_window(age, words, static_set) -> None:
    from xpcsnb.core.errors import CorrelatorError

    with pytest.raises((XpcsError, CorrelatorError), match=words):
        static_set.xpcs.g2_from_c2(age=age)


def test_a_result_of_other_data_is_refused_by_cmc_plot_and_view() -> None:
    from xpcsnb.widgets import G2View

    ds = _good()
    other = xpcsnb.g2(np.stack([Y, 1.0 + 0.3 * np.exp(-2 * 3.0 * TAU)]), tau=TAU, q=[0.01, 0.02],
                      g2_err=np.full((2, TAU.size), 0.01))
    foreign = fit_g2_nlsq(other, "single_exponential")  # same ROI labels, same model, other data
    for call in (lambda: ds.xpcs.fit_cmc("single_exponential", nlsq=foreign, num_warmup=10, num_samples=10),
                 lambda: ds.xpcs.plot(foreign), lambda: G2View(ds, result=foreign)):
        with pytest.raises(G2Error, match=r"not fitted to these data.*ROI 1 has chi2"):
            call()
    own = fit_g2_nlsq(ds, "single_exponential")
    ds.isel(roi=[1]).xpcs.plot(own)  # a subset of the fitted data is its data


def test_a_joint_fit_refuses_a_roi_without_data() -> None:
    y = np.stack([Y, Y, Y])
    y[1] = np.nan
    ds = xpcsnb.g2(y, tau=TAU, q=[0.01, 0.02, 0.03], g2_err=np.full((3, TAU.size), 0.01))
    with pytest.raises(G2Error, match=r"position\(s\) \[1\] have \[0\] valid point.*drop_isel\(roi=\[1\]\)"):
        ds.xpcs.fit_nlsq("single_exponential", rate_law="diffusive")


def test_a_free_exponent_needs_two_distinct_q() -> None:
    ds = _good(q=[0.01, 0.01])
    with pytest.raises(G2Error, match="two or more distinct q.*p="):
        ds.xpcs.fit_nlsq("single_exponential", rate_law="power")
    assert bool(ds.xpcs.fit_nlsq("single_exponential", rate_law="power", p=2.0)["g2_nlsq_success"].all())


def test_a_derived_parameter_is_named_with_the_fitted_one_it_comes_from() -> None:
    with pytest.raises(G2Error, match=r"gamma_fast is not fitted but derived.*log_excess = ln\(gamma_fast/gamma_slow"):
        _good().xpcs.fit_nlsq("double_exponential", initial={"gamma_fast": 100.0})


def test_g2_from_two_time_data_in_frames_needs_the_frame_time() -> None:
    from xpcsnb.core.errors import CorrelatorError
    from xpcsnb.datasets import load

    frames = load("bnl_two_time_350")  # t in frames, q a placeholder ('arbitrary' units)
    with pytest.raises(CorrelatorError, match=r"t1 is in 'frame', not seconds.*assign_coords"):
        frames.xpcs.g2_from_c2()
    timed = frames.assign_coords(t1=("t1", frames.t1.values * 0.01, {"units": "s"}),
                                 t2=("t2", frames.t2.values * 0.01, {"units": "s"}))
    g = timed.xpcs.g2_from_c2()
    assert "q" not in g.coords  # a placeholder q is not carried as q [1/Å]
    np.testing.assert_allclose(g["tau"].values[:2], [0.01, 0.02])
