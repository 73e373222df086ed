"""NetCDF round trip, overwrite protection and figures of XSVS results."""

import matplotlib
import numpy as np
import pytest
import xarray as xr

from xpcsnb import xsvs
from xpcsnb.io import load_xsvs, save_xsvs
from xpcsnb.correlate import Geometry, partition

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def result():
    geo = Geometry(shape=(48, 48), beam_center=(24, 24), distance=5.0, pixel_size=75e-6, energy=10.0)
    part = partition(geo.q_map(), np.linspace(5e-4, 2.5e-3, 4), phi_map=geo.phi_map(), phi_edges=[-180, 0, 180])
    T = np.geomspace(1e-4, 3e-2, 6)
    frames = xsvs.simulate_series(part, T, n_frames=[20, 20, 15, 15, 10, 10], beta0=0.3, rate=4e7 * part.q**2,
                                  mean_count=0.1 * T / T[0] ** 0.5 * 0.01 + 0.2, seed=3, as_mapping=True)
    flat = 1 + 0.05 * np.cos(np.arange(48))[None, :] * np.ones((48, 1))
    vis = xsvs.visibility(frames, part, flat_field=flat, progress=False)
    return xsvs.fit_dynamics(vis)


def _stamped(result):
    """The result as saved: root attrs gain the kind and the version stamp."""
    from xpcsnb import __version__

    return result.assign_attrs(xpcsnb_kind="xsvs", xpcsnb_version=__version__)


def test_netcdf_round_trip_is_lossless(result, tmp_path):
    path = save_xsvs(result, tmp_path / "xsvs.nc")
    back = load_xsvs(path)
    xr.testing.assert_identical(back, _stamped(result))
    for name in result.variables:
        assert back[name].dtype == result[name].dtype, name
        assert set(back[name].attrs) == set(result[name].attrs), name
        for a, v in result[name].attrs.items():
            assert np.array_equal(np.asarray(back[name].attrs[a]), np.asarray(v)), (name, a)
    assert back.attrs == _stamped(result).attrs
    assert np.isinf(back.M).sum() == np.isinf(result.M).sum()


def test_save_refuses_to_overwrite(result, tmp_path):
    path = tmp_path / "xsvs.nc"
    path.write_bytes(b"user data")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_xsvs(result, path)
    assert path.read_bytes() == b"user data"
    save_xsvs(result, path, overwrite=True)
    xr.testing.assert_identical(load_xsvs(path), _stamped(result))
    assert not list(tmp_path.glob("*.xpcsnb-tmp"))  # atomic save leaves no temporary


def test_load_refuses_other_kinds_and_foreign_files(result, tmp_path):
    from xpcsnb.io.results import save_result

    other = save_result(result, tmp_path / "nlsq.nc", kind="nlsq")
    with pytest.raises(ValueError, match="holds a 'nlsq' result, not a 'xsvs' result"):
        load_xsvs(other)
    foreign = tmp_path / "plain.nc"
    result.to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ValueError, match="not written by xpcsnb"):
        load_xsvs(foreign)
    with pytest.raises(TypeError, match="XSVS result Dataset"):
        save_xsvs(xr.DataArray([1.0]), tmp_path / "x.nc")


def test_matplotlib_figures(result):
    import matplotlib.pyplot as plt

    from xpcsnb.plot.xsvs import plot_contrast, plot_histograms, plot_mean_count_trace

    fig, axes = plt.subplots(1, 3)
    plot_histograms(result, ax=axes[0])
    plot_contrast(result, ax=axes[1])
    plot_mean_count_trace(result, roi=2, ax=axes[2])
    n_exp, n_roi = result.sizes["exposure"], result.sizes["roi"]
    assert len(axes[0].containers) == n_exp  # one error-bar set per exposure
    assert len(axes[1].containers) == n_roi and len(axes[1].lines) >= n_roi  # data + model curves
    assert axes[0].get_yscale() == "log" and axes[1].get_xscale() == "log"
    plt.close(fig)


def test_holoviews_figures(result):
    hv = pytest.importorskip("holoviews")
    from xpcsnb.plot.xsvs import hv_contrast, hv_histograms

    hm = hv_histograms(result)
    assert isinstance(hm, hv.HoloMap) and len(hm) == result.sizes["roi"]
    ov = hv_contrast(result)
    assert isinstance(ov, hv.Overlay)
    hv.extension("bokeh")
    hv.render(hv_contrast(result), backend="bokeh")
    hv.render(hv_histograms(result)[1], backend="bokeh")


def test_former_xsvs_names_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="xpcsnb.io.save_xsvs"):
        assert xsvs.save_results is save_xsvs
    with pytest.warns(DeprecationWarning, match="xpcsnb.io.load_xsvs"):
        assert xsvs.load_results is load_xsvs
