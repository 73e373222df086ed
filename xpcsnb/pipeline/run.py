"""One file at a time: raw frames → APS result file (:func:`correlate_file`; the fits: :mod:`.fits`).

The result file is the APS 8-ID-I NeXus layout written by :func:`xpcsnb.io.save_aps`
(readable by :func:`xpcsnb.open_aps` and pyXPCSViewer), plus the record of what the
correlators excluded under ``/xpcs/exclusions`` (``bad_frames``: 0-based frame indices,
``bad_pixels``: flat detector indices, the method and threshold as attributes). The
whole file is written to a temporary name in the target's folder and renamed, so a
crash never leaves a half-written result under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .config import load_config, parse_frames

__all__ = ["check_target", "correlate_file", "open_raw", "read_exclusions", "resolve_qmap"]

#: Group of the exclusion record inside a result file.
EXCLUSIONS_GROUP = "/xpcs/exclusions"


def open_raw(path: str | os.PathLike[str], correlate: Mapping[str, Any]) -> xr.DataArray:
    """The frame stack of a raw file: HDF5 (:func:`~xpcsnb.io.frames.open_frames`) or Rigaku
    ``.bin`` (:func:`~xpcsnb.io.rigaku.open_rigaku`, needs ``frame_time``), windowed by ``frames``."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no raw file {p}")
    if p.suffix.lower() == ".bin":
        from ..io.rigaku import open_rigaku

        if correlate["frame_time"] is None:
            raise ValueError(f"{p} is a Rigaku .bin file: set [correlate] frame_time (the frame period in s)")
        da = open_rigaku(p, frame_time=float(correlate["frame_time"]))
    else:
        from ..io.frames import open_frames

        da = open_frames(p, correlate["dataset"], frame_time=correlate["frame_time"])
    window = parse_frames(correlate["frames"])
    if window != slice(None):
        if window.start is not None and window.start >= da.shape[0]:
            raise ValueError(f"frames {correlate['frames']!r}: {p} has only {da.shape[0]} frames")
        da = da[window]
    return da


def resolve_qmap(qmap: Any) -> Any:
    """A :class:`~xpcsnb.core.partition.Partition` as given, or read from a q-map file
    (:func:`xpcsnb.io.qmap.open_qmap`)."""
    from ..core.partition import Partition

    if isinstance(qmap, Partition):
        return qmap
    if isinstance(qmap, str | os.PathLike):
        from ..io.qmap import open_qmap

        return open_qmap(qmap)
    raise TypeError(f"qmap must be a q-map file path or a Partition, got {type(qmap).__name__}")


def _bad(value: Any) -> Any:
    return None if isinstance(value, str) and value == "none" else value


def _ring_twotimes(c2: xr.Dataset) -> list[xr.Dataset]:
    """The data model's two-time Dataset of every q ring of a ``two_time`` output."""
    from ..correlate.twotime import c2_at_q

    rings = np.unique(c2["ring"].values)
    out = []
    for g in rings:
        sel = c2["ring"].values == g
        w = c2["npix"].values[sel].astype(float)
        out.append(c2_at_q(c2, float(np.sum(c2["q"].values[sel] * w) / w.sum())))
    return out


def check_target(path: Path, overwrite: bool) -> None:
    """Refuse a folder, an existing file (unless ``overwrite``) or a missing parent folder as output."""
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'A001_results.hdf'}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder {path.parent} does not exist; create it first")


def correlate_file(raw: str | os.PathLike[str], *, qmap: Any, output: str | os.PathLike[str],
                   config: Any = None, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Correlate one raw file and write its APS result file.

    Parameters
    ----------
    raw : path
        HDF5 frame stack or Rigaku ``.bin`` file.
    qmap : path or Partition
        The q-map (APS/pySimpleMask file) or a partition.
    output : path
        The result file (``*_results.hdf``); never replaced unless ``overwrite``.
    config : path, mapping or None
        Analysis configuration (``xpcsnb.pipeline.config``); its ``[correlate]`` section is used.
    overwrite : bool
        Replace an existing ``output``.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        ``output``, ``n_frames``, ``n_roi``, ``n_bad_frames``, ``n_bad_pixels``, ``two_time``.
    """
    import h5py

    from ..correlate.multitau import multitau
    from ..correlate.twotime import two_time
    from ..io import save_aps
    from ..io.results import atomic_path

    cfg = load_config(config)["correlate"]
    target = Path(output)
    check_target(target, overwrite)
    part = resolve_qmap(qmap)
    da = open_raw(raw, cfg)
    g2 = multitau(da, part, num_bufs=cfg["num_bufs"], num_levels=cfg["num_levels"], ladder=cfg["ladder"],
                  normalization=cfg["normalization"], chunk=cfg["chunk"], progress=progress,
                  bad_frames=_bad(cfg["bad_frames"]), bad_pixels=_bad(cfg["bad_pixels"]),
                  bad_threshold=cfg["bad_threshold"])
    bad_frames = np.asarray(g2.attrs.get("bad_frames", np.zeros(0, dtype=int)), dtype=np.int64)
    bad_pixels = np.asarray(g2.attrs.get("bad_pixels", np.zeros(0, dtype=int)), dtype=np.int64)
    maps = None
    if cfg["two_time"]:
        mask = None
        if bad_pixels.size:
            mask = np.ones(part.shape, dtype=bool)
            mask.ravel()[bad_pixels] = False
        # bad frames are flagged but kept: a two-time map needs every frame (they show as stripes)
        c2 = two_time(da, part, mask=mask, average=cfg["average"], progress=progress)
        maps = _ring_twotimes(c2)
    intensity = g2["intensity"].fillna(0.0)  # excluded frames: recorded in /xpcs/exclusions
    meta = {"frame_time": float(g2.attrs["frame_time"])}
    with atomic_path(target, overwrite=overwrite) as tmp:  # written whole or not at all
        save_aps(tmp, g2=g2.drop_vars(["intensity", "frame_excluded"], errors="ignore"), twotime=maps,
                 partition=part, intensity=intensity, meta=meta, overwrite=True)
        with h5py.File(tmp, "a") as f:
            grp = f.require_group(EXCLUSIONS_GROUP)
            grp.create_dataset("bad_frames", data=bad_frames)
            grp.create_dataset("bad_pixels", data=bad_pixels)
            for k in ("bad_frames_method", "bad_pixels_method", "bad_threshold", "bad_frames_treatment"):
                if k in g2.attrs:
                    grp.attrs[k] = g2.attrs[k]
            if cfg["two_time"] and bad_frames.size:
                grp.attrs["twotime_note"] = "bad frames are kept in the two-time maps (flagged, not excluded)"
    return {"output": str(target), "n_frames": int(da.shape[0]), "n_roi": int(g2.sizes["roi"]),
            "n_bad_frames": int(bad_frames.size), "n_bad_pixels": int(bad_pixels.size),
            "two_time": bool(cfg["two_time"])}


def read_exclusions(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The exclusion record of a result file written by :func:`correlate_file`."""
    import h5py

    with h5py.File(path, "r") as f:
        grp = f.get(EXCLUSIONS_GROUP)
        if grp is None:
            return {}
        return {"bad_frames": grp["bad_frames"][()], "bad_pixels": grp["bad_pixels"][()], **dict(grp.attrs)}
