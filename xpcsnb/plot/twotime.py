"""Matplotlib views of two-time data and fits."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

__all__ = ["plot_c2", "plot_fit"]


def _robust_limits(a: np.ndarray) -> tuple[float, float]:
    off = a[~np.eye(a.shape[-1], dtype=bool)] if a.ndim == 2 else a.ravel()
    return float(np.percentile(off, 1)), float(np.percentile(off, 99))


def _unit(ds: xr.Dataset) -> str:
    return str(ds["t1"].attrs.get("units", "s"))


def plot_c2(ds: xr.Dataset, *, max_angles: int = 6, cmap: str = "viridis", figsize_per: float = 3.2) -> Any:
    """C2(t1, t2) per angle on a common colour scale (1–99 percentiles off the diagonal).

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    n = min(ds.sizes["phi"], max_angles)
    fig, axes = plt.subplots(1, n, figsize=(figsize_per * n + 0.8, figsize_per), squeeze=False, layout="constrained")
    vmin, vmax = _robust_limits(ds["c2"].values[:n])
    t = ds["t1"].values
    extent = (t[0], t[-1], t[0], t[-1])
    im = None
    for k in range(n):
        ax = axes[0, k]
        im = ax.imshow(ds["c2"].values[k], origin="lower", extent=extent, vmin=vmin, vmax=vmax, cmap=cmap)
        ax.set_title(f"phi = {round(float(ds['phi'][k]), 2) + 0.0:g}°")
        ax.set_xlabel(f"t2 [{_unit(ds)}]")
        if k == 0:
            ax.set_ylabel(f"t1 [{_unit(ds)}]")
    fig.colorbar(im, ax=axes[0, -1], label="C2")
    return fig


def plot_fit(ds: xr.Dataset, res: xr.Dataset, *, max_angles: int = 6, figsize_per: float = 2.8) -> Any:
    """Data | model | weighted residual per angle (rows) for an NLSQ result with ``c2_model``.

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    if "c2_model" not in res:
        raise ValueError("the result has no c2_model: fit with return_model=True")
    n = min(ds.sizes["phi"], max_angles)
    fig, axes = plt.subplots(n, 3, figsize=(3 * figsize_per + 1.5, figsize_per * n), squeeze=False,
                             layout="constrained")
    t = ds["t1"].values
    extent = (t[0], t[-1], t[0], t[-1])
    vmin, vmax = _robust_limits(ds["c2"].values[:n])
    rlim = float(np.nanpercentile(np.abs(res["c2_residual"].values[:n]), 99)) or 1.0
    weighted = not str(res.attrs.get("weights", "")).startswith("unweighted")
    rtitle = "(data − model)/σ" if weighted else "data − model (unweighted)"
    for k in range(n):
        for col, (arr, kw, title) in enumerate((
            (ds["c2"].values[k], dict(vmin=vmin, vmax=vmax, cmap="viridis"), "data"),
            (res["c2_model"].values[k], dict(vmin=vmin, vmax=vmax, cmap="viridis"), "model"),
            (res["c2_residual"].values[k], dict(vmin=-rlim, vmax=rlim, cmap="RdBu_r"), rtitle),
        )):
            ax = axes[k, col]
            im = ax.imshow(arr, origin="lower", extent=extent, **kw)
            ax.set_title(f"{title}, phi = {round(float(ds['phi'][k]), 2) + 0.0:g}°", fontsize=9)
            ax.set_xlabel(f"t2 [{_unit(ds)}]")
            ax.set_ylabel(f"t1 [{_unit(ds)}]")
            if col != 0:
                fig.colorbar(im, ax=ax, shrink=0.8, label="C2" if col == 1 else rtitle)
    fig.suptitle(f"{res.attrs.get('model')}: chi2_red = {float(res['c2_nlsq_chi2_red']):.4g}, "
                 f"success = {bool(res['c2_nlsq_success'])}")
    return fig
