"""Matplotlib views of two-time data and fits, single-q ``c2(phi, t1, t2)`` or multi-q ``c2(q, phi, t1, t2)``.

A multi-q Dataset is drawn as a grid: one row per q (:func:`plot_c2`) or per (q, φ) pair
(:func:`plot_fit`); ``q=`` selects the q values to draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import XpcsError

__all__ = ["plot_c2", "plot_fit"]


def _robust_limits(a: np.ndarray) -> tuple[float, float]:
    """1–99 percentiles of the off-diagonal values of ``a`` (..., N, N)."""
    off = a[..., ~np.eye(a.shape[-1], dtype=bool)]
    return float(np.percentile(off, 1)), float(np.percentile(off, 99))


def _unit(ds: xr.Dataset) -> str:
    return str(ds["t1"].attrs.get("units", "s"))


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise XpcsError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _rows(ds: xr.Dataset, q: Any, max_q: int) -> tuple[xr.Dataset, list[str], str]:
    """``ds`` as ``(q, phi, t1, t2)`` with the selected q values, their row labels and a note on what is left out."""
    if not isinstance(ds, xr.Dataset) or "c2" not in ds:
        raise XpcsError("expected a two-time Dataset with a 'c2' variable")
    dims = ds["c2"].dims
    if dims == ("phi", "t1", "t2"):
        if q is not None:
            raise XpcsError("q= selects q values of a multi-q Dataset; this Dataset holds one q")
        qv = ds["q"].values if "q" in ds.coords and ds["q"].ndim == 0 else ds.attrs.get("q")
        label = "" if qv is None else f"q = {float(qv):.4g} Å⁻¹"
        return ds.expand_dims("q_row"), [label], ""
    if dims != ("q", "phi", "t1", "t2"):
        raise XpcsError(f"c2 must have dims (phi, t1, t2) or (q, phi, t1, t2), got {dims}")
    avail = ds["q"].values
    if q is None:
        idx = np.arange(min(avail.size, max_q))
    elif isinstance(q, str) and q == "all":
        idx = np.arange(avail.size)
    else:
        try:
            req = np.atleast_1d(np.asarray(q, dtype=float))
        except (TypeError, ValueError):
            req = np.array([np.nan])
        if req.ndim != 1 or req.size == 0 or not np.all(np.isfinite(req)):
            raise XpcsError(f"q must be a q value [1/Å], a list of them or 'all', got {q!r}")
        idx = np.array([int(np.argmin(np.abs(avail - v))) for v in req])
        gaps = np.diff(np.sort(avail))
        tol = 0.5 * gaps.min() if gaps.size else 0.1 * avail[0]
        far = [float(v) for v, i in zip(req, idx) if abs(avail[i] - v) > tol]
        if far:
            raise XpcsError(f"no q near {far} Å⁻¹ in this Dataset; its q values are "
                            + ", ".join(f"{v:.6g}" for v in avail))
    note = f" (first {idx.size} of {avail.size} q; choose with q=[...])" if q is None and idx.size < avail.size else ""
    sub = ds.isel(q=idx).rename(q="q_row")
    return sub, [f"q = {float(v):.4g} Å⁻¹" for v in sub["q_row"].values], note


def plot_c2(ds: xr.Dataset, *, q: Any = None, max_angles: int = 6, max_q: int = 4, cmap: str = "viridis",
            figsize_per: float = 3.2) -> Any:
    """C2(t1, t2) per angle (columns) and per q (rows) on a common colour scale (1–99 percentiles off the diagonal).

    Parameters
    ----------
    ds : Dataset
        Two-time Dataset ``c2(phi, t1, t2)`` or ``c2(q, phi, t1, t2)``.
    q : float, sequence of float or "all", optional
        q values [1/Å] to draw (the nearest of the Dataset's, within half their
        spacing); default the first ``max_q``.
    max_angles, max_q : int
        At most this many angles (columns) and q values (rows).
    cmap : str
        Matplotlib colour map.
    figsize_per : float
        Size of one panel [inch].

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    max_angles, max_q = _check_count("max_angles", max_angles), _check_count("max_q", max_q)
    sub, labels, note = _rows(ds, q, max_q)
    n = min(sub.sizes["phi"], max_angles)
    c2 = sub["c2"].transpose("q_row", "phi", "t1", "t2").values[:, :n]
    rows = c2.shape[0]
    fig, axes = plt.subplots(rows, n, figsize=(figsize_per * n + 0.8, figsize_per * rows), squeeze=False,
                             layout="constrained")
    vmin, vmax = _robust_limits(c2)
    t = sub["t1"].values
    extent = (t[0], t[-1], t[0], t[-1])
    im = None
    for a in range(rows):
        for k in range(n):
            ax = axes[a, k]
            im = ax.imshow(c2[a, k], origin="lower", extent=extent, vmin=vmin, vmax=vmax, cmap=cmap)
            ax.set_title(", ".join(s for s in (labels[a] if rows > 1 else "", f"phi = {round(float(sub['phi'][k]), 2) + 0.0:g}°") if s),
                         fontsize=9 if rows > 1 else None)
            ax.set_xlabel(f"t2 [{_unit(sub)}]")
            if k == 0:
                ax.set_ylabel(f"t1 [{_unit(sub)}]")
    fig.colorbar(im, ax=axes[:, -1].tolist(), label="C2")
    if note:
        fig.suptitle(f"C2{note}")
    return fig


