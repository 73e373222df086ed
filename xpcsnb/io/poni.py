"""pyFAI PONI calibration files → :class:`~xpcsnb.core.partition.Geometry`.

A PONI file is ``key: value`` text (``#`` comments): ``Distance`` [m], ``Poni1``,
``Poni2`` [m] (the point of normal incidence from the detector's first pixel corner,
along rows (1 = y) and columns (2 = x)), ``Rot1``-``Rot3`` [rad], ``Wavelength`` [m], and
the pixel size either as ``PixelSize1``/``PixelSize2`` [m] (version 1) or inside
``Detector_config`` (JSON: ``pixel1``, ``pixel2``, ``max_shape``; version 2).

For zero rotations the PONI is the direct beam, and pixel ``i`` has its centre at
``(i + 0.5)·pixel`` from the corner, so the beam centre in pixel indices is
``x = Poni2/pixel2 − 0.5``, ``y = Poni1/pixel1 − 0.5``. Tilted detectors (any non-zero
rotation) are refused: the flat-detector q-map of :class:`Geometry` would be wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.errors import PartitionError
from ..core.partition import Geometry

__all__ = ["parse_poni", "read_poni"]


def parse_poni(text: str, *, source: str = "<text>") -> dict[str, Any]:
    """The ``key: value`` entries of PONI text (keys as written; numbers as float where they parse)."""
    out: dict[str, Any] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ":" not in line:
            raise PartitionError(f"{source}, line {n}: expected 'key: value', got {line!r}")
        key, value = (s.strip() for s in line.split(":", 1))
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    return out


def _number(entries: dict[str, Any], key: str, source: str) -> float:
    if key not in entries:
        raise PartitionError(f"{source} has no {key!r} entry (found: {sorted(entries)})")
    v = entries[key]
    if not isinstance(v, float):
        raise PartitionError(f"{source}: {key} must be a number, got {v!r}")
    return v


def read_poni(path: str | os.PathLike[str], *, shape: tuple[int, int] | None = None) -> Geometry:
    """Read a pyFAI PONI file as a :class:`Geometry` (flat detector, no rotation).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.poni`` file.
    shape : (int, int), optional
        Detector shape (rows, columns); default the ``max_shape`` of its
        ``Detector_config`` (required when the file has none).

    Returns
    -------
    Geometry
        ``beam_center`` (x, y) [px], ``distance`` [m], ``pixel_size`` (y, x) [m],
        ``wavelength`` [Å].

    Raises
    ------
    FileNotFoundError
        No such file.
    PartitionError
        A missing or malformed entry (named with the file), non-zero rotations, no
        pixel size, or no detector shape.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    src = str(p)
    e = parse_poni(p.read_text(encoding="utf-8", errors="replace"), source=src)
    rots = {k: e.get(k, 0.0) for k in ("Rot1", "Rot2", "Rot3")}
    bad = {k: v for k, v in rots.items() if not isinstance(v, float) or v != 0.0}
    if bad:
        raise PartitionError(
            f"{src} describes a tilted detector ({', '.join(f'{k} = {v}' for k, v in bad.items())} rad); "
            "xpcsnb's Geometry is a flat detector normal to the beam: use pyFAI's q and chi maps with "
            "xpcsnb.core.partition.partition(q_map, ..., phi_map=...) instead"
        )
    config: dict[str, Any] = {}
    if "Detector_config" in e:
        try:
            config = json.loads(str(e["Detector_config"]))
        except json.JSONDecodeError as exc:
            raise PartitionError(f"{src}: Detector_config is not JSON ({exc})") from exc
    px1 = e.get("PixelSize1", config.get("pixel1"))
    px2 = e.get("PixelSize2", config.get("pixel2"))
    if px1 is None or px2 is None:
        raise PartitionError(f"{src} gives no pixel size (PixelSize1/2 or Detector_config pixel1/2); "
                             "detectors known to pyFAI by name only are not resolved: add the pixel size")
    if shape is None:
        ms = config.get("max_shape")
        if ms is None:
            raise PartitionError(f"{src} gives no detector shape (Detector_config max_shape); pass shape=(rows, cols)")
        shape = (int(ms[0]), int(ms[1]))
    px1, px2 = float(px1), float(px2)
    wavelength = _number(e, "Wavelength", src)
    return Geometry(
        shape=(int(shape[0]), int(shape[1])),
        beam_center=(_number(e, "Poni2", src) / px2 - 0.5, _number(e, "Poni1", src) / px1 - 0.5),
        distance=_number(e, "Distance", src),
        pixel_size=(px1, px2),
        wavelength=wavelength * 1e10,
    )
