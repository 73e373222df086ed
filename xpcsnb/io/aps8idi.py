"""Reader for APS 8-ID-I XPCS result files (boost-corr / xpcs-viewer layouts).

Three layouts are read through one path table (:data:`PATHS`) whose entries are
tried in order:

* ``"nexus"`` – the current (APS-U, 2025+) ``*_results.hdf`` layout: results under
  ``/xpcs/{qmap,multitau,twotime,temporal_mean,spatial_mean}``, metadata under
  ``/entry``. The NXxpcs draft names (``multitau/g2``, ``g2_derr``,
  ``delay_difference``, ``twotime/two_time_corr_func``) are accepted too.
* ``"legacy"`` – the pre-2025 layout (marker ``/xpcs/Version`` or ``/exchange``):
  results under ``/exchange`` and ``/xpcs``, metadata under ``/measurement``.
* ``"legacy"`` with ``variant="2023"`` – the 2023 intermediate files that keep the
  legacy result paths but carry metadata under ``/entry/instrument/bluesky/metadata``.

Conventions (see ``docs/io.md``):

* Dynamic bins are the writer's compressed, 1-based ids (``dynamic_roi_map == b``).
  Bin ``b`` sits at ``(i0, i1) = divmod(dynamic_index_mapping[b-1], n1)`` of the
  ``n0 × n1`` (q, φ) grid. Without an index mapping, bin ``b`` is flat index ``b-1``
  of the full grid (q-major). Legacy ``dqlist``/``dphilist`` rows of one value per
  bin are used per bin.
* C2 is stored as its upper triangle (diagonal included); the full matrix is
  ``C = U + Uᵀ − diag(U)``. Names ``c2_NNNNN`` are sorted numerically.
* Two-time time step ``dt = t0 · stride · avg`` from the file (``twotime/config``),
  never guessed; ``t_k = k·dt`` from 0 at the first frame of the analysis window
  (the homodyne convention).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import h5py
import numpy as np
import xarray as xr

from ..core.diagonal import DIAGONAL_MODES, apply_diagonal_mode
from ..core.twotime import twotime

from ..core.errors import ApsFileError

__all__ = [
    "PATHS",
    "ApsFileError",
    "BinTable",
    "C2Entry",
    "detect_layout",
    "full_from_upper",
    "list_c2",
    "open_aps",
    "open_twotime",
    "read_bins",
]




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
    "I_t": (Source("/xpcs/spatial_mean/intensity_vs_time"), Source("/exchange/frameSum")),
    "roi_dynamic": (Source("/xpcs/qmap/dynamic_roi_map"), Source("/xpcs/dqmap")),
    "roi_static": (Source("/xpcs/qmap/static_roi_map"), Source("/xpcs/sqmap")),
    "mask": (Source("/xpcs/qmap/mask"), Source("/xpcs/mask")),
    # Case differs between writer (boost-corr 0.1.7) and viewer; the target file may
    # be missing (dangling external link): optional.
    "unnormalized_G2": (Source("/xpcs/multitau/unnormalized_G2"), Source("/xpcs/multitau/unnormalized_g2"),
                        Source("/xpcs/multitau/G2_unnormalized")),
}

_UNIT_SCALE: dict[str, dict[str, float]] = {
    "s": {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6},
    "m": {"m": 1.0, "meter": 1.0, "metre": 1.0, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6},
    "keV": {"kev": 1.0, "ev": 1e-3},
}
_C2_NAME = re.compile(r"^c2_(\d+)$")


# ----------------------------------------------------------------------------------
# low-level reading
# ----------------------------------------------------------------------------------
def _decode(value: Any) -> Any:
    """Squeeze arrays, turn 0-d arrays into Python scalars, decode bytes to str."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            flat = [_decode(v) for v in value.ravel().tolist()]
            return flat[0] if value.size == 1 else flat
        value = np.squeeze(value)
        if value.ndim == 0:
            return value.item()
    return value


def _open_object(f: h5py.File, path: str) -> Any | None:
    """Return the HDF5 object at ``path`` or None (missing or dangling link)."""
    try:
        return f[path]
    except (KeyError, OSError):
        return None


def _find(f: h5py.File, key: str) -> tuple[Any, Source] | None:
    """First present source of ``key`` in :data:`PATHS`: (h5py object, source)."""
    variant = None
    for src in PATHS[key]:
        if src.variant is not None:
            variant = variant or detect_layout(f)[1]
            if src.variant != variant:
                continue
        obj = _open_object(f, src.path)
        if obj is not None:
            return obj, src
    return None


def _read(f: h5py.File, key: str) -> tuple[Any, str] | None:
    """Read, squeeze and decode the first present source of ``key``: (value, path)."""
    found = _find(f, key)
    if found is None:
        return None
    obj, src = found
    if not isinstance(obj, h5py.Dataset):
        raise ApsFileError(f"{src.path} is a group, expected a dataset")
    return _decode(obj[()]), src.path


def _read_array(f: h5py.File, key: str) -> tuple[np.ndarray, str] | None:
    got = _read(f, key)
    if got is None:
        return None
    value, path = got
    return np.atleast_1d(np.asarray(value)), path


