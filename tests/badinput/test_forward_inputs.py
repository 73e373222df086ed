"""Bad input to ``xpcsnb.simulate`` / ``xpcsnb.forward.evaluate``: input → expected error, as a table."""

import numpy as np
import pytest
import xarray as xr

from xpcsnb.core.errors import TwoTimeError, XpcsError
from xpcsnb.forward import evaluate, simulate
from xpcsnb.models import ModelError

T = 0.1 * np.arange(6)
STATIC = {"D0": 1e3, "alpha": 0.0, "D_offset": 0.0}
LAMINAR = dict(STATIC, gamma_dot_t0=0.01, beta=0.0, gamma_dot_t_offset=0.0, phi0=0.0)


def _ds(**kw):
    return simulate("static", STATIC, T, phi=[0.0, 90.0], q=0.005, **kw)


def _multi_q():
    return simulate("static", STATIC, T, phi=[0.0, 90.0], q=[0.004, 0.006])


def _with(**changes):
    return dict(STATIC, **changes)


SCALE = {"contrast": 0.3, "offset": 1.0}

CASES = [
    # --- simulate: physics parameters
    ("a parameter given as a list", lambda: simulate("static", _with(D0=[1e4, 2e4]), T),
     ModelError, r"parameter 'D0' must be a scalar \(one real number\), got an array of shape \(2,\)"),
    ("a parameter given as a string", lambda: simulate("static", _with(alpha="0.1"), T),
     ModelError, r"parameter 'alpha' must be a real number, got the string '0.1'"),
    ("a parameter given as a complex number", lambda: simulate("static", _with(alpha=1j), T),
     ModelError, r"parameter 'alpha' must be a real number, got the complex value"),
    ("a parameter given as None", lambda: simulate("static", _with(alpha=None), T),
     ModelError, r"parameter 'alpha' must be a real number, got None"),
    ("an unknown parameter", lambda: simulate("static", _with(D1=1.0), T),
     ModelError, r"unknown parameter\(s\) \['D1'\] for model 'static'; expected \['D0', 'alpha', 'D_offset'\]"),
    ("a missing parameter", lambda: simulate("static", {"D0": 1e3, "alpha": 0.0}, T),
     ModelError, r"missing parameter\(s\) \['D_offset'\] for model 'static'"),
    ("a non-finite parameter", lambda: simulate("static", _with(D0=np.nan), T),
     ModelError, r"D0 must be finite, got nan"),
    ("a parameter outside its bounds", lambda: simulate("static", _with(alpha=5.0), T),
     ModelError, r"alpha = 5.0 \[1\] is outside its bounds \[-2.0, 2.0\].*check_bounds=False"),
    ("params not a dict", lambda: simulate("static", [1e3, 0.0, 0.0], T),
     ModelError, r"params must be a dict \{name: value\} of the physics parameters of model 'static'"),
    # --- simulate: model
    ("an unknown model name", lambda: simulate("statik", STATIC, T),
     ModelError, r"unknown model 'statik'; registered models: \['static', 'laminar_flow', 'heterodyne'"),
    ("a model that is neither a name nor a Model", lambda: simulate(3, STATIC, T),
     TypeError, r"a model is given by name \(str\) or as an xpcsnb.models.Model, got int"),
    ("laminar flow without the gap L", lambda: simulate("laminar_flow", LAMINAR, T),
     XpcsError, r"model 'laminar_flow' needs the gap L \[Å\]"),
    # --- simulate: grid and scaling
    ("times given as a matrix", lambda: simulate("static", STATIC, np.zeros((3, 3))),
     XpcsError, r"t must be 1-D \(one time per frame\) \[s\], got shape \(3, 3\)"),
    ("non-uniform times", lambda: simulate("static", STATIC, [0.0, 0.1, 0.3, 0.4]),
     TwoTimeError, r"uniform"),
    ("a negative q", lambda: simulate("static", STATIC, T, q=-0.005),
     TwoTimeError, r"q must be finite and > 0"),
    ("repeated angles", lambda: simulate("static", STATIC, T, phi=[0.0, 0.0]),
     TwoTimeError, r"duplicate angles in phi"),
    ("a negative gap", lambda: simulate("laminar_flow", LAMINAR, T, L=-1.0),
     TwoTimeError, r"L must be finite and > 0"),
    ("contrast with the wrong number of angles", lambda: simulate("static", STATIC, T, phi=[0.0, 90.0],
                                                                  contrast=[0.1, 0.2, 0.3]),
     ValueError, r"contrast must be a scalar or one value per angle \(2\), got 3 values"),
    ("negative noise", lambda: simulate("static", STATIC, T, noise=-0.1),
     XpcsError, r"noise must be finite and >= 0 \(relative σ\), got -0.1"),
    ("noise given as an array", lambda: simulate("static", STATIC, T, noise=[0.1, 0.2]),
     XpcsError, r"argument 'noise' must be a scalar"),
    ("a fractional seed", lambda: simulate("static", STATIC, T, noise=0.1, seed=1.5),
     XpcsError, r"seed must be None or an integer >= 0, got 1.5"),
    # --- evaluate
    ("evaluate on something that is not a two-time Dataset", lambda: evaluate(xr.Dataset(), "static", STATIC),
     TwoTimeError, r"c2"),
    ("evaluate without contrast", lambda: evaluate(_ds(), "static", _with(offset=1.0)),
     XpcsError, r"params give no 'contrast' \(a scalar or one per angle, per-angle 'contrast_<k>'"),
    ("evaluate with contrast in two forms", lambda: evaluate(_ds(), "static", _with(contrast=0.3, contrast_0=0.2,
                                                                                     offset=1.0)),
     XpcsError, r"params give 'contrast' in several forms \['contrast', 'contrast_<k>'\]; give one"),
    ("evaluate with a per-angle contrast missing", lambda: evaluate(_ds(), "static", _with(contrast_0=0.3,
                                                                                         offset=1.0)),
     XpcsError, r"params give contrast_<k> but not for angle index\(es\) \[1\]"),
    ("evaluate with an angle index the Dataset lacks", lambda: evaluate(_ds(), "static", _with(contrast=0.3, offset=1,
                                                                                             offset_5=1.0)),
     XpcsError, r"'offset_5' names no row of this Dataset \(1 q value\(s\) × 2 angle\(s\)\)"),
    ("evaluate with a multi-q name on a single-q Dataset", lambda: evaluate(_ds(), "static",
                                                                           _with(contrast_q0_0=0.3, offset=1.0)),
     XpcsError, r"'contrast_q0_0' is a multi-q scaling name, but this Dataset has no q dimension"),
    ("evaluate on multi-q data with a per-row contrast missing", lambda: evaluate(
        _multi_q(), "static", _with(contrast_q0_0=0.3, contrast_q0_1=0.3, contrast_q1_0=0.3, offset=1.0)),
     XpcsError, r"params miss \['contrast_q1_1'\]"),
    ("evaluate with a non-finite contrast", lambda: evaluate(_ds(), "static", _with(contrast=np.inf, offset=1.0)),
     ValueError, r"contrast must be finite"),
    ("evaluate with an unknown name", lambda: evaluate(_ds(), "static", _with(contrast=0.3, offset=1.0, gamma=2.0)),
     ModelError, r"unknown parameter\(s\) \['gamma'\] for model 'static'.*plus contrast/offset"),
    ("evaluate with a physics parameter missing", lambda: evaluate(_ds(), "static", {"D0": 1e3, **SCALE}),
     ModelError, r"missing parameter\(s\) \['alpha', 'D_offset'\]"),
    ("evaluate with a fit result of another model", lambda: evaluate(_ds(), "static",
                                                                    xr.Dataset(attrs={"model": "laminar_flow"})),
     ModelError, r"params is a fit of model 'laminar_flow', not 'static'"),
    ("evaluate with params that are a list", lambda: evaluate(_ds(), "static", [1e3, 0.0, 0.0]),
     XpcsError, r"params must be a dict \{name: value\} or an NLSQ result Dataset, got list"),
    ("evaluate laminar flow on data without L", lambda: evaluate(_ds(), "laminar_flow", dict(LAMINAR, **SCALE)),
     XpcsError, r"model 'laminar_flow' needs the gap L \[Å\]: set ds.attrs\['L'\]"),
]


@pytest.mark.parametrize("description, call, exception, message", CASES, ids=[c[0] for c in CASES])
def test_bad_forward_input(description, call, exception, message):
    with pytest.raises(exception, match=message):
        call()
