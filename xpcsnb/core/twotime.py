"""The two-time Dataset: the data model's one door.

A two-time Dataset holds ``c2`` with dims ``(phi, t1, t2)`` (row index ↔ t1, column
index ↔ t2), an optional ``sigma`` of the same shape, coordinates ``phi`` [deg],
``t1`` and ``t2`` [s], and attributes ``q`` [1/Å] and ``L`` [Å].
A multi-q Dataset carries an extra leading ``q`` dimension, ``(q, phi, t1, t2)``,
with ``q`` a coordinate instead of an attribute.

Time axis: the coordinates ``t1 = t2`` are the one source of truth. They are the
absolute frame times [s] (the sample age, when the producer knows it; the start
of the first frame of each averaged frame), uniform but not necessarily starting
at 0. The time step is their step, read with :func:`time_step`; no ``dt``
attribute is stored, so frame averaging with xarray (``ds.coarsen(t1=2, t2=2).mean()``,
a strided ``ds.isel(t1=slice(None, None, 2), t2=slice(None, None, 2))``) keeps a valid
Dataset. An ``attrs["dt"]`` left by older versions is ignored, never read.

Every constructor and reader of this package goes through :func:`twotime`, which
validates its input and never repairs it silently. A single-q Dataset may carry q as a
scalar (0-d) coordinate instead of the attribute (what ``mq.isel(q=i)`` gives); read it
with :func:`q_value`. :func:`concat_q` stacks single-q Datasets into a multi-q one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._warn import warn
from .errors import TwoTimeError, UnitsWarning

__all__ = ["twotime", "validate_twotime", "uniform_time_step", "time_step", "q_value", "concat_q",
           "TwoTimeError", "UnitsWarning"]

#: Relative tolerance used to decide that a time axis is uniform (added to the
#: floating-point resolution of the times, see :func:`uniform_time_step`).
TIME_RTOL = 1e-6
#: Range of plausible XPCS scattering vectors [1/Å]; outside it q looks like 1/nm or 1/m.
Q_RANGE = (1e-5, 10.0)
#: A time axis of whole-number steps dt ≥ 2 spanning more than this [s] looks like ms.
MS_SPAN = 3600.0


def _time_tol(t: np.ndarray, dt: float) -> float:
    """Absolute tolerance [s] on a time step: TIME_RTOL·dt plus the resolution of t."""
    return TIME_RTOL * dt + 4 * np.finfo(float).eps * float(np.max(np.abs(t)))


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
        or not uniform: a step may differ from the mean step by ``TIME_RTOL``·dt plus
        four times the floating-point resolution of ``max|t|`` (absolute times such as
        Unix timestamps resolve only ~2e-7 s).
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
    if worst > _time_tol(t, dt):
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


def _check_real(name: str, a: np.ndarray) -> None:
    if np.iscomplexobj(a):
        imag = float(np.max(np.abs(a.imag))) if a.size else 0.0
        raise TwoTimeError(
            f"{name} is complex ({a.dtype}, largest |imaginary part| {imag:.3g}); a two-time correlation is real. "
            f"Pass {name}.real explicitly if the imaginary part is rounding noise."
        )


def _check_phi_distinct(phi: np.ndarray) -> None:
    """Refuse angles that name the same direction modulo 360° (0 and 360, −90 and 270)."""
    wrapped = np.round(np.mod(phi, 360.0), 9) % 360.0
    vals, inverse, counts = np.unique(wrapped, return_inverse=True, return_counts=True)
    if np.any(counts > 1):
        groups = [phi[inverse == k].tolist() for k in np.flatnonzero(counts > 1)]
        raise TwoTimeError(
            "duplicate angles in phi (equal modulo 360°): "
            + "; ".join(f"{g} deg are all {vals[k]:g}°" for g, k in zip(groups, np.flatnonzero(counts > 1)))
            + ". Give each azimuthal angle once."
        )


def _check_full_matrix(c2: np.ndarray, dims: Sequence[str]) -> None:
    """Refuse a C2 stored as one triangle (zeros on the other side of the diagonal)."""
    lead = c2.reshape((-1,) + c2.shape[-2:])
    cand = np.flatnonzero((lead[:, 1, 0] == 0) | (lead[:, 0, 1] == 0))
    for k in cand:
        m = lead[k]
        low, up = np.tril(m, -1).any(), np.triu(m, 1).any()
        if low == up:
            continue
        idx = np.unravel_index(k, c2.shape[:-2])
        where = ", ".join(f"{d}={int(i)}" for d, i in zip(dims, idx))
        kept, zero = ("upper", "below") if up else ("lower", "above")
        raise TwoTimeError(
            f"c2[{where}] holds only its {kept} triangle: every value {zero} the diagonal is exactly 0 "
            "(the APS 8-ID-I storage), so a fit would see half the contrast. Symmetrise it first, e.g. "
            "c2 = np.triu(c2) + np.swapaxes(np.triu(c2, 1), -1, -2) for an upper store "
            "(xpcsnb.io.aps8idi.full_from_upper does it for one matrix; open_twotime and open_aps do it on reading)."
        )


_SILENCE = ("pass units_check=False to silence this (or use warnings.filterwarnings('ignore', "
            "category=xpcsnb.core.errors.UnitsWarning))")


def _units_check(phi: np.ndarray, q: np.ndarray, dt: float, n: int) -> None:
    """Warn (:class:`UnitsWarning`) when phi, q or dt look like other units.

    * phi: two or more angles, all within [−2π, 2π], some not whole numbers → radians?
      (a single angle is never flagged: a sector centre near 0° is common.)
    * q: outside ``Q_RANGE`` (1e-5 … 10 1/Å) → 1/nm or 1/m?
    * dt: a whole number ≥ 2 with the run spanning more than ``MS_SPAN`` (1 h) → ms?
      dt = 1 is the frame-unit convention (e.g. the BNL demo matrix) and never flagged.
    """
    two_pi = 2 * np.pi
    if phi.size > 1 and np.all(np.abs(phi) <= two_pi) and np.any(phi != np.round(phi)):
        warn(f"phi = {phi.tolist()} look like radians; phi is in degrees "
             f"(np.degrees(phi) converts). If they are degrees, {_SILENCE}.", UnitsWarning)
    bad_q = q[(q < Q_RANGE[0]) | (q > Q_RANGE[1])]
    if bad_q.size:
        warn(f"q = {bad_q.tolist()} lies outside {Q_RANGE[0]:g} … {Q_RANGE[1]:g} 1/Å and looks like 1/nm "
             f"or 1/m; q is in 1/Å (1/nm × 0.1, 1/m × 1e-10). If the value is right, {_SILENCE}.",
             UnitsWarning)
    if dt >= 2 and abs(dt - round(dt)) <= 1e-6 * dt and (n - 1) * dt > MS_SPAN:
        warn(f"dt = {dt:g} s (whole-number steps, {n} frames spanning {(n - 1) * dt:g} s > {MS_SPAN:g} s) "
             "looks like milliseconds; t and dt are in seconds (ms × 1e-3). "
             f"If dt really is in seconds, {_SILENCE}.",
             UnitsWarning)


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
    units_check: bool = True,
) -> xr.Dataset:
    """Build a validated two-time Dataset.

    Parameters
    ----------
    c2 : array_like, shape (N, N), (n_phi, N, N) or (n_q, n_phi, N, N)
        Two-time correlation, real and full (both triangles; an upper-triangle store
        is refused); row index ↔ t1, column index ↔ t2. A 2-D matrix is taken as a
        single angle.
    t : array_like, shape (N,), optional
        Absolute frame times [s] (the sample age where known; need not start at 0),
        strictly increasing and uniform. Default ``t_k = k·dt`` (k = 0 … N−1), which
        needs ``dt``.
    phi : float or array_like, shape (n_phi,)
        Azimuthal angles [deg], distinct modulo 360.
    q : float or array_like, shape (n_q,)
        Scattering vector magnitude [1/Å], > 0. A sequence of several values needs a
        4-D ``c2``.
    dt : float, optional
        Frame time step [s], > 0, used to build ``t`` when it is not given; must agree
        with the step of ``t`` when both are. Not stored: the coordinates carry the
        time axis (read the step with :func:`time_step`).
    L : float, optional
        Stator–rotor gap [Å] of a shear cell (laminar-flow model), > 0.
    sigma : array_like, optional
        Standard deviation of each ``c2`` value, same shape, finite and > 0.
    attrs : dict, optional
        Extra attributes (provenance) copied onto the Dataset; a ``dt`` key is refused
        (the time step is the step of ``t``).
    units_check : bool
        Warn (:class:`~xpcsnb.core.errors.UnitsWarning`) when phi looks like radians,
        q like 1/nm or 1/m, or dt like ms (heuristics in the module's ``_units_check``:
        ≥ 2 non-integer angles within ±2π; q outside 1e-5 … 10 1/Å; whole-number
        dt ≥ 2 over more than an hour). ``False`` silences it.

    Returns
    -------
    xarray.Dataset
        ``c2`` (and ``sigma``) with dims ``(phi, t1, t2)`` (or ``(q, phi, t1, t2)``),
        coordinates ``t1 = t2 = t`` [s], ``phi`` [deg] (and ``q`` [1/Å]), attributes
        ``q`` (single q), ``L`` and ``attrs``.

    Raises
    ------
    TwoTimeError
        With a message naming the problem for any invalid input.

    Warns
    -----
    UnitsWarning
        When a value looks like other units (see ``units_check``).
    """
    c2 = np.asarray(c2)
    if not np.issubdtype(c2.dtype, np.number):
        raise TwoTimeError(f"c2 must be numeric, got dtype {c2.dtype}")
    _check_real("c2", c2)
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
    _check_phi_distinct(phi_arr)

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
        if dt is not None and abs(step - dt) > _time_tol(t_arr, dt):
            raise TwoTimeError(f"dt={dt!r} s disagrees with the step of t ({step!r} s)")
        dt = step
    if L is not None:
        L = float(L)
        if not np.isfinite(L) or L <= 0:
            raise TwoTimeError(f"L must be finite and > 0 [Å], got {L!r}")

    dims = ("q", "phi", "t1", "t2") if multi_q else ("phi", "t1", "t2")
    _check_finite("c2", c2, dims)
    _check_full_matrix(c2, dims)
    if units_check:
        _units_check(phi_arr, q_arr, float(dt), n)
    data_vars: dict[str, Any] = {
        "c2": (dims, c2, {"long_name": "two-time correlation C2", "units": "1"}),
    }
    if sigma is not None:
        sigma = np.asarray(sigma)
        _check_real("sigma", sigma)
        sigma = sigma.astype(np.float64, copy=False)
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
    if "dt" in out_attrs:
        raise TwoTimeError(
            f"attrs['dt'] = {out_attrs['dt']!r} is not stored: the time step is the step of the t1/t2 coordinates "
            "(one source of truth; read it with xpcsnb.core.twotime.time_step(ds)). Drop the 'dt' key, or record "
            "a provenance value under another name (e.g. 'dt_file')"
        )
    if multi_q:
        coords["q"] = ("q", q_arr, {"long_name": "scattering vector", "units": "1/Å"})
    else:
        out_attrs["q"] = float(q_arr[0])
    out_attrs["q_units"] = "1/Å"
    if L is not None:
        out_attrs["L"] = L
        out_attrs["L_units"] = "Å"
    return xr.Dataset(data_vars, coords=coords, attrs=out_attrs)


def validate_twotime(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` is a valid two-time Dataset and return it unchanged.

    Rebuilds it through :func:`twotime`, so the same checks and messages apply to
    Datasets made by hand or read from NetCDF (the units heuristics are not rerun:
    they belong to where the numbers enter). A single-q Dataset has q as an attribute
    or as a scalar coordinate (``mq.isel(q=i)``); a multi-q one as a coordinate along
    the ``q`` dimension, and no q attribute. The time axis is the ``t1``/``t2``
    coordinates alone: an ``attrs["dt"]`` (older versions) is not read, so frame
    averaging by ``coarsen`` or a strided ``isel`` keeps the Dataset valid.
    """
    if not isinstance(ds, xr.Dataset):
        raise TwoTimeError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if "c2" not in ds:
        raise TwoTimeError(f"the Dataset has no 'c2' variable (variables: {list(ds.data_vars)})")
    multi_q = "q" in ds["c2"].dims
    expected = ("q", "phi", "t1", "t2") if multi_q else ("phi", "t1", "t2")
    if ds["c2"].dims != expected:
        raise TwoTimeError(f"c2 must have dims {expected}, got {ds['c2'].dims}")
    if multi_q:
        if "q" not in ds.coords:
            raise TwoTimeError(
                "c2 has a q dimension but the Dataset has no q coordinate (what xr.concat of single-q Datasets, "
                "whose q is an attribute, makes): build multi-q Datasets with "
                "xpcsnb.core.twotime.concat_q(datasets)"
            )
        if "q" in ds.attrs:
            raise TwoTimeError(
                f"a multi-q Dataset carries q as a coordinate {ds['q'].values.tolist()} and must not keep a "
                f"scalar attrs['q'] = {ds.attrs['q']!r} (left over by xr.concat): build it with "
                "xpcsnb.core.twotime.concat_q(datasets), or drop the attribute"
            )
        q: Any = ds["q"].values
    else:
        q = q_value(ds)
    _time_coords(ds)
    sigma = ds["sigma"].transpose(*expected).values if "sigma" in ds else None
    twotime(
        ds["c2"].values, ds["t1"].values, ds["phi"].values, q,
        L=ds.attrs.get("L"), sigma=sigma, units_check=False,
    )
    return ds


