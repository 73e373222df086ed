"""``ds.xpcs``: the accessor class only — one-line forwards to the library functions.

It never mutates ``ds``, and it imports each engine on first use, so that registering it
(``import xpcsnb``) stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

if TYPE_CHECKING:
    from .fit.result import FitReport
    from .fit.spec import FitSpec
    from .models.base import Model

__all__ = ["XpcsAccessor", "evaluate_model"]


def evaluate_model(ds: xr.Dataset, model: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Deprecated alias of :func:`xpcsnb.forward.evaluate` (kept for one release)."""
    from .forward import evaluate

    return evaluate(ds, model, params)


@xr.register_dataset_accessor("xpcs")
class XpcsAccessor:
    """XPCS methods on a two-time Dataset (``ds.xpcs.fit_nlsq(...)``, ``ds.xpcs.model(...)``) and on
    a fit result (``res.xpcs.report()``, ``res.xpcs.save(path)``)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._obj = ds

    def validate(self) -> xr.Dataset:
        """Check the two-time data model; return the Dataset unchanged."""
        from .core.twotime import validate_twotime

        return validate_twotime(self._obj)

    def fit_nlsq(
        self,
        model: str | Model,
        *,
        spec: FitSpec | None = None,
        scaling: str | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        initial: Mapping[str, float] | None = None,
        fixed: Mapping[str, float] | None = None,
        free: Sequence[str] | None = None,
        contrast: float | Sequence[float] | None = None,
        offset: float | Sequence[float] | None = None,
        q_mode: str = "joint",
        n_starts: int | None = None,
        seed: int | None = 0,
        max_nfev: int | None = None,
        scale_covar: bool | None = None,
        return_model: bool = False,
        throw: bool = False,
        progress: bool = False,
    ) -> xr.Dataset:
        """Bounded NLSQ fit; see :func:`xpcsnb.fit.nlsq.fit_nlsq` for the options."""
        from .fit.nlsq import fit_nlsq

        return fit_nlsq(self._obj, model, spec=spec, scaling=scaling, bounds=bounds, initial=initial, fixed=fixed,
                        free=free, contrast=contrast, offset=offset, q_mode=q_mode, n_starts=n_starts, seed=seed,
                        max_nfev=max_nfev, scale_covar=scale_covar, return_model=return_model, throw=throw,
                        progress=progress)

    def fit_cmc(self, model: str, **kwargs: Any) -> xr.DataTree:
        """Consensus Monte Carlo (NUTS) posterior; see :func:`xpcsnb.fit.cmc.fit_cmc` for the options."""
        from .fit.cmc import fit_cmc

        return fit_cmc(self._obj, model, **kwargs)

    def report(self) -> FitReport:
        """The fit report of this NLSQ result (text with ``print``, a table in a notebook); see
        :class:`xpcsnb.fit.result.FitReport`."""
        from .fit.result import FitReport

        return FitReport(self._obj)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write this NLSQ result to NetCDF atomically, never overwriting unasked; see
        :func:`xpcsnb.fit.result.save_nlsq` (read back with :func:`xpcsnb.fit.load_nlsq`)."""
        from .fit.result import save_nlsq

        return save_nlsq(self._obj, path, overwrite=overwrite)

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

    def conf_interval(self, ds: xr.Dataset, params: Sequence[str] | str | None = None,
                      sigma: Sequence[float] = (1.0, 2.0)) -> xr.DataArray:
        """Profile-likelihood intervals of this NLSQ result of ``ds``; see :func:`xpcsnb.fit.profile.conf_interval`."""
        from .fit.profile import conf_interval

        return conf_interval(self._obj, ds, params, sigma)

    def rates(self, t: Any = None) -> xr.Dataset:
        """The rate laws D(t), γ̇(t), ... of this NLSQ result with stderr; see :func:`xpcsnb.fit.profile.rates`."""
        from .fit.profile import rates

        return rates(self._obj, t)
