"""APS 8-ID-I reader on synthetic files in every supported layout."""

from importlib.resources import files

import dask.array as da
import h5py
import numpy as np
import pytest
import xarray as xr

from xpcsnb.io.aps8idi import ApsFileError, full_from_upper, open_aps, open_twotime
from xpcsnb.core.diagonal import correct_diagonal
from xpcsnb.core.twotime import time_step, validate_twotime

N = 24
C2_BINS = [2, 4, 5, 6, 8, 9]  # bins with C2 (bins 1, 3, 7 have none)


def expected_qphi(aps, b):
    """(q, phi) of compressed bin b by the writer's definition (the index mapping of docs/io.md)."""
    i0, i1 = divmod(int(aps.MAPPING[b - 1]), aps.PHI_GRID.size)
    return aps.Q_GRID[i0], aps.PHI_GRID[i1]


@pytest.fixture
def nexus_file(tmp_path, aps):
    c2 = aps.c2_set(C2_BINS, N)
    return aps.write_nexus(tmp_path / "A001_results.hdf", c2=c2), c2


# ----------------------------------------------------------------------------- core
def test_full_from_upper_exact():
    c = np.random.default_rng(0).normal(1.0, 0.1, (7, 7))
    c = 0.5 * (c + c.T)
    full, storage = full_from_upper(np.triu(c))
    assert storage == "upper"
    np.testing.assert_array_equal(full, c)
    full, storage = full_from_upper(c)  # already symmetric
    assert storage == "full"
    np.testing.assert_array_equal(full, c)
    bad = np.triu(c)
    bad[3, 1] = 2.0
    with pytest.raises(ApsFileError, match="neither an upper-triangle"):
        full_from_upper(bad)


def test_nexus_reconstruction_mapping_and_dt(nexus_file, aps):
    path, c2 = nexus_file
    ds = open_twotime(path, q=0.0042, diagonal="raw")
    validate_twotime(ds)
    # q-index 1 holds grid cells 4..7; cell 5 is empty, so the bins are 4, 5, 6
    # (a full-grid interpretation b-1 -> cell would wrongly give 5, 6, 7, 8).
    assert ds["bin"].values.tolist() == [4, 5, 6]
    assert ds.attrs["q"] == pytest.approx(0.004)
    assert ds.attrs["q_requested"] == 0.0042
    for b, phi in zip(ds["bin"].values, ds["phi"].values):
        q_exp, phi_exp = expected_qphi(aps, b)
        assert phi == phi_exp and q_exp == ds.attrs["q"]
        np.testing.assert_array_equal(ds["c2"].sel(phi=phi).values, c2[b])
    # dt = frame_time * stride * avg = 1e-3 * 2 * 3; t from 0
    assert time_step(ds) == pytest.approx(6e-3)
    np.testing.assert_allclose(ds["t1"].values, 6e-3 * np.arange(N))
    assert ds.attrs["dt_source"].startswith("file")
    assert ds.attrs["layout"] == "nexus"
    assert ds.attrs["diagonal"] == "raw"
    assert ds.attrs["bin_mapping"] == "index_mapping"
    assert ds["c2"].attrs["units"] == "1" and ds["t1"].attrs["units"] == "s"


def test_netcdf_round_trip(nexus_file, tmp_path):
    path, _ = nexus_file
    ds = open_twotime(path, q=0.004)
    ds.to_netcdf(tmp_path / "tt.nc", engine="h5netcdf")
    back = validate_twotime(xr.open_dataset(tmp_path / "tt.nc", engine="h5netcdf").load())
    xr.testing.assert_allclose(back, ds)
    assert back.attrs["bins"].tolist() == [4, 5, 6] and back.attrs["layout"] == "nexus"


def test_diagonal_correct_is_default(nexus_file):
    path, c2 = nexus_file
    ds = open_twotime(path, q=0.006)
    assert ds.attrs["diagonal"] == "correct"
    assert ds["bin"].values.tolist() == [8, 9]  # bin 7 (q=0.006, phi=0) has no C2
    np.testing.assert_array_equal(ds["c2"].values[0], correct_diagonal(c2[8]))
    with pytest.raises(ValueError, match="NaN is not allowed"):
        open_twotime(path, q=0.006, diagonal="nan")


