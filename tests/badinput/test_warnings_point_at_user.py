"""Every xpcsnb warning names the user's line (this file), never a line inside the package."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from xpcsnb.core.errors import UnitsWarning
from xpcsnb.core.twotime import twotime
from xpcsnb.fit.diagnostics import ConvergenceWarning

HERE = __file__


def _only(record, category):
    got = [w for w in record if issubclass(w.category, category)]
    assert got, f"no {category.__name__} among {[str(w.message) for w in record]}"
    return got


def test_warning_raised_one_frame_down_names_the_caller():
    """A deprecated module attribute: the package's __getattr__ warns, called from this line."""
    from xpcsnb import xsvs

    with pytest.warns(DeprecationWarning, match="xpcsnb.xsvs.save_results is deprecated") as record:
        xsvs.save_results  # noqa: B018
    assert [w.filename for w in _only(record, DeprecationWarning)] == [HERE]


def test_warning_raised_two_modules_down_names_the_caller():
    """xsvs.FIT_STATUS: the package's __getattr__ reads the contrast module's, which warns."""
    from xpcsnb import xsvs

    with pytest.warns(DeprecationWarning, match="FIT_STATUS is deprecated") as record:
        xsvs.FIT_STATUS  # noqa: B018
    assert [w.filename for w in _only(record, DeprecationWarning)] == [HERE]


def test_twotime_units_warning_points_at_the_caller():
    c2 = np.ones((2, 8, 8)) + 0.1 * np.eye(8)
    with pytest.warns(UnitsWarning, match="radians") as record:
        twotime(c2, t=np.arange(8.0), phi=[0.1, 1.2], q=0.005)
    assert {w.filename for w in _only(record, UnitsWarning)} == {HERE}


def test_twotime_warning_through_simulate_points_at_the_caller():
    # simulate() → twotime(): two floors deep, still this file
    from xpcsnb.forward import simulate

    with pytest.warns(UnitsWarning, match="1/nm") as record:
        simulate("static", {"D0": 1e4, "alpha": 0.0, "D_offset": 0.0}, np.arange(6) * 0.1, phi=[0.0], q=54.0)
    assert {w.filename for w in _only(record, UnitsWarning)} == {HERE}


def test_nlsq_result_deprecation_points_at_the_caller(static_set):
    from xpcsnb.fit.nlsq import fit_nlsq
    from xpcsnb.fit.result import NLSQResult

    res = fit_nlsq(static_set.isel(t1=slice(0, 12), t2=slice(0, 12), phi=[0]), "static")
    with pytest.warns(DeprecationWarning, match="NLSQResult is deprecated") as record:
        NLSQResult(res)
    assert {w.filename for w in _only(record, DeprecationWarning)} == {HERE}


@pytest.mark.slow  # NUTS compile: ~60 s on a busy 2-core machine
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cmc_convergence_warning_points_at_the_caller(static_set):
    data = static_set.isel(t1=slice(0, 16), t2=slice(0, 16), phi=[0])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        data.xpcs.fit_cmc("static", n_shards=1, num_warmup=3, num_samples=20, num_chains=2, seed=5,
                          parallel=False, progress=False)
    got = _only(record, ConvergenceWarning)
    assert {w.filename for w in got} == {HERE}
