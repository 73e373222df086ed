"""NLSQ reports (text and HTML): text units, flags for parameters at a bound or badly determined,
the correlation list (text) and the collapsible correlation matrix (HTML)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xpcsnb.fit.nlsq import fit_nlsq
from xpcsnb.fit.report import correlation_html, flag_parameters, report_html, report_text


@pytest.fixture(scope="module")
def res(static_set: xr.Dataset) -> xr.Dataset:
    """Static fit of two angles, shared scaling, D_offset fixed at its truth 0 (4 free parameters)."""
    return fit_nlsq(static_set.isel(phi=[0, 2]), "static", scaling="shared", n_starts=1, fixed={"D_offset": 0.0})


def _with(res: xr.Dataset, name: str, **fields: float) -> xr.Dataset:
    out = res.copy(deep=True)
    for f, v in fields.items():
        out[f"c2_nlsq_{f}"].loc[{"param": name}] = v
    return out


def _value(res: xr.Dataset, field: str, name: str) -> float:
    return float(res[f"c2_nlsq_{field}"].sel(param=name))


def test_report_units_are_text_units(res: xr.Dataset) -> None:
    text, page = report_text(res), report_html(res)
    assert "Å²·s⁻¹⁻ᵅ" in text and "Å²·s⁻¹⁻ᵅ" in page
    assert "^" not in text and "^" not in page
    assert str(res.xpcs.report()) == text and res.xpcs.report()._repr_html_() == page


def test_a_good_fit_has_no_flags(res: xr.Dataset) -> None:
    assert flag_parameters(res) == {}
    assert "flagged" not in report_text(res) and "xpcsnb-flagged" not in report_html(res)
    assert "(fixed)" in next(line for line in report_text(res).splitlines() if line.strip().startswith("D_offset"))


@pytest.mark.parametrize(("name", "fields", "flag"), [
    ("D0", {"coefficients": "lower"}, "at lower bound"),
    ("alpha", {"coefficients": "upper"}, "at upper bound"),
    ("alpha", {"stderr": 2.3}, "badly determined (relative error 230 %)"),
    ("D0", {"stderr": 45.0}, "badly determined (relative error 4500 %)"),
    ("D0", {"stderr": np.nan}, "no standard error"),
])
def test_flags_in_text_and_html(res: xr.Dataset, name: str, fields: dict, flag: str) -> None:
    v = _value(res, "coefficients", name)
    values = {f: (_value(res, x, name) if isinstance(x, str) else x * abs(v) if np.isfinite(x) else x)
              for f, x in fields.items()}
    bad = _with(res, name, **values)
    assert flag in flag_parameters(bad)[name]
    text = report_text(bad)
    row = next(line for line in text.splitlines() if line.split() and line.split()[0] == name)
    assert flag in row and "1 parameter(s)" in text
    page = report_html(bad)
    assert flag in page and "xpcsnb-flagged" in page and "1 parameter(s) flagged" in page


def test_the_flag_thresholds_are_arguments(res: xr.Dataset) -> None:
    v = _value(res, "coefficients", "alpha")
    half = _with(res, "alpha", stderr=0.5 * abs(v))
    assert "alpha" not in flag_parameters(half)
    assert flag_parameters(half, rel_err_limit=0.4)["alpha"] == ["badly determined (relative error 50 %)"]
    lo, hi = _value(res, "lower", "D0"), _value(res, "upper", "D0")
    near = _with(res, "D0", coefficients=lo + 0.01 * (hi - lo))
    assert "D0" not in flag_parameters(near) and flag_parameters(near, bound_tol=0.02)["D0"] == ["at lower bound"]
    for bad in ({"rel_err_limit": 0}, {"bound_tol": -1}):
        with pytest.raises(ValueError, match="rel_err_limit must be > 0 and bound_tol >= 0"):
            flag_parameters(res, **bad)


def test_html_has_a_collapsible_correlation_matrix(res: xr.Dataset) -> None:
    page = report_html(res)
    free = [str(n) for n, f in zip(res["param"].values, res["c2_nlsq_vary"].values) if f]
    assert "<details class='xpcsnb-correlation'>" in page and "<summary>correlation matrix" in page
    matrix = page[page.index("<details"):page.index("</details>")]
    assert matrix.count("<tr>") == len(free) + 1 and matrix.count("+1.00") == len(free)
    cov = res["c2_nlsq_covariance"]
    s = np.sqrt(float(cov.sel(cov_i="D0", cov_j="D0")) * float(cov.sel(cov_i="alpha", cov_j="alpha")))
    hot = res.copy(deep=True)
    for a, b in (("D0", "alpha"), ("alpha", "D0")):
        hot["c2_nlsq_covariance"].loc[{"cov_i": a, "cov_j": b}] = -0.99 * s
    before = correlation_html(res)
    n_high = before.count("xpcsnb-corr-high") // 2
    assert f"{n_high} pair(s) with |r| &gt; 0.95" in before and abs(float(cov.sel(cov_i="D0", cov_j="alpha"))) < 0.95 * s
    assert correlation_html(hot).count("xpcsnb-corr-high") == before.count("xpcsnb-corr-high") + 2
    assert f"{n_high + 1} pair(s) with |r| &gt; 0.95" in report_html(hot)
    assert "C(D0, alpha) = -0.9900" in report_text(hot)


def test_stacked_results_report_one_block_per_q(res: xr.Dataset) -> None:
    from xpcsnb.fit.result import concat_q

    both = concat_q([res, _with(res, "D0", coefficients=_value(res, "lower", "D0"))], np.array([0.004, 0.005]))
    text, page = report_text(both), report_html(both)
    assert text.count("[[NLSQ fit]]") == 2 and page.count("<details") == 2
    assert text.count("at lower bound") == 1 and page.count("1 parameter(s) flagged") == 1
    with pytest.raises(ValueError, match="select one first"):
        flag_parameters(both)
