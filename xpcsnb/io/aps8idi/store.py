"""Writing helpers of :mod:`.write`: datasets at path-table paths (Fletcher-32) and atomic files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .paths import write_path

__all__ = ["atomic_write", "put"]

_TMP_SUFFIX = ".xpcsnb-tmp"


def put(f: h5py.File, key: str, value: Any, **attrs: Any) -> None:
    """Write ``value`` at the table path of ``key`` (arrays with Fletcher-32)."""
    path = write_path(key)
    a = np.asarray(value)
    if a.dtype.kind == "U":
        a = np.char.encode(a, "utf-8")
    if a.ndim == 0:
        d = f.create_dataset(path, data=a)
    else:
        d = f.create_dataset(path, data=a, fletcher32=True, chunks=True)
    for k, v in attrs.items():
        d.attrs[k] = v


def atomic_write(target: Path, overwrite: bool, write: Callable[[h5py.File], None]) -> None:
    """Run ``write`` on a temporary HDF5 file next to ``target``, fsync it, then move it to ``target``
    (``os.replace`` with ``overwrite``, else a hard link that fails if ``target`` exists)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with h5py.File(tmp, "w") as f:
            write(f)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)  # fails if the target appeared meanwhile: never replaced
            tmp.unlink()
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except FileExistsError as exc:
        tmp.unlink(missing_ok=True)
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
