"""Geometry and timing metadata of an APS 8-ID-I result file.

The time step of an analysis is ``dt = t0 · stride · avg`` from the file (``t0`` the
frame time, stride and averaging from the analysis config), never guessed.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np

from ...core.errors import ApsFileError
from ..h5safe import get_object
from .layout import quantity, read
from .paths import PATHS, paths_of

__all__ = ["metadata_attrs", "time_step", "time_step_attrs", "unnormalized_g2_status"]

_GEOMETRY: tuple[tuple[str, str | None], ...] = (
    ("energy", "keV"), ("distance", "m"), ("pixel_size_x", "m"), ("pixel_size_y", "m"),
    ("beam_center_x", "px"), ("beam_center_y", "px"), ("t0", "s"), ("count_time", "s"),
)


def metadata_attrs(f: h5py.File) -> dict[str, Any]:
    """Geometry and timing attrs: ``name``, ``name_units`` for each quantity found."""
    attrs: dict[str, Any] = {}
    for key, target in _GEOMETRY:
        got = quantity(f, key, target)
        if got is not None:
            attrs[key], attrs[f"{key}_units"], _ = got
    start = read(f, "start_time")
    if start is not None:
        attrs["start_time"] = str(start[0])
    return attrs


def time_step(f: h5py.File, analysis: str) -> tuple[float | None, dict[str, Any]]:
    """``dt = t0 · stride · avg`` [s] for ``analysis`` in {"twotime", "multitau"}.

    Returns (dt or None, info) where info records the factors and what is missing.
    """
    info: dict[str, Any] = {}
    missing = []
    t0 = quantity(f, "t0", "s")
    if t0 is None:
        missing.append("frame time (" + ", ".join(paths_of("t0")) + ")")
    elif t0[1] != "s":
        raise ApsFileError(f"frame time at {t0[2]} has unit {t0[1]!r}, not convertible to s")
    factors = {}
    for name in ("stride", "avg"):
        got = read(f, f"{analysis}_{name}")
        if got is None:
            missing.append(f"{name} (" + ", ".join(paths_of(f"{analysis}_{name}")) + ")")
            continue
        value = got[0]
        if isinstance(value, np.ndarray) or not float(value) >= 1 or float(value) != int(value):
            raise ApsFileError(f"{got[1]} must be a positive integer, got {value!r}")
        factors[name] = int(value)
        info[name] = int(value)
    if missing:
        info["missing"] = missing
        return None, info
    assert t0 is not None
    if not np.isfinite(t0[0]) or t0[0] <= 0:
        raise ApsFileError(f"frame time at {t0[2]} must be finite and > 0 s, got {t0[0]!r}")
    info["t0"] = t0[0]
    return t0[0] * factors["stride"] * factors["avg"], info


def unnormalized_g2_status(f: h5py.File) -> str:
    """Where the unnormalised per-pixel G2 lives: 'file:path', 'dangling: …' or 'absent'."""
    for src in PATHS["unnormalized_G2"]:
        link = f.get(src.path, getlink=True)
        if link is None:
            continue
        target = f"{link.filename}:{link.path}" if isinstance(link, h5py.ExternalLink) else src.path
        try:
            if get_object(f, src.path, dangling="none") is None:
                return f"dangling link at {src.path} -> {target}"
        except ApsFileError as exc:
            return f"not followed: {exc}"
        return target
    return "absent"


_MISSING_ATTR = {"multitau": "multitau_tau", "twotime": "twotime_t"}


def time_step_attrs(f: h5py.File, analysis: str) -> tuple[float | None, dict[str, Any]]:
    """The time step of ``analysis`` and the attrs that record it.

    Returns
    -------
    (dt or None, attrs)
        ``dt`` [s] as :func:`time_step`; attrs ``{analysis}_dt`` [s] (or, when it cannot
        be determined, ``multitau_tau`` / ``twotime_t`` naming what is missing) and
        ``{analysis}_stride``, ``{analysis}_avg`` as found in the file.
    """
    dt, info = time_step(f, analysis)
    attrs: dict[str, Any] = {}
    if dt is not None:
        attrs[f"{analysis}_dt"] = dt
    else:
        attrs[_MISSING_ATTR[analysis]] = "not available: missing " + "; ".join(info["missing"])
    for key in ("stride", "avg"):
        if key in info:
            attrs[f"{analysis}_{key}"] = info[key]
    return dt, attrs
