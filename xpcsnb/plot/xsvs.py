"""Figures of XSVS results: P(K) with negative-binomial overlays, β(T) with its fit, K̄ traces.

matplotlib functions (``plot_*``) import matplotlib lazily; the HoloViews variants
(``hv_*``) import holoviews lazily and are meant for notebooks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..xsvs.contrast import nb_pmf
from ..xsvs.dynamics import evaluate_dynamics

__all__ = ["plot_histograms", "plot_contrast", "plot_mean_count_trace", "hv_histograms", "hv_contrast"]


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.6))
    return ax


def _roi_label(ds: xr.Dataset, roi: int) -> str:
    q = float(ds["q"].sel(roi=roi)) if "q" in ds.coords else np.nan
    phi = float(ds["phi"].sel(roi=roi)) if "phi" in ds.coords else np.nan
    text = f"ROI {roi}"
    if np.isfinite(q):
        text += f", q = {q:.3g} Å⁻¹"
    if np.isfinite(phi):
        text += f", φ = {phi:.0f}°"
    return text


def _k_range(ds: xr.Dataset, roi: int, p_min: float) -> np.ndarray:
    P = ds["P"].sel(roi=roi)
    used = (P > p_min).any("exposure").values
    k_hi = int(np.flatnonzero(used).max()) if used.any() else 2
    return np.arange(max(k_hi, 2) + 1)


def plot_histograms(ds: xr.Dataset, roi: int | None = None, *, ax: Any = None, poisson: bool = True,
                    p_min: float = 1e-6) -> Any:
    """P(K) per exposure for one ROI, with the fitted negative-binomial curves.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`xpcsnb.xsvs.visibility`.
    roi : int, optional
        ROI label (default: the first).
    ax : matplotlib Axes, optional
    poisson : bool
        Also draw the Poisson law of the same mean (dotted).
    p_min : float
        Bins with P below this in every exposure are not drawn.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    roi = int(ds["roi"].values[0]) if roi is None else int(roi)
    k = _k_range(ds, roi, p_min)
    sel = ds.sel(roi=roi, k=k)
    p_low = np.inf
    for i, T in enumerate(ds["exposure"].values):
        s = sel.sel(exposure=T)
        color = f"C{i % 10}"
        P, err = s["P"].values, s["P_err"].values
        show = P > 0
        if show.any():
            p_low = min(p_low, P[show].min())
        # lower error bars clipped at 90 % of P so that they stay on the log axis
        yerr = np.stack([np.minimum(err[show], 0.9 * P[show]), err[show]])
        ax.errorbar(k[show], P[show], yerr, fmt="o", ms=3, color=color, label=f"{T * 1e3:.3g} ms")
        mean, beta = float(s["mean_count"]), float(s["beta"])
        if np.isfinite(beta):
            ax.plot(k, nb_pmf(k, mean, beta), "-", color=color, lw=1)
        if poisson:
            ax.plot(k, nb_pmf(k, mean, 0.0), ":", color=color, lw=0.8)
    ax.set_yscale("log")
    if np.isfinite(p_low):
        ax.set_ylim(max(p_low, p_min) / 5, 2.0)
    ax.set_xlabel("K [photons]")
    ax.set_ylabel("P(K)")
    ax.set_title(_roi_label(ds, roi) + "\nlines: NB fit, dotted: Poisson", fontsize=9)
    ax.legend(title="T", fontsize=7, frameon=False)
    return ax


def _contrast_limits(ds: xr.Dataset, estimator: str) -> tuple[float, float]:
    """y range of a contrast panel from the well-measured points, not the widest error bars.

    The shortest exposures hold few photons, so their contrast scatters with error bars many
    times the contrast itself. The range spans the points whose error is at most three times
    the median error (value ± error, 8 % margin); noisier points may fall off the axes.
    """
    v = np.asarray(ds[estimator].values, float).ravel()
    e = np.asarray(ds[f"{estimator}_err"].values, float).ravel()
    e = np.where(np.isfinite(e), e, np.inf)
    ok = np.isfinite(v)
    if not ok.any():
        return 0.0, 1.0
    good = ok & (e <= 3.0 * np.median(e[ok]))
    if not good.any():
        good = ok
    lo = float(np.min(v[good] - np.where(np.isfinite(e[good]), e[good], 0.0)))
    hi = float(np.max(v[good] + np.where(np.isfinite(e[good]), e[good], 0.0)))
    pad = 0.08 * max(hi - lo, 1e-3)
    return lo - pad, hi + pad


