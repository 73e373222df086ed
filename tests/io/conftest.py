"""Writers of small synthetic APS 8-ID-I result files, in every supported layout.

The layouts follow the path table xpcsnb/io/aps8idi/paths.py (boost-corr / xpcs-viewer paths).
Each writer takes *full* C2 matrices keyed by 1-based dynamic bin id and stores
their upper triangle (diagonal included, zeros below), as the 8-ID-I writer does.
The writers are exposed to tests through the ``aps`` fixture.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h5py
import numpy as np
import pytest

#: Small (q, phi) grid with empty cells: flat cells 2, 5 and 8 hold no pixels.
Q_GRID = np.array([0.002, 0.004, 0.006])
PHI_GRID = np.array([-45.0, 0.0, 45.0, 90.0])
MAPPING = np.array([0, 1, 3, 4, 6, 7, 9, 10, 11])  # compressed bin b -> flat cell MAPPING[b-1]
SHAPE = (12, 10)  # detector H x W


def random_c2(n: int, seed: int, *, level: float = 1.0) -> np.ndarray:
    """Symmetric positive C2-like matrix (float64) with a spiked diagonal."""
    rng = np.random.default_rng(seed)
    a = level + 0.2 * np.exp(-np.abs(np.subtract.outer(np.arange(n), np.arange(n))) / 5.0)
    noise = rng.normal(0.0, 0.01, (n, n))
    c = a + 0.5 * (noise + noise.T)
    c[np.diag_indices(n)] += 0.5  # shot-noise spike
    return c


def c2_set(bin_ids: list[int], n: int) -> dict[int, np.ndarray]:
    """One distinguishable C2 per bin: the baseline level encodes the bin id."""
    return {b: random_c2(n, seed=b, level=1.0 + 0.01 * b) for b in bin_ids}


def _roi_map(n_bins: int, shape: tuple[int, int]) -> np.ndarray:
    ids = (np.arange(shape[0] * shape[1]) % (n_bins + 1)).reshape(shape)
    return ids.astype(np.uint32)  # 0 = unused pixel, k = bin k


def _upper(c: np.ndarray, dtype: Any) -> np.ndarray:
    return np.triu(np.asarray(c)).astype(dtype)


def write_nexus(
    path: Path,
    *,
    c2: dict[int, np.ndarray] | None = None,
    processed_order: list[int] | None = None,
    c2_names: list[str] | None = None,
    q_grid: np.ndarray = Q_GRID,
    phi_grid: np.ndarray = PHI_GRID,
    mapping: np.ndarray | None = MAPPING,
    frame_time: float | None = 1e-3,
    count_time: float = 0.8e-3,
    twotime_stride: int = 2,
    twotime_avg: int = 3,
    multitau_stride: int = 1,
    multitau_avg: int = 2,
    n_delay: int = 6,
    with_multitau: bool = True,
    g2_link: str | None = None,
    g2_link_name: str = "unnormalized_G2",
    c2_dtype: Any = np.float64,
    nxxpcs_array: bool = False,
) -> Path:
    """Write a current-layout (``*_results.hdf``) file.

    ``g2_link``: None (no link), ``"ok"`` (sibling ``*_G2.hdf`` written) or
    ``"dangling"`` (link to a file that does not exist).
    """
    n0, n1 = q_grid.size, phi_grid.size
    flat = np.arange(n0 * n1) if mapping is None else np.asarray(mapping)
    nb = flat.size
    with h5py.File(path, "w") as f:
        f["/entry/start_time"] = np.bytes_("2025-03-01T12:00:00")
        f["/entry/schema_version"] = np.bytes_("1.0")
        det = f.create_group("/entry/instrument/detector_1")
        if frame_time is not None:
            det["frame_time"] = frame_time
        det["count_time"] = count_time
        det["x_pixel_size"] = 75e-6
        det["y_pixel_size"] = 75e-6
        det["distance"] = 12.5
        det["beam_center_x"] = 500.0
        det["beam_center_y"] = 600.0
        f["/entry/instrument/incident_beam/incident_energy"] = 10.0
        f["/entry/instrument/bluesky/metadata/t0"] = 99.0  # must not override frame_time
        qm = f.create_group("/xpcs/qmap")
        qm.attrs["hash"] = "abc"
        qm["mask"] = np.ones(SHAPE, dtype=np.int8)
        qm["dynamic_roi_map"] = _roi_map(nb, SHAPE)
        qm["static_roi_map"] = _roi_map(nb, SHAPE)
        qm["dynamic_v_list_dim0"] = q_grid
        qm["dynamic_v_list_dim1"] = phi_grid
        qm["static_v_list_dim0"] = q_grid
        qm["static_v_list_dim1"] = phi_grid
        qm["dynamic_num_pts"] = np.array([n0, n1])
        qm["static_num_pts"] = np.array([n0, n1])
        if mapping is not None:
            qm["dynamic_index_mapping"] = flat
            qm["static_index_mapping"] = flat
        qm["map_names"] = np.array([b"q", b"phi"])
        qm["map_units"] = np.array([b"1/A", b"degree"])
        qm["beam_center_x"] = 501.5
        qm["beam_center_y"] = 601.5
        qm["energy"] = 10.0
        f["/xpcs/temporal_mean/scattering_2d"] = np.arange(SHAPE[0] * SHAPE[1], dtype=float).reshape((1, *SHAPE))
        f["/xpcs/temporal_mean/scattering_1d"] = np.linspace(1.0, 2.0, nb)[None, :]
        nf = 40
        f["/xpcs/spatial_mean/intensity_vs_time"] = np.vstack([np.arange(nf), 100.0 + np.arange(nf)])
        if with_multitau:
            mt = f.create_group("/xpcs/multitau")
            delays = np.array([1, 2, 3, 4, 6, 8][:n_delay], dtype=float)
            g2 = 1.0 + 0.3 * np.exp(-np.outer(delays, 1.0 + np.arange(nb)) / 10.0)
            mt["delay_list"] = delays[:, None]
            mt["normalized_g2"] = g2
            mt["normalized_g2_err"] = 0.01 * g2
            mt["config/stride_frame"] = np.array([[multitau_stride]])
            mt["config/avg_frame"] = np.array([[multitau_avg]])
            if g2_link is not None:
                target = path.with_name(path.stem + "_G2.hdf")
                if g2_link == "ok":
                    with h5py.File(target, "w") as g:
                        g["G2IPIF"] = np.ones((n_delay, 3, *SHAPE))
                elif g2_link != "dangling":
                    raise ValueError(g2_link)
                mt[g2_link_name] = h5py.ExternalLink(target.name, "/G2IPIF")
        if c2 is not None:
            tt = f.create_group("/xpcs/twotime")
            order = list(c2) if processed_order is None else processed_order
            tt["config/stride_frame"] = twotime_stride
            tt["config/avg_frame"] = twotime_avg
            tt["processed_bins"] = np.array(order, dtype=np.int64)
            if nxxpcs_array:
                arr = tt.create_dataset("two_time_corr_func", data=np.stack([_upper(c2[b], c2_dtype) for b in order]))
                arr.attrs["storage_mode"] = "one_array_q_first"
                arr.attrs["populated_elements"] = "upper_half"
            else:
                names = c2_names or [f"c2_{k + 1:05d}" for k in range(len(order))]
                cm = tt.create_group("correlation_map")
                # create in reverse order: readers must not rely on iteration order
                for name, b in reversed(list(zip(names, order))):
                    cm.create_dataset(name, data=_upper(c2[b], c2_dtype))
    return path


def write_legacy(
    path: Path,
    *,
    c2: dict[int, np.ndarray] | None = None,
    per_bin: bool = True,
    q_grid: np.ndarray = Q_GRID,
    phi_grid: np.ndarray = PHI_GRID,
    mapping: np.ndarray = MAPPING,
    exposure_period: float | None = 2e-3,
    stride: int = 1,
    avg: int = 4,
    variant: str = "classic",
    n_delay: int = 5,
) -> Path:
    """Write a legacy (``/exchange`` + ``/xpcs``) file.

    ``per_bin=True`` stores dqlist/dphilist with one value per bin (of ``mapping``);
    ``per_bin=False`` stores the grid centres (dnoq values and dnophi values), so bin
    ``b`` is flat cell ``b-1``. ``variant="2023"`` puts the metadata under
    ``/entry/instrument/bluesky/metadata`` instead of ``/measurement``.
    """
    n0, n1 = q_grid.size, phi_grid.size
    flat = np.asarray(mapping) if per_bin else np.arange(n0 * n1)
    nb = flat.size
    iq, iphi = np.divmod(flat, n1)
    with h5py.File(path, "w") as f:
        x = f.create_group("/xpcs")
        x["Version"] = np.bytes_("1.0.1")
        x["analysis_type"] = np.bytes_("Twotime" if c2 else "Multitau")
        x["dqmap"] = _roi_map(nb, SHAPE)
        x["sqmap"] = _roi_map(nb, SHAPE)
        x["mask"] = np.ones(SHAPE, dtype=np.int8)
        if per_bin:
            x["dqlist"] = q_grid[iq][None, :]
            x["dphilist"] = phi_grid[iphi][None, :]
            x["sqlist"] = q_grid[iq][None, :]
            x["sphilist"] = phi_grid[iphi][None, :]
        else:
            x["dqlist"] = q_grid[None, :]
            x["dphilist"] = phi_grid[None, :]
            x["sqlist"] = q_grid[None, :]
            x["sphilist"] = phi_grid[None, :]
        for k in ("dnoq", "snoq"):
            x[k] = np.array([[n0]])
        for k in ("dnophi", "snophi"):
            x[k] = np.array([[n1]])
        x["stride_frames"] = np.array([[stride]])
        x["avg_frames"] = np.array([[avg]])
        ex = f.create_group("/exchange")
        delays = np.arange(1, n_delay + 1, dtype=float)
        g2 = 1.0 + 0.2 * np.exp(-np.outer(delays, 1.0 + np.arange(nb)) / 7.0)
        ex["tau"] = delays[None, :]
        ex["norm-0-g2"] = g2
        ex["norm-0-stderr"] = 0.02 * g2
        ex["pixelSum"] = np.ones(SHAPE)
        ex["frameSum"] = np.vstack([np.arange(30), np.full(30, 5.0)])
        ex["partition-mean-total"] = np.linspace(3.0, 1.0, nb)[None, :]
        if c2:
            grp = ex.create_group("C2T_all")
            for b in sorted(c2, reverse=True):
                grp.create_dataset(f"c2_{b:05d}", data=np.triu(c2[b]))
        if variant == "classic":
            d = "/measurement/instrument/detector"
            if exposure_period is not None:
                f[f"{d}/exposure_period"] = np.array([[exposure_period]])
            f[f"{d}/exposure_time"] = np.array([[1e-3]])
            f[f"{d}/distance"] = np.array([[4000.0]])  # mm
            f[f"{d}/x_pixel_size"] = np.array([[0.075]])  # mm
            f[f"{d}/y_pixel_size"] = np.array([[0.075]])
            f["/measurement/instrument/acquisition/beam_center_x"] = np.array([[100.0]])
            f["/measurement/instrument/acquisition/beam_center_y"] = np.array([[120.0]])
            f["/measurement/instrument/source_begin/energy"] = np.array([[7.35]])
        elif variant == "2023":
            m = f.create_group("/entry/instrument/bluesky/metadata")
            if exposure_period is not None:
                m["t0"] = exposure_period
            m["t1"] = 1e-3
            m["bcx"] = 110.0
            m["bcy"] = 130.0
            m["det_dist"] = 8000.0
            m["pix_dim_x"] = 0.055
            m["pix_dim_y"] = 0.055
            m["X_energy"] = 12.0
        else:
            raise ValueError(variant)
    return path


@pytest.fixture
def aps() -> SimpleNamespace:
    """The writers and constants of this module, for the tests."""
    return SimpleNamespace(
        write_nexus=write_nexus, write_legacy=write_legacy, random_c2=random_c2, c2_set=c2_set,
        Q_GRID=Q_GRID, PHI_GRID=PHI_GRID, MAPPING=MAPPING, SHAPE=SHAPE,
    )