def _quantity(f: h5py.File, key: str, target: str | None) -> tuple[float, str, str] | None:
    """Scalar quantity ``key`` converted to ``target`` unit: (value, units, path).

    The dataset's own ``units`` attribute wins over the table's default. A value whose
    unit is unknown or not convertible is returned unconverted with that unit string
    (or ``"unspecified"``).
    """
    found = _find(f, key)
    if found is None:
        return None
    obj, src = found
    value = _decode(obj[()])
    if isinstance(value, np.ndarray) or isinstance(value, str | list):
        raise ApsFileError(f"{src.path} should hold one number, got {value!r}")
    units = _decode(obj.attrs["units"]) if "units" in obj.attrs else src.units
    if target is not None and isinstance(units, str):
        scale = _UNIT_SCALE.get(target, {}).get(units.strip().lower())
        if scale is None and units.strip() == target:
            scale = 1.0
        if scale is not None:
            return float(value) * scale, target, src.path
    return float(value), units if isinstance(units, str) else "unspecified", src.path


def _existing_file(path: str | os.PathLike[str]) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if not p.is_file():
        raise ApsFileError(f"{p} is not a regular file")
    if not h5py.is_hdf5(p):
        raise ApsFileError(f"{p} is not an HDF5 file")
    return p.resolve()


def detect_layout(f: h5py.File) -> tuple[str, str]:
    """Return ``(layout, variant)`` of an open result file.

    ``layout`` is ``"legacy"`` (marker ``/xpcs/Version`` or an ``/exchange`` group)
    or ``"nexus"`` (results under ``/xpcs``). ``variant`` is ``"2023"`` for legacy
    result paths with bluesky metadata, ``"classic"`` for other legacy files and
    ``"aps-u"`` for NeXus files.

    Raises
    ------
    ApsFileError
        If the file has neither an ``/xpcs`` nor an ``/exchange`` group.
    """
    if "/xpcs/Version" in f or isinstance(_open_object(f, "/exchange"), h5py.Group):
        bluesky = _open_object(f, _BLUESKY) is not None
        measurement = _open_object(f, "/measurement") is not None
        return "legacy", ("2023" if bluesky and not measurement else "classic")
    if isinstance(_open_object(f, "/xpcs"), h5py.Group):
        return "nexus", "aps-u"
    raise ApsFileError(
        f"{f.filename} is not an APS 8-ID-I result file: no /xpcs or /exchange group "
        f"(top-level groups: {sorted(f.keys())})"
    )


