"""The one-time g2 Dataset: the schema shared by correlators, readers and g2 fits.

A g2 Dataset holds

* ``g2`` with dims ``(roi, tau)`` — or ``(t_age, roi, tau)`` for age-resolved curves —
  the normalised intensity autocorrelation [1];
* optionally ``g2_err`` of the same dims, its standard error [1];
* coordinates ``tau(tau)`` [s] (lag times, finite, > 0, strictly increasing),
  ``roi(roi)`` (integer ROI label or index, distinct), and where known ``q(roi)``
  [1/Å] (finite, > 0) and ``phi(roi)`` [deg]; optionally ``t_age`` [s], a scalar (the
  age of one window) or a dimension (age-resolved g2).

Every variable and coordinate carries a ``units`` attribute. Extra variables and
coordinates (intensity traces, lag indices, pixel counts) may be added by whoever builds
the Dataset; :func:`validate_g2` ignores them.

Non-finite ``g2`` and ``g2_err <= 0`` or non-finite are *allowed* in the Dataset (APS
files hold zeros where the correlator had no data); :func:`valid_points` is the one rule
that every fit uses to exclude them, and it reports how many were excluded.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from .errors import G2Error

__all__ = ["G2Error", "G2_DIMS", "G2_UNITS", "ValidPoints", "g2", "valid_points", "validate_g2"]

#: Dims of ``g2`` (without the optional leading ``t_age``).
G2_DIMS = ("roi", "tau")

#: The unit of every schema variable and coordinate.
G2_UNITS = {"g2": "1", "g2_err": "1", "tau": "s", "roi": "1", "q": "1/Å", "phi": "deg", "t_age": "s"}


def _real_array(name: str, a: Any) -> np.ndarray:
    """``a`` as a float64 array; complex, boolean and non-numeric input raise."""
    arr = np.asarray(a)
    if np.iscomplexobj(arr):
        raise G2Error(f"{name} must be real, got complex dtype {arr.dtype}; take .real or abs() explicitly")
    if arr.dtype.kind not in "iuf":
        raise G2Error(f"{name} must be numeric (int or float), got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _check_tau(tau: Any, n: int) -> np.ndarray:
    t = _real_array("tau", tau)
    if t.ndim != 1:
        raise G2Error(f"tau must be one-dimensional [s], got shape {t.shape}")
    if t.size != n:
        raise G2Error(f"tau has {t.size} value(s) but g2 has {n} lag(s) along its last axis")
    if not np.all(np.isfinite(t)):
        bad = np.flatnonzero(~np.isfinite(t))
        raise G2Error(f"tau has {bad.size} non-finite value(s) at index {bad[:5].tolist()}")
    if np.any(t <= 0):
        bad = np.flatnonzero(t <= 0)
        raise G2Error(
            f"tau must be > 0 [s]; tau[{bad[0]}] = {t[bad[0]]!r} ({bad.size} value(s) <= 0). "
            "Drop the zero lag (it holds the shot-noise spike, not g2)"
        )
    steps = np.diff(t)
    if np.any(steps <= 0):
        k = int(np.flatnonzero(steps <= 0)[0])
        raise G2Error(
            f"tau must be strictly increasing: tau[{k + 1}] = {t[k + 1]!r} <= tau[{k}] = {t[k]!r}; "
            "sort the lags (and g2 with them) and merge duplicates"
        )
    return t


def _roi_vector(name: str, v: Any, n_roi: int, unit: str) -> np.ndarray:
    a = _real_array(name, v)
    if a.ndim == 0 and n_roi == 1:
        a = a.reshape(1)
    if a.ndim != 1 or a.size != n_roi:
        raise G2Error(f"{name} must hold one value per ROI ({n_roi}) [{unit}], got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        bad = np.flatnonzero(~np.isfinite(a))
        raise G2Error(
            f"{name} has {bad.size} non-finite value(s) at ROI index {bad[:5].tolist()}; "
            f"pass {name}=None when it is not known"
        )
    return a


def g2(
    values: Any,
    *,
    tau: Any,
    q: Any | None = None,
    g2_err: Any | None = None,
    phi: Any | None = None,
    t_age: Any | None = None,
    roi: Any | None = None,
    attrs: dict[str, Any] | None = None,
) -> xr.Dataset:
    """Build a validated one-time g2 Dataset.

    Parameters
    ----------
    values : array_like, shape (n_tau,), (n_roi, n_tau) or (n_age, n_roi, n_tau)
        g2(τ) [1]; a 1-D curve is one ROI. 3-D needs a 1-D ``t_age``. Non-finite values
        are kept (see :func:`valid_points`).
    tau : array_like, shape (n_tau,)
        Lag times [s], finite, > 0, strictly increasing.
    q : float or array_like, shape (n_roi,), optional
        Scattering vector of each ROI [1/Å], finite and > 0 (a float for a single ROI).
    g2_err : array_like, same shape as ``values``, optional
        Standard error of g2 [1], never negative; zero or non-finite marks a point
        without data (excluded from fits by :func:`valid_points`).
    phi : float or array_like, shape (n_roi,), optional
        Azimuthal angle of each ROI [deg], finite.
    t_age : float or array_like, shape (n_age,), optional
        Sample age [s]: a float (scalar coordinate: the age of one window) or, with 3-D
        ``values``, the age of each slice (distinct, increasing).
    roi : array_like of int, shape (n_roi,), optional
        ROI labels (distinct integers); default 0 … n_roi − 1.
    attrs : dict, optional
        Extra attributes (provenance) copied onto the Dataset.

    Returns
    -------
    xarray.Dataset
        ``g2`` (and ``g2_err``) with dims ``(roi, tau)`` (or ``(t_age, roi, tau)``),
        coords ``tau`` [s], ``roi``, and ``q(roi)`` [1/Å], ``phi(roi)`` [deg],
        ``t_age`` [s] when given.

    Raises
    ------
    G2Error
        With a message naming the problem for any invalid input.
    """
    v = _real_array("g2", values)
    aged = t_age is not None and np.ndim(t_age) > 0
    if v.ndim == 1:
        v = v[None]
    if aged:
        if v.ndim != 3:
            raise G2Error(f"with a sequence of t_age, g2 must be 3-D (t_age, roi, tau), got shape {v.shape}")
        dims: tuple[str, ...] = ("t_age", *G2_DIMS)
    elif v.ndim != 2:
        raise G2Error(
            f"g2 must be 1-D (tau,) or 2-D (roi, tau), got {v.ndim}-D shape {v.shape} "
            "(3-D needs t_age with one age per slice)"
        )
    else:
        dims = G2_DIMS
    n_roi, n_tau = v.shape[-2], v.shape[-1]
    if n_roi < 1 or n_tau < 1:
        raise G2Error(f"g2 is empty (shape {v.shape})")
    t = _check_tau(tau, n_tau)

    data_vars: dict[str, Any] = {"g2": (dims, v, {"long_name": "intensity autocorrelation g2", "units": "1"})}
    if g2_err is not None:
        e = _real_array("g2_err", g2_err)
        if e.ndim == 1 and v.shape[:-1] == (1,) * (v.ndim - 1):
            e = e.reshape(v.shape)
        if e.shape != v.shape:
            raise G2Error(f"g2_err has shape {e.shape} but g2 has shape {v.shape}")
        neg = e < 0
        if neg.any():
            where = np.argwhere(neg)[0].tolist()
            raise G2Error(
                f"g2_err must not be negative; {int(neg.sum())} value(s) are < 0, first at index {where} "
                f"(= {e[tuple(where)]!r}). Pass standard errors, not signed residuals"
            )
        data_vars["g2_err"] = (dims, e, {"long_name": "standard error of g2", "units": "1"})

    if roi is None:
        roi_arr = np.arange(n_roi)
    else:
        roi_arr = np.atleast_1d(np.asarray(roi))
        if roi_arr.dtype.kind not in "iu" or roi_arr.shape != (n_roi,):
            raise G2Error(f"roi must hold {n_roi} integer label(s), got {roi_arr.dtype} shape {roi_arr.shape}")
        if np.unique(roi_arr).size != n_roi:
            raise G2Error(f"roi labels must be distinct, got {roi_arr.tolist()}")
    coords: dict[str, Any] = {
        "tau": ("tau", t, {"long_name": "lag time", "units": "s"}),
        "roi": ("roi", roi_arr, {"long_name": "ROI label", "units": "1"}),
    }
    if q is not None:
        qa = _roi_vector("q", q, n_roi, "1/Å")
        if np.any(qa <= 0):
            raise G2Error(f"q must be > 0 [1/Å], got {qa.tolist()}")
        coords["q"] = ("roi", qa, {"long_name": "scattering vector", "units": "1/Å"})
    if phi is not None:
        coords["phi"] = ("roi", _roi_vector("phi", phi, n_roi, "deg"), {"long_name": "azimuthal angle", "units": "deg"})
    if t_age is not None:
        ta = _real_array("t_age", t_age)
        if not np.all(np.isfinite(ta)):
            raise G2Error(f"t_age must be finite [s], got {ta.tolist()}")
        age_attrs = {"long_name": "sample age", "units": "s"}
        if aged:
            if ta.ndim != 1 or ta.size != v.shape[0]:
                raise G2Error(f"t_age has shape {ta.shape} but g2 has {v.shape[0]} age slice(s)")
            if np.any(np.diff(ta) <= 0):
                raise G2Error(f"t_age must be strictly increasing [s], got {ta.tolist()}")
            coords["t_age"] = ("t_age", ta, age_attrs)
        else:
            coords["t_age"] = ((), float(ta), age_attrs)
    return xr.Dataset(data_vars, coords=coords, attrs=dict(attrs or {}))


def validate_g2(ds: xr.Dataset) -> xr.Dataset:
    """Check that ``ds`` is a valid g2 Dataset and return it unchanged.

    Rebuilds the schema part through :func:`g2` (same checks and messages for Datasets
    made by hand or read from NetCDF) and checks the ``units`` attributes that are
    present against ``xpcsnb.core.g2.G2_UNITS``. Extra variables and coordinates are ignored.

    Raises
    ------
    G2Error
        If ``ds`` is not a Dataset, lacks ``g2``, has other dims or units, or any
        value breaks the rules of :func:`g2`.
    """
    if not isinstance(ds, xr.Dataset):
        raise G2Error(f"expected an xarray.Dataset, got {type(ds).__name__}")
    if "g2" not in ds:
        raise G2Error(f"the Dataset has no 'g2' variable (variables: {list(ds.data_vars)})")
    aged = "t_age" in ds["g2"].dims
    expected = ("t_age", *G2_DIMS) if aged else G2_DIMS
    if ds["g2"].dims != expected:
        raise G2Error(f"g2 must have dims {expected}, got {ds['g2'].dims}; transpose or rename the dims")
    if "g2_err" in ds and set(ds["g2_err"].dims) != set(expected):
        raise G2Error(f"g2_err must have the dims of g2 {expected}, got {ds['g2_err'].dims}")
    for name in ("q", "phi"):
        if name in ds.coords and ds[name].dims != ("roi",):
            raise G2Error(f"{name} must be a coordinate along roi, got dims {ds[name].dims}")
    if "tau" not in ds.coords:
        raise G2Error("the Dataset has no 'tau' coordinate (lag times [s])")
    for name, unit in G2_UNITS.items():
        if name in ds.variables and "units" in ds[name].attrs and str(ds[name].attrs["units"]) != unit:
            raise G2Error(f"{name} must be in {unit!r}, got units {ds[name].attrs['units']!r}; convert it first")

    def get(name: str) -> Any:
        return ds[name].values if name in ds.variables else None

    g2(
        ds["g2"].values,
        tau=ds["tau"].values,
        q=get("q"),
        g2_err=ds["g2_err"].transpose(*expected).values if "g2_err" in ds else None,
        phi=get("phi"),
        t_age=get("t_age"),
        roi=get("roi"),
    )
    return ds


class ValidPoints(NamedTuple):
    """The points of a g2 Dataset that a fit may use.

    Attributes
    ----------
    mask : xarray.DataArray of bool
        True where the point is usable; dims of ``g2``.
    n_excluded : int
        Number of excluded points (non-finite g2, or g2_err non-finite or <= 0).
    """

    mask: xr.DataArray
    n_excluded: int


def valid_points(ds: xr.Dataset) -> ValidPoints:
    """The one rule of which g2 points are data: finite g2 and, with ``g2_err``, a finite error > 0.

    Points that fail it (APS files hold zeros where the correlator had no data) are
    excluded from every fit and counted, never fitted silently.

    Parameters
    ----------
    ds : xarray.Dataset
        A g2 Dataset (see :func:`g2`); it is validated first.

    Returns
    -------
    ValidPoints
        ``mask`` (bool, dims of ``g2``) and ``n_excluded``; per-ROI counts are
        ``(~mask).sum("tau")``.
    """
    validate_g2(ds)
    ok = np.isfinite(ds["g2"].values)
    if "g2_err" in ds:
        e = ds["g2_err"].transpose(*ds["g2"].dims).values
        ok &= np.isfinite(e) & (e > 0)
    mask = xr.DataArray(ok, dims=ds["g2"].dims, coords=ds["g2"].coords, name="valid",
                        attrs={"long_name": "usable g2 point (finite g2, finite g2_err > 0)", "units": "1"})
    return ValidPoints(mask, int(ok.size - ok.sum()))
