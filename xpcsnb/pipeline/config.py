"""The analysis configuration: a TOML file whose keys are the Python keyword arguments.

Two sections, each mapping one-to-one onto the keywords of one step (TOML has no
``None``: a key left out takes the step's default)::

    [correlate]                 # xpcsnb.pipeline.correlate_file / correlate.multitau
    num_bufs = 8
    two_time = false            # also the two-time C2 of every q ring
    frames = "0:10000"          # frame window (Python slice, end exclusive)
    bad_frames = "auto"         # or "none", or a list of 0-based frame indices
    [fit]                       # xpcsnb.fit.fit_nlsq, for every q (and φ) of a file
    model = "static"
    fixed = { alpha = 0.0 }
    bounds = { D0 = [1e-3, 1e4] }

An unknown section or key is an error that names it and lists the valid ones.
:func:`default_config` gives every default; :func:`dumps` writes it back as TOML
(``xpcsnb fit --print-config``).
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.errors import XpcsError

__all__ = ["ConfigError", "DEFAULTS", "default_config", "dumps", "load_config", "merge_config", "parse_frames"]


class ConfigError(XpcsError, ValueError):
    """An analysis configuration that is not valid (unknown key, wrong type)."""


#: Every section and key with its default; ``None`` = the step's own default (left out of TOML).
DEFAULTS: dict[str, dict[str, Any]] = {
    "correlate": {
        "dataset": "/entry/data/data", "frame_time": None, "frames": None, "num_bufs": 8, "num_levels": None,
        "ladder": "skbeam", "normalization": "symmetric", "chunk": 64, "two_time": False, "average": 1,
        "bad_frames": "none", "bad_pixels": "none", "bad_threshold": 6.0,
    },
    "fit": {
        "model": "static", "q_mode": "independent", "scaling": None, "bounds": {}, "initial": {}, "fixed": {},
        "free": [], "n_starts": None, "seed": 0, "max_nfev": None, "diagonal": "correct",
    },
}

_COMMENTS = {
    "correlate": "frames -> multi-tau g2 (and two-time C2): xpcsnb.pipeline.correlate_file",
    "fit": "two-time fit of every q (and phi) of a result file: xpcsnb.fit.fit_nlsq",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "frame_time": (int, float), "frames": (str,), "num_bufs": (int,), "num_levels": (int,),
    "ladder": (str,), "normalization": (str,), "chunk": (int,), "two_time": (bool,), "average": (int,),
    "bad_frames": (str, list), "bad_pixels": (str,), "bad_threshold": (int, float),
    "model": (str,), "q_mode": (str,), "scaling": (str,), "bounds": (dict,), "initial": (dict,), "fixed": (dict,),
    "free": (list,), "n_starts": (int,), "seed": (int,), "max_nfev": (int,), "diagonal": (str,),
}


def default_config() -> dict[str, dict[str, Any]]:
    """Every section and key with its default (a fresh copy)."""
    return copy.deepcopy(DEFAULTS)


def _check(section: str, key: str, value: Any) -> Any:
    types = _TYPES[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        want = " or ".join(t.__name__ for t in types)
        raise ConfigError(f"[{section}] {key} must be {want}, got {value!r} ({type(value).__name__})")
    if key == "bad_frames" and isinstance(value, str) and value not in ("none", "auto"):
        raise ConfigError(f"[correlate] bad_frames must be 'none', 'auto' or a list of frame indices, got {value!r}")
    if key == "bad_pixels" and value not in ("none", "auto"):
        raise ConfigError(f"[correlate] bad_pixels must be 'none' or 'auto', got {value!r}")
    if key == "frames":
        parse_frames(value)
    if key == "bounds":
        for name, pair in value.items():
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ConfigError(f"[fit] bounds.{name} must be a pair [lower, upper], got {pair!r}")
    return value


def merge_config(config: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The defaults updated by ``config`` (a mapping as read from TOML), validated.

    Raises
    ------
    ConfigError
        An unknown section or key (named, with the valid ones), or a value of the wrong type.
    """
    out = default_config()
    for section, values in (config or {}).items():
        if section not in out:
            raise ConfigError(f"unknown config section [{section}]; valid sections: {sorted(out)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"[{section}] must be a table of keys, got {values!r}")
        for key, value in values.items():
            if key not in out[section]:
                raise ConfigError(f"unknown key {key!r} in [{section}]; valid keys: {sorted(out[section])}")
            if value is None and DEFAULTS[section][key] is None:  # None = the step's default (not in TOML)
                continue
            out[section][key] = _check(section, key, value)
    return out


def load_config(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """A validated configuration from a TOML file, a mapping or None (the defaults)."""
    if config is None or isinstance(config, Mapping):
        return merge_config(config)
    path = Path(config)
    if not path.is_file():
        raise FileNotFoundError(f"no config file {path}; write one with `xpcsnb fit --print-config > {path.name}`")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return merge_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def parse_frames(text: str | None) -> slice:
    """``"start:stop"`` (Python slice, either side may be empty) as a slice of frames."""
    if text is None:
        return slice(None)
    parts = str(text).split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        a, b = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise ConfigError(f"frames must be 'start:stop' (0-based, stop exclusive, e.g. '0:10000'), got {text!r}") from None
    if (a is not None and a < 0) or (b is not None and b < 0) or (a is not None and b is not None and b <= a):
        raise ConfigError(f"frames {text!r}: need 0 <= start < stop")
    return slice(a, b)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} ({type(v).__name__}) to TOML")


def dumps(config: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """``config`` (default: the defaults) as TOML text; keys whose value is None are
    written as comments (they take the step's own default)."""
    cfg = merge_config(config)
    lines = ["# xpcsnb analysis configuration (keys = the Python keyword arguments)"]
    for section, values in cfg.items():
        lines += ["", f"# {_COMMENTS[section]}", f"[{section}]"]
        for key, v in values.items():
            lines.append(f"# {key} = (default)" if v is None else f"{key} = {_value(v)}")
    return "\n".join(lines) + "\n"