# ----------------------------------------------------------------------------------
# bins
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BinTable:
    """Dynamic or static bins of a result file.

    Attributes
    ----------
    ids : ndarray of int, shape (Nb,)
        1-based compressed bin ids (``roi_map == id``); column ``ids[j]-1`` of g2.
    q, phi : ndarray, shape (Nb,)
        Bin centres [1/Å], [deg].
    iq, iphi : ndarray of int, shape (Nb,)
        Indices into ``q_grid`` and ``phi_grid``.
    q_grid, phi_grid : ndarray
        Grid centres [1/Å], [deg].
    mapping : str
        How bins were mapped: ``"index_mapping"``, ``"full_grid"`` or ``"per_bin_lists"``.
    """

    ids: np.ndarray
    q: np.ndarray
    phi: np.ndarray
    iq: np.ndarray
    iphi: np.ndarray
    q_grid: np.ndarray
    phi_grid: np.ndarray
    mapping: str

    def positions(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row positions of the given 1-based bin ids; raise for unknown ids."""
        ids = np.asarray(ids, dtype=np.int64)
        lookup = {int(b): k for k, b in enumerate(self.ids)}
        missing = [int(b) for b in ids if int(b) not in lookup]
        if missing:
            raise ApsFileError(
                f"bin id(s) {missing[:10]} are not among the {self.ids.size} bins of the q-map "
                f"(ids {int(self.ids.min())}…{int(self.ids.max())})"
            )
        return np.array([lookup[int(b)] for b in ids], dtype=np.int64)


def _grid_table(v0: np.ndarray, v1: np.ndarray, flat: np.ndarray, mapping: str, what: str) -> BinTable:
    n0, n1 = v0.size, v1.size
    flat = np.asarray(flat)
    if not np.issubdtype(flat.dtype, np.integer):
        if not np.all(flat == np.round(flat)):
            raise ApsFileError(f"{what} index mapping must be integers, got {flat[:5].tolist()}")
        flat = flat.astype(np.int64)
    flat = flat.astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= n0 * n1):
        raise ApsFileError(f"{what} index mapping has values outside 0…{n0 * n1 - 1} (grid {n0}×{n1})")
    if np.unique(flat).size != flat.size:
        raise ApsFileError(f"{what} index mapping has repeated grid cells")
    iq, iphi = np.divmod(flat, n1)
    return BinTable(
        ids=np.arange(1, flat.size + 1, dtype=np.int64), q=v0[iq].astype(float), phi=v1[iphi].astype(float),
        iq=iq, iphi=iphi, q_grid=v0.astype(float), phi_grid=v1.astype(float), mapping=mapping,
    )


def _nexus_bins(f: h5py.File, kind: str) -> BinTable | None:
    v0 = _read_array(f, f"{kind}_v0")
    if v0 is None:
        return None
    v1 = _read_array(f, f"{kind}_v1")
    q_grid = v0[0].astype(float)
    phi_grid = v1[0].astype(float) if v1 is not None else None
    if phi_grid is None:
        raise ApsFileError(f"/xpcs/qmap/{kind}_v_list_dim1 is missing (needed with dim0)")
    num = _read_array(f, f"{kind}_num_pts")
    if num is not None and tuple(int(n) for n in num[0]) != (q_grid.size, phi_grid.size):
        raise ApsFileError(
            f"/xpcs/qmap/{kind}_num_pts = {num[0].tolist()} disagrees with the bin-centre lists "
            f"({q_grid.size} × {phi_grid.size})"
        )
    idx = _read_array(f, f"{kind}_index_mapping")
    if idx is None:
        return _grid_table(q_grid, phi_grid, np.arange(q_grid.size * phi_grid.size), "full_grid", kind)
    return _grid_table(q_grid, phi_grid, idx[0], "index_mapping", kind)


def _legacy_bins(f: h5py.File, kind: str) -> BinTable | None:
    p = "d" if kind == "dynamic" else "s"
    ql = _read_array(f, f"{p}qlist")
    pl = _read_array(f, f"{p}philist")
    if ql is None or pl is None:
        return None
    qv, pv = ql[0].astype(float), pl[0].astype(float)
    nq = _read(f, f"{p}noq")
    nphi = _read(f, f"{p}nophi")
    n0 = int(nq[0]) if nq is not None else None
    n1 = int(nphi[0]) if nphi is not None else None
    grid = (n0 is not None and n1 is not None and qv.size == n0 and pv.size == n1
            and (qv.size != pv.size or n0 == n1 > 1))
    if grid:
        return _grid_table(qv, pv, np.arange(n0 * n1), "full_grid", kind)
    if qv.size != pv.size:
        raise ApsFileError(
            f"/xpcs/{p}qlist has {qv.size} values and /xpcs/{p}philist {pv.size}; they match neither "
            f"one value per bin nor the grid sizes {p}noq={n0}, {p}nophi={n1}"
        )
    q_grid, iq = np.unique(qv, return_inverse=True)
    phi_grid, iphi = np.unique(pv, return_inverse=True)
    return BinTable(
        ids=np.arange(1, qv.size + 1, dtype=np.int64), q=qv, phi=pv, iq=iq.astype(np.int64),
        iphi=iphi.astype(np.int64), q_grid=q_grid, phi_grid=phi_grid, mapping="per_bin_lists",
    )


def read_bins(f: h5py.File, kind: str = "dynamic") -> BinTable | None:
    """Read the dynamic or static bin table of an open result file (None if absent)."""
    if kind not in ("dynamic", "static"):
        raise ValueError(f"kind must be 'dynamic' or 'static', got {kind!r}")
    layout, _ = detect_layout(f)
    if layout == "nexus":
        names = _read(f, "map_names")
        if names is not None:
            n = [str(s).lower() for s in np.atleast_1d(names[0]).tolist()]
            if len(n) != 2 or n[0] != "q" or n[1] not in ("phi", "φ"):
                raise NotImplementedError(
                    f"only (q, phi) partitions are supported; this q-map partitions by {n}"
                )
        return _nexus_bins(f, kind)
    return _legacy_bins(f, kind)


# ----------------------------------------------------------------------------------
# two-time matrices
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class C2Entry:
    """One stored C2: its 1-based dynamic bin id and where it lives.

    ``index`` is the leading index into a 3-D NXxpcs ``two_time_corr_func`` array,
    None for one dataset per bin.
    """

    bin_id: int
    path: str
    index: int | None = None


def list_c2(f: h5py.File) -> list[C2Entry]:
    """List the stored C2 matrices of an open file, sorted by their names' numbers.

    Current layout: the k-th name in numeric order belongs to ``processed_bins[k]``
    (the bin ids are the names' numbers when ``processed_bins`` is absent). Legacy:
    ``c2_NNNNN`` belongs to bin ``NNNNN``. NXxpcs ``two_time_corr_func`` (n, N, N):
    slice k belongs to ``processed_bins[k]`` (or bin k+1).
    """
    found = _find(f, "c2_group")
    processed = _read_array(f, "processed_bins")
    pb = None if processed is None else processed[0].astype(np.int64)
    if found is not None:
        group, src = found
        numbered = []
        for name in group.keys():
            m = _C2_NAME.match(name)
            if m is None:
                raise ApsFileError(f"unexpected entry {src.path}/{name}: C2 names must be c2_<number>")
            numbered.append((int(m.group(1)), name))
        numbered.sort()
        if pb is not None and src.path.startswith("/xpcs/twotime"):
            if pb.size != len(numbered):
                raise ApsFileError(
                    f"/xpcs/twotime/processed_bins has {pb.size} ids but {src.path} holds {len(numbered)} C2 maps"
                )
            ids = pb.tolist()
        else:
            ids = [k for k, _ in numbered]
        return [C2Entry(int(b), f"{src.path}/{name}") for b, (_, name) in zip(ids, numbered)]
    arr = _find(f, "c2_array")
    if arr is None:
        return []
    ds, src = arr
    if ds.ndim == 2:
        n_maps = 1
        index: list[int | None] = [None]
    elif ds.ndim == 3:
        n_maps = ds.shape[0]
        index = list(range(n_maps))
    else:
        raise ApsFileError(f"{src.path} must be (N, N) or (n_bins, N, N), got shape {ds.shape}")
    ids = pb.tolist() if pb is not None else list(range(1, n_maps + 1))
    if len(ids) != n_maps:
        raise ApsFileError(f"/xpcs/twotime/processed_bins has {len(ids)} ids but {src.path} holds {n_maps} maps")
    return [C2Entry(int(b), src.path, i) for b, i in zip(ids, index)]


def _c2_frames(f: h5py.File, entry: C2Entry) -> int:
    shape = f[entry.path].shape
    if entry.index is not None:
        shape = shape[1:]
    shape = tuple(s for s in shape if s != 1) if len(shape) > 2 else shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ApsFileError(f"C2 at {entry.path} must be square, got shape {f[entry.path].shape}")
    return int(shape[0])


def _read_stored(f: h5py.File, entry: C2Entry, window: slice) -> np.ndarray:
    ds = f[entry.path]
    if entry.index is not None:
        return np.asarray(ds[entry.index, window, window])
    if ds.ndim == 3 and ds.shape[0] == 1:
        return np.asarray(ds[0, window, window])
    return np.asarray(ds[window, window])


def full_from_upper(u: Any, *, name: str = "C2") -> tuple[np.ndarray, str]:
    """Rebuild a full symmetric C2 from its stored upper triangle.

    Parameters
    ----------
    u : array_like, shape (N, N)
        Stored matrix: the upper triangle including the diagonal, zeros below; or an
        already full symmetric matrix.
    name : str
        Used in error messages.

    Returns
    -------
    (ndarray, str)
        The float64 matrix ``U + Uᵀ − diag(U)`` and ``"upper"``, or the matrix itself
        and ``"full"`` when it was stored symmetric.

    Raises
    ------
    ApsFileError
        If the lower triangle is neither zero nor the mirror of the upper one.
    """
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] != u.shape[1]:
        raise ApsFileError(f"{name} must be a square matrix, got shape {u.shape}")
    if not np.tril(u, -1).any():
        return u + u.T - np.diag(np.diag(u)), "upper"
    if np.array_equal(u, u.T):
        return u.copy(), "full"
    raise ApsFileError(
        f"{name} is neither an upper-triangle store (zeros below the diagonal) nor symmetric"
    )


def _load_c2(path: str, entry: C2Entry, diagonal: str) -> np.ndarray:
    """Read one C2 from disk, rebuild it and apply the diagonal mode (for dask)."""
    with h5py.File(path, "r") as f:
        u = _read_stored(f, entry, slice(None))
    full, _ = full_from_upper(u, name=entry.path)
    return apply_diagonal_mode(full, diagonal)


# ----------------------------------------------------------------------------------
# metadata
# ----------------------------------------------------------------------------------
_GEOMETRY: tuple[tuple[str, str | None], ...] = (
    ("energy", "keV"), ("distance", "m"), ("pixel_size_x", "m"), ("pixel_size_y", "m"),
    ("beam_center_x", "px"), ("beam_center_y", "px"), ("t0", "s"), ("count_time", "s"),
)


def _metadata_attrs(f: h5py.File) -> dict[str, Any]:
    """Geometry and timing attrs: ``name``, ``name_units`` for each quantity found."""
    attrs: dict[str, Any] = {}
    for key, target in _GEOMETRY:
        got = _quantity(f, key, target)
        if got is not None:
            attrs[key], attrs[f"{key}_units"], _ = got
    start = _read(f, "start_time")
    if start is not None:
        attrs["start_time"] = str(start[0])
    return attrs


def _time_step(f: h5py.File, analysis: str) -> tuple[float | None, dict[str, Any]]:
    """``dt = t0 · stride · avg`` [s] for ``analysis`` in {"twotime", "multitau"}.

    Returns (dt or None, info) where info records the factors and what is missing.
    """
    info: dict[str, Any] = {}
    missing = []
    t0 = _quantity(f, "t0", "s")
    if t0 is None:
        missing.append("frame time (" + ", ".join(s.path for s in PATHS["t0"]) + ")")
    elif t0[1] != "s":
        raise ApsFileError(f"frame time at {t0[2]} has unit {t0[1]!r}, not convertible to s")
    factors = {}
    for name in ("stride", "avg"):
        got = _read(f, f"{analysis}_{name}")
        if got is None:
            missing.append(f"{name} (" + ", ".join(s.path for s in PATHS[f"{analysis}_{name}"]) + ")")
            continue
        value = got[0]
        if isinstance(value, np.ndarray) or not float(value) >= 1 or float(value) != int(value):
            raise ApsFileError(f"{got[1]} must be a positive integer, got {value!r}")
        factors[name] = int(value)
        info[name] = int(value)
    if missing:
        info["missing"] = missing
        return None, info
    assert t0 is not None
    if not np.isfinite(t0[0]) or t0[0] <= 0:
        raise ApsFileError(f"frame time at {t0[2]} must be finite and > 0 s, got {t0[0]!r}")
    info["t0"] = t0[0]
    return t0[0] * factors["stride"] * factors["avg"], info


def _g2_link_status(f: h5py.File) -> str:
    """Where the unnormalised per-pixel G2 lives: 'file:path', 'dangling: …' or 'absent'."""
    for src in PATHS["unnormalized_G2"]:
        link = f.get(src.path, getlink=True)
        if link is None:
            continue
        target = f"{link.filename}:{link.path}" if isinstance(link, h5py.ExternalLink) else src.path
        if _open_object(f, src.path) is None:
            return f"dangling link at {src.path} -> {target}"
        return target
    return "absent"


# ----------------------------------------------------------------------------------
# selection helpers
# ----------------------------------------------------------------------------------
def _half_spacing(grid: np.ndarray, value: float) -> float | None:
    g = np.unique(np.asarray(grid, dtype=float))
    if g.size < 2:
        return None
    k = int(np.argmin(np.abs(g - value)))
    gaps = [abs(g[k] - g[j]) for j in (k - 1, k + 1) if 0 <= j < g.size]
    return 0.5 * min(gaps)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer (1-based frame number), got {value!r}")
    return int(value)


def _frame_window(n: int, start_frame: Any, end_frame: Any) -> tuple[int, int]:
    start = 1 if start_frame is None else _check_int("start_frame", start_frame)
    end = n if end_frame is None else _check_int("end_frame", end_frame)
    if start < 1:
        raise ValueError(f"start_frame is 1-based and must be >= 1, got {start}")
    if end > n:
        raise ValueError(f"end_frame={end} exceeds the {n} frames of the stored C2")
    if end - start + 1 < 2:
        raise ValueError(f"the frame window {start}…{end} must hold at least 2 frames")
    return start, end


def _select_q(bins: BinTable, iq_c2: np.ndarray, q: Any, q_tol: float | None) -> tuple[int, dict[str, Any]]:
    avail = np.unique(iq_c2)
    q_avail = bins.q_grid[avail]
    listing = ", ".join(f"{v:.6g}" for v in q_avail)
    if q is None:
        if avail.size != 1:
            raise ValueError(
                f"the file holds C2 at {avail.size} q values; choose one with q= [1/Å]: {listing}"
            )
        return int(avail[0]), {"q_selection": "only q with C2 in the file"}
    qr = float(q)
    if not np.isfinite(qr) or qr <= 0:
        raise ValueError(f"q must be finite and > 0 [1/Å], got {q!r}")
    k = int(np.argmin(np.abs(q_avail - qr)))
    tol = q_tol if q_tol is not None else _half_spacing(bins.q_grid, q_avail[k])
    if tol is None:
        tol = 0.1 * q_avail[k]
    if abs(q_avail[k] - qr) > tol:
        raise ValueError(
            f"no C2 at q={qr:.6g} 1/Å: the nearest stored q is {q_avail[k]:.6g} "
            f"(tolerance {tol:.3g}); q values with C2: {listing}"
        )
    return int(avail[k]), {"q_requested": qr, "q_selection": "nearest stored q"}


def _select_phi(phi_avail: np.ndarray, grid: np.ndarray, phi: Any) -> np.ndarray:
    """Positions in ``phi_avail`` of the requested angles (all when phi is None)."""
    if phi is None:
        return np.arange(phi_avail.size)
    req = np.atleast_1d(np.asarray(phi, dtype=float))
    if req.ndim != 1 or req.size == 0 or not np.all(np.isfinite(req)):
        raise ValueError(f"phi must be a finite angle or a non-empty sequence of angles [deg], got {phi!r}")
    out = []
    for p in req:
        k = int(np.argmin(np.abs(phi_avail - p)))
        tol = _half_spacing(grid, phi_avail[k]) or 1e-6
        if abs(phi_avail[k] - p) > tol:
            raise ValueError(
                f"no C2 at phi={p:.6g} deg for this q; stored angles: "
                + ", ".join(f"{v:.6g}" for v in phi_avail)
            )
        out.append(k)
    if len(set(out)) != len(out):
        raise ValueError(f"requested angles {req.tolist()} select the same phi bin more than once")
    return np.array(out, dtype=np.int64)


# ----------------------------------------------------------------------------------
# public readers
# ----------------------------------------------------------------------------------
def open_twotime(
    path: str | os.PathLike[str],
    q: float | None = None,
    *,
    phi: float | Sequence[float] | None = None,
    dt: float | None = None,
    diagonal: str = "correct",
    start_frame: int | None = None,
    end_frame: int | None = None,
    L: float | None = None,
    q_tol: float | None = None,
) -> xr.Dataset:
    """Read the two-time correlations of one q (all its φ bins) from an 8-ID-I file.

    Parameters
    ----------
    path : str or os.PathLike
        APS 8-ID-I result file (current NeXus, legacy or 2023 layout).
    q : float, optional
        Requested scattering vector [1/Å]; the nearest q that has C2 is used and must
        lie within half the q-grid spacing (or ``q_tol``). May be omitted when the
        file holds C2 at exactly one q.
    phi : float or sequence of float, optional
        Angles [deg] to keep (nearest φ bins); default all φ bins of the selected q.
    dt : float, optional
        Time step [s] overriding the file's ``t0 · stride · avg``; recorded.
    diagonal : {"correct", "raw"}
        ``"correct"`` (default) replaces the shot-noise diagonal by the neighbour mean
        of models.md §1, computed on the analysis window; ``"raw"`` keeps it.
    start_frame, end_frame : int, optional
        1-based inclusive window of C2 frames (``data[start-1:end]`` on both axes).
    L : float, optional
        Stator–rotor gap [Å] for the laminar-flow model.
    q_tol : float, optional
        Absolute tolerance [1/Å] of the q match.

    Returns
    -------
    xarray.Dataset
        Built by :func:`xpcsnb.io.twotime.twotime`: ``c2(phi, t1, t2)`` with
        ``t_k = k·dt`` [s] from 0 at ``start_frame``, attrs ``q``, ``dt`` and the
        provenance (source, layout, bins, diagonal, frame window, geometry), and a
        ``bin`` coordinate along ``phi`` with the 1-based dynamic bin ids.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ApsFileError
        If the file is not an 8-ID-I result file or holds no two-time data, or its
        frame time is missing and no ``dt`` is given.
    ValueError
        For a q or φ that is not stored, or an invalid frame window or diagonal mode.

    Examples
    --------
    >>> ds = open_twotime("A001_results.hdf", q=0.005)  # doctest: +SKIP
    >>> ds.c2.sel(phi=0.0, method="nearest")  # doctest: +SKIP
    """
    if diagonal not in DIAGONAL_MODES:
        apply_diagonal_mode(np.eye(2), diagonal)  # raises with the standard message
    p = _existing_file(path)
    with h5py.File(p, "r") as f:
        layout, variant = detect_layout(f)
        entries = list_c2(f)
        if not entries:
            raise ApsFileError(
                f"{p} holds no two-time data (looked for "
                + ", ".join(s.path for s in PATHS["c2_group"] + PATHS["c2_array"]) + ")"
            )
        bins = read_bins(f, "dynamic")
        if bins is None:
            raise ApsFileError(f"{p} has C2 maps but no dynamic bin centres (q, phi) to label them")
        pos = bins.positions([e.bin_id for e in entries])
        iq_sel, q_info = _select_q(bins, bins.iq[pos], q, q_tol)
        mine = [k for k in range(len(entries)) if bins.iq[pos[k]] == iq_sel]
        mine.sort(key=lambda k: bins.phi[pos[k]])
        phi_avail = bins.phi[pos[mine]]
        mine = [mine[k] for k in _select_phi(phi_avail, bins.phi_grid, phi)]

        sizes = {_c2_frames(f, entries[k]) for k in mine}
        if len(sizes) != 1:
            raise ApsFileError(f"C2 maps of q={bins.q_grid[iq_sel]:.6g} differ in size: {sorted(sizes)}")
        n_file = sizes.pop()
        start, end = _frame_window(n_file, start_frame, end_frame)
        window = slice(start - 1, end)

        dt_file, t_info = _time_step(f, "twotime")
        if dt is None:
            if dt_file is None:
                raise ApsFileError(
                    f"cannot determine the two-time step dt of {p}: missing "
                    + "; ".join(t_info["missing"]) + ". Pass dt= [s] explicitly; it is never guessed."
                )
            dt_used, dt_source = dt_file, "file: t0 * stride * avg (twotime config)"
        else:
            dt_used, dt_source = float(dt), "user"

        storages = set()
        mats = []
        for k in mine:
            full, storage = full_from_upper(_read_stored(f, entries[k], window), name=entries[k].path)
            storages.add(storage)
            mats.append(apply_diagonal_mode(full, diagonal))
        attrs = _metadata_attrs(f)
        attrs.update(
            source=str(p), layout=layout, variant=variant, **q_info,
            q_index=int(iq_sel), bin_mapping=bins.mapping,
            bins=np.array([entries[k].bin_id for k in mine], dtype=np.int64),
            c2_paths=[entries[k].path for k in mine],
            c2_storage="upper triangle (C = U + U^T - diag U)" if storages == {"upper"} else "full symmetric",
            diagonal=diagonal,
            diagonal_method=("neighbour mean, models.md §1, on the frame window" if diagonal == "correct"
                             else "stored diagonal (shot-noise spike kept)"),
            dt_source=dt_source, start_frame=start, end_frame=end, n_frames_file=n_file,
            time_origin="t_k = k*dt, k = 0 at start_frame",
        )
        for key in ("stride", "avg"):
            if key in t_info:
                attrs[f"twotime_{key}"] = t_info[key]
        if dt_file is not None:
            attrs["dt_file"] = dt_file
    phis = bins.phi[pos[mine]]
    ds = twotime(np.stack(mats), phi=phis, q=float(bins.q_grid[iq_sel]), dt=dt_used, L=L, attrs=attrs)
    return ds.assign_coords(bin=("phi", attrs["bins"], {"long_name": "dynamic bin id (1-based)", "units": "1"}))


def _bin_coords(bins: BinTable, dim: str, prefix: str) -> dict[str, Any]:
    return {
        dim: (dim, bins.ids, {"long_name": f"{prefix} bin id (1-based, roi map value)", "units": "1"}),
        f"{prefix}_q" if prefix == "static" else "q": (dim, bins.q, {"long_name": "scattering vector", "units": "1/Å"}),
        f"{prefix}_phi" if prefix == "static" else "phi": (dim, bins.phi, {"long_name": "azimuthal angle", "units": "deg"}),
    }


def _image(value: np.ndarray, name: str, path: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 2:
        raise ApsFileError(f"{path} ({name}) must be a 2-D image after squeezing, got shape {a.shape}")
    return a


def _multitau_vars(f: h5py.File, bins: BinTable | None, coords: dict[str, Any],
                   data_vars: dict[str, Any], attrs: dict[str, Any]) -> None:
    g2 = _read_array(f, "g2")
    if g2 is None:
        return
    g2v, g2p = g2
    if g2v.ndim == 1:
        g2v = g2v[:, None]
    delay = _read_array(f, "delay")
    if delay is None:
        raise ApsFileError(f"{g2p} is present but the delay list is missing")
    dl = delay[0].astype(float)
    if g2v.shape[0] != dl.size:
        raise ApsFileError(f"{g2p} has {g2v.shape[0]} delays but {delay[1]} has {dl.size}")
    if bins is not None and g2v.shape[1] != bins.ids.size:
        raise ApsFileError(f"{g2p} has {g2v.shape[1]} bins but the q-map has {bins.ids.size}")
    if bins is None:
        coords["bin"] = ("bin", np.arange(1, g2v.shape[1] + 1), {"long_name": "dynamic bin id (1-based)", "units": "1"})
    data_vars["g2"] = (("delay", "bin"), g2v.astype(float), {"long_name": "normalized g2", "units": "1", "source": g2p})
    err = _read_array(f, "g2_err")
    if err is not None:
        ev = err[0].reshape(g2v.shape) if err[0].size == g2v.size else None
        if ev is None:
            raise ApsFileError(f"{err[1]} has shape {err[0].shape}, g2 has {g2v.shape}")
        data_vars["g2_err"] = (("delay", "bin"), ev.astype(float),
                               {"long_name": "standard error of g2", "units": "1", "source": err[1]})
    coords["delay"] = ("delay", dl, {"long_name": "lag in frames", "units": "frame"})
    dt_mt, info = _time_step(f, "multitau")
    if dt_mt is not None:
        coords["tau"] = ("delay", dl * dt_mt, {"long_name": "lag time", "units": "s"})
        attrs["multitau_dt"] = dt_mt
    else:
        attrs["multitau_tau"] = "not available: missing " + "; ".join(info["missing"])
    for key in ("stride", "avg"):
        if key in info:
            attrs[f"multitau_{key}"] = info[key]


def _twotime_vars(path: Path, f: h5py.File, bins: BinTable | None, coords: dict[str, Any],
                  data_vars: dict[str, Any], attrs: dict[str, Any], diagonal: str) -> None:
    entries = list_c2(f)
    if not entries:
        return
    sizes = {_c2_frames(f, e) for e in entries}
    if len(sizes) != 1:
        raise ApsFileError(f"C2 maps differ in size: {sorted(sizes)}")
    n = sizes.pop()
    lazy = [da.from_delayed(dask.delayed(_load_c2)(str(path), e, diagonal), shape=(n, n), dtype=np.float64)
            for e in entries]
    c2 = da.stack(lazy)
    ids = np.array([e.bin_id for e in entries], dtype=np.int64)
    coords["c2_bin"] = ("c2_bin", ids, {"long_name": "dynamic bin id of each C2 (1-based)", "units": "1"})
    if bins is not None:
        pos = bins.positions(ids)
        coords["c2_q"] = ("c2_bin", bins.q[pos], {"long_name": "scattering vector", "units": "1/Å"})
        coords["c2_phi"] = ("c2_bin", bins.phi[pos], {"long_name": "azimuthal angle", "units": "deg"})
    dt_c2, info = _time_step(f, "twotime")
    if dt_c2 is not None:
        t = dt_c2 * np.arange(n, dtype=float)
        coords["t1"] = ("t1", t, {"long_name": "frame time t1 (t_k = k*dt)", "units": "s"})
        coords["t2"] = ("t2", t.copy(), {"long_name": "frame time t2 (t_k = k*dt)", "units": "s"})
        attrs["twotime_dt"] = dt_c2
    else:
        attrs["twotime_t"] = "not available: missing " + "; ".join(info["missing"])
    for key in ("stride", "avg"):
        if key in info:
            attrs[f"twotime_{key}"] = info[key]
    data_vars["c2"] = (("c2_bin", "t1", "t2"), c2, {
        "long_name": "two-time correlation C2", "units": "1", "diagonal": diagonal,
        "storage": "rebuilt from the stored upper triangle (C = U + U^T - diag U)",
    })


def open_aps(path: str | os.PathLike[str], *, diagonal: str = "raw") -> xr.Dataset:
    """Open an APS 8-ID-I result file as one labelled Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        Result file in the current NeXus, legacy or 2023 layout.
    diagonal : {"raw", "correct"}
        Diagonal treatment of the lazily read ``c2`` (default ``"raw"``: as stored,
        shot-noise spike included); recorded in ``c2.attrs["diagonal"]``.

    Returns
    -------
    xarray.Dataset
        Whatever the file holds of:

        * ``g2(delay, bin)``, ``g2_err(delay, bin)``; coords ``delay`` [frame],
          ``tau(delay)`` [s] (when the frame time and multi-tau config are present),
          ``bin`` (1-based dynamic ids), ``q(bin)`` [1/Å], ``phi(bin)`` [deg];
        * ``c2(c2_bin, t1, t2)`` lazy (a dask array, one chunk per bin), coords
          ``c2_bin`` (bin ids), ``c2_q``, ``c2_phi`` and ``t1``, ``t2`` [s] with
          ``t_k = k·dt``; C2 often exists for a subset of the bins only, hence its
          own dimension;
        * ``saxs_2d(y, x)``, ``roi_dynamic(y, x)``, ``roi_static(y, x)``, ``mask(y, x)``,
          ``I_t(frame)``, ``saxs_1d(static_bin)`` with ``static_q``, ``static_phi``;
        * attrs: geometry (energy, distance, pixel size, beam centre with units),
          t0, count_time, stride/avg, start_time, layout, variant, source and the
          status of the external unnormalised-G2 link.

    Raises
    ------
    FileNotFoundError, ApsFileError
    """
    if diagonal not in DIAGONAL_MODES:
        apply_diagonal_mode(np.eye(2), diagonal)
    p = _existing_file(path)
    coords: dict[str, Any] = {}
    data_vars: dict[str, Any] = {}
    with h5py.File(p, "r") as f:
        layout, variant = detect_layout(f)
        attrs: dict[str, Any] = {"source": str(p), "layout": layout, "variant": variant}
        attrs.update(_metadata_attrs(f))
        bins = read_bins(f, "dynamic")
        if bins is not None:
            coords.update(_bin_coords(bins, "bin", "dynamic"))
            attrs["bin_mapping"] = bins.mapping
        _multitau_vars(f, bins, coords, data_vars, attrs)
        _twotime_vars(p, f, bins, coords, data_vars, attrs, diagonal)
        for key, long_name, units in (
            ("saxs_2d", "time-averaged intensity", "photon/pixel/frame"),
            ("roi_dynamic", "dynamic bin id per pixel (0 = unused)", "1"),
            ("roi_static", "static bin id per pixel (0 = unused)", "1"),
            ("mask", "pixel used (nonzero)", "1"),
        ):
            got = _read_array(f, key)
            if got is not None:
                data_vars[key] = (("y", "x"), _image(got[0], key, got[1]),
                                  {"long_name": long_name, "units": units, "source": got[1]})
        it = _read_array(f, "I_t")
        if it is not None:
            v, src = it
            if v.ndim == 2 and v.shape[0] == 2:
                frame, inten = v[0], v[1]
            elif v.ndim == 1:
                frame, inten = np.arange(v.size), v
            else:
                raise ApsFileError(f"{src} must be (Nf,) or (2, Nf), got shape {v.shape}")
            if np.all(frame == np.round(frame)):
                frame = frame.astype(np.int64)
            coords["frame"] = ("frame", frame, {"long_name": "frame index", "units": "frame"})
            data_vars["I_t"] = (("frame",), inten, {"long_name": "detector intensity vs time",
                                                      "units": "photon/frame", "source": src})
        s1 = _read_array(f, "saxs_1d")
        if s1 is not None:
            v, src = s1
            if v.ndim != 1:
                raise ApsFileError(f"{src} must be one intensity per static bin, got shape {v.shape}")
            sbins = read_bins(f, "static")
            if sbins is not None:
                if sbins.ids.size != v.size:
                    raise ApsFileError(f"{src} has {v.size} values but the q-map has {sbins.ids.size} static bins")
                coords.update(_bin_coords(sbins, "static_bin", "static"))
            data_vars["saxs_1d"] = (("static_bin",), v, {"long_name": "intensity per static bin",
                                                          "units": "photon/pixel/frame", "source": src})
        attrs["unnormalized_G2"] = _g2_link_status(f)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
