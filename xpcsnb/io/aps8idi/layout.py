"""Opening an APS 8-ID-I result file, detecting its layout and reading entries of the path table.

Every object is reached through :func:`xpcsnb.io.h5safe.get_object`: links leaving the
file's folder, external raw storage and outside virtual sources are refused unless the
file was opened with ``allow_external=True``; every h5py error becomes an
:class:`~xpcsnb.core.errors.ApsFileError` naming the file and the object path.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ...core.errors import ApsFileError
from ..h5safe import ReaderFile, get_object, member_names, open_reader, read_attr, read_dataset
from .paths import PATHS, UNIT_SCALE, Source

__all__ = ["detect_layout", "existing_file", "find", "open_file", "quantity", "read", "read_array"]


def existing_file(path: str | os.PathLike[str]) -> Path:
    """The resolved path of an existing regular HDF5 file; clear errors otherwise."""
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


def open_file(path: Path, *, allow_external: bool = False) -> ReaderFile:
    """Open a result file read-only with the reader's policy (see the module docstring)."""
    return open_reader(path, error=ApsFileError, allow_external=allow_external)


def decode(value: Any) -> Any:
    """Squeeze arrays, turn 0-d arrays into Python scalars, decode bytes to str."""
    if isinstance(value, bytes | np.bytes_):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            flat = [decode(v) for v in value.ravel().tolist()]
            return flat[0] if value.size == 1 else flat
        value = np.squeeze(value)
        if value.ndim == 0:
            return value.item()
    return value


def find(f: h5py.File, key: str, *, dangling: str = "raise") -> tuple[Any, Source] | None:
    """First present source of ``key`` in :data:`~.paths.PATHS`: (h5py object, source).

    ``dangling="none"`` skips a source whose link target is missing (optional entries);
    by default such a link raises :class:`ApsFileError` naming it.
    """
    variant = None
    for src in PATHS[key]:
        if src.variant is not None:
            variant = variant or detect_layout(f)[1]
            if src.variant != variant:
                continue
        obj = get_object(f, src.path, dangling=dangling)
        if obj is not None:
            return obj, src
    return None


def _dataset(f: h5py.File, key: str, dangling: str = "raise") -> tuple[h5py.Dataset, str] | None:
    found = find(f, key, dangling=dangling)
    if found is None:
        return None
    obj, src = found
    if not isinstance(obj, h5py.Dataset):
        raise ApsFileError(f"{f.filename}:{src.path} is a group, expected a dataset")
    return obj, src.path


def read(f: h5py.File, key: str) -> tuple[Any, str] | None:
    """Read, squeeze and decode the first present source of ``key``: (value, path)."""
    got = _dataset(f, key)
    if got is None:
        return None
    obj, path = got
    return decode(read_dataset(f, obj, path)), path


def require_numeric(f: h5py.File, dset: h5py.Dataset, path: str) -> None:
    """Refuse a dataset that does not store numbers (text such as b'1.0' or b'n/a')."""
    if dset.dtype.kind not in "biuf":
        raise ApsFileError(
            f"{f.filename}:{path} stores {dset.dtype} values, not numbers; "
            "the file is malformed (numbers stored as text are not converted)"
        )


def read_array(f: h5py.File, key: str, *, dangling: str = "raise") -> tuple[np.ndarray, str] | None:
    """Numeric array of ``key`` (at least 1-D, squeezed): (array, path); text is refused.

    ``dangling="none"`` skips sources that are links to missing targets (see :func:`find`).
    """
    got = _dataset(f, key, dangling)
    if got is None:
        return None
    obj, path = got
    require_numeric(f, obj, path)
    return np.atleast_1d(np.asarray(decode(read_dataset(f, obj, path)))), path


def quantity(f: h5py.File, key: str, target: str | None) -> tuple[float, str, str] | None:
    """Scalar quantity ``key`` converted to ``target`` unit: (value, units, path).

    The dataset's own ``units`` attribute wins over the table's default. A value whose
    unit is unknown or not convertible is returned unconverted with that unit string
    (or ``"unspecified"``).
    """
    got = _dataset(f, key)
    if got is None:
        return None
    obj, path = got
    src_units = next(s.units for s in PATHS[key] if s.path == path)
    value = decode(read_dataset(f, obj, path))
    if isinstance(value, np.ndarray) or isinstance(value, str | list):
        raise ApsFileError(f"{f.filename}:{path} should hold one number, got {value!r}")
    units = decode(read_attr(f, obj, path, "units", src_units))
    if target is not None and isinstance(units, str):
        scale = UNIT_SCALE.get(target, {}).get(units.strip().lower())
        if scale is None and units.strip() == target:
            scale = 1.0
        if scale is not None:
            return float(value) * scale, target, path
    return float(value), units if isinstance(units, str) else "unspecified", path


def _present(f: h5py.File, key: str) -> Any | None:
    return get_object(f, PATHS[key][0].path, dangling="none")


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
    if _present(f, "legacy_version") is not None or isinstance(_present(f, "exchange_group"), h5py.Group):
        bluesky = _present(f, "bluesky_metadata") is not None
        measurement = _present(f, "measurement_group") is not None
        return "legacy", ("2023" if bluesky and not measurement else "classic")
    if isinstance(_present(f, "xpcs_group"), h5py.Group):
        return "nexus", "aps-u"
    raise ApsFileError(
        f"{f.filename} is not an APS 8-ID-I result file: no /xpcs or /exchange group "
        f"(top-level groups: {sorted(member_names(f, f, '/'))})"
    )
