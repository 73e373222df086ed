"""Matplotlib views of one-time g2 data, g2 fits and Γ(q) rate laws (matplotlib imported lazily)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import G2Error
from ..core.g2 import valid_points, validate_g2
from ..core.units import pretty_unit

__all__ = ["LAYOUTS", "model_curves", "plot_g2", "plot_rates"]

#: Layouts of :func:`plot_g2`.
LAYOUTS = ("grid", "overlay")


def _model_function(name: str) -> tuple[Callable[..., Any], tuple[str, ...]]:
    """``f(tau (1, n_tau), *params (n_roi, 1))`` and its parameter names, from the registered g2 model."""
    import jax
    import jax.numpy as jnp

    from ..models import get_model, model_names
    from ..models.base import ModelError

    try:
        mdl = get_model(name)
    except ModelError:
        mdl = None
    if mdl is None or mdl.kind != "g2":
        g2_names = [n for n in model_names() if get_model(n).kind == "g2"]
        raise G2Error(f"the fit's model {name!r} is not a one-time g2 model; choose from {g2_names} "
                      "(two-time fits are drawn by xpcsnb.plot.twotime.plot_fit)")

    def curves(tau: np.ndarray, *args: np.ndarray) -> np.ndarray:
        theta = jnp.asarray(np.concatenate(args, axis=1))  # (n_roi, P)
        return np.asarray(jax.vmap(mdl.signal, in_axes=(0, None))(theta, jnp.asarray(tau[0])))

    return curves, mdl.parameter_names


def model_curves(fit: Any, tau: np.ndarray, roi: np.ndarray) -> np.ndarray:
    """Model g2 of each ROI at ``tau`` [s], shape (n_roi, n_tau).

    Parameters
    ----------
    fit : xarray.Dataset or callable
        A g2 NLSQ result (``g2_nlsq_coefficients(roi, param)``, ``attrs["model"]`` one of
        the one-time models) or a callable ``fit(tau) -> (n_roi, n_tau) or (n_tau,)``.
    tau : ndarray, shape (n_tau,)
        Lag times [s].
    roi : ndarray, shape (n_roi,)
        ROI labels of the data; a result must hold each of them.
    """
    tau = np.asarray(tau, dtype=float)
    if callable(fit):
        out = np.asarray(fit(tau), dtype=float)
        out = np.broadcast_to(out, (roi.size, tau.size)) if out.ndim == 1 else out
        if out.shape != (roi.size, tau.size):
            raise G2Error(f"the fit callable returned shape {out.shape}; expected ({roi.size}, {tau.size}) or "
                          f"({tau.size},) for fit(tau)")
        return out
    if not isinstance(fit, xr.Dataset) or "g2_nlsq_coefficients" not in fit:
        raise G2Error("fit must be a g2 NLSQ result Dataset (with g2_nlsq_coefficients(roi, param)) or a callable "
                      f"fit(tau), got {type(fit).__name__}")
    if "model" not in fit.attrs:
        raise G2Error("the fit result has no attrs['model'] naming its g2 model")
    func, names = _model_function(str(fit.attrs["model"]))
    coef = fit["g2_nlsq_coefficients"]
    missing = [n for n in names if n not in [str(p) for p in coef["param"].values]]
    if missing:
        raise G2Error(f"the fit result lacks the parameter(s) {missing} of model {fit.attrs['model']!r}")
    absent = np.setdiff1d(roi, coef["roi"].values)
    if absent.size:
        raise G2Error(f"the fit result has no ROI {absent.tolist()} of the data; fit the same g2 Dataset")
    sel = coef.sel(roi=roi)
    args = [sel.sel(param=n).values[:, None] for n in names]
    return np.asarray(func(tau[None, :], *args), dtype=float)


def _pick(n: int, max_panels: int) -> np.ndarray:
    if n <= max_panels:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_panels)).astype(int))


def _label(ds: xr.Dataset, k: int) -> str:
    parts = []
    if "q" in ds.coords:
        parts.append(f"q = {float(ds['q'][k]):.4g} Å⁻¹")
    if "phi" in ds.coords:
        parts.append(f"φ = {float(ds['phi'][k]):.3g}°")
    return ", ".join(parts) or f"ROI {int(ds['roi'][k])}"


def _success(fit: Any, roi: np.ndarray) -> np.ndarray:
    if isinstance(fit, xr.Dataset) and "g2_nlsq_success" in fit and fit["g2_nlsq_success"].dims == ("roi",):
        return fit["g2_nlsq_success"].sel(roi=roi).values.astype(bool)
    return np.ones(roi.size, bool)


def plot_g2(
    g2ds: xr.Dataset,
    fit: Any | None = None,
    *,
    layout: str = "grid",
    residuals: bool = True,
    rois: Sequence[int] | None = None,
    max_panels: int = 16,
    ncols: int = 4,
    figsize_per: float = 2.6,
    cmap: str = "viridis",
) -> Any:
    """g2(τ) per ROI on a log τ axis, data ± g2_err, fitted curves and residuals.

    Parameters
    ----------
    g2ds : xarray.Dataset
        A g2 Dataset of the data model (``g2(roi, tau)``); select one age of an
        age-resolved Dataset first (``ds.isel(t_age=k)``).
    fit : xarray.Dataset or callable, optional
        A g2 NLSQ result or ``fit(tau)`` (see :func:`model_curves`); drawn as lines
        (dashed where ``g2_nlsq_success`` is False), with residual panels.
    layout : {"grid", "overlay"}
        One panel per ROI, or all curves on one axis coloured by q (colour bar; by ROI
        label when q is not known).
    residuals : bool
        Add residual panels under the data when a fit is given: (g2 − fit)/g2_err, or
        g2 − fit without errors.
    rois : sequence of int, optional
        ROI labels to draw; default all, or ``max_panels`` evenly spaced ones.
    max_panels : int
        Most ROIs drawn when ``rois`` is not given.
    ncols : int
        Panels per row of the grid.
    figsize_per : float
        Size of one panel [inch].
    cmap : str
        Colour map of the overlay.

    Returns
    -------
    matplotlib.figure.Figure
        Excluded points (non-finite, or g2_err <= 0; :func:`xpcsnb.core.g2.valid_points`)
        are drawn as grey crosses where finite and never enter the residuals.
    """
    import matplotlib.pyplot as plt

    validate_g2(g2ds)
    if layout not in LAYOUTS:
        raise G2Error(f"unknown layout {layout!r}; choose one of {LAYOUTS}")
    if "t_age" in g2ds["g2"].dims:
        raise G2Error("an age-resolved g2 has a t_age dimension: plot one age, e.g. plot_g2(ds.isel(t_age=0))")
    if rois is not None:
        labels = np.atleast_1d(np.asarray(rois))
        missing = np.setdiff1d(labels, g2ds["roi"].values)
        if missing.size:
            raise G2Error(f"no ROI {missing.tolist()} in the Dataset; its labels are {g2ds['roi'].values.tolist()}")
        ds = g2ds.sel(roi=labels)
    else:
        ds = g2ds.isel(roi=_pick(g2ds.sizes["roi"], int(max_panels)))
    tau = ds["tau"].values
    y = ds["g2"].values
    err = ds["g2_err"].values if "g2_err" in ds else None
    ok = valid_points(ds).mask.values
    roi = ds["roi"].values
    n = roi.size
    dense = np.geomspace(tau[0], tau[-1], 200)
    if isinstance(fit, xr.Dataset) and "g2_nlsq_chi2" in fit:
        from ..fit.g2nlsq import check_fitted_on

        check_fitted_on(ds, fit)
    model = model_curves(fit, dense, roi) if fit is not None else None
    at_data = model_curves(fit, tau, roi) if fit is not None else None
    success = _success(fit, roi)
    with_res = residuals and fit is not None
    res_label = "(g2 − fit)/σ" if err is not None else "g2 − fit"

    def draw(ax, k, colour, label=None):
        good = ok[k]
        if err is not None:
            ax.errorbar(tau[good], y[k, good], err[k, good], fmt="o", ms=3, color=colour, lw=0.8, label=label)
        else:
            ax.plot(tau[good], y[k, good], "o", ms=3, color=colour, label=label)
        bad = ~good & np.isfinite(y[k])
        if bad.any():
            ax.plot(tau[bad], y[k, bad], "x", ms=4, color="0.6")
        if model is not None:
            ax.plot(dense, model[k], "-" if success[k] else "--", color="k" if layout == "grid" else colour, lw=1)

    def draw_res(ax, k, colour):
        good = ok[k]
        r = y[k, good] - at_data[k, good]
        if err is not None:
            r = r / err[k, good]
        ax.plot(tau[good], r, "o", ms=2.5, color=colour)
        ax.axhline(0.0, color="0.5", lw=0.8)

    if layout == "overlay":
        if with_res:
            fig, (ax, axr) = plt.subplots(2, 1, sharex=True, height_ratios=(3, 1), layout="constrained",
                                          figsize=(2.4 * figsize_per + 1.0, 2.4 * figsize_per))
        else:
            fig, ax = plt.subplots(layout="constrained", figsize=(2.4 * figsize_per + 1.0, 1.8 * figsize_per))
            axr = None
        has_q = "q" in ds.coords
        cval = ds["q"].values if has_q else roi.astype(float)
        norm = plt.Normalize(float(cval.min()), float(cval.max()) if cval.max() > cval.min() else float(cval.min()) + 1)
        cm = plt.get_cmap(cmap)
        for k in range(n):
            draw(ax, k, cm(norm(cval[k])))
            if axr is not None:
                draw_res(axr, k, cm(norm(cval[k])))
        sm = plt.cm.ScalarMappable(norm=norm, cmap=cm)
        fig.colorbar(sm, ax=ax, label="q [Å⁻¹]" if has_q else "ROI label")
        ax.set(xscale="log", ylabel="g2")
        (axr if axr is not None else ax).set_xlabel("τ [s]")
        if axr is not None:
            axr.set(xscale="log", ylabel=res_label)
        return fig

    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    rows_per = 2 if with_res else 1
    fig = plt.figure(figsize=(figsize_per * ncols + 0.5, figsize_per * nrows * (1.35 if with_res else 1.0)),
                     layout="constrained")
    gs = fig.add_gridspec(nrows * rows_per, ncols, height_ratios=([3, 1] if with_res else [1]) * nrows)
    for k in range(n):
        r, c = divmod(k, ncols)
        ax = fig.add_subplot(gs[r * rows_per, c])
        draw(ax, k, "C0")
        ax.set_xscale("log")
        ax.set_title(_label(ds, k), fontsize="small")
        if c == 0:
            ax.set_ylabel("g2")
        if with_res:
            axr = fig.add_subplot(gs[r * rows_per + 1, c], sharex=ax)
            draw_res(axr, k, "C0")
            axr.set_xlabel("τ [s]")
            if c == 0:
                axr.set_ylabel(res_label)
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("τ [s]")
    return fig


def plot_rates(rates: xr.Dataset, *, ax: Any | None = None) -> Any:
    """Γ(q) against q on log–log axes, ± stderr, with the fitted law Γ = D q^p.

    Parameters
    ----------
    rates : xarray.Dataset
        The output of :func:`xpcsnb.fit.rates.fit_rates`.
    ax : matplotlib Axes, optional
        Draw into this axis (default: a new figure).

    Returns
    -------
    matplotlib.figure.Figure
        ROIs not used in the fit are drawn hollow.
    """
    import matplotlib.pyplot as plt

    needed = ("gamma", "gamma_err", "used", "gamma_curve", "D", "p")
    if not isinstance(rates, xr.Dataset) or any(v not in rates for v in needed):
        raise G2Error(f"plot_rates needs the Dataset of fit_rates (variables {list(needed)})")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 3.6), layout="constrained")
    else:
        fig = ax.figure
    q, g, e, used = rates["q"].values, rates["gamma"].values, rates["gamma_err"].values, rates["used"].values
    ax.errorbar(q[used], g[used], e[used], fmt="o", color="C0", ms=4, label="per-ROI Γ")
    shown = ~used & np.isfinite(g) & (g > 0) & np.isfinite(q) & (q > 0)
    if shown.any():
        ax.plot(q[shown], g[shown], "o", mfc="none", color="0.5", ms=4, label="excluded")
    D, p = float(rates["D"]), float(rates["p"])
    unit = pretty_unit(str(rates["D"].attrs.get("units", "")))
    text = f"D = {D:.4g} ± {float(rates['D_stderr']):.2g} {unit}"
    text += f", p = {p:.3g} ± {float(rates['p_stderr']):.2g}" if "p_stderr" in rates else f", p = {p:g} (fixed)"
    ax.plot(rates["q_curve"].values, rates["gamma_curve"].values, "k-", lw=1, label=text)
    ax.set(xscale="log", yscale="log", xlabel="q [Å⁻¹]", ylabel="Γ [s⁻¹]")
    ax.legend(fontsize="small")
    return fig
