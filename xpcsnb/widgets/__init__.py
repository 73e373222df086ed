"""Jupyter widgets: a C2 canvas viewer, a fit dashboard, a priors editor and a CMC dashboard.

``C2View``
    anywidget canvas viewer of C2(t1, t2): axes with ticks and units, a labelled colour bar
    with colour-limit controls, wheel zoom and drag pan (the kernel re-samples the window;
    block means for display only), hover read-out, angle picker, PNG export.
``ParameterEditor``
    bounds / initial / fixed editor generated from :mod:`xpcsnb.models.registry`.
``FitPanel`` / ``explore(ds)``
    the workbench: tabs for data, fit (editor, NLSQ in a worker process with Cancel, a
    result table flagging parameters at a bound or badly determined, the correlation
    matrix, CSV/JSON/NetCDF export), diagnostics (data | model | residual, g2 cut with the fit)
    and CMC.
``PriorEditor``
    CMC priors, one row per free parameter (family, numbers, live density, checks);
    ``editor.priors`` is what ``fit_cmc(priors=...)`` takes.
``CMCPanel``
    priors + sampler settings + a CMC run in a worker process (the kernel stays free,
    live per-shard/per-chain bars, Cancel) + its ``Diagnostics``.
``Diagnostics``
    R-hat/ESS/divergence/E-BFMI tables coloured against the thresholds, warnings with
    what to do, trace/rank, pair and posterior-vs-prior/NLSQ figures.
``G2View``
    g2(τ) per ROI with fits, linked to Γ(q); for two-time data, age cuts and the
    lag-averaged g2 beside a C2View.
``QMapView``
    the detector image (log scale) with the ROI partition over it; click a ROI → its
    curves; beam centre, ring and sector edges editable.
``BackgroundJob``
    one function call in a spawned worker process with live tqdm bars and a real Cancel
    (shared by the dashboards).

Every name is imported on first use (module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import Any

import ipywidgets as _ipywidgets  # noqa: F401  (the toolkit of every view; it does not load JAX)

#: Public name → submodule; each is imported on first use, so ``import xpcsnb.widgets``
#: (and a worker process that unpickles a function of this package) stays light.
_LAZY = {
    "C2View": ".c2view",
    "COLORMAPS": ".c2view",
    "ParameterEditor": ".editor",
    "FitPanel": ".fitpanel",
    "explore": ".fitpanel",
    "residual": ".fitpanel",
    "PriorEditor": ".priors",
    "CMCPanel": ".cmcpanel",
    "Diagnostics": ".diagnostics",
    "BackgroundJob": ".background",
    "flag_parameters": ".table",
    "correlation_matrix": ".table",
    "pretty_unit": "..core.units",
    "G2View": ".g2view",
    "QMapView": ".qmapview",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