def test_frame_window(nexus_file):
    path, c2 = nexus_file
    ds = open_twotime(path, q=0.002, start_frame=3, end_frame=12, diagonal="raw")
    assert ds.sizes["t1"] == 10
    np.testing.assert_array_equal(ds["c2"].sel(phi=0.0).values, c2[2][2:12, 2:12])
    np.testing.assert_allclose(ds["t1"].values, 6e-3 * np.arange(2, 12))  # the window keeps its sample age
    assert (ds.attrs["start_frame"], ds.attrs["end_frame"], ds.attrs["n_frames_file"]) == (3, 12, N)
    corr = open_twotime(path, q=0.002, start_frame=3, end_frame=12)
    np.testing.assert_array_equal(corr["c2"].sel(phi=0.0).values, correct_diagonal(c2[2][2:12, 2:12]))
    for kw, match in [({"start_frame": 0}, ">= 1"), ({"end_frame": N + 1}, "exceeds"),
                      ({"start_frame": 5, "end_frame": 5}, "at least 2 frames")]:
        with pytest.raises(ValueError, match=match):
            open_twotime(path, q=0.002, **kw)
    with pytest.raises(TypeError, match="integer"):
        open_twotime(path, q=0.002, start_frame=2.0)


def test_dt_override_and_missing_frame_time(tmp_path, aps):
    c2 = aps.c2_set([5], 8)
    path = aps.write_nexus(tmp_path / "nt_results.hdf", c2=c2, frame_time=None)
    with pytest.raises(ApsFileError, match="dt="):
        open_twotime(path)
    ds = open_twotime(path, dt=0.5)
    assert time_step(ds) == 0.5 and ds.attrs["dt_source"] == "user"
    assert "dt_file" not in ds.attrs
    np.testing.assert_allclose(ds["t2"].values, 0.5 * np.arange(8))
    # a single q with C2: q may be omitted
    assert ds.attrs["q_selection"] == "only q with C2 in the file"
    # with a frame time, the file value is still recorded next to the override
    path2 = aps.write_nexus(tmp_path / "ft_results.hdf", c2=c2)
    ds2 = open_twotime(path2, dt=0.5)
    assert ds2.attrs["dt_file"] == pytest.approx(6e-3) and time_step(ds2) == 0.5


def test_q_and_phi_selection_errors(nexus_file):
    path, _ = nexus_file
    with pytest.raises(ValueError, match="choose one with q="):
        open_twotime(path)
    with pytest.raises(ValueError, match=r"no C2 at q=0\.02.*0\.002, 0\.004, 0\.006"):
        open_twotime(path, q=0.02)
    with pytest.raises(ValueError, match="finite and > 0"):
        open_twotime(path, q=-1.0)
    assert open_twotime(path, q=0.0069).attrs["q"] == 0.006  # within half the grid spacing
    with pytest.raises(ValueError, match="tolerance"):
        open_twotime(path, q=0.0071)
    assert open_twotime(path, q=0.0071, q_tol=0.002).attrs["q"] == 0.006
    ds = open_twotime(path, q=0.004, phi=[90.0, -44.0])
    assert ds["bin"].values.tolist() == [6, 4]
    with pytest.raises(ValueError, match="no C2 at phi=0"):
        open_twotime(path, q=0.004, phi=0.0)  # cell (q1, phi=0) is empty


def test_missing_file_and_no_twotime(tmp_path, aps):
    with pytest.raises(FileNotFoundError):
        open_twotime(tmp_path / "nope.hdf", q=0.004)
    path = aps.write_nexus(tmp_path / "mt_results.hdf", c2=None)
    with pytest.raises(ApsFileError, match="no two-time data"):
        open_twotime(path, q=0.004)
    junk = tmp_path / "junk.hdf"
    junk.write_text("not hdf5")
    with pytest.raises(ApsFileError, match="not an HDF5 file"):
        open_twotime(junk)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = 1
    with pytest.raises(ApsFileError, match="not an APS 8-ID-I result file"):
        open_twotime(tmp_path / "other.h5")


def test_numeric_sort_of_c2_names(tmp_path, aps):
    """Unpadded names c2_9 < c2_10 must pair with processed_bins in numeric order."""
    c2 = aps.c2_set([4, 6], 6)
    path = aps.write_nexus(tmp_path / "s_results.hdf", c2=c2, processed_order=[4, 6], c2_names=["c2_9", "c2_10"])
    ds = open_twotime(path, q=0.004, diagonal="raw")
    assert ds["bin"].values.tolist() == [4, 6]
    np.testing.assert_array_equal(ds["c2"].sel(phi=90.0).values, c2[6])


def test_float32_storage(tmp_path, aps):
    c2 = aps.c2_set([2], 10)
    path = aps.write_nexus(tmp_path / "f_results.hdf", c2=c2, c2_dtype=np.float32)
    ds = open_twotime(path, diagonal="raw")
    assert ds["c2"].dtype == np.float64
    np.testing.assert_array_equal(ds["c2"].values[0], c2[2].astype(np.float32).astype(np.float64))


