"""g2 cuts of two-time correlations: the mean over each diagonal |t1 − t2| = τ, age-resolved.

They take every two-time layout: the ``(roi, t1, t2)`` output of
:func:`xpcsnb.correlate.two_time`, the data model's ``(phi, t1, t2)`` and multi-q
``(q, phi, t1, t2)`` Datasets, and return the g2 Dataset of the data model
(:func:`xpcsnb.core.g2.g2`) with one ROI per leading index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import XpcsError
from ..core.g2 import g2 as make_g2
from ..core.twotime import q_value, time_step
from .multitau import _known
from .stream import CorrelatorError

__all__ = ["g2_age_resolved", "g2_from_c2"]


def _diagonal_means(c2: np.ndarray) -> np.ndarray:
    """Mean of each upper diagonal k = 0 … N−1 of the last two axes."""
    n = c2.shape[-1]
    return np.stack([np.diagonal(c2, offset=k, axis1=-2, axis2=-1).mean(axis=-1) for k in range(n)], axis=-1)


def _flat_rois(ds: xr.Dataset) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
    """C2 as ``(n_roi, N, N)``, the g2 ROI keywords (roi, q, phi) and the other per-ROI coordinates.

    ``(roi, t1, t2)`` (the output of :func:`two_time`) keeps its labels and coordinates;
    ``(phi, t1, t2)`` gives one ROI per angle (``roi = 0 … n_phi − 1``, ``q(roi)`` its q);
    ``(q, phi, t1, t2)`` one ROI per (q, φ), q-major (``roi = a·n_phi + k``). Coordinates
    along the leading dims (``npix``, ``ring``, ``bin``, ...) follow their ROIs.
    """
    if not isinstance(ds, xr.Dataset) or "c2" not in ds:
        raise CorrelatorError("expected a Dataset with a 'c2' variable")
    dims = ds["c2"].dims
    if dims not in (("roi", "t1", "t2"), ("phi", "t1", "t2"), ("q", "phi", "t1", "t2")):
        raise CorrelatorError(f"c2 must have dims (roi, t1, t2), (phi, t1, t2) or (q, phi, t1, t2), got {dims}")
    time_step(ds)  # a uniform time axis, t1 == t2
    t_units = str(ds["t1"].attrs.get("units", "s"))
    if t_units != "s":
        raise CorrelatorError(f"t1 is in {t_units!r}, not seconds, and a g2 has lag times tau in s: give the frames "
                              "their times first, e.g. ds.assign_coords(t1=ds.t1 * dt, t2=ds.t2 * dt) with dt the "
                              "frame time [s] and units 's' on both")
    c2 = ds["c2"].values
    lead = dims[:-2]
    n_roi = int(np.prod([ds.sizes[d] for d in lead]))

    def flat(da: xr.DataArray) -> np.ndarray:  # a coordinate over some of the leading dims, per ROI
        return da.broadcast_like(ds["c2"].isel(t1=0, t2=0, drop=True)).transpose(*lead).values.reshape(n_roi)

    def known(name: str, positive: bool = False) -> np.ndarray | None:
        ok = name in ds.coords and set(ds[name].dims) <= set(lead) and ds[name].ndim > 0
        return _known(flat(ds[name]), positive) if ok else None

    if lead == ("roi",):
        labels = ds["roi"].values
        rois = {"roi": labels if labels.dtype.kind in "iu" else np.arange(n_roi),
                "q": known("q", positive=True), "phi": known("phi")}
    else:
        q = known("q", positive=True)
        if q is None and ds.attrs.get("q_units", "1/Å") == "1/Å":  # a placeholder q ('arbitrary' units) is no q
            try:
                q = _known(np.full(n_roi, q_value(ds)), positive=True)
            except XpcsError:
                q = None
        rois = {"roi": np.arange(n_roi), "q": q, "phi": known("phi")}
    extra = {k: ("roi", flat(v), v.attrs) for k, v in ds.coords.items()
             if k not in ("roi", "q", "phi", "t1", "t2") and v.ndim > 0 and set(v.dims) <= set(lead)}
    return c2.reshape((n_roi,) + c2.shape[-2:]), rois, extra


def _g2_from_means(ds: xr.Dataset, rois: dict[str, Any], extra: dict[str, Any], means: np.ndarray, t_age: Any,
                   attrs: dict[str, Any]) -> xr.Dataset:
    """The g2 Dataset of the data model from diagonal means ``(..., roi, τ = 0 … N−1)``.

    τ = 0 (the raw diagonal, shot noise included) is not a g2 lag: it is kept as
    ``c2_diagonal(..., roi)``; ``rois`` and ``extra`` come from :func:`_flat_rois`.
    """
    t = ds["t1"].values
    out = make_g2(means[..., 1:], tau=t[1:] - t[0], t_age=t_age, attrs=attrs, **rois)
    dims = out["g2"].dims[:-1]
    out["c2_diagonal"] = (dims, means[..., 0], {"long_name": "mean of the C2 diagonal (tau = 0, shot noise included)",
                                                "units": "1"})
    return out.assign_coords(extra)


def g2_from_c2(ds: xr.Dataset) -> xr.Dataset:
    """g2(τ) as the mean of C2 over each diagonal ``|t1 − t2|`` = τ, τ = 1 … N−1 frames.

    Works on the (roi, t1, t2) output of :func:`two_time` and on the data model's
    (phi, t1, t2) and multi-q (q, phi, t1, t2) Datasets.

    Returns
    -------
    xarray.Dataset
        The g2 Dataset of the data model (:func:`xpcsnb.core.g2.g2`): ``g2(roi, tau)``,
        ``tau`` = t − t0 from the first lag [s], ``q(roi)`` [1/Å] and ``phi(roi)`` [deg]
        where known (one ROI per angle of a (phi, t1, t2) Dataset, one per (q, φ) pair,
        q-major, of a multi-q one); the τ = 0 raw diagonal
        mean (shot noise included) as ``c2_diagonal(roi)``.
    """
    c2, rois, extra = _flat_rois(ds)
    return _g2_from_means(ds, rois, extra, _diagonal_means(c2), None,
                          {"source_definition": "mean of C2 over |t1 - t2| = tau"})


def g2_age_resolved(ds: xr.Dataset, n_ages: int = 5, age_edges: Any | None = None) -> xr.Dataset:
    """Age-resolved g2: C2(t_a − τ/2, t_a + τ/2) averaged over age bins.

    The age of the element (i, j) is ``(t_i + t_j)/2``; for each lag τ = ``|t_i − t_j|``
    the elements of the upper triangle are averaged within each age bin.

    Parameters
    ----------
    ds : Dataset
        ``c2(roi, t1, t2)``, ``c2(phi, t1, t2)`` or ``c2(q, phi, t1, t2)``.
    n_ages : int
        Number of equal-width age bins over [t_0, t_{N−1}] (ignored with ``age_edges``).
    age_edges : array_like, optional
        Increasing age bin edges [s].

    Returns
    -------
    xarray.Dataset
        The g2 Dataset of the data model with a leading age dimension:
        ``g2(t_age, roi, tau)``, ``t_age`` the bin centres [s], τ from the first lag
        (ROIs as in :func:`g2_from_c2`; the τ = 0 means as ``c2_diagonal(t_age, roi)``);
        NaN marks (age, τ) combinations that have no element (large τ at early or late
        ages) and is excluded by :func:`xpcsnb.core.g2.valid_points`.
    """
    c2, rois, extra = _flat_rois(ds)
    t = ds["t1"].values
    n = t.size
    if age_edges is None:
        if int(n_ages) != n_ages or n_ages < 1:
            raise CorrelatorError(f"n_ages must be an integer >= 1, got {n_ages!r}")
        edges = np.linspace(t[0], t[-1], int(n_ages) + 1)
        edges[-1] = np.nextafter(edges[-1], np.inf)
    else:
        edges = np.asarray(age_edges, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise CorrelatorError("age_edges must be at least two strictly increasing values [s]")
    nb = edges.size - 1
    out = np.full((c2.shape[0], nb, n), np.nan)
    filled = np.zeros(nb, dtype=bool)  # bins holding at least one pair at a lag > 0
    for k in range(n):
        diag = np.diagonal(c2, offset=k, axis1=1, axis2=2)  # (lead, n − k)
        age = 0.5 * (t[: n - k] + t[k:])
        b = np.digitize(age, edges) - 1
        ok = (b >= 0) & (b < nb)
        cnt = np.bincount(b[ok], minlength=nb)
        if k:
            filled |= cnt > 0
        for li in range(c2.shape[0]):
            s = np.bincount(b[ok], weights=diag[li, ok], minlength=nb)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[li, :, k] = np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)
    if not np.all(filled):
        empty = [f"[{edges[b]:.6g}, {edges[b + 1]:.6g})" for b in np.flatnonzero(~filled)]
        raise CorrelatorError(f"age bin(s) {', '.join(empty)} s hold no pair of frames at a lag > 0: the ages "
                              f"(t1 + t2)/2 of this Dataset span [{0.5 * (t[0] + t[1]):.6g}, "
                              f"{0.5 * (t[-2] + t[-1]):.6g}] s; choose age_edges inside that range")
    return _g2_from_means(ds, rois, extra, np.moveaxis(out, 1, 0), 0.5 * (edges[:-1] + edges[1:]),
                          {"age_edges": edges, "age_edges_units": "s",
                           "source_definition": "mean of C2 over |t1 - t2| = tau within (t1 + t2)/2 age bins"})
