"""Two-time correlations C2 of an APS 8-ID-I result file: listing, reading, ``open_twotime``.

C2 is stored as its upper triangle (diagonal included); the full matrix is
``C = U + Uᵀ − diag(U)``. Names ``c2_NNNNN`` are sorted numerically. The time step
``dt = t0 · stride · avg`` comes from the file (``twotime/config``), never guessed;
``t_k = (start_frame − 1 + k)·dt``: 0 at the first stored C2 frame, so that a frame window
keeps its sample age (the file records no earlier start).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ...core.diagonal import DIAGONAL_MODES, apply_diagonal_mode
from ...core.errors import ApsFileError
from ...core.twotime import twotime
from ..h5safe import get_object, read_dataset
from ..h5safe import member_names
from .bins import read_bins
from .layout import detect_layout, existing_file, find, open_file, read_array, require_numeric
from .meta import metadata_attrs, time_step_attrs
from .paths import C2_NAME, paths_of
from .select import frame_window, select_phi, select_qs

__all__ = ["C2Entry", "DIAGONAL_METHOD_CORRECT", "c2_frames", "full_from_upper", "list_c2", "load_c2", "open_twotime"]

#: The ``diagonal_method`` attribute of a corrected C2.
DIAGONAL_METHOD_CORRECT = "neighbour mean of the off-diagonal pairs (xpcsnb.core.diagonal), on the frame window"


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
    found = find(f, "c2_group")
    processed = read_array(f, "processed_bins")
    pb = None if processed is None else processed[0].astype(np.int64)
    if found is not None:
        group, src = found
        if not isinstance(group, h5py.Group):
            raise ApsFileError(f"{f.filename}:{src.path} must be a group of c2_<number> datasets, found a dataset")
        numbered = []
        for name in member_names(f, group, src.path):
            m = C2_NAME.match(name)
            if m is None:
                raise ApsFileError(f"unexpected entry {src.path}/{name}: C2 names must be c2_<number>")
            numbered.append((int(m.group(1)), name))
        numbered.sort()
        if pb is not None and src.path == paths_of("c2_group")[0]:  # the current layout's group
            if pb.size != len(numbered):
                raise ApsFileError(
                    f"{processed[1]} has {pb.size} ids but {src.path} holds {len(numbered)} C2 maps"
                )
            ids = pb.tolist()
        else:
            ids = [k for k, _ in numbered]
        return [C2Entry(int(b), f"{src.path}/{name}") for b, (_, name) in zip(ids, numbered)]
    arr = find(f, "c2_array")
    if arr is None:
        return []
    ds, src = arr
    if not isinstance(ds, h5py.Dataset):
        raise ApsFileError(f"{f.filename}:{src.path} must be a C2 dataset, found a group")
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
        raise ApsFileError(f"{paths_of('processed_bins')[0]} has {len(ids)} ids but {src.path} holds {n_maps} maps")
    return [C2Entry(int(b), src.path, i) for b, i in zip(ids, index)]


def _c2_dataset(f: h5py.File, entry: C2Entry) -> h5py.Dataset:
    """The checked, numeric dataset holding ``entry``."""
    ds = get_object(f, entry.path)
    if not isinstance(ds, h5py.Dataset):
        raise ApsFileError(f"{f.filename}:{entry.path} is {'missing' if ds is None else 'a group'}, expected C2 data")
    require_numeric(f, ds, entry.path)
    return ds


def c2_frames(f: h5py.File, entry: C2Entry) -> int:
    """Side N of the (N, N) C2 of ``entry`` (a leading or trailing unit axis is ignored)."""
    full_shape = _c2_dataset(f, entry).shape
    shape = full_shape[1:] if entry.index is not None else full_shape
    shape = tuple(s for s in shape if s != 1) if len(shape) > 2 else shape
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ApsFileError(f"C2 at {entry.path} must be square, got shape {full_shape}")
    return int(shape[0])


def _read_stored(f: h5py.File, entry: C2Entry, window: slice) -> np.ndarray:
    ds = _c2_dataset(f, entry)
    if entry.index is not None:
        key: Any = (entry.index, window, window)
    elif ds.ndim == 3 and ds.shape[0] == 1:
        key = (0, window, window)
    else:
        key = (window, window)
    return np.asarray(read_dataset(f, ds, entry.path, key))


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
        If the values are not numbers (e.g. text), or the lower triangle is neither
        zero nor the mirror of the upper one.
    """
    u = np.asarray(u)
    if u.dtype.kind not in "biuf":
        raise ApsFileError(f"{name} holds {u.dtype} values, not numbers; text is not converted to numbers")
    u = u.astype(np.float64)
    if u.ndim != 2 or u.shape[0] != u.shape[1]:
        raise ApsFileError(f"{name} must be a square matrix, got shape {u.shape}")
    if not np.tril(u, -1).any():
        return u + u.T - np.diag(np.diag(u)), "upper"
    if np.array_equal(u, u.T):
        return u.copy(), "full"
    raise ApsFileError(
        f"{name} is neither an upper-triangle store (zeros below the diagonal) nor symmetric"
    )


