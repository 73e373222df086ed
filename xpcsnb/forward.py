"""A model on a Dataset's grid: :func:`simulate` (new data, seeded noise) and :func:`evaluate`.

The one place where a model's C2 is computed on a grid for users (the engines compute it
on their residual support through :class:`~xpcsnb.fit.problem.FitProblem`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import _jax  # noqa: F401
from .core.twotime import twotime, validate_twotime
from .models import get_model, make_grid, registry
from .models.scaling import per_angle

from .fit.result import parameter_values

__all__ = ["evaluate", "physics_vector", "simulate"]


def physics_vector(model: str, params: Mapping[str, float], *, check_bounds: bool = True) -> np.ndarray:
    """The model's physics vector (registry order) from a dict by registry name.

    Raises
    ------
    ValueError
        For a missing or unknown name, a non-finite value, or (``check_bounds``) a value
        outside the registry bounds.
    """
    spec = registry.MODELS[get_model(model).name]
    names = [p.name for p in spec]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for model {model!r}; expected {names}")
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {missing} for model {model!r}")
    out = np.array([float(params[n]) for n in names])
    for p, v in zip(spec, out):
        if not np.isfinite(v):
            raise ValueError(f"{p.name} must be finite, got {v}")
        if check_bounds and not p.lower <= v <= p.upper:
            raise ValueError(f"{p.name} = {v} [{p.unit}] is outside its bounds [{p.lower}, {p.upper}] "
                             "(pass check_bounds=False to simulate outside the fit bounds)")
    return out


def simulate(
    model: str,
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
    model : {"static", "laminar_flow", "heterodyne"}
    params : dict
        Physics parameters by registry name (e.g. ``D0``, ``alpha``, ``D_offset``, ...).
    t : array_like, shape (N,)
        Absolute frame times [s], uniform and increasing (the homodyne convention is
        ``t = dt·arange(N)``; the heterodyne package's is ``dt·(arange(N) + 1)``).
    phi : float or sequence
        Angles [deg].
    q : float or sequence
        Scattering vector [1/Å]; a sequence gives a multi-q Dataset (q, phi, t1, t2).
    L : float, optional
        Gap [Å]; required by ``laminar_flow``.
    contrast, offset : float or sequence
        Scalar or one value per angle.
    noise : float
        Relative Gaussian noise: ``σ = noise · |C2|``, symmetric in (t1, t2) like
        measured C2; ``sigma`` is stored with the data when ``noise > 0``.
    seed : int, optional
        Seed of the noise (``numpy.random.default_rng``).
    check_bounds : bool
        Refuse parameters outside the registry bounds.
    """
    mdl = get_model(model)
    theta = physics_vector(mdl.name, params, check_bounds=check_bounds)
    t = np.asarray(t, dtype=float)
    phi_arr = np.atleast_1d(np.asarray(phi, dtype=float))
    n_phi = phi_arr.size
    c = per_angle("contrast", contrast, n_phi)
    o = per_angle("offset", offset, n_phi)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be finite and >= 0 (relative σ), got {noise!r}")
    if mdl.needs_L and L is None:
        raise ValueError(f"model {mdl.name!r} needs the gap L [Å]")
    multi_q = np.ndim(q) > 0
    q_arr = np.atleast_1d(np.asarray(q, dtype=float))
    if np.any(~np.isfinite(q_arr)) or np.any(q_arr <= 0):
        raise ValueError(f"q must be finite and > 0 [1/Å], got {q_arr.tolist()}")
    # validate the time axis before any computation
    twotime(np.zeros((n_phi, t.size, t.size)), t, phi_arr, float(q_arr[0]))
    clean = np.stack([
        o[:, None, None] + c[:, None, None] * np.asarray(mdl.signal(jnp.asarray(theta), make_grid(t, phi_arr, qv, L)))
        for qv in q_arr
    ])
    sigma = None
    data = clean
    if noise > 0:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal(clean.shape)
        z = np.triu(z) + np.swapaxes(np.triu(z, 1), -1, -2)  # symmetric noise
        sigma = noise * np.abs(clean)
        data = clean + sigma * z
    if not multi_q:
        data = data[0]
        sigma = None if sigma is None else sigma[0]
    attrs: dict[str, Any] = {
        "source": f"xpcsnb.simulate({mdl.name!r})",
        "true_params": str(dict(zip(registry.physics_names(mdl.name), theta.tolist()))),
        "noise": float(noise),
        "seed": -1 if seed is None else int(seed),
    }
    return twotime(data, t, phi_arr, q_arr.tolist() if multi_q else float(q_arr[0]), L=L, sigma=sigma, attrs=attrs)


def evaluate(ds: xr.Dataset, model: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Evaluate ``model`` on the grid of the two-time Dataset ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset whose ``t1``, ``phi``, ``q``, ``L`` define the grid.
    model : str
        Model name.
    params : dict or NLSQ result Dataset
        Physics parameters by registry name plus ``contrast``/``offset`` (scalars or
        per angle ``contrast_<k>``/``offset_<k>``); or a fit result.

    Returns
    -------
    xarray.Dataset
        A two-time Dataset like ``ds`` whose ``c2`` is the model.
    """
    validate_twotime(ds)
    if isinstance(params, xr.Dataset):
        res = params
        vals = parameter_values(res)
        if "contrast_fixed" in res:
            vals["contrast"] = res["contrast_fixed"].values
            vals["offset"] = res["offset_fixed"].values
    else:
        vals = dict(params)
    mdl = get_model(model)
    names = registry.physics_names(mdl.name)
    theta = physics_vector(mdl.name, {n: vals[n] for n in names if n in vals}, check_bounds=False)
    n_phi = ds.sizes["phi"]
    scale = {}
    for base in ("contrast", "offset"):
        if base in vals:
            scale[base] = np.broadcast_to(np.asarray(vals[base], dtype=float), (n_phi,))
        elif all(f"{base}_{k}" in vals for k in range(n_phi)):
            scale[base] = np.array([vals[f"{base}_{k}"] for k in range(n_phi)])
        else:
            raise ValueError(f"params give no {base!r} (scalar, per-angle '{base}_<k>', or a fit result)")
    L = ds.attrs.get("L")
    grid = make_grid(ds["t1"].values, ds["phi"].values, ds.attrs["q"], L)
    sig = np.asarray(mdl.signal(jnp.asarray(theta), grid))
    c2 = scale["offset"][:, None, None] + scale["contrast"][:, None, None] * sig
    return twotime(c2, ds["t1"].values, ds["phi"].values, ds.attrs["q"], L=L,
                   attrs={"source": f"model {mdl.name!r}"})
