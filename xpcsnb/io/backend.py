"""xarray backend: ``xr.open_dataset(path, engine="xpcs")`` for APS 8-ID-I result files.

Without ``q=`` the whole file is opened with :func:`~xpcsnb.io.aps8idi.open_aps`
(g2, lazy C2, images, bins). With ``q=`` the two-time Dataset of that q is returned
by :func:`~xpcsnb.io.aps8idi.open_twotime`, ready for the models.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import h5py
import xarray as xr
from xarray.backends import BackendEntrypoint

from .aps8idi import open_aps, open_twotime
from .aps8idi.paths import paths_of

__all__ = ["XpcsBackendEntrypoint", "HDF5_SUFFIXES"]

#: File name endings the backend claims in :meth:`XpcsBackendEntrypoint.guess_can_open`.
HDF5_SUFFIXES: tuple[str, ...] = (".hdf", ".h5", ".hdf5")


class XpcsBackendEntrypoint(BackendEntrypoint):
    """Open APS 8-ID-I XPCS result files (current NeXus, legacy and 2023 layouts).

    Examples
    --------
    >>> import xarray as xr
    >>> ds = xr.open_dataset("A001_results.hdf", engine="xpcs")  # doctest: +SKIP
    >>> tt = xr.open_dataset("A001_results.hdf", engine="xpcs", q=0.005)  # doctest: +SKIP
    """

    open_dataset_parameters: ClassVar[tuple[str, ...]] = (
        "filename_or_obj", "drop_variables", "q", "phi", "dt", "diagonal",
        "start_frame", "end_frame", "L", "q_tol", "allow_external",
    )
    description: ClassVar[str] = "APS 8-ID-I XPCS result files (g2, two-time C2, q-maps) via xpcsnb"

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        q: float | None = None,
        phi: float | Sequence[float] | None = None,
        dt: float | None = None,
        diagonal: str | None = None,
        start_frame: int | None = None,
        end_frame: int | None = None,
        L: float | None = None,
        q_tol: float | None = None,
        allow_external: bool = False,
    ) -> xr.Dataset:
        """Open ``filename_or_obj``; see the module docstring for what is returned.

        ``diagonal`` defaults to ``"correct"`` with ``q=`` (analysis input) and to
        ``"raw"`` without (the file as stored). ``allow_external=True`` follows links
        and external storage out of the file's folder (trusted files only).

        Raises
        ------
        TypeError
            If ``filename_or_obj`` is not a path.
        ValueError
            If two-time options (phi, dt, start_frame, end_frame, L, q_tol) are given
            without ``q``.
        """
        if not isinstance(filename_or_obj, str | os.PathLike):
            raise TypeError(
                f"the xpcs engine opens files by path; got {type(filename_or_obj).__name__}"
            )
        if q is None:
            given = {k: v for k, v in dict(phi=phi, dt=dt, start_frame=start_frame, end_frame=end_frame,
                                            L=L, q_tol=q_tol).items() if v is not None}
            if given:
                raise ValueError(f"{sorted(given)} select a two-time Dataset and need q= [1/Å]")
            ds = open_aps(filename_or_obj, diagonal=diagonal or "raw", allow_external=allow_external)
        else:
            ds = open_twotime(
                filename_or_obj, q, phi=phi, dt=dt, diagonal=diagonal or "correct",
                start_frame=start_frame, end_frame=end_frame, L=L, q_tol=q_tol,
                allow_external=allow_external,
            )
        if drop_variables is not None:
            names = [drop_variables] if isinstance(drop_variables, str) else list(drop_variables)
            ds = ds.drop_vars(names, errors="ignore")
        return ds

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """True for ``.hdf``/``.h5``/``.hdf5`` HDF5 files that have an ``/xpcs`` group."""
        if not isinstance(filename_or_obj, str | os.PathLike):
            return False
        p = Path(filename_or_obj)
        if p.suffix.lower() not in HDF5_SUFFIXES or not p.is_file():
            return False
        try:
            with h5py.File(p, "r") as f:
                return isinstance(f.get(paths_of("xpcs_group")[0]), h5py.Group)
        except OSError:
            return False
