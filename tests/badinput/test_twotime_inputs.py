"""Bad input to the two-time data model, as a table: input → refused / warned / accepted.

Each row of ``REFUSED`` and ``WARNED`` is ``(description, call, expected class, message
regex)``; each row of ``ACCEPTED`` is ``(description, call)`` and must run without any
warning. The demo data and the README example are legitimate input too.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xpcsnb.core.errors import TwoTimeError, UnitsWarning
from xpcsnb.core.twotime import concat_q, q_value, time_step, twotime, validate_twotime


def _sym(n_phi=1, n=6, seed=0):
    a = 1 + 0.1 * np.random.default_rng(seed).random((n_phi, n, n))
    return (a + np.swapaxes(a, -1, -2)) / 2


def _single(q, *, phi=(0.0, 90.0), dt=0.1, n=6, **kw):
    return twotime(_sym(len(phi), n, seed=int(q * 1e4)), dt=dt, phi=list(phi), q=q, **kw)


def _multi():
    return twotime(np.stack([_sym(2, 6, seed=k) for k in range(3)]), dt=0.1, phi=[0, 90], q=[0.01, 0.02, 0.03])


UNIX_T = 1.7e9 + 1e-3 * np.arange(8)

REFUSED = [
    ("phi 0° and 360° are one angle",
     lambda: twotime(_sym(2), dt=0.1, phi=[0, 360], q=0.01), TwoTimeError, r"modulo 360.*\[0\.0, 360\.0\]"),
    ("phi −90° and 270° are one angle",
     lambda: twotime(_sym(3), dt=0.1, phi=[-90, 0, 270], q=0.01), TwoTimeError, r"\[-90\.0, 270\.0\] deg are all 270"),
    ("upper-triangle C2 (APS storage, zeros below the diagonal)",
     lambda: twotime(np.triu(_sym(2)), dt=0.1, phi=[0, 90], q=0.01), TwoTimeError,
     r"c2\[phi=0\] holds only its upper triangle.*Symmetrise.*full_from_upper"),
    ("only the second angle stored as upper triangle",
     lambda: twotime(np.stack([_sym(1)[0], np.triu(_sym(1)[0])]), dt=0.1, phi=[0, 90], q=0.01), TwoTimeError,
     r"c2\[phi=1\] holds only its upper triangle"),
    ("lower-triangle C2 (zeros above the diagonal)",
     lambda: twotime(np.tril(_sym(1)[0]), dt=0.1, q=0.01), TwoTimeError, "only its lower triangle"),
    ("upper-triangle slice of a multi-q C2",
     lambda: twotime(np.stack([_sym(1), np.triu(_sym(1))]), dt=0.1, q=[0.01, 0.02]), TwoTimeError,
     r"c2\[q=1, phi=0\] holds only its upper"),
    ("complex C2 (not cast with a ComplexWarning)",
     lambda: twotime(_sym(1) + 1e-3j, dt=0.1, q=0.01), TwoTimeError,
     r"c2 is complex.*imaginary part\| 0\.001.*c2\.real"),
    ("complex C2 with zero imaginary part",
     lambda: twotime(_sym(1).astype(complex), dt=0.1, q=0.01), TwoTimeError, "c2 is complex"),
    ("complex sigma",
     lambda: twotime(_sym(1), dt=0.1, q=0.01, sigma=np.full((1, 6, 6), 0.01 + 0j)), TwoTimeError, "sigma is complex"),
    ("t not uniform beyond the float resolution of Unix timestamps",
     lambda: twotime(_sym(1, 8)[0], t=UNIX_T + np.r_[0, 0, 0, 1e-4, 0, 0, 0, 0], q=0.01), TwoTimeError,
     "must be uniform"),
    ("dt disagreeing with Unix-timestamp t",
     lambda: twotime(_sym(1, 8)[0], t=UNIX_T, dt=1.1e-3, q=0.01), TwoTimeError, "disagrees"),
    ("xr.concat of single-q Datasets along q (no q coordinate)",
     lambda: validate_twotime(xr.concat([_single(0.01), _single(0.02)], dim="q")), TwoTimeError,
     r"no q coordinate.*concat_q"),
    ("xr.concat along a q index keeps a stale attrs['q']",
     lambda: validate_twotime(xr.concat([_single(0.01), _single(0.02)], dim=pd.Index([0.01, 0.02], name="q"))),
     TwoTimeError, r"attrs\['q'\] = 0\.01.*concat_q"),
    ("q attribute and scalar q coordinate disagree",
     lambda: validate_twotime(_multi().isel(q=1).assign_attrs(q=0.5)), TwoTimeError, "disagree"),
    ("q_value of a multi-q Dataset",
     lambda: q_value(_multi()), TwoTimeError, r"holds 3 q values.*isel\(q=i\)"),
    ("q_value without any q",
     lambda: q_value(_multi().isel(q=0).drop_vars("q")), TwoTimeError, "q .* is required"),
    ("concat_q of different time grids",
     lambda: concat_q([_single(0.01), _single(0.02, dt=0.2)]), TwoTimeError, "another time grid"),
    ("concat_q of different angles",
     lambda: concat_q([_single(0.01), _single(0.02, phi=(0.0, 45.0))]), TwoTimeError,
     r"dataset 1 has phi \[0\.0, 45\.0\]"),
    ("concat_q of different L",
     lambda: concat_q([_single(0.01, L=2e6), _single(0.02, L=1e6)]), TwoTimeError, "L=1000000.0"),
    ("concat_q with sigma on one input only",
     lambda: concat_q([_single(0.01, sigma=np.full((2, 6, 6), 0.01)), _single(0.02)]), TwoTimeError, "has no sigma"),
    ("concat_q of the same q twice",
     lambda: concat_q([_single(0.01), _single(0.01)]), TwoTimeError, "q values must be distinct"),
    ("concat_q of nothing",
     lambda: concat_q([]), TwoTimeError, "non-empty"),
]

WARNED = [
    ("phi in radians (0, π/4, π/2)",
     lambda: twotime(_sym(3), dt=0.1, phi=[0, np.pi / 4, np.pi / 2], q=0.01), UnitsWarning,
     r"look like radians.*units_check=False"),
    ("q in 1/nm (0.54 1/Å written as 54)",
     lambda: twotime(_sym(1), dt=0.1, q=54.0), UnitsWarning, r"q = \[54\.0\].*1/nm.*units_check=False"),
    ("q in 1/m",
     lambda: twotime(_sym(1), dt=0.1, q=5.4e7), UnitsWarning, "1/m"),
    ("one q of a multi-q set in 1/m",
     lambda: twotime(np.stack([_sym(1), _sym(1)]), dt=0.1, q=[0.01, 1e8]), UnitsWarning, r"q = \[100000000\.0\]"),
    ("q far below any XPCS q",
     lambda: twotime(_sym(1), dt=0.1, q=1e-7), UnitsWarning, "outside 1e-05"),
    ("dt in ms (10 ms written as 10, 400 frames)",
     lambda: twotime(_sym(1, 400), dt=10, q=0.01), UnitsWarning, r"dt = 10 s .*milliseconds.*units_check=False"),
    ("t in ms (steps of 20, 200 frames)",
     lambda: twotime(_sym(1, 200), t=20.0 * np.arange(200), q=0.01), UnitsWarning, "milliseconds"),
]

ACCEPTED = [
    ("Unix timestamps as t", lambda: twotime(_sym(1, 8)[0], t=UNIX_T, q=0.01)),
    ("Unix timestamps with the matching dt", lambda: twotime(_sym(1, 8)[0], t=UNIX_T, dt=1e-3, q=0.01)),
    ("one isel'd q of a multi-q Dataset (scalar q coordinate)", lambda: validate_twotime(_multi().isel(q=1))),
    ("scalar q coordinate equal to attrs['q']",
     lambda: validate_twotime(_multi().isel(q=1).assign_attrs(q=0.02))),
    ("xr.concat of isel'd single-q Datasets (q coordinate kept)",
     lambda: validate_twotime(xr.concat([_multi().isel(q=0), _multi().isel(q=2)], dim="q"))),
    ("phi in degrees within ±2π, all whole numbers", lambda: twotime(_sym(3), dt=0.1, phi=[0, 1, 2], q=0.01)),
    ("one sector centre near 0° (a single angle is never taken for radians)",
     lambda: twotime(_sym(1), dt=0.1, phi=0.37, q=0.01)),
    ("phi beyond 360° without a duplicate", lambda: twotime(_sym(2), dt=0.1, phi=[10, 380.5], q=0.01)),
    ("the BNL convention: t in frames (dt = 1)", lambda: twotime(_sym(1, 350), t=np.arange(350.0), q=1.0)),
    ("slow XPCS: dt = 5 s over 40 min", lambda: twotime(_sym(1, 500), dt=5.0, q=0.002)),
    ("dt in ms silenced by units_check=False", lambda: twotime(_sym(1, 400), dt=10, q=0.01, units_check=False)),
    ("q in 1/m silenced by units_check=False", lambda: twotime(_sym(1), dt=0.1, q=5.4e7, units_check=False)),
    ("a full matrix with zeros on both sides", lambda: twotime(np.eye(5), dt=0.1, q=0.01)),
    ("an all-zero matrix (nothing to halve)", lambda: twotime(np.zeros((5, 5)), dt=0.1, q=0.01)),
]


@pytest.mark.parametrize("description, call, expected, match", REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(description, call, expected, match):
    with pytest.raises(expected, match=match):
        call()


@pytest.mark.parametrize("description, call, expected, match", WARNED, ids=[r[0] for r in WARNED])
def test_warned(description, call, expected, match):
    with pytest.warns(expected, match=match):
        ds = call()
    validate_twotime(ds)  # a warning, not a refusal


@pytest.mark.parametrize("description, call", ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_accepted_without_warning(description, call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(call(), xr.Dataset)


def test_unix_timestamps_keep_their_times_and_step():
    ds = twotime(_sym(1, 8)[0], t=UNIX_T, q=0.01)
    np.testing.assert_array_equal(ds["t1"].values, UNIX_T)
    assert time_step(ds) == pytest.approx(1e-3, rel=1e-3)


def test_scalar_q_coordinate_is_the_single_q_value():
    mq = _multi()
    one = mq.isel(q=1)
    assert q_value(one) == 0.02 and q_value(_single(0.005)) == 0.005
    assert "q" not in one.attrs and validate_twotime(one) is one


def test_concat_q_rebuilds_the_multi_q_dataset():
    mq = _multi()
    parts = [mq.isel(q=k).drop_vars("q").assign_attrs(q=float(mq.q[k]), note="same") for k in range(3)]
    back = concat_q(parts)
    xr.testing.assert_identical(back.drop_attrs(), mq.drop_attrs())
    assert back.attrs["note"] == "same" and "q" not in back.attrs and time_step(back) == time_step(mq)
    assert concat_q([mq.isel(q=0), mq.isel(q=[1, 2])])["q"].values.tolist() == [0.01, 0.02, 0.03]
    with_sigma = concat_q([_single(q, sigma=np.full((2, 6, 6), q)) for q in (0.01, 0.02)])
    np.testing.assert_array_equal(with_sigma["sigma"].values[:, 0, 0, 0], [0.01, 0.02])


def test_demo_datasets_and_readme_example_raise_no_warning():
    """Legitimate input is neither refused nor warned about (demo data, README example)."""
    import xpcsnb
    from xpcsnb import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in datasets.names():
            validate_twotime(datasets.load(name))
        truth = dict(D0=1e4, alpha=-0.4, D_offset=100.0, gamma_dot_t0=5e-4, beta=0.3,
                     gamma_dot_t_offset=2e-5, phi0=4.0)
        ds = xpcsnb.simulate("laminar_flow", truth, t=0.1 * np.arange(200), phi=[0, 45, 90],
                             q=0.0054, L=2e6, contrast=0.3, offset=1.0, noise=0.01, seed=0)
        res = ds.xpcs.fit_nlsq("laminar_flow")
        resid = ds.c2 - ds.xpcs.model("laminar_flow", res).c2
    assert bool(res["c2_nlsq_success"]) and "poor fit" not in str(res["c2_nlsq_message"].values)
    assert float(np.abs(resid).mean()) < 0.02
