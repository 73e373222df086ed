"""The analysis configuration: a TOML file whose keys are the Python keyword arguments.

Three sections, each mapping one-to-one onto the keywords of one step (TOML has no
``None``: a key left out takes the step's default)::

    [correlate]                 # xpcsnb.pipeline.correlate_file / correlate.multitau
    num_bufs = 8
    two_time = false            # also the two-time C2 of every q ring
    frames = "0:10000"          # frame window (Python slice, end exclusive)
    bad_frames = "auto"         # or "none", or a list of 0-based frame indices
    [fit]                       # xpcsnb.fit.fit_nlsq, for every q (and φ) of a file
    model = "static"            # or a g2 model (stretched_exponential, ...): fits the g2
    fixed = { alpha = 0.0 }
    bounds = { D0 = [1e-3, 1e4] }
    [cmc]                       # xpcsnb.fit.fit_cmc, every q, seeded by its NLSQ fit
    run = true                  # sample (default false: NLSQ only)
    priors = { D0 = { kind = "lognormal", loc = 9.2, scale = 1.0 } }
    num_samples = 800

A prior is a table of the fields of :class:`xpcsnb.models.Prior` (``kind``, ``loc``,
``scale``; a mapping may also hold ``Prior`` objects), keyed by parameter name
(``contrast`` for every angle, ``contrast_1`` for one); it is checked against the
model's parameters and the bounds in use (:func:`xpcsnb.fit.priors.check_prior`).
The CMC step takes the model, ``scaling``, ``bounds`` and ``fixed`` of ``[fit]`` (through
the NLSQ result it starts from). An unknown section or key is an error that names it and
lists the valid ones.
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

import numpy as np

from ..core.errors import XpcsError

__all__ = ["ConfigError", "DEFAULTS", "default_config", "dumps", "load_config", "merge_config", "parse_frames",
           "priors_of"]


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
        "rate_law": None,
    },
    "cmc": {
        "run": False, "priors": {}, "prior_width": 5.0, "n_shards": None, "shard_by": "random",
        "points_per_shard": None, "num_warmup": 400, "num_samples": 800, "num_chains": 2, "dense_mass": True,
        "target_accept": 0.8, "max_tree_depth": 10, "combine": "consensus", "seed": 0, "parallel": True,
    },
}

_COMMENTS = {
    "correlate": "frames -> multi-tau g2 (and two-time C2): xpcsnb.pipeline.correlate_file",
    "fit": "every q (and phi) of a result file: xpcsnb.fit.fit_nlsq (two-time) or fit_g2_nlsq (g2 model)",
    "cmc": "two-time models, every q from its NLSQ fit: xpcsnb.fit.fit_cmc\n"
           "# priors = { D0 = { kind = \"lognormal\", loc = 9.2, scale = 1.0 } }  (xpcsnb.models.Prior fields)",
}
_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,), "frame_time": (int, float), "frames": (str,), "num_bufs": (int,), "num_levels": (int,),
    "ladder": (str,), "normalization": (str,), "chunk": (int,), "two_time": (bool,), "average": (int,),
    "bad_frames": (str, list), "bad_pixels": (str,), "bad_threshold": (int, float),
    "model": (str,), "q_mode": (str,), "scaling": (str,), "bounds": (dict,), "initial": (dict,), "fixed": (dict,),
    "free": (list,), "n_starts": (int,), "seed": (int,), "max_nfev": (int,), "diagonal": (str,), "rate_law": (str,),
    "run": (bool,), "priors": (dict,), "prior_width": (int, float), "n_shards": (int,), "shard_by": (str,),
    "points_per_shard": (int,), "num_warmup": (int,), "num_samples": (int,), "num_chains": (int,),
    "dense_mass": (bool,), "target_accept": (int, float), "max_tree_depth": (int,), "combine": (str,),
    "parallel": (bool,),
}
_CHOICES = {"q_mode": ("independent", "joint"), "scaling": ("individual", "shared", "fixed"),
            "diagonal": ("correct", "raw"), "shard_by": ("random", "angle_balanced"),
            "combine": ("consensus", "parametric"), "rate_law": ("diffusive", "power")}
_PRIOR_FIELDS = ("kind", "loc", "scale")


def default_config() -> dict[str, dict[str, Any]]:
    """Every section and key with its default (a fresh copy)."""
    return copy.deepcopy(DEFAULTS)


def _prior_table(name: str, value: Any) -> dict[str, Any]:
    """One prior as a plain table ``{kind, loc, scale}`` (from a table or a ``Prior``), checked."""
    from ..models.parameters import PRIOR_KINDS, Prior

    where = f"[cmc] priors.{name}"
    if isinstance(value, Prior):
        value = {"kind": value.kind, "loc": value.loc, "scale": value.scale}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table {{ kind = ..., loc = ..., scale = ... }} or an "
                          f"xpcsnb.models.Prior, got {value!r}")
    unknown = sorted(set(value) - set(_PRIOR_FIELDS))
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {where}; valid keys: {list(_PRIOR_FIELDS)}")
    if "kind" not in value:
        raise ConfigError(f"{where} needs a kind, one of {PRIOR_KINDS}")
    for k in ("loc", "scale"):
        v = value.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v)):
            raise ConfigError(f"{where}.{k} must be a finite number, got {v!r}")
    try:
        prior = Prior(**{k: (float(v) if k != "kind" else v) for k, v in value.items()})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return {"kind": prior.kind, "loc": prior.loc, "scale": prior.scale}


def _check_model(cfg: dict[str, dict[str, Any]]) -> None:
    """The ``[fit]`` model is registered, and every ``[cmc]`` prior names one of its free
    parameters and has mass inside the bounds in use."""
    from ..models.base import ModelError
    from ..models.registry import get, get_model, model_names
    from ..models.scaling import base_name

    fit, cmc = cfg["fit"], cfg["cmc"]
    try:
        model = get_model(fit["model"])
    except ModelError:
        raise ConfigError(f"[fit] model {fit['model']!r} is not a registered model; choose one of "
                          f"{list(model_names())}") from None
    if (cmc["run"] or cmc["priors"]) and model.kind != "twotime":
        raise ConfigError(f"[cmc] needs a two-time model in [fit] model; {model.name!r} is a g2 model")
    for name, table in cmc["priors"].items():
        try:
            par = get(model, base_name(name))
        except KeyError as exc:
            raise ConfigError(f"[cmc] priors.{name}: {exc.args[0]}") from None
        if name in fit["fixed"] or base_name(name) in fit["fixed"]:
            raise ConfigError(f"[cmc] priors.{name}: the parameter is fixed in [fit] fixed, so it has no prior")
        lo, hi = fit["bounds"].get(name, fit["bounds"].get(base_name(name), (par.lower, par.upper)))
        from ..fit.priors import check_prior

        try:
            check_prior(name, _as_prior(table), float(lo), float(hi))
        except ValueError as exc:
            raise ConfigError(f"[cmc] priors.{name}: {exc}") from None


def _as_prior(table: Mapping[str, Any]) -> Any:
    from ..models.parameters import Prior

    return Prior(**table)


def priors_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[cmc] priors`` of a validated configuration as ``{name: xpcsnb.models.Prior}``
    (the ``priors=`` of :func:`xpcsnb.fit.fit_cmc`)."""
    return {name: _as_prior(table) for name, table in config["cmc"]["priors"].items()}


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
    if key in _CHOICES and value not in _CHOICES[key]:
        raise ConfigError(f"[{section}] {key} must be one of {list(_CHOICES[key])}, got {value!r}")
    if key == "frames":
        parse_frames(value)
    if key == "priors":
        return {str(name): _prior_table(str(name), p) for name, p in value.items()}
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
    _check_model(out)
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
