"""``open_aps``: a whole APS 8-ID-I result file as one labelled Dataset (g2, lazy C2, images, bins)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import h5py
import numpy as np
import xarray as xr

from ..._warn import warn
from ...core.diagonal import DIAGONAL_MODES, apply_diagonal_mode
from ...core.errors import ApsFileError
from ..h5safe import H5_ERRORS, get_object
from .bins import BinTable, read_bins
from .c2 import c2_frames, list_c2, load_c2
from .g2 import bin_coords, g2_variables
from .layout import detect_layout, existing_file, open_file, read_array
from .meta import metadata_attrs, time_step_attrs, unnormalized_g2_status
from .paths import PATHS

__all__ = ["open_aps"]

_IMAGES = (
    ("saxs_2d", "time-averaged intensity", "photon/pixel/frame"),
    ("roi_dynamic", "dynamic bin id per pixel (0 = unused)", "1"),
    ("roi_static", "static bin id per pixel (0 = unused)", "1"),
    ("mask", "pixel used (nonzero)", "1"),
)
#: Entries read without failing when their link is broken (a warning and an attr say so).
_OPTIONAL_LINKS = ("mask",)


def _image(value: np.ndarray, name: str, path: str) -> np.ndarray:
    a = np.asarray(value)
    if a.ndim != 2:
        raise ApsFileError(f"{path} ({name}) must be a 2-D image after squeezing, got shape {a.shape}")
    return a


def _broken_link(f: h5py.File, key: str) -> str | None:
    """A note on the first source of ``key`` that is a link to a missing target, else None."""
    for src in PATHS[key]:
        try:
            link = f.get(src.path, getlink=True)
        except H5_ERRORS:
            continue  # reported by get_object when read
        if isinstance(link, h5py.SoftLink | h5py.ExternalLink) and get_object(f, src.path, dangling="none") is None:
            target = f"{link.filename}:{link.path}" if isinstance(link, h5py.ExternalLink) else link.path
            return f"{src.path} is a broken link to {target}; read without it"
    return None


def _twotime_vars(path: Path, f: h5py.File, bins: BinTable | None, diagonal: str,
                  allow_external: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Lazy ``c2(c2_bin, t1, t2)`` (one dask chunk per bin) with its coords and attrs."""
    coords: dict[str, Any] = {}
    entries = list_c2(f)
    if not entries:
        return coords, {}, {}
    sizes = {c2_frames(f, e) for e in entries}
    if len(sizes) != 1:
        raise ApsFileError(f"C2 maps differ in size: {sorted(sizes)}")
    n = sizes.pop()
    lazy = [da.from_delayed(dask.delayed(load_c2)(str(path), e, diagonal, allow_external), shape=(n, n),
                            dtype=np.float64) for e in entries]
    ids = np.array([e.bin_id for e in entries], dtype=np.int64)
    coords["c2_bin"] = ("c2_bin", ids, {"long_name": "dynamic bin id of each C2 (1-based)", "units": "1"})
    if bins is not None:
        pos = bins.positions(ids)
        coords["c2_q"] = ("c2_bin", bins.q[pos], {"long_name": "scattering vector", "units": "1/Å"})
        coords["c2_phi"] = ("c2_bin", bins.phi[pos], {"long_name": "azimuthal angle", "units": "deg"})
    dt_c2, attrs = time_step_attrs(f, "twotime")
    if dt_c2 is not None:
        t = dt_c2 * np.arange(n, dtype=float)
        coords["t1"] = ("t1", t, {"long_name": "frame time t1 (t_k = k*dt)", "units": "s"})
        coords["t2"] = ("t2", t.copy(), {"long_name": "frame time t2 (t_k = k*dt)", "units": "s"})
    data_vars = {"c2": (("c2_bin", "t1", "t2"), da.stack(lazy), {
        "long_name": "two-time correlation C2", "units": "1", "diagonal": diagonal,
        "storage": "rebuilt from the stored upper triangle (C = U + U^T - diag U)",
    })}
    return coords, data_vars, attrs