def _fit_values(res: xr.Dataset, name: str, sub: xr.Dataset) -> list[float]:
    """A per-fit scalar of ``res`` (one fit, or one per q of an independent multi-q fit) for each row of ``sub``."""
    da = res[name]
    if "q" in da.dims:
        return [float(da.sel(q=v)) for v in sub["q_row"].values]
    return [float(da)] * sub.sizes["q_row"]


def plot_fit(ds: xr.Dataset, res: xr.Dataset, *, q: Any = None, max_angles: int = 6, max_q: int = 4,
             figsize_per: float = 2.8) -> Any:
    """Data | model | weighted residual (columns) per angle, and per q of a multi-q Dataset (rows).

    Parameters
    ----------
    ds : Dataset
        The fitted two-time Dataset (single- or multi-q).
    res : Dataset
        Its NLSQ result with ``c2_model`` and ``c2_residual`` (``return_model=True``);
        a joint or an independent multi-q result for a multi-q Dataset.
    q, max_angles, max_q, figsize_per
        As in :func:`plot_c2` (rows are the (q, φ) pairs).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if not isinstance(res, xr.Dataset) or "c2_model" not in res or "c2_residual" not in res:
        raise XpcsError("the result has no c2_model: fit with return_model=True")
    if res["c2_model"].dims != ds["c2"].dims or res["c2_model"].shape != ds["c2"].shape:
        raise XpcsError(f"the result's c2_model {dict(res['c2_model'].sizes)} is not on the grid of this Dataset "
                        f"{dict(ds['c2'].sizes)}: plot a fit with the Dataset it was fitted to")
    max_angles, max_q = _check_count("max_angles", max_angles), _check_count("max_q", max_q)
    both = ds[["c2"]].assign(c2_model=res["c2_model"].variable, c2_residual=res["c2_residual"].variable)
    sub, labels, note = _rows(both, q, max_q)
    n = min(sub.sizes["phi"], max_angles)
    order = ("q_row", "phi", "t1", "t2")
    data, model, resid = (sub[v].transpose(*order).values[:, :n] for v in ("c2", "c2_model", "c2_residual"))
    pairs = [(a, k) for a in range(data.shape[0]) for k in range(n)]
    fig, axes = plt.subplots(len(pairs), 3, figsize=(3 * figsize_per + 1.5, figsize_per * len(pairs)), squeeze=False,
                             layout="constrained")
    t = sub["t1"].values
    extent = (t[0], t[-1], t[0], t[-1])
    vmin, vmax = _robust_limits(data)
    rlim = float(np.nanpercentile(np.abs(resid), 99)) or 1.0
    weighted = not str(res.attrs.get("weights", "")).startswith("unweighted")
    rtitle = "(data − model)/σ" if weighted else "data − model (unweighted)"
    for row, (a, k) in enumerate(pairs):
        where = ", ".join(s for s in (labels[a] if data.shape[0] > 1 else "", f"phi = {round(float(sub['phi'][k]), 2) + 0.0:g}°") if s)
        for col, (arr, kw, title) in enumerate((
            (data[a, k], dict(vmin=vmin, vmax=vmax, cmap="viridis"), "data"),
            (model[a, k], dict(vmin=vmin, vmax=vmax, cmap="viridis"), "model"),
            (resid[a, k], dict(vmin=-rlim, vmax=rlim, cmap="RdBu_r"), rtitle),
        )):
            ax = axes[row, col]
            im = ax.imshow(arr, origin="lower", extent=extent, **kw)
            ax.set_title(f"{title}, {where}", fontsize=9)
            ax.set_xlabel(f"t2 [{_unit(sub)}]")
            ax.set_ylabel(f"t1 [{_unit(sub)}]")
            if col != 0:
                fig.colorbar(im, ax=ax, shrink=0.8, label="C2" if col == 1 else rtitle)
    chi2 = _fit_values(res, "c2_nlsq_chi2_red", sub)
    ok = _fit_values(res, "c2_nlsq_success", sub)
    summary = (f"chi2_red = {chi2[0]:.4g}, success = {bool(ok[0])}" if len(set(chi2)) == 1
               else "; ".join(f"{lab}: chi2_red = {c:.4g}, success = {bool(s)}" for lab, c, s in zip(labels, chi2, ok)))
    fig.suptitle(f"{res.attrs.get('model')}: {summary}{note}")
    return fig
