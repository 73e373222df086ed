"""Save and load every xpcsnb result (NLSQ, CMC, XSVS, g2 fits) as NetCDF-4, atomically and kind-checked.

Every file written here carries the attribute ``xpcsnb_kind`` (e.g. ``"nlsq"``,
``"cmc"``, ``"xsvs"``) on its root; :func:`load_result` refuses a file of another kind,
or one without the attribute, with a message naming both. Writes are atomic: the result
goes to a temporary file in the target's folder, is flushed to disk (``fsync``) and then
renamed over the target, so an interrupted save never leaves a half-written file under
the target's name, and a failed ``overwrite=True`` save keeps the earlier file intact.
Leftover temporaries of an interrupted save (``.<name>.*.xpcsnb-tmp``) are removed by
the next save to the same target.

Every array variable (numbers and fixed-width bytes; not variable-length strings, which
HDF5 cannot filter, nor 0-d scalars, which cannot be chunked) is stored chunked with the
HDF5 **Fletcher-32** checksum filter, so a flipped bit in xpcsnb's own files is reported
by h5py on reading instead of returned as a wrong number.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from .._version import __version__

__all__ = ["KIND_ATTR", "atomic_path", "checksum_encoding", "clean_temporaries", "load_result", "save_result"]

#: Root attribute naming what a file holds.
KIND_ATTR = "xpcsnb_kind"
_TMP_SUFFIX = ".xpcsnb-tmp"
#: Encoding keys kept from a variable's own encoding (e.g. of a loaded result); the rest
#: (chunk sizes, ``contiguous``, reader bookkeeping) is left to the writer.
_KEEP = ("dtype", "_FillValue", "units", "calendar", "scale_factor", "add_offset",
         "compression", "compression_opts", "shuffle", "zlib", "complevel")


def _checksummed(variable: xr.Variable) -> dict:
    """Encoding of one variable: its own (kept keys) plus Fletcher-32 where HDF5 allows it."""
    enc = {k: v for k, v in variable.encoding.items() if k in _KEEP}
    filterable = variable.ndim > 0 and variable.dtype.kind in "biufcSmM" and enc.get("dtype", variable.dtype) != str
    if filterable:
        enc["fletcher32"] = True
    return enc


def checksum_encoding(obj: xr.Dataset | xr.DataTree) -> dict:
    """The ``to_netcdf`` encoding that turns on Fletcher-32 for every filterable variable.

    For a DataTree the keys are the group paths (``"/"``, ``"/shard_0/posterior"``, ...).
    """
    if isinstance(obj, xr.DataTree):
        return {node.path: {name: _checksummed(v) for name, v in node.to_dataset(inherit=False).variables.items()}
                for node in obj.subtree}
    return {name: _checksummed(v) for name, v in obj.variables.items()}


def clean_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the leftover temporaries of interrupted writes to ``target``; return them.

    They are named ``.<target name>.<random>.xpcsnb-tmp`` and sit next to the target.
    """
    target = Path(target)
    removed = []
    for old in target.parent.glob(f".{glob.escape(target.name)}.*{_TMP_SUFFIX}"):
        try:
            old.unlink()
            removed.append(old)
        except OSError:  # pragma: no cover - another process holds it
            pass
    return removed


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """A temporary path next to ``path`` that becomes ``path`` only if the block succeeds.

    Write the file to the yielded path inside the ``with`` block; on a normal exit it is
    flushed to disk (``fsync``) and renamed over ``path`` (atomic on POSIX and Windows),
    on an exception (or ``KeyboardInterrupt``) it is removed and ``path`` is untouched. A
    process killed inside the block leaves only the temporary, which the next write to
    ``path`` removes (:func:`clean_temporaries`).

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file name such as {target / 'result.nc'}")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"the folder {target.parent} does not exist; create it first")
    clean_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_result(obj: xr.Dataset | xr.DataTree, path: str | os.PathLike[str], *, kind: str,
                overwrite: bool = False) -> Path:
    """Write a result Dataset or DataTree to NetCDF-4 (h5netcdf), atomically.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataTree
        The result.
    path : str or path-like
        Target file (``.nc``).
    kind : str
        What the result is (``"nlsq"``, ``"cmc"``, ``"xsvs"``, ...); stored as the root
        attribute ``xpcsnb_kind`` and checked by :func:`load_result`.
    overwrite : bool
        Replace an existing file; without it an existing target raises.

    Returns
    -------
    pathlib.Path
        The written path.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    IsADirectoryError
        If ``path`` is a folder.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    target = Path(path)
    out = obj.copy()
    out.attrs = {**obj.attrs, KIND_ATTR: kind, "xpcsnb_version": obj.attrs.get("xpcsnb_version", __version__)}
    with atomic_path(target, overwrite=overwrite) as tmp:
        out.to_netcdf(tmp, engine="h5netcdf", mode="w", encoding=checksum_encoding(out))
    return target


def load_result(path: str | os.PathLike[str], *, kind: str, tree: bool = False) -> xr.Dataset | xr.DataTree:
    """Read a result written by :func:`save_result`, fully into memory (the file is closed).

    Parameters
    ----------
    path : str or path-like
        The file.
    kind : str
        The kind expected (``"nlsq"``, ``"cmc"``, ``"xsvs"``, ...).
    tree : bool
        Read a DataTree (CMC results) instead of a Dataset.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    OSError
        If the file cannot be read (truncated, or a Fletcher-32 checksum mismatch), naming it.
    ValueError
        If the file holds another kind of result, or was not written by xpcsnb.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        if tree:
            with xr.open_datatree(p, engine="h5netcdf") as t:
                out: xr.Dataset | xr.DataTree = t.load().copy()
        else:
            with xr.open_dataset(p, engine="h5netcdf") as ds:
                out = ds.load()
    except OSError as exc:
        raise OSError(f"cannot read {p} ({exc}); the file is truncated or corrupt (files written by xpcsnb "
                      "carry Fletcher-32 checksums: a failed read means its bytes changed after saving)") from exc
    found = out.attrs.get(KIND_ATTR)
    if found is None:
        raise ValueError(f"{p} was not written by xpcsnb's save (no {KIND_ATTR!r} attribute); "
                         f"expected a {kind!r} result")
    if found != kind:
        raise ValueError(f"{p} holds a {found!r} result, not a {kind!r} result; load it with the {found} loader")
    return out
