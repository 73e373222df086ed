"""Matplotlib figures of a CMC result for the diagnostics view, returned as PNG bytes.

PNG images render the same in every front end (JupyterLab, Notebook 7, Voila, VS Code)
inside an ``ipywidgets.Image``. Each function draws with the Agg canvas (no pyplot
state) and returns the encoded figure.

* :func:`trace_rank_png` — per parameter, the trace of every chain of one shard and
  its rank plot (Vehtari et al. 2021: rank histograms per chain are flat when the
  chains mix);
* :func:`pair_png` — pairwise scatter of the combined draws of a few parameters;
* :func:`posterior_png` — the combined posterior against the prior (truncated density)
  and the NLSQ estimate ± its standard error.

References
----------
A. Vehtari, A. Gelman, D. Simpson, B. Carpenter and P.-C. Bürkner, "Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC",
Bayesian Analysis 16, 667–718 (2021), doi:10.1214/20-BA1221.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ..core.units import pretty_unit
from ..fit.diagnostics import flatten_draws
from ..fit.priors import BoundedPrior

__all__ = ["draws_by_label", "trace_rank_png", "pair_png", "posterior_png"]

_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989")


def draws_by_label(posterior: xr.Dataset) -> dict[str, np.ndarray]:
    """``{label: (chain, draw)}`` with the labels of :func:`xpcsnb.fit.diagnostics.flatten_draws`."""
    labels, draws = flatten_draws(posterior)
    return {lab: draws[..., n] for n, lab in enumerate(labels)}


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=90, layout="constrained")


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks (0 … n−1, ties by order) of all draws (chain, draw), in their shape."""
    flat = x.ravel()
    order = np.argsort(flat, kind="stable")
    ranks = np.empty_like(order)
    ranks[order] = np.arange(flat.size)
    return ranks.reshape(x.shape)


def trace_rank_png(draws: Mapping[str, np.ndarray], names: Sequence[str], *, title: str = "",
                   units: Mapping[str, str] | None = None, bins: int = 20) -> bytes:
    """Trace (left) and rank histogram per chain (right) of each parameter in ``names``."""
    names = list(names)
    if not names:
        raise ValueError("choose at least one parameter to plot")
    fig = _figure(9, 1.9 * len(names) + 0.4)
    axes = fig.subplots(len(names), 2, squeeze=False, gridspec_kw={"width_ratios": (2.2, 1)})
    for row, name in enumerate(names):
        x = np.asarray(draws[name])
        unit = pretty_unit((units or {}).get(name, ""))
        ax_t, ax_r = axes[row]
        for c in range(x.shape[0]):
            ax_t.plot(x[c], lw=0.6, color=_COLOURS[c % len(_COLOURS)], label=f"chain {c}")
        ax_t.set_ylabel(f"{name}" + (f" [{unit}]" if unit else ""))
        ranks = _ranks(x)
        edges = np.linspace(0, ranks.size, bins + 1)
        for c in range(x.shape[0]):
            counts, _ = np.histogram(ranks[c], bins=edges)
            ax_r.stairs(counts, edges, color=_COLOURS[c % len(_COLOURS)], baseline=None)
        ax_r.axhline(x.shape[1] / bins, color="k", lw=0.7, ls="--")
        ax_r.set_yticks([])
        ax_r.set_ylim(bottom=0)
        if row == 0:
            ax_t.set_title("trace" + (f" — {title}" if title else ""), fontsize=10)
            ax_r.set_title("rank per chain (flat = mixed)", fontsize=10)
            if x.shape[0] <= 6:
                ax_t.legend(fontsize=7, loc="upper right", ncols=x.shape[0])
    axes[-1][0].set_xlabel("draw")
    axes[-1][1].set_xlabel("rank of the draw")
    return _png(fig)


def pair_png(draws: Mapping[str, np.ndarray], names: Sequence[str], *, max_points: int = 2000) -> bytes:
    """Pairwise scatter (off-diagonal) and histograms (diagonal) of the draws of ``names``."""
    names = list(names)
    if len(names) < 2:
        raise ValueError("a pair plot needs at least two parameters")
    k = len(names)
    fig = _figure(2.2 * k + 0.4, 2.2 * k)
    axes = fig.subplots(k, k, squeeze=False)
    flat = {n: np.asarray(draws[n]).ravel() for n in names}
    step = max(1, flat[names[0]].size // max_points)
    for a, na in enumerate(names):
        for b, nb in enumerate(names):
            ax = axes[a][b]
            if a == b:
                ax.hist(flat[na], bins=30, color="#54aeff")
                ax.set_yticks([])
            elif a > b:
                ax.scatter(flat[nb][::step], flat[na][::step], s=2, alpha=0.4, color="#0969da")
            else:
                ax.set_axis_off()
                continue
            if a == k - 1:
                ax.set_xlabel(nb, fontsize=8)
            if b == 0 and a != b:
                ax.set_ylabel(na, fontsize=8)
            ax.tick_params(labelsize=7)
    return _png(fig)


def posterior_png(draws: Mapping[str, np.ndarray], names: Sequence[str], *,
                  priors: Mapping[str, BoundedPrior] | None = None,
                  nlsq: Mapping[str, tuple[float, float]] | None = None,
                  units: Mapping[str, str] | None = None) -> bytes:
    """Histogram of the combined draws, the prior's density over its bounds, the NLSQ value ± stderr."""
    names = list(names)
    if not names:
        raise ValueError("choose at least one parameter to plot")
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = _figure(3.2 * cols, 2.4 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, name in zip(axes, names):
        x = np.asarray(draws[name]).ravel()
        lo, hi = float(x.min()), float(x.max())
        pad = 0.25 * (hi - lo if hi > lo else abs(lo) + 1e-12)
        view = [lo - pad, hi + pad]
        if nlsq and name in nlsq:
            v, e = nlsq[name]
            if np.isfinite(v):
                view = [min(view[0], v - 1.5 * (e if np.isfinite(e) else 0)), max(view[1], v + 1.5 * (e if np.isfinite(e) else 0))]
        ax.hist(x, bins=40, density=True, color="#54aeff", alpha=0.8, label="posterior")
        bp = (priors or {}).get(name)
        if bp is not None:
            from .priors import density

            g0, g1 = max(view[0], bp.lower), min(view[1], bp.upper)
            if g1 > g0:
                grid, p = density(bp.prior, bp.lower, bp.upper, 401)
                keep = (grid >= g0) & (grid <= g1)
                ax.plot(grid[keep], p[keep], color="#1a7f37", lw=1.2, label="prior")
        if nlsq and name in nlsq and np.isfinite(nlsq[name][0]):
            v, e = nlsq[name]
            ax.axvline(v, color="#cf222e", lw=1.2, label="NLSQ")
            if np.isfinite(e) and e > 0:
                ax.axvspan(v - e, v + e, color="#cf222e", alpha=0.12)
        ax.set_xlim(*view)
        unit = pretty_unit((units or {}).get(name, ""))
        ax.set_xlabel(name + (f" [{unit}]" if unit else ""), fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    return _png(fig)
