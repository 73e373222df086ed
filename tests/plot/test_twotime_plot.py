"""Two-time views of single- and multi-q Datasets (3 q × 3 φ): a grid of panels, never a crash."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xpcsnb  # noqa: E402,F401  (registers ds.xpcs)
from xpcsnb.core.errors import XpcsError  # noqa: E402
from xpcsnb.plot.twotime import plot_c2  # noqa: E402


def _panels(fig):
    return [ax for ax in fig.axes if ax.images]


def test_multi_q_dataset_is_a_grid_of_q_rows_and_phi_columns(multiq_set):
    fig = multiq_set.xpcs.plot()
    panels = _panels(fig)
    assert len(panels) == 9
    assert [ax.get_title() for ax in panels[:4]] == ["q = 0.004 Å⁻¹, phi = 0°", "q = 0.004 Å⁻¹, phi = 45°",
                                                     "q = 0.004 Å⁻¹, phi = 90°", "q = 0.0054 Å⁻¹, phi = 0°"]
    np.testing.assert_array_equal(panels[5].images[0].get_array(), multiq_set.c2.values[1, 2])
    assert len({ax.images[0].get_clim() for ax in panels}) == 1  # one colour scale
    plt.close(fig)


def test_q_selects_rows_and_max_q_limits_them(multiq_set):
    fig = plot_c2(multiq_set, q=[0.007, 0.0041], max_angles=2)
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == ["q = 0.007 Å⁻¹, phi = 0°", "q = 0.007 Å⁻¹, phi = 45°",
                                                 "q = 0.004 Å⁻¹, phi = 0°", "q = 0.004 Å⁻¹, phi = 45°"]
    plt.close(fig)
    fig = plot_c2(multiq_set, max_q=2)
    assert len(_panels(fig)) == 6 and "first 2 of 3 q" in fig.get_suptitle()
    plt.close(fig)
    fig = plot_c2(multiq_set, q="all", max_q=2)
    assert len(_panels(fig)) == 9 and not fig.get_suptitle()
    plt.close(fig)


def test_single_q_views_are_unchanged(multiq_set):
    one = multiq_set.isel(q=1)
    fig = one.xpcs.plot()
    assert [ax.get_title() for ax in _panels(fig)] == ["phi = 0°", "phi = 45°", "phi = 90°"]
    plt.close(fig)


@pytest.mark.parametrize("kwargs, match", [
    ({"q": 0.02}, r"no q near \[0.02\] Å⁻¹"),
    ({"q": "some"}, "q must be a q value"),
    ({"q": [0.004, np.nan]}, "q must be a q value"),
    ({"max_q": 0}, "max_q must be an integer >= 1"),
    ({"max_angles": 1.5}, "max_angles must be an integer"),
])
def test_bad_selections_name_the_problem(multiq_set, kwargs, match):
    with pytest.raises(XpcsError, match=match):
        plot_c2(multiq_set, **kwargs)


def test_q_on_a_single_q_dataset_or_another_layout_is_refused(multiq_set):
    with pytest.raises(XpcsError, match="holds one q"):
        plot_c2(multiq_set.isel(q=0), q=0.004)
    with pytest.raises(XpcsError, match=r"dims \(phi, t1, t2\) or \(q, phi, t1, t2\)"):
        plot_c2(multiq_set.c2.isel(phi=0).to_dataset())
