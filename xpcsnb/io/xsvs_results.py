"""Save and load XSVS result Datasets: NetCDF-4 through :mod:`xpcsnb.io.results` (kind ``"xsvs"``).

``xpcsnb.xsvs.save_results``/``load_results`` are deprecated aliases of these (the XSVS
algorithms sit on a floor below the file formats).
"""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from .results import load_result, save_result

__all__ = ["KIND", "load_results", "load_xsvs", "save_results", "save_xsvs"]

#: The result kind stamped on (and required of) XSVS result files.
KIND = "xsvs"


def save_xsvs(ds: xr.Dataset, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write an XSVS result Dataset to NetCDF-4, atomically (:func:`xpcsnb.io.results.save_result`).

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`xpcsnb.xsvs.visibility` / :func:`xpcsnb.xsvs.fit_dynamics`.
    path : str or path-like
        Target file (``.nc``).
    overwrite : bool
        Replace an existing file; without it an existing file raises.

    Returns
    -------
    pathlib.Path
        The written path. The file's root attrs gain ``xpcsnb_kind="xsvs"`` and
        ``xpcsnb_version``.

    Raises
    ------
    TypeError
        If ``ds`` is not an xarray Dataset.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"save_xsvs takes the XSVS result Dataset, got {type(ds).__name__}")
    return save_result(ds, path, kind=KIND, overwrite=overwrite)


def load_xsvs(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read an XSVS result Dataset written by :func:`save_xsvs` (fully loaded, file closed).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not an xpcsnb XSVS result (another kind, or no kind attribute).
    """
    out = load_result(path, kind=KIND)
    assert isinstance(out, xr.Dataset)
    return out


#: Former names (``xpcsnb.xsvs.save_results``/``load_results``).
save_results = save_xsvs
load_results = load_xsvs
