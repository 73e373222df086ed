"""Kernel-side tests of the CMC diagnostics view, on a result tree assembled from known draws:
one well-mixed shard and one whose chains disagree (its R-hat must be coloured bad)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from xpcsnb.fit.diagnostics import THRESHOLDS, convergence_warnings, shard_diagnostics, stack_diagnostics
from xpcsnb.fit.priors import BoundedPrior
from xpcsnb.models import Prior
from xpcsnb.widgets import Diagnostics
from xpcsnb.widgets.diagnostics import parse_priors, remedy

PNG = b"\x89PNG\r\n\x1a\n"


def _posterior(rng, shift: float) -> xr.Dataset:
    chains, draws = 2, 500
    d0 = 1e4 + 300 * rng.standard_normal((chains, draws))
    d0[1] += shift  # chains that disagree by `shift`
    contrast = 0.3 + 0.01 * rng.standard_normal((chains, draws, 2))
    return xr.Dataset({"D0": (("chain", "draw"), d0, {"units": "Å²/s"}),
                       "contrast": (("chain", "draw", "phi"), contrast, {"units": "1"})},
                      coords={"phi": [0.0, 90.0]})


def _stats(rng, n_div: int) -> xr.Dataset:
    energy = rng.standard_normal((2, 500))
    diverging = np.zeros((2, 500), bool)
    diverging[0, :n_div] = True
    return xr.Dataset({"energy": (("chain", "draw"), energy), "diverging": (("chain", "draw"), diverging)})


@pytest.fixture(scope="module")
def tree() -> xr.DataTree:
    rng = np.random.default_rng(4)
    shards = [(_posterior(rng, 0.0), _stats(rng, 0)), (_posterior(rng, 3000.0), _stats(rng, 3))]
    diag = stack_diagnostics(shard_diagnostics(p, s) for p, s in shards)
    messages = convergence_warnings(diag, THRESHOLDS, n_draws=1000)
    combined = xr.concat([p for p, _ in shards], "draw").assign_coords(draw=np.arange(1000))
    groups = {"posterior": combined, "diagnostics": diag}
    for s, (p, st) in enumerate(shards):
        groups[f"shard_{s}/posterior"] = p
        groups[f"shard_{s}/sample_stats"] = st
    out = xr.DataTree.from_dict(groups)
    priors = {"D0": BoundedPrior(Prior("truncated_normal", 1e4, 2e3), 100.0, 1e5, "nlsq"),
              "contrast_0": BoundedPrior(Prior("uniform", 0.0, 1.0), 0.0, 1.0, "registry")}
    out.attrs = {"model": "static", "num_chains": 2, "num_samples": 500, "executor": "sequential",
                 "wall_time_s": 1.0, "warnings": "\n".join(messages), "converged": int(not messages),
                 "priors": "\n".join(f"{n}: {bp.describe()}" for n, bp in priors.items()), **THRESHOLDS.as_attrs()}
    return out


def test_table_colours_the_bad_shard(tree) -> None:
    view = Diagnostics(tree)
    html = view.table.value
    assert "shard 0" in html and "shard 1" in html and "worst over shards" in html
    d = tree["diagnostics"]
    assert float(d["r_hat"].sel(shard=1, param="D0")) > 1.5  # the disagreeing chains
    # shard 1's D0 R-hat, the worst-over-shards D0 R-hat, shard 1's divergences: all bad
    assert view.bad_cells >= 3
    bad_rhat = f"{float(d['r_hat'].sel(shard=1, param='D0')):.4g}</td>"
    assert f"xpcsnb-diag-bad' style='background:#ffebe9;color:#cf222e;font-weight:bold;padding:1px 6px;" \
           f"text-align:right'>{bad_rhat}" in html
    good_rhat = f"{float(d['r_hat'].sel(shard=0, param='D0')):.4g}</td>"
    assert f"xpcsnb-diag-ok' style='color:#1a7f37;padding:1px 6px;text-align:right'>{good_rhat}" in html
    assert "divergences" in html and "E-BFMI" in html
    assert "✗" in view.header.value


def test_warnings_listed_with_what_to_do(tree) -> None:
    view = Diagnostics(tree)
    text = view.warnings_html.value
    assert "R-hat &gt; 1.01" in text and "what to do: the chains disagree" in text
    assert "divergent transitions" in text and "raise target_accept" in text
    assert remedy("shard 0, chain 1: E-BFMI 0.1 < 0.3 (...)").startswith("poor energy")
    assert remedy("something else") == ""


def test_worst_parameter_first_and_figures(tree) -> None:
    view = Diagnostics(tree, n_worst=2)
    assert view.worst[0] == "D0" and view.params.value[0] == "D0"
    for img in (view.trace, view.pair, view.versus):
        assert bytes(img.value).startswith(PNG) and len(bytes(img.value)) > 5000
    before = bytes(view.trace.value)
    view.shard.value = 1
    assert bytes(view.trace.value) != before  # the other shard's chains
    view.params.value = ("contrast_1",)
    assert bytes(view.versus.value).startswith(PNG)
    view.params.value = ()
    assert "choose at least one" in view.figure_error.value


def test_priors_and_nlsq_read_back(tree) -> None:
    parsed = parse_priors(tree)
    assert parsed["D0"].prior == Prior("truncated_normal", 1e4, 2e3) and parsed["D0"].source == "nlsq"
    assert parsed["contrast_0"].prior.kind == "uniform" and parsed["contrast_0"].upper == 1.0
    nlsq = xr.Dataset({"c2_nlsq_coefficients": ("param", [1.01e4, 0.3]), "c2_nlsq_stderr": ("param", [200.0, 0.01])},
                      coords={"param": ["D0", "contrast_0"]})
    view = Diagnostics(tree, nlsq=nlsq)
    assert view.nlsq["D0"] == (1.01e4, 200.0)


def test_not_a_cmc_result() -> None:
    with pytest.raises(ValueError, match="DataTree of fit_cmc"):
        Diagnostics(xr.Dataset())