def load_c2(path: str, entry: C2Entry, diagonal: str, allow_external: bool = False) -> np.ndarray:
    """Read one C2 from disk, rebuild it and apply the diagonal mode (for dask)."""
    with open_file(Path(path), allow_external=allow_external) as f:
        u = _read_stored(f, entry, slice(None))
    full, _ = full_from_upper(u, name=f"{path}:{entry.path}")
    return apply_diagonal_mode(full, diagonal)



def open_twotime(
    path: str | os.PathLike[str],
    q: float | Sequence[float] | str | None = None,
    *,
    phi: float | Sequence[float] | None = None,
    dt: float | None = None,
    diagonal: str = "correct",
    start_frame: int | None = None,
    end_frame: int | None = None,
    L: float | None = None,
    q_tol: float | None = None,
    allow_external: bool = False,
) -> xr.Dataset:
    """Read the two-time correlations of one q (all its φ bins), or of several, from an 8-ID-I file.

    Parameters
    ----------
    path : str or os.PathLike
        APS 8-ID-I result file (current NeXus, legacy or 2023 layout).
    q : float, sequence of float or "all", optional
        Requested scattering vector [1/Å]; the nearest q that has C2 is used and must
        lie within half the q-grid spacing (or ``q_tol``). May be omitted when the
        file holds C2 at exactly one q. A sequence (each stored q once) or ``"all"``
        (every q with C2) gives a multi-q Dataset; every q must then have the same
        angles (choose common ones with ``phi``).
    phi : float or sequence of float, optional
        Angles [deg] to keep (nearest φ bins); default all φ bins of the selected q.
    dt : float, optional
        Time step [s] overriding the file's ``t0 · stride · avg``; recorded.
    diagonal : {"correct", "raw"}
        ``"correct"`` (default) replaces the shot-noise diagonal by the neighbour mean
        (:func:`xpcsnb.core.diagonal.correct_diagonal`), computed on the analysis window; ``"raw"`` keeps it.
    start_frame, end_frame : int, optional
        1-based inclusive window of C2 frames (``data[start-1:end]`` on both axes).
    L : float, optional
        Stator–rotor gap [Å] for the laminar-flow model.
    q_tol : float, optional
        Absolute tolerance [1/Å] of the q match.
    allow_external : bool
        Follow links out of the file's folder, external raw storage and outside
        virtual sources (default False: refused, ``xpcsnb.io.h5safe``); only for
        trusted files.

    Returns
    -------
    xarray.Dataset
        Built by :func:`xpcsnb.core.twotime.twotime`: ``c2(phi, t1, t2)`` with the
        frame times ``t_k = (start_frame − 1 + k)·dt`` [s] (0 at the first stored C2
        frame, so a window keeps its sample age; the step is
        :func:`~xpcsnb.core.twotime.time_step`), attrs ``q`` and the provenance (source,
        layout, bins, diagonal, frame window, ``dt_source``, geometry), and a ``bin``
        coordinate along ``phi`` with the 1-based dynamic bin ids. With several q:
        ``c2(q, phi, t1, t2)``, coordinates ``q``, ``q_index(q)``, ``q_requested(q)``
        (NaN for ``"all"``) and ``bin(q, phi)``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ApsFileError
        If the file is not an 8-ID-I result file or holds no two-time data, its
        frame time is missing and no ``dt`` is given, C2 is not stored as numbers,
        a link is dangling, cyclic or leaves the folder, or h5py cannot read an object.
    ValueError
        For a q or φ that is not stored, q values with other angles, or an invalid
        frame window or diagonal mode.

    Examples
    --------
    >>> ds = open_twotime("A001_results.hdf", q=0.005)  # doctest: +SKIP
    >>> ds.c2.sel(phi=0.0, method="nearest")  # doctest: +SKIP
    >>> every = open_twotime("A001_results.hdf", q="all")  # doctest: +SKIP
    """
    if diagonal not in DIAGONAL_MODES:
        apply_diagonal_mode(np.eye(2), diagonal)  # raises with the standard message
    multi = isinstance(q, str) or np.ndim(q) > 0
    p = existing_file(path)
    with open_file(p, allow_external=allow_external) as f:
        layout, variant = detect_layout(f)
        entries = list_c2(f)
        if not entries:
            raise ApsFileError(
                f"{p} holds no two-time data (looked for "
                + ", ".join(paths_of("c2_group") + paths_of("c2_array")) + ")"
            )
        bins = read_bins(f, "dynamic")
        if bins is None:
            raise ApsFileError(f"{p} has C2 maps but no dynamic bin centres (q, phi) to label them")
        pos = bins.positions([e.bin_id for e in entries])
        picks = select_qs(bins, bins.iq[pos], q, q_tol)
        groups = [_q_entries(bins, pos, iq, phi) for iq, _ in picks]
        phis = [bins.phi[pos[g]] for g in groups]
        for (iq, _), ph in zip(picks[1:], phis[1:]):
            if not np.array_equal(ph, phis[0]):
                raise ValueError(
                    f"C2 at q={bins.q_grid[iq]:.6g} has the angles {ph.tolist()} deg but at "
                    f"q={bins.q_grid[picks[0][0]]:.6g} {phis[0].tolist()} deg; a multi-q Dataset needs the same "
                    "angles at every q: choose common ones with phi=[...]"
                )
        sizes = {c2_frames(f, entries[k]) for g in groups for k in g}
        if len(sizes) != 1:
            qs = ", ".join(f"{bins.q_grid[iq]:.6g}" for iq, _ in picks)
            raise ApsFileError(f"C2 maps of q={qs} differ in size: {sorted(sizes)}")
        n_file = sizes.pop()
        start, end = frame_window(n_file, start_frame, end_frame)
        window = slice(start - 1, end)

        dt_file, t_attrs = time_step_attrs(f, "twotime")
        if dt is None:
            if dt_file is None:
                raise ApsFileError(
                    f"cannot determine the two-time step dt of {p} ({t_attrs['twotime_t']}). "
                    "Pass dt= [s] explicitly; it is never guessed."
                )
            dt_used, dt_source = dt_file, "file: t0 * stride * avg (twotime config)"
        else:
            dt_used, dt_source = float(dt), "user"

        storages = set()
        mats = []
        for g in groups:
            for k in g:
                full, storage = full_from_upper(_read_stored(f, entries[k], window), name=f"{p}:{entries[k].path}")
                storages.add(storage)
                mats.append(apply_diagonal_mode(full, diagonal))
        attrs = metadata_attrs(f)
        attrs.update(
            source=str(p), layout=layout, variant=variant, bin_mapping=bins.mapping,
            c2_paths=[entries[k].path for g in groups for k in g],
            c2_storage="upper triangle (C = U + U^T - diag U)" if storages == {"upper"} else "full symmetric",
            diagonal=diagonal,
            diagonal_method=(DIAGONAL_METHOD_CORRECT if diagonal == "correct"
                             else "stored diagonal (shot-noise spike kept)"),
            dt_source=dt_source, start_frame=start, end_frame=end, n_frames_file=n_file,
            time_origin="t_k = (start_frame - 1 + k)*dt: 0 at the first frame of the stored C2",
        )
        attrs.update(t_attrs)
        if dt_file is not None:
            attrs["dt_file"] = dt_file
    t = dt_used * (start - 1 + np.arange(end - start + 1, dtype=float))
    bin_ids = np.array([[entries[k].bin_id for k in g] for g in groups], dtype=np.int64)
    bin_attrs = {"long_name": "dynamic bin id (1-based)", "units": "1"}
    if not multi:
        iq, q_info = picks[0]
        attrs.update(q_info, q_index=int(iq), bins=bin_ids[0])
        ds = twotime(np.stack(mats), t, phi=phis[0], q=float(bins.q_grid[iq]), L=L, attrs=attrs)
        return ds.assign_coords(bin=("phi", bin_ids[0], bin_attrs))
    n_phi = phis[0].size
    attrs["q_selection"] = picks[0][1]["q_selection"]
    ds = twotime(np.stack(mats).reshape(len(groups), n_phi, t.size, t.size), t, phi=phis[0],
                 q=[float(bins.q_grid[iq]) for iq, _ in picks], L=L, attrs=attrs)
    return ds.assign_coords(
        q_index=("q", np.array([iq for iq, _ in picks], dtype=np.int64), {"long_name": "q-grid index", "units": "1"}),
        q_requested=("q", np.array([info.get("q_requested", np.nan) for _, info in picks], dtype=float),
                     {"long_name": "requested q (NaN: every q)", "units": "1/Å"}),
        bin=(("q", "phi"), bin_ids, bin_attrs),
    )


def _q_entries(bins: Any, pos: np.ndarray, iq: int, phi: Any) -> list[int]:
    """Indices (into the C2 entries) of the selected φ bins of q-grid index ``iq``, by increasing φ."""
    mine = [k for k in range(pos.size) if bins.iq[pos[k]] == iq]
    mine.sort(key=lambda k: bins.phi[pos[k]])
    return [mine[k] for k in select_phi(bins.phi[pos[mine]], bins.phi_grid, phi)]