def _time_coords(ds: xr.Dataset) -> np.ndarray:
    """The ``t1`` values [s] of ``ds``, checked to equal ``t2`` (when present)."""
    if "t1" not in ds.coords:
        raise TwoTimeError(f"the Dataset has no t1 coordinate (coordinates: {list(ds.coords)}); a two-time "
                           "Dataset carries its frame times [s] as t1 and t2")
    t1 = np.asarray(ds["t1"].values)
    if t1.ndim != 1:
        raise TwoTimeError(f"t1 must be one-dimensional, got dims {ds['t1'].dims}")
    if "t2" in ds.coords and not np.array_equal(t1, ds["t2"].values):
        raise TwoTimeError("t1 and t2 coordinates must be identical (select or average both axes alike, "
                           "e.g. ds.coarsen(t1=2, t2=2).mean())")
    return t1


def time_step(ds: xr.Dataset | xr.DataArray) -> float:
    """The time step dt [s] of a two-time Dataset: the step of its ``t1`` coordinate.

    The coordinates are the one source of truth for the time axis (an ``attrs["dt"]``
    is never read). Works on every Dataset or DataArray with ``t1`` (and ``t2``)
    coordinates: the data model's, a multi-q one, the ``(roi, t1, t2)`` output of
    :func:`xpcsnb.correlate.two_time`, and after ``coarsen`` or a strided ``isel``.

    Raises
    ------
    TwoTimeError
        If ``t1`` is missing, differs from ``t2``, or is not strictly increasing and
        uniform (see ``xpcsnb.core.twotime.uniform_time_step``).
    """
    if not isinstance(ds, xr.Dataset | xr.DataArray):
        raise TwoTimeError(f"time_step needs an xarray Dataset or DataArray, got {type(ds).__name__}")
    return uniform_time_step(_time_coords(ds), name="t1")


