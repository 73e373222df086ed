"""Reading and storing CMC results: warnings, summary table, NetCDF files of kind ``"cmc"``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import xarray as xr

from ...io.results import load_result, save_result

__all__ = ["cmc_warnings", "cmc_summary", "save_cmc", "load_cmc"]

#: The ``xpcsnb_kind`` of CMC result files (:mod:`xpcsnb.io.results`).
KIND = "cmc"


def cmc_warnings(tree: xr.DataTree) -> list[str]:
    """The convergence warnings stored in a CMC result (empty when converged)."""
    text = str(tree.attrs.get("warnings", ""))
    return [line for line in text.split("\n") if line]


def cmc_summary(tree: xr.DataTree) -> Any:
    """The summary table of a CMC result as a :class:`pandas.DataFrame` (one row per parameter).

    Columns: ``mean``, ``sd``, ``eti90_lb``, ``eti90_ub`` (90 % equal-tailed interval of the
    combined draws), ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min`` (worst over shards).
    """
    if not isinstance(tree, xr.DataTree) or "summary" not in tree.children:
        raise ValueError("not a CMC result: no 'summary' group (expected the DataTree of fit_cmc or load_cmc)")
    return tree["summary"].to_dataset().to_dataframe()


def save_cmc(tree: xr.DataTree, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write a CMC result to NetCDF-4 (h5netcdf), atomically; refuse to overwrite unless ``overwrite=True``.

    The file is marked as a ``"cmc"`` result (:func:`xpcsnb.io.results.save_result`).
    """
    if not isinstance(tree, xr.DataTree) or "posterior" not in tree.children:
        raise ValueError(f"save_cmc needs the DataTree of fit_cmc (with a 'posterior' group), got {type(tree).__name__}")
    return save_result(tree, path, kind=KIND, overwrite=overwrite)


def load_cmc(path: str | os.PathLike[str]) -> xr.DataTree:
    """Read a CMC result written by :func:`save_cmc` (fully into memory; the file is closed).

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file holds another kind of result (NLSQ, XSVS, ...) or was not written by xpcsnb.
    """
    return load_result(path, kind=KIND, tree=True)