def plot_contrast(ds: xr.Dataset, rois: Any = None, *, ax: Any = None, estimator: str = "beta",
                  n_model: int = 200) -> Any:
    """β(T) per ROI with error bars and, when fitted, the β(T) model.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of :func:`xpcsnb.xsvs.visibility`, optionally of
        :func:`xpcsnb.xsvs.fit_dynamics`.
    rois : sequence of int, optional
        ROI labels (default: all).
    ax : matplotlib Axes, optional
    estimator : str
        Contrast variable (``"beta"``, ``"beta_ratio"``, ``"beta_variance"``, ...).
    n_model : int
        Points of the model curve.

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    rois = ds["roi"].values if rois is None else np.atleast_1d(rois)
    T = ds["exposure"].values
    fitted = f"{estimator}_nlsq_coefficients" in ds
    if fitted:
        grid = np.geomspace(T.min() / 1.5, T.max() * 1.5, n_model)
        model = evaluate_dynamics(ds, grid, estimator=estimator)
    for i, r in enumerate(rois):
        color = f"C{i % 10}"
        s = ds.sel(roi=r)
        ax.errorbar(T, s[estimator].values, s[f"{estimator}_err"].values, fmt="o", ms=3, color=color,
                    label=_roi_label(ds, int(r)))
        if fitted:
            ax.plot(grid, model.sel(roi=r).values, "-", color=color, lw=1)
    ax.set_xscale("log")
    ax.set_ylim(*_contrast_limits(ds.sel(roi=rois), estimator))
    ax.set_xlabel("exposure T [s]")
    ax.set_ylabel(f"{estimator} (contrast, dimensionless)")
    if fitted:
        ax.set_title(f"lines: {ds[f'{estimator}_nlsq_coefficients'].attrs.get('model', '')} fit", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_mean_count_trace(ds: xr.Dataset, roi: int | None = None, *, ax: Any = None) -> Any:
    """Per-frame mean count K̄_f of one ROI for every exposure (drift, beam damage)."""
    ax = _axes(ax)
    roi = int(ds["roi"].values[0]) if roi is None else int(roi)
    for i, T in enumerate(ds["exposure"].values):
        tr = ds["mean_count_trace"].sel(roi=roi, exposure=T)
        ax.plot(ds["frame"].values, tr.values, ".-", ms=2, lw=0.6, color=f"C{i % 10}", label=f"{T * 1e3:.3g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("frame")
    ax.set_ylabel("K̄_f [photons]")
    ax.set_title(_roi_label(ds, roi), fontsize=9)
    ax.legend(title="T", fontsize=7, frameon=False)
    return ax


def _hv_opts(obj: Any, **opts: Any) -> Any:
    """Apply HoloViews options only when a plotting extension is loaded."""
    import holoviews as hv

    return obj.opts(**opts) if hv.Store.renderers else obj


def hv_histograms(ds: xr.Dataset, p_min: float = 1e-6) -> Any:
    """HoloViews HoloMap over ROIs of P(K) per exposure with NB curves (log y)."""
    import holoviews as hv

    def one(roi: int) -> Any:
        k = _k_range(ds, roi, p_min)
        items = []
        for T in ds["exposure"].values:
            s = ds.sel(roi=roi, exposure=T, k=k)
            P, err = s["P"].values, s["P_err"].values
            show = P > 0
            label = f"{T * 1e3:.3g} ms"
            items.append(hv.Scatter((k[show], P[show]), "K", "P", label=label))
            items.append(hv.ErrorBars((k[show], P[show], err[show]), "K", ["P", "P_err"]))
            if np.isfinite(float(s["beta"])):
                items.append(hv.Curve((k, nb_pmf(k, float(s["mean_count"]), float(s["beta"]))), "K", "P",
                                      label=label))
        return _hv_opts(hv.Overlay(items), logy=True, title=_roi_label(ds, roi))

    return hv.HoloMap({int(r): one(int(r)) for r in ds["roi"].values}, kdims="roi")


def hv_contrast(ds: xr.Dataset, estimator: str = "beta") -> Any:
    """HoloViews overlay of β(T) per ROI with error bars and the fitted model."""
    import holoviews as hv

    T = ds["exposure"].values
    fitted = f"{estimator}_nlsq_coefficients" in ds
    items = []
    if fitted:
        grid = np.geomspace(T.min() / 1.5, T.max() * 1.5, 200)
        model = evaluate_dynamics(ds, grid, estimator=estimator)
    for r in ds["roi"].values:
        s = ds.sel(roi=r)
        label = _roi_label(ds, int(r))
        items.append(hv.Scatter((T, s[estimator].values), "T", estimator, label=label))
        items.append(hv.ErrorBars((T, s[estimator].values, s[f"{estimator}_err"].values), "T", [estimator, "err"]))
        if fitted:
            items.append(hv.Curve((grid, model.sel(roi=r).values), "T", estimator, label=label))
    return _hv_opts(hv.Overlay(items), logx=True)
