"""The one path table of the APS 8-ID-I layouts: every HDF5 path any APS reader uses.

Logical name → candidate sources, tried in order: the current NeXus (APS-U, 2025+)
``*_results.hdf`` layout (results under ``/xpcs``, metadata under ``/entry``), the
NXxpcs draft names, the legacy (pre-2025) layout (results under ``/exchange`` and
``/xpcs``, metadata under ``/measurement``), and the 2023 bluesky metadata block.
The frame-stack reader (:func:`xpcsnb.io.frames.open_frames`) takes its frame, frame
time and exposure paths from here too (``frames``, ``t0``, ``count_time``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["C2_NAME", "PATHS", "QMAP_ROOTS", "UNIT_SCALE", "Source", "paths_of", "qmap_name", "write_path"]


@dataclass(frozen=True)
class Source:
    """One candidate location of a quantity: HDF5 path and its default unit.

    ``units=None`` means the unit is taken from the dataset's ``units`` attribute
    only; without one the value is reported with ``units="unspecified"``.
    ``variant``, when set, restricts the source to files of that variant (the
    bluesky metadata block is read only in 2023 files; current files carry a copy of
    it whose keys are not part of the result schema).
    """

    path: str
    units: str | None = None
    variant: str | None = None


_BLUESKY = "/entry/instrument/bluesky/metadata"
_DET = "/entry/instrument/detector_1"
_LEG_DET = "/measurement/instrument/detector"
_LEG_ACQ = "/measurement/instrument/acquisition"

#: The one path table: logical name → candidate sources, tried in order
#: (current NeXus, NXxpcs draft names, legacy, 2023 bluesky metadata).
PATHS: dict[str, tuple[Source, ...]] = {
    # --- layout markers -------------------------------------------------------------
    "xpcs_group": (Source("/xpcs"),),
    "legacy_version": (Source("/xpcs/Version"),),
    "exchange_group": (Source("/exchange"),),
    "measurement_group": (Source("/measurement"),),
    "bluesky_metadata": (Source(_BLUESKY),),
    # --- frames (raw detector stack) ----------------------------------------------
    "frames": (Source("/entry/data/data", "counts"),),
    # --- metadata -----------------------------------------------------------------
    "t0": (Source(f"{_DET}/frame_time", "s"), Source(f"{_LEG_DET}/exposure_period", "s"),
           Source(f"{_BLUESKY}/t0", "s", variant="2023")),
    "count_time": (Source(f"{_DET}/count_time", "s"), Source(f"{_LEG_DET}/exposure_time", "s"),
                   Source(f"{_BLUESKY}/t1", "s", variant="2023")),
    "energy": (Source("/entry/instrument/incident_beam/incident_energy", "keV"),
               Source("/xpcs/qmap/energy", "keV"),
               Source("/measurement/instrument/source_begin/energy", "keV"),
               Source(f"{_BLUESKY}/X_energy", "keV", variant="2023")),
    "distance": (Source(f"{_DET}/distance", "m"), Source(f"{_LEG_DET}/distance", "mm"),
                 Source(f"{_BLUESKY}/det_dist", variant="2023")),
    "pixel_size_x": (Source(f"{_DET}/x_pixel_size", "m"), Source(f"{_LEG_DET}/x_pixel_size", "mm"),
                     Source(f"{_BLUESKY}/pix_dim_x", variant="2023")),
    "pixel_size_y": (Source(f"{_DET}/y_pixel_size", "m"), Source(f"{_LEG_DET}/y_pixel_size", "mm"),
                     Source(f"{_BLUESKY}/pix_dim_y", variant="2023")),
    "beam_center_x": (Source("/xpcs/qmap/beam_center_x", "px"), Source(f"{_DET}/beam_center_x", "px"),
                      Source(f"{_LEG_ACQ}/beam_center_x", "px"), Source(f"{_BLUESKY}/bcx", "px", variant="2023")),
    "beam_center_y": (Source("/xpcs/qmap/beam_center_y", "px"), Source(f"{_DET}/beam_center_y", "px"),
                      Source(f"{_LEG_ACQ}/beam_center_y", "px"), Source(f"{_BLUESKY}/bcy", "px", variant="2023")),
    "start_time": (Source("/entry/start_time"),),
    # --- analysis configuration -------------------------------------------------
    "twotime_stride": (Source("/xpcs/twotime/config/stride_frame"), Source("/xpcs/stride_frames")),
    "twotime_avg": (Source("/xpcs/twotime/config/avg_frame"), Source("/xpcs/avg_frames")),
    "multitau_stride": (Source("/xpcs/multitau/config/stride_frame"), Source("/xpcs/stride_frames")),
    "multitau_avg": (Source("/xpcs/multitau/config/avg_frame"), Source("/xpcs/avg_frames")),
    # --- q-map (also the root of a pySimpleMask q-map file, see QMAP_ROOTS) ---------
    "qmap_group": (Source("/xpcs/qmap"),),
    "qmap_distance": (Source("/xpcs/qmap/detector_distance", "m"),),
    "qmap_pixel_size": (Source("/xpcs/qmap/pixel_size", "m"),),
    "qmap_energy": (Source("/xpcs/qmap/energy", "keV"),),
    "qmap_source_file": (Source("/xpcs/qmap/source_file"),),
    # --- bins ---------------------------------------------------------------------
    "dynamic_v0": (Source("/xpcs/qmap/dynamic_v_list_dim0"),),
    "dynamic_v1": (Source("/xpcs/qmap/dynamic_v_list_dim1"),),
    "dynamic_num_pts": (Source("/xpcs/qmap/dynamic_num_pts"),),
    "dynamic_index_mapping": (Source("/xpcs/qmap/dynamic_index_mapping"),),
    "static_v0": (Source("/xpcs/qmap/static_v_list_dim0"),),
    "static_v1": (Source("/xpcs/qmap/static_v_list_dim1"),),
    "static_num_pts": (Source("/xpcs/qmap/static_num_pts"),),
    "static_index_mapping": (Source("/xpcs/qmap/static_index_mapping"),),
    "map_names": (Source("/xpcs/qmap/map_names"),),
    "map_units": (Source("/xpcs/qmap/map_units"),),
    "dqlist": (Source("/xpcs/dqlist"),),
    "dphilist": (Source("/xpcs/dphilist"),),
    "dnoq": (Source("/xpcs/dnoq"),),
    "dnophi": (Source("/xpcs/dnophi"),),
    "sqlist": (Source("/xpcs/sqlist"),),
    "sphilist": (Source("/xpcs/sphilist"),),
    "snoq": (Source("/xpcs/snoq"),),
    "snophi": (Source("/xpcs/snophi"),),
    # --- results --------------------------------------------------------------------
    "c2_group": (Source("/xpcs/twotime/correlation_map"), Source("/exchange/C2T_all")),
    "c2_array": (Source("/xpcs/twotime/two_time_corr_func"),),
    "processed_bins": (Source("/xpcs/twotime/processed_bins"),),
    "g2": (Source("/xpcs/multitau/normalized_g2"), Source("/xpcs/multitau/g2"),
           Source("/exchange/norm-0-g2")),
    "g2_err": (Source("/xpcs/multitau/normalized_g2_err"), Source("/xpcs/multitau/g2_derr"),
               Source("/exchange/norm-0-stderr")),
    "delay": (Source("/xpcs/multitau/delay_list", "frame"),
              Source("/xpcs/multitau/delay_difference", "frame"), Source("/exchange/tau", "frame")),
    "saxs_2d": (Source("/xpcs/temporal_mean/scattering_2d"), Source("/exchange/pixelSum")),
    "saxs_1d": (Source("/xpcs/temporal_mean/scattering_1d"), Source("/exchange/partition-mean-total")),
    "saxs_1d_segments": (Source("/xpcs/temporal_mean/scattering_1d_segments"),
                         Source("/exchange/partition-mean-partial")),
    "c2_g2": (Source("/xpcs/twotime/normalized_g2"),),
    "c2_g2_segments": (Source("/xpcs/twotime/normalized_g2_segments"),),
    "c2_delay": (Source("/xpcs/twotime/delay_list", "frame"),),
    "I_t": (Source("/xpcs/spatial_mean/intensity_vs_time"), Source("/exchange/frameSum")),
    "roi_dynamic": (Source("/xpcs/qmap/dynamic_roi_map"), Source("/xpcs/dqmap")),
    "roi_static": (Source("/xpcs/qmap/static_roi_map"), Source("/xpcs/sqmap")),
    "mask": (Source("/xpcs/qmap/mask"), Source("/xpcs/mask")),
    # Case differs between writer (boost-corr 0.1.7) and viewer; the target file may
    # be missing (dangling external link): optional.
    "unnormalized_G2": (Source("/xpcs/multitau/unnormalized_G2"), Source("/xpcs/multitau/unnormalized_g2"),
                        Source("/xpcs/multitau/G2_unnormalized")),
}


#: Accepted spellings of a unit → factor to the target unit (s, m, keV).
UNIT_SCALE: dict[str, dict[str, float]] = {
    "s": {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6},
    "m": {"m": 1.0, "meter": 1.0, "metre": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6},
    "keV": {"kev": 1.0, "ev": 1e-3},
}
#: Names of the per-bin C2 datasets: ``c2_<number>``.
C2_NAME = re.compile(r"^c2_(\d+)$")


def paths_of(key: str) -> tuple[str, ...]:
    """The HDF5 paths of logical quantity ``key``, in the order they are tried."""
    return tuple(s.path for s in PATHS[key])


#: Where the q-map group lives: in a result file (``/xpcs/qmap``, a copy of the q-map
#: file's group) and in a pySimpleMask q-map file (``/qmap``).
QMAP_ROOTS: tuple[str, ...] = ("/xpcs/qmap", "/qmap")


def qmap_name(key: str) -> str:
    """Name of q-map quantity ``key`` inside the q-map group (e.g. ``"dynamic_roi_map"``).

    Raises ``KeyError`` for a key whose first (current-layout) path is not in ``/xpcs/qmap``.
    """
    path = PATHS[key][0].path
    root = QMAP_ROOTS[0] + "/"
    if not path.startswith(root):
        raise KeyError(f"{key!r} is not a q-map quantity ({path})")
    return path[len(root):]


def write_path(key: str) -> str:
    """The path the writer uses for ``key``: its first (current NeXus layout) source."""
    return PATHS[key][0].path
