"""Guarded HDF5 access shared by the readers: nothing is read from outside the file's folder,
and every h5py error names the file and the object.

A crafted HDF5 file can point elsewhere on disk: an external link (``h5py.ExternalLink``)
to any HDF5 file, a dataset whose raw bytes are stored in an external file (any file the
user can read), or a virtual dataset mapping other files. By default the readers refuse

* objects reached through links that resolve to a file outside the opened file's folder,
* datasets with external raw storage,
* virtual datasets with a source file outside the folder;

``allow_external=True`` lifts these checks for trusted local files. Dangling links and
soft-link cycles are reported with their paths instead of h5py's bare ``KeyError`` or
``RuntimeError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py

from ..core.errors import XpcsError

__all__ = ["ReaderFile", "check_dataset", "get_object", "inside_folder", "member_names", "open_reader", "read_attr",
           "read_dataset"]

#: h5py raises these for corrupt, unreadable or unresolvable objects.
H5_ERRORS = (OSError, RuntimeError, KeyError, ValueError)


class ReaderFile(h5py.File):
    """A read-only :class:`h5py.File` that carries the reader's policy.

    Attributes
    ----------
    allow_external : bool
        Whether links, external raw storage and virtual sources may leave the folder.
    error : type
        The :class:`~xpcsnb.core.errors.XpcsError` subclass raised for a bad file.
    """

    allow_external: bool = False
    error: type[XpcsError] = XpcsError


def open_reader(path: str | os.PathLike[str], *, error: type[XpcsError],
                allow_external: bool = False) -> ReaderFile:
    """Open ``path`` read-only as a :class:`ReaderFile`; h5py errors become ``error`` naming the file."""
    if not isinstance(allow_external, bool):
        raise TypeError(f"allow_external must be True or False, got {allow_external!r}")
    try:
        f = ReaderFile(path, "r")
    except H5_ERRORS as exc:
        raise error(f"cannot open {path} as HDF5 ({exc}); the file may be truncated or corrupt") from exc
    f.allow_external = allow_external
    f.error = error
    return f


def _policy(f: Any) -> tuple[bool, type[XpcsError]]:
    return bool(getattr(f, "allow_external", False)), getattr(f, "error", XpcsError)


def inside_folder(target: str | os.PathLike[str], folder: Path) -> bool:
    """Whether ``target`` (resolved, symlinks followed) lies in ``folder`` or below it."""
    try:
        return Path(target).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False


def _folder(f: Any) -> Path:
    return Path(f.filename).resolve().parent


def _describe_link(f: Any, path: str) -> str:
    try:
        link = f.get(path, getlink=True)
    except H5_ERRORS:
        return "an unresolvable link"
    if isinstance(link, h5py.ExternalLink):
        return f"an external link to {link.filename}:{link.path}"
    if isinstance(link, h5py.SoftLink):
        return f"a soft link to {link.path}"
    return "an object"


def check_dataset(f: Any, dset: h5py.Dataset, path: str) -> None:
    """Refuse external raw storage and virtual sources outside the folder (unless allowed)."""
    allow, error = _policy(f)
    if allow:
        return
    folder = _folder(f)
    if dset.external:
        files = sorted({str(name) for name, *_ in dset.external})
        raise error(
            f"{f.filename}:{path} stores its values in external raw file(s) {files}; refused "
            "(a crafted file could expose any file); pass allow_external=True only for a trusted file"
        )
    if dset.is_virtual:
        outside = sorted({vs.file_name for vs in dset.virtual_sources()
                          if vs.file_name != "." and not inside_folder(folder / vs.file_name, folder)})
        if outside:
            raise error(
                f"{f.filename}:{path} is a virtual dataset reading {outside}, outside {folder}; refused; "
                "pass allow_external=True for a trusted local virtual dataset"
            )


def get_object(f: Any, path: str, *, dangling: str = "raise") -> Any | None:
    """The HDF5 object at ``path`` of the open reader file ``f``, checked; None if absent.

    Parameters
    ----------
    f : ReaderFile or h5py.File
        Open file (a plain h5py.File gets the default policy: nothing outside the folder).
    path : str
        Object path inside the file.
    dangling : {"raise", "none"}
        What a link whose target is missing gives: an error naming it, or None.

    Raises
    ------
    XpcsError (the file's error class)
        For a dangling link (with ``dangling="raise"``), a soft-link cycle, a link leaving
        the folder, a refused dataset (:func:`check_dataset`) or any h5py error.
    """
    allow, error = _policy(f)
    try:
        link = f.get(path, getlink=True)
    except H5_ERRORS as exc:
        raise error(f"{f.filename}:{path} cannot be resolved ({exc})") from exc
    if link is None:
        return None
    try:
        obj = f[path]
    except H5_ERRORS as exc:
        what = _describe_link(f, path)
        if isinstance(exc, RuntimeError) or "too many links" in str(exc):
            raise error(f"{f.filename}:{path} is {what} in a cycle of links ({exc})") from exc
        if dangling == "none":
            return None
        raise error(f"{f.filename}:{path} is {what} whose target is missing ({exc})") from exc
    target = obj.file.filename
    if not allow and Path(target).resolve() != Path(f.filename).resolve() and not inside_folder(target, _folder(f)):
        raise error(
            f"{f.filename}:{path} is {_describe_link(f, path)} that resolves to {target}, outside "
            f"{_folder(f)}; refused; pass allow_external=True for a trusted file"
        )
    if isinstance(obj, h5py.Dataset):
        check_dataset(f, obj, path)
    return obj


def read_dataset(f: Any, dset: h5py.Dataset, path: str, key: Any = ()) -> Any:
    """``dset[key]``, with h5py errors turned into the file's error naming file and path."""
    _, error = _policy(f)
    try:
        return dset[key]
    except H5_ERRORS as exc:
        raise error(f"cannot read {f.filename}:{path} ({type(exc).__name__}: {exc}); "
                    "the file may be truncated or corrupt") from exc


def member_names(f: Any, group: h5py.Group, path: str) -> list[str]:
    """Names of the members of ``group`` (at ``path``), h5py errors turned into the file's error."""
    _, error = _policy(f)
    try:
        return list(group.keys())
    except H5_ERRORS as exc:
        raise error(f"cannot list the members of {f.filename}:{path} ({type(exc).__name__}: {exc}); "
                    "the file may be truncated or corrupt") from exc


def read_attr(f: Any, obj: h5py.HLObject, path: str, name: str, default: Any = None) -> Any:
    """Attribute ``name`` of the object at ``path`` (``default`` if absent), errors naming file and object."""
    _, error = _policy(f)
    try:
        return obj.attrs[name] if name in obj.attrs else default
    except (*H5_ERRORS, TypeError) as exc:
        raise error(f"cannot read the attribute {name!r} of {f.filename}:{path} ({type(exc).__name__}: {exc}); "
                    "the file may be truncated or corrupt") from exc