def test_nxxpcs_array(tmp_path, aps):
    c2 = aps.c2_set([4, 5], 7)
    path = aps.write_nexus(tmp_path / "nx_results.hdf", c2=c2, nxxpcs_array=True)
    ds = open_twotime(path, q=0.004, diagonal="raw")
    assert ds["bin"].values.tolist() == [4, 5]
    np.testing.assert_array_equal(ds["c2"].values, np.stack([c2[4], c2[5]]))


def test_no_index_mapping_means_full_grid(tmp_path, aps):
    c2 = aps.c2_set([6], 5)
    path = aps.write_nexus(tmp_path / "g_results.hdf", c2=c2, mapping=None)
    ds = open_twotime(path, diagonal="raw")
    assert ds.attrs["bin_mapping"] == "full_grid"
    # bin 6 -> flat cell 5 -> (q index 1, phi index 1)
    assert ds.attrs["q"] == 0.004 and ds["phi"].values.tolist() == [0.0]


# --------------------------------------------------------------------------- legacy
@pytest.mark.parametrize("per_bin", [True, False])
def test_legacy(tmp_path, aps, per_bin):
    bins = [2, 4, 5, 6] if per_bin else [5, 6, 7, 8]
    c2 = aps.c2_set(bins, 12)
    path = aps.write_legacy(tmp_path / "A_0001.hdf", c2=c2, per_bin=per_bin)
    ds = open_twotime(path, q=0.004, diagonal="raw")
    validate_twotime(ds)
    assert ds.attrs["layout"] == "legacy" and ds.attrs["variant"] == "classic"
    if per_bin:  # bins 4, 5, 6 -> cells 4, 6, 7
        assert ds.attrs["bin_mapping"] == "per_bin_lists"
        assert ds["bin"].values.tolist() == [4, 5, 6]
        assert ds["phi"].values.tolist() == [-45.0, 45.0, 90.0]
    else:  # full grid: bin b -> cell b-1 (q-major)
        assert ds.attrs["bin_mapping"] == "full_grid"
        assert ds["bin"].values.tolist() == [5, 6, 7, 8]
        assert ds["phi"].values.tolist() == aps.PHI_GRID.tolist()
    for b in ds["bin"].values:
        np.testing.assert_array_equal(ds["c2"].where(ds["bin"] == b, drop=True).values[0], c2[b])
    assert time_step(ds) == pytest.approx(2e-3 * 1 * 4)  # exposure_period * stride_frames * avg_frames
    assert ds.attrs["distance"] == pytest.approx(4.0) and ds.attrs["distance_units"] == "m"
    assert ds.attrs["pixel_size_x"] == pytest.approx(75e-6)
    assert ds.attrs["energy"] == 7.35


def test_legacy_without_frame_time(tmp_path, aps):
    path = aps.write_legacy(tmp_path / "B.hdf", c2=aps.c2_set([4], 6), exposure_period=None)
    with pytest.raises(ApsFileError, match="exposure_period"):
        open_twotime(path, q=0.004)


def test_2023_variant(tmp_path, aps):
    c2 = aps.c2_set([4, 5], 9)
    path = aps.write_legacy(tmp_path / "C.hdf", c2=c2, variant="2023")
    ds = open_twotime(path, q=0.004, phi=45.0)
    assert (ds.attrs["layout"], ds.attrs["variant"]) == ("legacy", "2023")
    assert time_step(ds) == pytest.approx(2e-3 * 4)
    assert ds.attrs["beam_center_x"] == 110.0 and ds.attrs["energy"] == 12.0
    # bluesky det_dist has no units attribute: reported, not converted
    assert ds.attrs["distance"] == 8000.0 and ds.attrs["distance_units"] == "unspecified"
    np.testing.assert_array_equal(ds["c2"].values[0], correct_diagonal(c2[5]))


# ------------------------------------------------------------------------ real C2
def test_real_matrix_round_trip(tmp_path, aps):
    """The measured 350×350 C2 survives storage as an upper triangle."""
    real = np.load(files("xpcsnb.datasets") / "data" / "two_time_350.npy")
    assert real.shape == (350, 350)
    path = aps.write_nexus(tmp_path / "real_results.hdf", c2={3: real}, processed_order=[3])
    ds = open_twotime(path, diagonal="raw")
    got = ds["c2"].values[0]
    iu = np.triu_indices(350, 1)
    np.testing.assert_array_equal(got[iu], real[iu])  # exact off-diagonal
    np.testing.assert_array_equal(got, got.T)
    np.testing.assert_array_equal(np.diag(got), np.diag(real))
    if np.array_equal(real, real.T):
        np.testing.assert_array_equal(got, real)
    corr = open_twotime(path)
    np.testing.assert_array_equal(corr["c2"].values[0], correct_diagonal(got))
    assert corr.attrs["q"] == pytest.approx(0.002) and corr["phi"].values.tolist() == [90.0]