def q_value(ds: xr.Dataset) -> float:
    """The q [1/Å] of a single-q two-time Dataset.

    Reads the ``q`` attribute or a scalar ``q`` coordinate (``mq.isel(q=i)``); use it
    instead of ``ds.attrs["q"]``.

    Raises
    ------
    TwoTimeError
        For a multi-q Dataset (select one q first), a missing q, or an attribute and
        a scalar coordinate that disagree.
    """
    if "c2" in ds and "q" in ds["c2"].dims:
        raise TwoTimeError(f"the Dataset holds {ds.sizes['q']} q values: select one with ds.isel(q=i) or "
                           "ds.sel(q=...) first")
    coord = float(ds["q"].values) if "q" in ds.coords and ds["q"].ndim == 0 else None
    attr = ds.attrs.get("q")
    if coord is not None and attr is not None and not np.isclose(coord, float(attr), rtol=1e-12, atol=0):
        raise TwoTimeError(f"the q coordinate ({coord!r}) and attrs['q'] ({attr!r}) disagree; keep one")
    if coord is None and attr is None:
        raise TwoTimeError("q [1/Å] is required: the Dataset has neither a q attribute nor a scalar q coordinate")
    return coord if coord is not None else float(attr)


def concat_q(datasets: Iterable[xr.Dataset]) -> xr.Dataset:
    """Stack two-time Datasets at different q into one multi-q Dataset ``c2(q, phi, t1, t2)``.

    Parameters
    ----------
    datasets : iterable of Dataset
        Valid single-q (or multi-q) two-time Datasets with the same time grid, the
        same angles, the same ``L`` and all with or all without ``sigma``; their q
        values must be distinct. The order is kept.

    Returns
    -------
    xarray.Dataset
        Built by :func:`twotime`; the attributes shared (equal) by all inputs are kept.

    Raises
    ------
    TwoTimeError
        If an input is invalid or the inputs do not share their grid.
    """
    dss = list(datasets)
    if not dss or not all(isinstance(d, xr.Dataset) for d in dss):
        raise TwoTimeError("concat_q needs a non-empty sequence of two-time Datasets")
    c2s, sigmas, qs = [], [], []
    first = dss[0]
    t0 = first["t1"].values
    for i, d in enumerate(dss):
        validate_twotime(d)
        multi = "q" in d["c2"].dims
        t = d["t1"].values
        if t.shape != t0.shape or not np.allclose(t, t0, rtol=0, atol=_time_tol(t0, time_step(first))):
            raise TwoTimeError(f"dataset {i} has another time grid ({t.size} frames from {float(t[0])!r} s, "
                               f"dt {time_step(d)!r} s) than dataset 0 ({t0.size} frames from {float(t0[0])!r} s, "
                               f"dt {time_step(first)!r} s); concat_q needs the same t grid")
        if not np.array_equal(d["phi"].values, first["phi"].values):
            raise TwoTimeError(f"dataset {i} has phi {d['phi'].values.tolist()} deg but dataset 0 has "
                               f"{first['phi'].values.tolist()} deg")
        if d.attrs.get("L") != first.attrs.get("L"):
            raise TwoTimeError(f"dataset {i} has L={d.attrs.get('L')!r} but dataset 0 has L={first.attrs.get('L')!r}")
        if ("sigma" in d) != ("sigma" in first):
            raise TwoTimeError(f"dataset {i} {'has' if 'sigma' in d else 'has no'} sigma, unlike dataset 0")
        dims = ("q", "phi", "t1", "t2") if multi else ("phi", "t1", "t2")
        c2 = d["c2"].transpose(*dims).values
        qs.extend(np.atleast_1d(d["q"].values).tolist() if multi else [q_value(d)])
        c2s.append(c2 if multi else c2[None])
        if "sigma" in d:
            sg = d["sigma"].transpose(*dims).values
            sigmas.append(sg if multi else sg[None])
    skip = {"q", "q_units", "dt", "dt_units", "L", "L_units"}
    attrs = {k: v for k, v in first.attrs.items()
             if k not in skip and all(k in d.attrs and _equal(d.attrs[k], v) for d in dss[1:])}
    return twotime(np.concatenate(c2s), t0, first["phi"].values, qs, L=first.attrs.get("L"),
                   sigma=np.concatenate(sigmas) if sigmas else None, attrs=attrs, units_check=False)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    except (TypeError, ValueError):
        return False
