"""Save and load XSVS result Datasets as NetCDF (h5netcdf engine)."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

__all__ = ["save_results", "load_results"]


def save_results(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an XSVS result Dataset to NetCDF (``engine="h5netcdf"``).

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
        The written path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    ds.to_netcdf(path, engine="h5netcdf", mode="w")
    return path


def load_results(path: str | os.PathLike) -> xr.Dataset:
    """Read an XSVS result Dataset written by :func:`save_results` (fully loaded, file closed)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