# -------------------------------------------------------------------------- open_aps
def test_open_aps_nexus(nexus_file, aps):
    path, c2 = nexus_file
    ds = open_aps(path)
    nb = aps.MAPPING.size
    assert ds["g2"].dims == ("roi", "tau") and ds.sizes["roi"] == nb
    for b in range(1, nb + 1):
        q_exp, phi_exp = expected_qphi(aps, b)
        assert ds["q"].sel(roi=b).item() == q_exp and ds["phi"].sel(roi=b).item() == phi_exp
    # tau = delay * frame_time * multitau stride * avg = delay * 1e-3 * 1 * 2
    np.testing.assert_allclose(ds["tau"].values, ds["delay"].values * 2e-3)
    assert ds["tau"].attrs["units"] == "s"
    assert ds["g2_err"].shape == ds["g2"].shape
    # c2 is lazy, one chunk per bin
    assert isinstance(ds["c2"].data, da.Array)
    assert ds["c2"].data.chunks[0] == (1,) * len(C2_BINS)
    assert ds["c2_bin"].values.tolist() == C2_BINS
    np.testing.assert_array_equal(ds["c2"].sel(c2_bin=5).values, c2[5])
    assert ds["c2_phi"].sel(c2_bin=5).item() == expected_qphi(aps, 5)[1]
    assert ds["c2"].attrs["diagonal"] == "raw"
    assert ds["saxs_2d"].shape == aps.SHAPE and ds["roi_dynamic"].shape == aps.SHAPE
    assert int(ds["roi_dynamic"].max()) == nb
    assert ds["I_t"].sizes["frame"] == 40 and ds["frame"].dtype.kind == "i"
    assert ds["saxs_1d"].sizes["static_bin"] == nb
    assert ds.attrs["start_time"] == "2025-03-01T12:00:00"  # decoded bytes
    assert ds.attrs["t0"] == 1e-3  # detector frame_time wins over bluesky metadata
    assert ds.attrs["unnormalized_G2"] == "absent"
    corrected = open_aps(path, diagonal="correct")
    np.testing.assert_array_equal(corrected["c2"].sel(c2_bin=5).values, correct_diagonal(c2[5]))
    for name, var in {**ds.data_vars, **ds.coords}.items():
        if name not in ("x", "y"):
            assert "units" in var.attrs, name


@pytest.mark.parametrize(
    ("link", "name", "expect"),
    [("ok", "unnormalized_G2", "_G2.hdf:/G2IPIF"), ("ok", "unnormalized_g2", "_G2.hdf:/G2IPIF"),
     ("dangling", "unnormalized_G2", "dangling link")],
)
def test_g2_external_link(tmp_path, aps, link, name, expect):
    path = aps.write_nexus(tmp_path / "L_results.hdf", c2=aps.c2_set([2], 5), g2_link=link, g2_link_name=name)
    ds = open_aps(path)
    assert expect in ds.attrs["unnormalized_G2"]
    assert ds.sizes["roi"] == aps.MAPPING.size


def test_open_aps_without_times(tmp_path, aps):
    path = aps.write_nexus(tmp_path / "nt_results.hdf", c2=aps.c2_set([2], 5), frame_time=None)
    ds = open_aps(path)
    assert "tau" not in ds.coords and "t1" not in ds.coords
    assert "frame_time" in ds.attrs["multitau_tau"] and "frame_time" in ds.attrs["twotime_t"]
    assert ds["delay"].attrs["units"] == "frame"


def test_open_aps_legacy(tmp_path, aps):
    c2 = aps.c2_set([3, 9], 6)
    path = aps.write_legacy(tmp_path / "D.hdf", c2=c2)
    ds = open_aps(path)
    assert ds.attrs["layout"] == "legacy"
    np.testing.assert_allclose(ds["tau"].values, np.arange(1, 6) * 2e-3 * 4)
    assert ds["phi"].sel(roi=3).item() == 90.0
    np.testing.assert_array_equal(ds["c2"].sel(c2_bin=9).values, c2[9])
    assert ds["saxs_1d"].shape == (aps.MAPPING.size,)
    assert ds.attrs["unnormalized_G2"] == "absent"
