"""A model on a Dataset's grid: :func:`simulate` (new data, seeded noise) and :func:`evaluate`.

Both compute C2 through :func:`xpcsnb.models.scaling.model_c2`, the one function that
evaluates ``offset_k + contrast_k · signal(θ)`` on a whole grid (the fit engines use it
for their model matrix too). A model is given by its registered name or as a
:class:`~xpcsnb.models.base.Model` object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
import xarray as xr

from . import _jax  # noqa: F401
from .core.errors import XpcsError
from .core.twotime import concat_q, twotime, validate_twotime, q_value
from .fit.result import nlsq_name, nlsq_var, parameter_values
from .models import get_model, make_grid
from .models.base import Grid, Model, ModelError
from .models.scaling import model_c2, parse_scaling_name, per_angle

__all__ = ["evaluate", "physics_vector", "simulate"]


def _scalar(name: str, value: Any, what: str = "parameter", error: type[XpcsError] = ModelError) -> float:
    """``value`` as a float, or an error naming ``name`` that says it must be one real number."""
    if isinstance(value, (str, bytes)):
        raise error(f"{what} {name!r} must be a real number, got the string {value!r}")
    if np.ndim(value) != 0:
        raise error(f"{what} {name!r} must be a scalar (one real number), got an array of shape {np.shape(value)}")
    if isinstance(value, complex) or np.iscomplexobj(value):
        raise error(f"{what} {name!r} must be a real number, got the complex value {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise error(f"{what} {name!r} must be a real number, got {value!r} ({type(value).__name__})") from None


def physics_vector(model: str | Model, params: Mapping[str, float], *, check_bounds: bool = True) -> np.ndarray:
    """The model's physics vector (order of ``model.parameters``) from a dict by parameter name.

    Raises
    ------
    ModelError
        For a missing or unknown name, a value that is not one real number, a
        non-finite value, or (``check_bounds``) a value outside the default bounds.
    """
    mdl = get_model(model)
    if not isinstance(params, Mapping):
        raise ModelError(f"params must be a dict {{name: value}} of the physics parameters of model {mdl.name!r} "
                         f"{list(mdl.parameter_names)}, got {type(params).__name__}")
    names = list(mdl.parameter_names)
    unknown = sorted(str(n) for n in set(params) - set(names))
    if unknown:
        raise ModelError(f"unknown parameter(s) {unknown} for model {mdl.name!r}; expected {names}")
    missing = [n for n in names if n not in params]
    if missing:
        raise ModelError(f"missing parameter(s) {missing} for model {mdl.name!r}")
    out = np.array([_scalar(n, params[n]) for n in names])
    for p, v in zip(mdl.parameters, out):
        if not np.isfinite(v):
            raise ModelError(f"{p.name} must be finite, got {v}")
        if check_bounds and not p.lower <= v <= p.upper:
            raise ModelError(f"{p.name} = {v} [{p.unit}] is outside its bounds [{p.lower}, {p.upper}] "
                             "(pass check_bounds=False to simulate outside the fit bounds)")
    return out


def _rows_grid(t: np.ndarray, phi: np.ndarray, q: np.ndarray, multi_q: bool, L: float | None) -> Grid:
    """The grid of every (q, φ) row, q-major (a multi-q grid has one q per row)."""
    if not multi_q:
        return make_grid(t, phi, float(q[0]), L)
    return make_grid(t, np.tile(phi, q.size), np.repeat(q, phi.size), L)


def simulate(
    model: str | Model,
    params: Mapping[str, float],
    t: Sequence[float] | np.ndarray,
    phi: float | Sequence[float] = 0.0,
    q: float | Sequence[float] = 0.0054,
    L: float | None = None,
    contrast: float | Sequence[float] = 0.5,
    offset: float | Sequence[float] = 1.0,
    noise: float = 0.0,
    seed: int | None = None,
    *,
    check_bounds: bool = True,
) -> xr.Dataset:
    """Simulate a two-time Dataset ``C2 = offset + contrast · signal`` from a model.

    Parameters
    ----------
    model : str or Model
        A registered model name (``"static"``, ``"laminar_flow"``, ``"heterodyne"``, or
        one added with :func:`xpcsnb.models.register`) or a Model object.
    params : dict
        Physics parameters by name (e.g. ``D0``, ``alpha``, ``D_offset``, ...), one real
        number each, in the units of ``model.parameters``.
    t : array_like, shape (N,)
        Absolute frame times [s] (the sample ages; they need not start at 0), uniform
        and increasing (the homodyne package's grid is ``t = dt·arange(N)``; the
        heterodyne package's ``dt·(arange(N) + 1)``).
    phi : float or sequence
        Angles [deg].
    q : float or sequence
        Scattering vector [1/Å]; a sequence gives a multi-q Dataset (q, phi, t1, t2).
    L : float, optional
        Gap [Å]; required by models with ``needs_L`` (``laminar_flow``).
    contrast, offset : float or sequence
        Scalar or one value per angle (the same for every q).
    noise : float
        Relative Gaussian noise: ``σ = noise · |C2|``, symmetric in (t1, t2) like
        measured C2; ``sigma`` is stored with the data when ``noise > 0``.
    seed : int, optional
        Seed of the noise (``numpy.random.default_rng``).
    check_bounds : bool
        Refuse parameters outside the model's default bounds.

    Raises
    ------
    ModelError
        For an unknown model or invalid parameters (see :func:`physics_vector`).
    TwoTimeError
        For an invalid grid (times, angles, q, L).
    XpcsError
        For invalid contrast, offset, noise or seed.
    """
    mdl = get_model(model)
    theta = physics_vector(mdl, params, check_bounds=check_bounds)
    noise = _scalar("noise", noise, "argument", XpcsError)
    if not np.isfinite(noise) or noise < 0:
        raise XpcsError(f"noise must be finite and >= 0 (relative σ), got {noise!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0):
        raise XpcsError(f"seed must be None or an integer >= 0, got {seed!r}")
    if mdl.needs_L and L is None:
        raise XpcsError(f"model {mdl.name!r} needs the gap L [Å]")
    multi_q = np.ndim(q) > 0
    # validate the grid (times, angles, q, L) before any computation
    t_arr = np.asarray(t, dtype=float)
    phi_arr = np.atleast_1d(np.asarray(phi, dtype=float))
    q_arr = np.atleast_1d(np.asarray(q, dtype=float))
    if t_arr.ndim != 1:
        raise XpcsError(f"t must be 1-D (one time per frame) [s], got shape {t_arr.shape}")
    shape = ((q_arr.size,) if multi_q else ()) + (phi_arr.size, t_arr.size, t_arr.size)
    twotime(np.zeros(shape), t_arr, phi_arr, q_arr.tolist() if multi_q else q, L=L)
    n_phi = phi_arr.size
    c = np.tile(per_angle("contrast", contrast, n_phi), q_arr.size if multi_q else 1)
    o = np.tile(per_angle("offset", offset, n_phi), q_arr.size if multi_q else 1)
    clean = np.asarray(model_c2(mdl, theta, _rows_grid(t_arr, phi_arr, q_arr, multi_q, L), c, o))
    clean = clean.reshape(shape)
    sigma = None
    data = clean
    if noise > 0:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(clean.shape)
        z = np.triu(z) + np.swapaxes(np.triu(z, 1), -1, -2)  # symmetric noise
        sigma = noise * np.abs(clean)
        data = clean + sigma * z
    attrs: dict[str, Any] = {
        "source": f"xpcsnb.simulate({mdl.name!r})",
        "true_params": str(dict(zip(mdl.parameter_names, theta.tolist()))),
        "noise": float(noise),
        "seed": -1 if seed is None else int(seed),
    }
    return twotime(data, t_arr, phi_arr, q_arr.tolist() if multi_q else float(q_arr[0]), L=L, sigma=sigma,
                   attrs=attrs)


def _scaling_rows(vals: Mapping[str, Any], base: str, n_q: int | None, n_phi: int) -> np.ndarray:
    """Per-row ``contrast`` or ``offset``, shape (n_q or 1, n_phi), from the parameter names.

    Accepted forms (exactly one): ``base`` (a scalar, one value per angle, or for a
    multi-q Dataset an (n_q, n_phi) array); ``base_<k>`` for every angle index k; for a
    multi-q Dataset ``base_q<a>_<k>`` for every (q index a, angle index k).
    """
    rows = n_q or 1
    per_angle_: dict[int, Any] = {}
    per_row_: dict[tuple[int, int], Any] = {}
    for key, value in vals.items():
        parsed = parse_scaling_name(str(key))
        if parsed is None or parsed.base != base or parsed.angle_index is None:
            continue
        if parsed.angle_index >= n_phi or (parsed.q_index is not None and parsed.q_index >= rows):
            raise XpcsError(f"{key!r} names no row of this Dataset ({rows} q value(s) × {n_phi} angle(s))")
        if parsed.q_index is None:
            per_angle_[parsed.angle_index] = value
        elif n_q is None:
            raise XpcsError(f"{key!r} is a multi-q scaling name, but this Dataset has no q dimension")
        else:
            per_row_[(parsed.q_index, parsed.angle_index)] = value
    forms = [f for f, present in ((base, base in vals), (f"{base}_<k>", per_angle_), (f"{base}_q<a>_<k>", per_row_))
             if present]
    if len(forms) > 1:
        raise XpcsError(f"params give {base!r} in several forms {forms}; give one")
    if base in vals:
        try:
            v = np.asarray(vals[base], dtype=float)
        except (TypeError, ValueError):
            raise XpcsError(f"{base} must be a number or an array of numbers, got {vals[base]!r}") from None
        if n_q is not None and v.shape == (n_q, n_phi):
            out = v
        else:
            out = np.broadcast_to(per_angle(base, v, n_phi), (rows, n_phi))
    elif per_angle_:
        missing = [k for k in range(n_phi) if k not in per_angle_]
        if missing:
            raise XpcsError(f"params give {base}_<k> but not for angle index(es) {missing}")
        angles = [_scalar(f"{base}_{k}", per_angle_[k], error=XpcsError) for k in range(n_phi)]
        out = np.broadcast_to(np.array(angles), (rows, n_phi))
    elif per_row_:
        missing = [f"{base}_q{a}_{k}" for a in range(rows) for k in range(n_phi) if (a, k) not in per_row_]
        if missing:
            raise XpcsError(f"params miss {missing}")
        out = np.array([[_scalar(f"{base}_q{a}_{k}", per_row_[(a, k)], error=XpcsError) for k in range(n_phi)]
                        for a in range(rows)])
    else:
        raise XpcsError(f"params give no {base!r} (a scalar or one per angle, per-angle '{base}_<k>', "
                        f"per-row '{base}_q<a>_<k>', or a fit result)")
    if not np.all(np.isfinite(out)):
        raise XpcsError(f"{base} must be finite, got {np.asarray(out).tolist()}")
    return np.asarray(out, dtype=float)


def evaluate(ds: xr.Dataset, model: str | Model, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Evaluate ``model`` on the grid of the two-time Dataset ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset whose ``t1``, ``phi``, ``q`` (attribute, or coordinate of a
        multi-q Dataset) and ``L`` define the grid.
    model : str or Model
        Registered model name or a Model object.
    params : dict or NLSQ result Dataset
        Physics parameters by name plus the scaling: ``contrast``/``offset`` (a scalar
        or one value per angle), per angle ``contrast_<k>``/``offset_<k>``, or per row
        of a multi-q Dataset ``contrast_q<a>_<k>``/``offset_q<a>_<k>``; or a fit result:
        single-q, joint multi-q (shared physics, per-(q, φ) scaling) or independent
        multi-q (one fit per q, ``coefficients(q, param)``; its q values must be those
        of ``ds``).

    Returns
    -------
    xarray.Dataset
        A two-time Dataset like ``ds`` whose ``c2`` is the model.

    Raises
    ------
    ModelError
        For an unknown model, a fit result of another model, or invalid physics
        parameters.
    XpcsError
        For missing, repeated or invalid scaling values, or unknown names.
    """
    validate_twotime(ds)
    mdl = get_model(model)
    if isinstance(params, xr.Dataset):
        res = params
        fitted = res.attrs.get("model")
        if fitted is not None and fitted != mdl.name:
            raise ModelError(f"params is a fit of model {fitted!r}, not {mdl.name!r}")
        if "q" in res[nlsq_name(nlsq_var(res), "coefficients")].dims:
            return _evaluate_per_q(ds, mdl, res)
        vals: dict[str, Any] = parameter_values(res)
        if "q" in res.dims and "q" in ds["c2"].dims:  # a joint multi-q fit: its rows are (q, φ) of its own q
            _same_q(ds["q"].values, res["q"].values)
        if "contrast_fixed" in res:
            vals["contrast"] = res["contrast_fixed"].values
            vals["offset"] = res["offset_fixed"].values
    elif isinstance(params, Mapping):
        vals = dict(params)
    else:
        raise XpcsError(f"params must be a dict {{name: value}} or an NLSQ result Dataset, got {type(params).__name__}")
    names = mdl.parameter_names
    unknown = sorted(str(n) for n in vals if n not in names and parse_scaling_name(str(n)) is None)
    if unknown:
        raise ModelError(f"unknown parameter(s) {unknown} for model {mdl.name!r}; expected {list(names)} "
                         "plus contrast/offset")
    theta = physics_vector(mdl, {n: vals[n] for n in names if n in vals}, check_bounds=False)
    multi_q = "q" in ds["c2"].dims
    n_phi = ds.sizes["phi"]
    n_q = ds.sizes["q"] if multi_q else None
    contrast = _scaling_rows(vals, "contrast", n_q, n_phi)
    offset = _scaling_rows(vals, "offset", n_q, n_phi)
    L = ds.attrs.get("L")
    if mdl.needs_L and L is None:
        raise XpcsError(f"model {mdl.name!r} needs the gap L [Å]: set ds.attrs['L']")
    q = np.asarray(ds["q"].values if multi_q else [q_value(ds)], dtype=float)
    t, phi = ds["t1"].values, ds["phi"].values
    c2 = np.asarray(model_c2(mdl, theta, _rows_grid(t, phi, q, multi_q, L), contrast.reshape(-1),
                             offset.reshape(-1)))
    c2 = c2.reshape(ds["c2"].shape if multi_q else (n_phi,) + c2.shape[-2:])
    return twotime(c2, t, phi, q.tolist() if multi_q else float(q[0]), L=L,
                   attrs={"source": f"model {mdl.name!r}"})


def _evaluate_per_q(ds: xr.Dataset, mdl: Model, res: xr.Dataset) -> xr.Dataset:
    """:func:`evaluate` of an independent multi-q fit: each q of ``ds`` with its own fit."""
    if "q" not in ds["c2"].dims:
        raise XpcsError(f"params is a fit per q ({res.sizes['q']} q values); evaluate it on the multi-q Dataset it "
                        "was fitted to, or select one fit with params.sel(q=...)")
    q_ds = ds["q"].values
    _same_q(q_ds, res["q"].values)
    parts = [evaluate(ds.isel(q=a), mdl, res.isel(q=a)) for a in range(q_ds.size)]
    return concat_q(parts)


def _same_q(q_ds: np.ndarray, q_res: np.ndarray) -> None:
    """Refuse a multi-q fit result whose q values are not those of the Dataset."""
    if q_ds.shape != q_res.shape or not np.allclose(q_ds, q_res, rtol=1e-9, atol=0):
        raise XpcsError(f"params is a fit at q = {q_res.tolist()} 1/Å but the Dataset has q = {q_ds.tolist()} 1/Å; "
                        "evaluate a multi-q fit on the q values it was fitted to")
