"""``ds.xpcs``: the accessor class only — one-line forwards to the library functions.

It never mutates ``ds``, and it imports each engine on first use, so that registering it
(``import xpcsnb``) stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

__all__ = ["XpcsAccessor", "evaluate_model"]


def evaluate_model(ds: xr.Dataset, model: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Deprecated alias of :func:`xpcsnb.forward.evaluate` (kept for one release)."""
    from .forward import evaluate

    return evaluate(ds, model, params)


@xr.register_dataset_accessor("xpcs")
class XpcsAccessor:
    """XPCS methods on a two-time Dataset: ``ds.xpcs.fit_nlsq(...)``, ``ds.xpcs.model(...)``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._obj = ds

    def validate(self) -> xr.Dataset:
        """Check the two-time data model; return the Dataset unchanged."""
        from .core.twotime import validate_twotime

        return validate_twotime(self._obj)

    def fit_nlsq(self, model: str, **kwargs: Any) -> Any:
        """Bounded NLSQ fit; see :func:`xpcsnb.fit.nlsq.fit_nlsq` for the options."""
        from .fit.nlsq import fit_nlsq

        return fit_nlsq(self._obj, model, **kwargs)

    def fit_cmc(self, model: str, **kwargs: Any) -> xr.DataTree:
        """Consensus Monte Carlo (NUTS) posterior; see :func:`xpcsnb.fit.cmc.fit_cmc` for the options."""
        from .fit.cmc import fit_cmc

        return fit_cmc(self._obj, model, **kwargs)

    def model(self, name: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
        """The model evaluated on this Dataset's grid; see :func:`xpcsnb.forward.evaluate`."""
        from .forward import evaluate

        return evaluate(self._obj, name, params)

    def residuals(self, name: str, params: Mapping[str, float] | xr.Dataset) -> xr.DataArray:
        """``c2 − model`` on this Dataset's grid."""
        from .forward import evaluate

        return self._obj["c2"] - evaluate(self._obj, name, params)["c2"]

    def plot(self, **kwargs: Any) -> Any:
        """Quick-look matplotlib figure of ``c2`` per angle; see :func:`xpcsnb.plot.twotime.plot_c2`."""
        from .plot.twotime import plot_c2

        return plot_c2(self._obj, **kwargs)

    def explore(self, model: str | None = None, **kwargs: Any) -> Any:
        """Interactive fit dashboard (C2 viewer, bounds editor, Fit button); see :func:`xpcsnb.widgets.explore`."""
        from .widgets import explore

        return explore(self._obj, model, **kwargs)
