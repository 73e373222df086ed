"""Multi-tau g2 of an APS 8-ID-I result file: ``g2(delay, bin)``, ``g2_err``, lags and bins."""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
import xarray as xr

from ...core.errors import ApsFileError
from .bins import BinTable, read_bins
from .layout import existing_file, open_file, read_array
from .meta import time_step_attrs

__all__ = ["bin_coords", "g2_variables", "read_g2"]


def bin_coords(bins: BinTable, dim: str, prefix: str) -> dict[str, Any]:
    """Coordinates of a bin dimension: ids, q [1/Å] and φ [deg] per bin."""
    return {
        dim: (dim, bins.ids, {"long_name": f"{prefix} bin id (1-based, roi map value)", "units": "1"}),
        f"{prefix}_q" if prefix == "static" else "q": (dim, bins.q, {"long_name": "scattering vector", "units": "1/Å"}),
        f"{prefix}_phi" if prefix == "static" else "phi": (dim, bins.phi, {"long_name": "azimuthal angle", "units": "deg"}),
    }


def g2_variables(f: h5py.File, bins: BinTable | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The multi-tau variables of an open file: (coords, data_vars, attrs), all empty without g2.

    ``g2(delay, bin)`` and ``g2_err(delay, bin)``; coords ``delay`` [frame] and, when the
    frame time and multi-tau config are present, ``tau(delay)`` [s] with
    ``dt = t0 · stride · avg``; ``bin`` ids when ``bins`` is None (else the caller's
    bin coordinates apply). attrs ``multitau_dt`` (or ``multitau_tau`` saying what is
    missing), ``multitau_stride``, ``multitau_avg``.
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
    if g2v.shape[0] != dl.size:
        raise ApsFileError(f"{g2p} has {g2v.shape[0]} delays but {delay[1]} has {dl.size}")
    if bins is not None and g2v.shape[1] != bins.ids.size:
        raise ApsFileError(f"{g2p} has {g2v.shape[1]} bins but the q-map has {bins.ids.size}")
    if bins is None:
        coords["bin"] = ("bin", np.arange(1, g2v.shape[1] + 1), {"long_name": "dynamic bin id (1-based)", "units": "1"})
    data_vars["g2"] = (("delay", "bin"), g2v.astype(float), {"long_name": "normalized g2", "units": "1", "source": g2p})
    err = read_array(f, "g2_err")
    if err is not None:
        if err[0].size != g2v.size:
            raise ApsFileError(f"{err[1]} has shape {err[0].shape}, g2 has {g2v.shape}")
        data_vars["g2_err"] = (("delay", "bin"), err[0].reshape(g2v.shape).astype(float),
                               {"long_name": "standard error of g2", "units": "1", "source": err[1]})
    coords["delay"] = ("delay", dl, {"long_name": "lag in frames", "units": "frame"})
    dt_mt, attrs = time_step_attrs(f, "multitau")
    if dt_mt is not None:
        coords["tau"] = ("delay", dl * dt_mt, {"long_name": "lag time", "units": "s"})
    return coords, data_vars, attrs


def read_g2(path: str | os.PathLike[str], *, allow_external: bool = False) -> xr.Dataset:
    """Read the multi-tau g2 of an 8-ID-I result file.

    Parameters
    ----------
    path : str or os.PathLike
        Result file in the current NeXus, legacy or 2023 layout.
    allow_external : bool
        Follow links out of the file's folder and external storage (default False).

    Returns
    -------
    xarray.Dataset
        ``g2(delay, bin)``, ``g2_err(delay, bin)`` when stored; coords ``delay``
        [frame], ``tau(delay)`` [s] when the timing is in the file, ``bin`` (1-based
        dynamic ids), ``q(bin)`` [1/Å], ``phi(bin)`` [deg] when the q-map is stored.

    Raises
    ------
    FileNotFoundError, ApsFileError
        Missing file, no g2 in it, or a malformed/unsafe file.
    """
    p = existing_file(path)
    with open_file(p, allow_external=allow_external) as f:
        bins = read_bins(f, "dynamic")
        coords, data_vars, attrs = g2_variables(f, bins)
        if not data_vars:
            raise ApsFileError(f"{p} holds no multi-tau g2")
        if bins is not None:
            coords.update(bin_coords(bins, "bin", "dynamic"))
            attrs["bin_mapping"] = bins.mapping
    return xr.Dataset(data_vars, coords=coords, attrs={"source": str(p), **attrs})
