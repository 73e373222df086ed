"""The two-time Dataset: the data model's one door.

A two-time Dataset holds ``c2`` with dims ``(phi, t1, t2)`` (row index ↔ t1, column
index ↔ t2), an optional ``sigma`` of the same shape, coordinates ``phi`` [deg],
``t1`` and ``t2`` [s], and attributes ``q`` [1/Å], ``dt`` [s] and ``L`` [Å].
A multi-q Dataset carries an extra leading ``q`` dimension, ``(q, phi, t1, t2)``,
with ``q`` a coordinate instead of an attribute.

Every constructor and reader of this package goes through :func:`twotime`, which
validates its input and never repairs it silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .errors import TwoTimeError

__all__ = ["twotime", "validate_twotime", "uniform_time_step", "TwoTimeError"]

#: Relative tolerance used to decide that a time axis is uniform.
TIME_RTOL = 1e-6




def uniform_time_step(t: np.ndarray, *, name: str = "t") -> float:
    """Return the step of a strictly increasing, uniform time axis [s].

    Parameters
    ----------
    t : ndarray, shape (N,)
        Time coordinate [s].
    name : str
        Name used in error messages.

    Raises
    ------
    TwoTimeError
        If ``t`` has fewer than two points, is not finite, not strictly increasing,
        or not uniform to a relative tolerance of ``TIME_RTOL``.
    """
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise TwoTimeError(f"{name} must be one-dimensional, got shape {t.shape}")
    if t.size < 2:
        raise TwoTimeError(f"{name} needs at least 2 points, got {t.size}")
    if not np.all(np.isfinite(t)):
        bad = np.flatnonzero(~np.isfinite(t))
        raise TwoTimeError(f"{name} has {bad.size} non-finite value(s) at index {bad[:5].tolist()}")
    steps = np.diff(t)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise TwoTimeError(
            f"{name} must be strictly increasing: {name}[{k + 1}]={t[k + 1]!r} <= {name}[{k}]={t[k]!r}"
        )
    dt = (t[-1] - t[0]) / (t.size - 1)
    worst = np.max(np.abs(steps - dt))
    if worst > TIME_RTOL * max(dt, np.max(np.abs(t)) * 1e-12):
        k = int(np.argmax(np.abs(steps - dt)))
        raise TwoTimeError(
            f"{name} must be uniform: step {k} is {steps[k]!r} s but the mean step is {dt!r} s "
            "(two-time models integrate on a uniform frame grid; nothing is resampled)"
        )
    return float(dt)


def _check_finite(name: str, a: np.ndarray, dims: Sequence[str]) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        where = np.argwhere(bad)[:5]
        loc = ", ".join("(" + ", ".join(f"{d}={int(i)}" for d, i in zip(dims, w)) + ")" for w in where)
        raise TwoTimeError(
            f"{name} has {int(bad.sum())} non-finite value(s) (NaN/inf) of {a.size}; first at {loc}. "
            "Mask or repair them explicitly; they are never filled silently."
        )


def twotime(
    c2: Any,
    t: Any | None = None,
    phi: Any = 0.0,
    q: Any = None,
    *,
    dt: float | None = None,
    L: float | None = None,
    sigma: Any | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a validated two-time Dataset.

    Parameters
    ----------
    c2 : array_like, shape (N, N), (n_phi, N, N) or (n_q, n_phi, N, N)
        Two-time correlation; row index ↔ t1, column index ↔ t2. A 2-D matrix is
        taken as a single angle.
    t : array_like, shape (N,), optional
        Absolute frame times [s], strictly increasing and uniform. Default
        ``t_k = k·dt`` (k = 0 … N−1), which needs ``dt``.
    phi : float or array_like, shape (n_phi,)
        Azimuthal angles [deg], distinct.
    q : float or array_like, shape (n_q,)
        Scattering vector magnitude [1/Å], > 0. A sequence of several values needs a
        4-D ``c2``.
    dt : float, optional
        Frame time step [s], > 0. Must agree with ``t`` when both are given.
    L : float, optional
        Stator–rotor gap [Å] of a shear cell (laminar-flow model), > 0.
    sigma : array_like, optional
        Standard deviation of each ``c2`` value, same shape, finite and > 0.
    attrs : dict, optional
        Extra attributes (provenance) copied onto the Dataset.

    Returns
    -------
    xarray.Dataset
        ``c2`` (and ``sigma``) with dims ``(phi, t1, t2)`` (or ``(q, phi, t1, t2)``).

    Raises
    ------
    TwoTimeError
        With a message naming the problem for any invalid input.
    """
    c2 = np.asarray(c2)
    if not np.issubdtype(c2.dtype, np.number):
        raise TwoTimeError(f"c2 must be numeric, got dtype {c2.dtype}")
    c2 = c2.astype(np.float64, copy=False)
    if q is None:
        raise TwoTimeError("q [1/Å] is required")
    q_arr = np.atleast_1d(np.asarray(q, dtype=float))
    multi_q = np.ndim(q) > 0
    if c2.ndim == 2 and not multi_q:
        c2 = c2[None]
    if multi_q:
        if c2.ndim != 4:
            raise TwoTimeError(f"with a sequence of q, c2 must be 4-D (q, phi, t1, t2), got shape {c2.shape}")
    elif c2.ndim != 3:
        raise TwoTimeError(f"c2 must be 2-D (t1, t2) or 3-D (phi, t1, t2), got {c2.ndim}-D shape {c2.shape}")
    n = c2.shape[-1]
    if c2.shape[-2] != n:
        raise TwoTimeError(f"c2 must be square in (t1, t2), got {c2.shape[-2]} x {c2.shape[-1]}")
    if n < 2:
        raise TwoTimeError(f"c2 needs at least 2 frames, got {n}")
    if q_arr.size != (c2.shape[0] if multi_q else 1):
        raise TwoTimeError(f"q has {q_arr.size} value(s) but c2 has {c2.shape[0]} q slice(s)")
    if not np.all(np.isfinite(q_arr)) or np.any(q_arr <= 0):
        raise TwoTimeError(f"q must be finite and > 0 [1/Å], got {q_arr.tolist()}")
    if multi_q and np.unique(q_arr).size != q_arr.size:
        raise TwoTimeError(f"q values must be distinct, got {q_arr.tolist()}")

    phi_arr = np.atleast_1d(np.asarray(phi, dtype=float))
    n_phi = c2.shape[-3]
    if phi_arr.ndim != 1 or phi_arr.size != n_phi:
        raise TwoTimeError(f"phi has {phi_arr.size} value(s) but c2 has {n_phi} angle(s) (shape {c2.shape})")
    if not np.all(np.isfinite(phi_arr)):
        raise TwoTimeError(f"phi must be finite [deg], got {phi_arr.tolist()}")
    if np.unique(phi_arr).size != phi_arr.size:
        vals, counts = np.unique(phi_arr, return_counts=True)
        raise TwoTimeError(f"duplicate angles in phi: {vals[counts > 1].tolist()} deg")

    if dt is not None:
        dt = float(dt)
        if not np.isfinite(dt) or dt <= 0:
            raise TwoTimeError(f"dt must be finite and > 0 [s], got {dt!r}")
    if t is None:
        if dt is None:
            raise TwoTimeError("give the frame times t [s] or the time step dt [s]")
        t_arr = dt * np.arange(n, dtype=float)
    else:
        t_arr = np.asarray(t, dtype=float)
        if t_arr.shape != (n,):
            raise TwoTimeError(f"t has shape {t_arr.shape} but c2 has {n} frames")
        step = uniform_time_step(t_arr, name="t")
        if dt is not None and abs(step - dt) > TIME_RTOL * dt:
            raise TwoTimeError(f"dt={dt!r} s disagrees with the step of t ({step!r} s)")
        dt = step
    if L is not None:
        L = float(L)
        if not np.isfinite(L) or L <= 0:
            raise TwoTimeError(f"L must be finite and > 0 [Å], got {L!r}")

    dims = ("q", "phi", "t1", "t2") if multi_q else ("phi", "t1", "t2")
    _check_finite("c2", c2, dims)
    data_vars: dict[str, Any] = {
        "c2": (dims, c2, {"long_name": "two-time correlation C2", "units": "1"}),
    }
    if sigma is not None:
        sigma = np.asarray(sigma, dtype=np.float64)
        if sigma.shape == c2.shape[-2:] and c2.ndim > 2:
            sigma = np.broadcast_to(sigma, c2.shape).copy()
        if sigma.shape != c2.shape:
            raise TwoTimeError(f"sigma has shape {sigma.shape} but c2 has shape {c2.shape}")
        _check_finite("sigma", sigma, dims)
        if np.any(sigma <= 0):
            raise TwoTimeError(f"sigma must be > 0 everywhere; {int((sigma <= 0).sum())} value(s) are <= 0")
        data_vars["sigma"] = (dims, sigma, {"long_name": "standard deviation of C2", "units": "1"})

    coords: dict[str, Any] = {
        "phi": ("phi", phi_arr, {"long_name": "azimuthal angle", "units": "deg"}),
        "t1": ("t1", t_arr, {"long_name": "frame time t1", "units": "s"}),
        "t2": ("t2", t_arr.copy(), {"long_name": "frame time t2", "units": "s"}),
    }
    out_attrs: dict[str, Any] = dict(attrs or {})
    if multi_q:
        coords["q"] = ("q", q_arr, {"long_name": "scattering vector", "units": "1/Å"})
    else:
        out_attrs["q"] = float(q_arr[0])
    out_attrs["q_units"] = "1/Å"
    out_attrs["dt"] = float(dt)
    out_attrs["dt_units"] = "s"
    if L is not None:
        out_attrs["L"] = L
        out_attrs["L_units"] = "Å"
    return xr.Dataset(data_vars, coords=coords, attrs=out_attrs)


def validate_twotime(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` is a valid two-time Dataset and return it unchanged.

    Rebuilds it through :func:`twotime`, so the same checks and messages apply to
    Datasets made by hand or read from NetCDF.
    """
    if not isinstance(ds, xr.Dataset):
        raise TwoTimeError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if "c2" not in ds:
        raise TwoTimeError(f"the Dataset has no 'c2' variable (variables: {list(ds.data_vars)})")
    multi_q = "q" in ds["c2"].dims
    expected = ("q", "phi", "t1", "t2") if multi_q else ("phi", "t1", "t2")
    if ds["c2"].dims != expected:
        raise TwoTimeError(f"c2 must have dims {expected}, got {ds['c2'].dims}")
    q = ds["q"].values if multi_q else ds.attrs.get("q")
    if not np.array_equal(ds["t1"].values, ds["t2"].values):
        raise TwoTimeError("t1 and t2 coordinates must be identical")
    sigma = ds["sigma"].transpose(*expected).values if "sigma" in ds else None
    twotime(
        ds["c2"].values, ds["t1"].values, ds["phi"].values, q,
        dt=ds.attrs.get("dt"), L=ds.attrs.get("L"), sigma=sigma,
    )
    return ds