def open_aps(path: str | os.PathLike[str], *, diagonal: str = "raw", allow_external: bool = False) -> xr.Dataset:
    """Open an APS 8-ID-I result file as one labelled Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        Result file in the current NeXus, legacy or 2023 layout.
    diagonal : {"raw", "correct"}
        Diagonal treatment of the lazily read ``c2`` (default ``"raw"``: as stored,
        shot-noise spike included); recorded in ``c2.attrs["diagonal"]``.
    allow_external : bool
        Follow links out of the file's folder, external raw storage and outside
        virtual sources (default False: refused); only for trusted files.

    Returns
    -------
    xarray.Dataset
        Whatever the file holds of:

        * ``g2(roi, tau)``, ``g2_err(roi, tau)`` (the core g2 schema's dims, see
          :func:`~xpcsnb.io.open_g2`); coords ``tau`` [s] (when the frame time and
          multi-tau config are present), ``delay(tau)`` [frame], ``roi`` (1-based
          dynamic bin ids), ``q(roi)`` [1/Å], ``phi(roi)`` [deg];
        * ``c2(c2_bin, t1, t2)`` lazy (a dask array, one chunk per bin), coords
          ``c2_bin`` (bin ids), ``c2_q``, ``c2_phi`` and ``t1``, ``t2`` [s] with
          ``t_k = k·dt``; C2 often exists for a subset of the bins only, hence its
          own dimension;
        * ``saxs_2d(y, x)``, ``roi_dynamic(y, x)``, ``roi_static(y, x)``, ``mask(y, x)``,
          ``I_t(frame)``, ``saxs_1d(static_bin)`` with ``static_q``, ``static_phi``;
        * attrs: geometry (energy, distance, pixel size, beam centre with units),
          t0, count_time, stride/avg, start_time, layout, variant, source, the
          status of the external unnormalised-G2 link and ``mask_note`` when the mask
          is a broken link (then also a :class:`UserWarning`; the file is read without it).

    Raises
    ------
    FileNotFoundError, ApsFileError
        Missing file; not a result file; values stored as text; a dangling or cyclic
        link to a required entry; a link, external storage or virtual source outside
        the folder (without ``allow_external``); any h5py read error (named).
    """
    if diagonal not in DIAGONAL_MODES:
        apply_diagonal_mode(np.eye(2), diagonal)
    p = existing_file(path)
    coords: dict[str, Any] = {}
    data_vars: dict[str, Any] = {}
    with open_file(p, allow_external=allow_external) as f:
        layout, variant = detect_layout(f)
        attrs: dict[str, Any] = {"source": str(p), "layout": layout, "variant": variant}
        attrs.update(metadata_attrs(f))
        bins = read_bins(f, "dynamic")
        if bins is not None:
            coords.update(bin_coords(bins, "roi", "dynamic"))
            attrs["bin_mapping"] = bins.mapping
        for c, v, a in (g2_variables(f, bins), _twotime_vars(p, f, bins, diagonal, allow_external)):
            coords.update(c)
            data_vars.update(v)
            attrs.update(a)
        for key, long_name, units in _IMAGES:
            if key in _OPTIONAL_LINKS:
                note = _broken_link(f, key)
                if note is not None:
                    warn(f"{p}: {note}", UserWarning)
                    attrs[f"{key}_note"] = note
            got = read_array(f, key, dangling="none" if key in _OPTIONAL_LINKS else "raise")
            if got is not None:
                data_vars[key] = (("y", "x"), _image(got[0], key, got[1]),
                                  {"long_name": long_name, "units": units, "source": got[1]})
        it = read_array(f, "I_t")
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
        s1 = read_array(f, "saxs_1d")
        if s1 is not None:
            v, src = s1
            if v.ndim != 1:
                raise ApsFileError(f"{src} must be one intensity per static bin, got shape {v.shape}")
            sbins = read_bins(f, "static")
            if sbins is not None:
                if sbins.ids.size != v.size:
                    raise ApsFileError(f"{src} has {v.size} values but the q-map has {sbins.ids.size} static bins")
                coords.update(bin_coords(sbins, "static_bin", "static"))
            data_vars["saxs_1d"] = (("static_bin",), v, {"long_name": "intensity per static bin",
                                                          "units": "photon/pixel/frame", "source": src})
        attrs["unnormalized_G2"] = unnormalized_g2_status(f)
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)
