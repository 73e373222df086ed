"""Multi-tau g2 of an APS 8-ID-I result file in the core g2 schema: ``g2(roi, tau)``, ``g2_err``.

The file stores ``normalized_g2`` as (delay, bin); the reader transposes it to the schema
of :mod:`xpcsnb.core.g2` (``roi`` = the 1-based dynamic bin id, ``tau`` = lag [s]).
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ...core.errors import ApsFileError, G2Error
from ...core.g2 import validate_g2
from .bins import BinTable, read_bins
from .layout import existing_file, open_file, read_array
from .meta import time_step_attrs

__all__ = ["bin_coords", "g2_variables", "open_g2", "read_g2"]


def bin_coords(bins: BinTable, dim: str, prefix: str) -> dict[str, Any]:
    """Coordinates of a bin dimension: ids, q [1/Å] and φ [deg] per bin.

    Dynamic bins (``prefix="dynamic"``) give ``q`` and ``phi``; static bins give
    ``static_q`` and ``static_phi``; both along ``dim``.
    """
    dynamic = prefix != "static"
    return {
        dim: (dim, bins.ids, {"long_name": f"{prefix} bin id (1-based, roi map value)", "units": "1"}),
        "q" if dynamic else f"{prefix}_q": (dim, bins.q, {"long_name": "scattering vector", "units": "1/Å"}),
        "phi" if dynamic else f"{prefix}_phi": (dim, bins.phi, {"long_name": "azimuthal angle", "units": "deg"}),
    }


def g2_variables(f: h5py.File, bins: BinTable | None,
                 dt: float | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The multi-tau variables of an open file: (coords, data_vars, attrs), all empty without g2.

    ``g2(roi, tau)`` and ``g2_err(roi, tau)`` (the core g2 schema's dims); coords
    ``delay(tau)`` [frame] and, when the frame time and multi-tau config are present (or
    ``dt`` [s] is given), ``tau(tau)`` [s] with ``tau = delay · dt``, ``dt = t0 · stride · avg``;
    ``roi`` ids when ``bins`` is None (else the caller adds :func:`bin_coords`). attrs
    ``multitau_dt`` (or ``multitau_tau`` saying what is missing), ``multitau_stride``,
    ``multitau_avg``.
    """
    coords: dict[str, Any] = {}
    data_vars: dict[str, Any] = {}
    g2 = read_array(f, "g2")
    if g2 is None:
        return coords, data_vars, {}
    g2v, g2p = g2
    if g2v.ndim == 1:
        g2v = g2v[:, None]
    delay = read_array(f, "delay")
    if delay is None:
        raise ApsFileError(f"{f.filename}:{g2p} is present but the delay list is missing")
    dl = delay[0].astype(float)
    if g2v.ndim != 2 or g2v.shape[0] != dl.size:
        raise ApsFileError(f"{f.filename}:{g2p} has shape {g2v.shape}, expected ({dl.size} delays of "
                           f"{delay[1]}, bins)")
    if bins is not None and g2v.shape[1] != bins.ids.size:
        raise ApsFileError(f"{f.filename}:{g2p} has {g2v.shape[1]} bins but the q-map has {bins.ids.size}")
    if bins is None:
        coords["roi"] = ("roi", np.arange(1, g2v.shape[1] + 1), {"long_name": "dynamic bin id (1-based)", "units": "1"})
    data_vars["g2"] = (("roi", "tau"), g2v.T.astype(float), {"long_name": "normalized g2", "units": "1",
                                                             "source": g2p})
    err = read_array(f, "g2_err")
    if err is not None:
        if err[0].size != g2v.size:
            raise ApsFileError(f"{f.filename}:{err[1]} has shape {err[0].shape}, g2 has {g2v.shape}")
        data_vars["g2_err"] = (("roi", "tau"), err[0].reshape(g2v.shape).T.astype(float),
                               {"long_name": "standard error of g2", "units": "1", "source": err[1]})
    coords["delay"] = ("tau", dl, {"long_name": "lag in frames", "units": "frame"})
    dt_mt, attrs = time_step_attrs(f, "multitau")
    if dt is not None:
        if dt_mt is not None:
            attrs["multitau_dt_file"] = dt_mt
        dt_mt = float(dt)
        attrs["multitau_dt"] = dt_mt
        attrs["multitau_dt_source"] = "user"
        attrs.pop("multitau_tau", None)
    if dt_mt is not None:
        coords["tau"] = ("tau", dl * dt_mt, {"long_name": "lag time", "units": "s"})
    return coords, data_vars, attrs


def open_g2(path: str | os.PathLike[str], *, dt: float | None = None, allow_external: bool = False) -> xr.Dataset:
    """Read the multi-tau g2 of an 8-ID-I result file as a core g2 Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        Result file in the current NeXus, legacy or 2023 layout.
    dt : float, optional
        Multi-tau time step [s] overriding the file's ``t0 · stride · avg`` (needed when
        the file lacks its frame time or multi-tau config; recorded in attrs).
    allow_external : bool
        Follow links out of the file's folder and external storage (default False).

    Returns
    -------
    xarray.Dataset
        Validated by :func:`xpcsnb.core.g2.validate_g2`: ``g2(roi, tau)``,
        ``g2_err(roi, tau)`` when stored; coords ``tau`` [s], ``roi`` (1-based dynamic bin
        ids), ``q(roi)`` [1/Å] and ``phi(roi)`` [deg] when the q-map is stored,
        ``delay(tau)`` [frame]; attrs ``source``, ``multitau_dt`` [s] and the config.

    Raises
    ------
    FileNotFoundError, ApsFileError
        Missing file; no g2 in it; no time step (frame time or multi-tau config
        missing and no ``dt``); values that break the g2 schema (e.g. a zero lag); a
        malformed or unsafe file. Messages name the file and the object path.
    """
    if dt is not None and (isinstance(dt, bool) or not np.isfinite(float(dt)) or float(dt) <= 0):
        raise ValueError(f"dt must be a finite time step > 0 [s], got {dt!r}")
    p = existing_file(path)
    with open_file(p, allow_external=allow_external) as f:
        bins = read_bins(f, "dynamic")
        coords, data_vars, attrs = g2_variables(f, bins, dt)
        if not data_vars:
            raise ApsFileError(f"{p} holds no multi-tau g2")
        if bins is not None:
            coords.update(bin_coords(bins, "roi", "dynamic"))
            attrs["bin_mapping"] = bins.mapping
    if "tau" not in coords:
        raise ApsFileError(f"cannot determine the multi-tau lag times of {p} ({attrs.get('multitau_tau')}); "
                           "pass dt= [s] (tau = delay_list · dt); it is never guessed")
    ds = xr.Dataset(data_vars, coords=coords, attrs={"source": str(p), **attrs})
    try:
        return validate_g2(ds)
    except G2Error as exc:
        raise ApsFileError(f"{p}:{ds['g2'].attrs['source']} is not a valid g2: {exc}") from exc


#: Former name of :func:`open_g2` (kept for callers of ``xpcsnb.io.read_g2``).
read_g2 = open_g2
