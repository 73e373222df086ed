"""Jupyter widgets: a C2 canvas viewer and a fit dashboard.

``C2View``
    anywidget canvas viewer of C2(t1, t2): uint8 image + colour table in the browser,
    hover read-out of t1, t2 and C2, angle picker, downsampling above ``max_size``.
``ParameterEditor``
    bounds / initial / fixed editor generated from :mod:`xpcsnb.models.registry`.
``FitPanel`` / ``explore(ds)``
    dashboard: viewer, editor, Fit button (NLSQ), result table and residual view.
"""

from __future__ import annotations

from .c2view import COLORMAPS as COLORMAPS
from .c2view import C2View as C2View
from .editor import ParameterEditor as ParameterEditor
from .fitpanel import FitPanel as FitPanel
from .fitpanel import explore as explore
from .fitpanel import residual as residual

__all__ = ["C2View", "COLORMAPS", "FitPanel", "ParameterEditor", "explore", "residual"]
