"""``ds.xpcs``: the accessor class only — one-line forwards to the library functions.

It never mutates ``ds``, and it imports each engine on first use, so that registering it
(``import xpcsnb``) stays cheap. The forwards dispatch on what the Dataset is
(:func:`dataset_kind`): a two-time Dataset (``c2``), a one-time g2 Dataset (``g2``) or a
fit result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from .fit.result import FitReport
    from .fit.spec import FitSpec
    from .models.base import Model

__all__ = ["XpcsAccessor", "dataset_kind", "evaluate_model"]


def dataset_kind(ds: xr.Dataset) -> str:
    """``"twotime"`` (a ``c2`` variable), ``"g2"`` (a ``g2`` variable) or ``"result"`` (a fit result)."""
    if "c2" in ds.data_vars:
        return "twotime"
    if "g2" in ds.data_vars:
        return "g2"
    if any(str(n).endswith("_nlsq_coefficients") for n in ds.data_vars) or "posterior" in ds.data_vars:
        return "result"
    from .core.errors import XpcsError

    raise XpcsError(f"ds.xpcs needs a two-time Dataset (variable 'c2'), a g2 Dataset (variable 'g2') or a fit "
                    f"result; this one has {sorted(map(str, ds.data_vars))[:8]}. Build one with xpcsnb.twotime(...) "
                    "or xpcsnb.g2(...)")


def _model_kind(model: Any) -> str:
    from .models import get_model

    return get_model(model).kind


def _check_model(ds: xr.Dataset, model: Any) -> str:
    """The Dataset kind, after checking that ``model`` is of the same kind (a clear error if not)."""
    from .core.errors import XpcsError

    kind = dataset_kind(ds)
    if kind == "result":
        raise XpcsError("this Dataset is a fit result; fit the data Dataset (two-time c2 or g2) instead")
    mkind = _model_kind(model)
    if mkind != kind:
        from .models import model_names

        same = [n for n in model_names() if _model_kind(n) == kind]
        name = getattr(model, "name", model)
        raise XpcsError(f"model {name!r} is a {mkind} model but this is a {kind} Dataset; choose one of {same}"
                        + (" or turn the two-time Dataset into g2 first: ds.xpcs.g2_from_c2()" if mkind == "g2"
                           else " or fit the two-time Dataset it came from"))
    return kind


def _refuse(why: str, **options: Any) -> None:
    """Raise for options given (not None) that the fit of this kind of Dataset does not take, saying ``why``."""
    given = [k for k, v in options.items() if v is not None]
    if given:
        from .core.errors import XpcsError

        raise XpcsError(f"{', '.join(k + '=' for k in given)} cannot be used here: {why}")


def evaluate_model(ds: xr.Dataset, model: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Deprecated alias of :func:`xpcsnb.forward.evaluate` (kept for one release)."""
    from .forward import evaluate

    return evaluate(ds, model, params)


@xr.register_dataset_accessor("xpcs")
class XpcsAccessor:
    """XPCS methods on a two-time Dataset (``ds.xpcs.fit_nlsq(...)``, ``ds.xpcs.model(...)``), on a
    one-time g2 Dataset (``g2.xpcs.fit_nlsq("stretched_exponential")``, ``g2.xpcs.plot(res)``) and
    on a fit result (``res.xpcs.report()``, ``res.xpcs.save(path)``)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._obj = ds

    def validate(self) -> xr.Dataset:
        """Check the data model (two-time or g2); return the Dataset unchanged."""
        from .core.g2 import validate_g2
        from .core.twotime import validate_twotime

        return (validate_g2 if dataset_kind(self._obj) == "g2" else validate_twotime)(self._obj)

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
        q_mode: str | None = None,
        rate_law: str | None = None,
        p: float | None = None,
        n_starts: int | None = None,
        seed: int | None = 0,
        max_nfev: int | None = None,
        scale_covar: bool | None = None,
        return_model: bool = False,
        throw: bool = False,
        progress: bool = False,
        client: Any = None,
    ) -> xr.Dataset:
        """Bounded NLSQ fit: :func:`xpcsnb.fit.nlsq.fit_nlsq` on a two-time Dataset (``q_mode`` default
        "joint"), :func:`xpcsnb.fit.g2nlsq.fit_g2_nlsq` on a g2 Dataset (``q_mode`` default
        "independent"; ``rate_law``/``p`` for the joint Γ(q) fit); ``client=`` runs it as Dask tasks."""
        if _check_model(self._obj, model) == "g2":
            from .fit.g2nlsq import fit_g2_nlsq

            _refuse("they are options of two-time fits, not of g2 fits; a g2 model's Siegert factor is its "
                    "parameter 'contrast' (fix it with fixed={'contrast': value} or bound it with bounds=)",
                    scaling=scaling, free=free, contrast=contrast, offset=offset,
                    return_model=return_model or None, progress=progress or None)
            return fit_g2_nlsq(self._obj, model, spec=spec, bounds=bounds, initial=initial, fixed=fixed,
                               q_mode=q_mode, rate_law=rate_law, p=p, n_starts=n_starts, seed=seed,
                               max_nfev=max_nfev, scale_covar=scale_covar, throw=throw, client=client)
        from .fit.nlsq import fit_nlsq

        _refuse("a rate law Γ(q) = D·q^p is fitted to one-time g2 data, not to a two-time Dataset "
                "(ds.xpcs.g2_from_c2() makes g2 from it)", rate_law=rate_law, p=p)
        return fit_nlsq(self._obj, model, spec=spec, scaling=scaling, bounds=bounds, initial=initial, fixed=fixed,
                        free=free, contrast=contrast, offset=offset, q_mode=q_mode or "joint", n_starts=n_starts,
                        seed=seed, max_nfev=max_nfev, scale_covar=scale_covar, return_model=return_model,
                        throw=throw, progress=progress, client=client)

    def fit_cmc(self, model: str | Model, **kwargs: Any) -> xr.DataTree:
        """Consensus Monte Carlo (NUTS) posterior: :func:`xpcsnb.fit.cmc.fit_cmc` on a two-time Dataset,
        :func:`xpcsnb.fit.g2cmc.fit_g2_cmc` (per ROI) on a g2 Dataset."""
        if _check_model(self._obj, model) == "g2":
            from .fit.g2cmc import fit_g2_cmc

            return fit_g2_cmc(self._obj, model, **kwargs)
        from .fit.cmc import fit_cmc

        return fit_cmc(self._obj, model, **kwargs)

    def g2_from_c2(self, age: tuple[float, float] | None = None) -> xr.Dataset:
        """g2(roi, tau) of this two-time Dataset: the lag average (:func:`xpcsnb.correlate.g2_from_c2`), or with
        ``age=(t_start, t_end)`` [s] the g2 of that age window (:func:`xpcsnb.correlate.g2_age_resolved`)."""
        from .correlate import g2_age_resolved, g2_from_c2

        from .core.errors import XpcsError

        if age is None:
            return g2_from_c2(self._obj)
        window = np.asarray(age, dtype=float) if np.ndim(age) == 1 else None
        if window is None or window.size != 2 or not np.all(np.isfinite(window)) or not window[0] < window[1]:
            raise XpcsError(f"age must be one window (t_start, t_end) [s] with t_start < t_end, got {age!r}; for "
                            "several windows use xpcsnb.correlate.g2_age_resolved(ds, age_edges=...)")
        return g2_age_resolved(self._obj, age_edges=window).isel(t_age=0)

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

    def plot(self, res: xr.Dataset | None = None, **kwargs: Any) -> Any:
        """Matplotlib view: g2(τ) per ROI with the fit ``res`` (:func:`xpcsnb.plot.g2.plot_g2`) for a g2
        Dataset, ``c2`` per angle (:func:`xpcsnb.plot.twotime.plot_c2`) for a two-time one."""
        kind = dataset_kind(self._obj)
        if kind == "g2":
            from .plot.g2 import plot_g2

            return plot_g2(self._obj, res, **kwargs)
        if kind == "result":
            from .core.errors import XpcsError

            raise XpcsError("this Dataset is a fit result: draw it over its data with data.xpcs.plot(res), or, for a "
                            "g2 result, Γ(q) with res.xpcs.plot_rates()")
        from .plot.twotime import plot_c2

        return plot_c2(self._obj, **kwargs)

    def plot_rates(self, law: str = "power", *, p: float | None = None, param: str = "gamma", ax: Any = None) -> Any:
        """Γ(q) of this g2 NLSQ result (independent ROIs) on log–log axes with the fitted law Γ = D·q^p:
        :func:`xpcsnb.fit.rates.fit_rates` then :func:`xpcsnb.plot.g2.plot_rates`; returns the figure."""
        from .fit.rates import fit_rates
        from .plot.g2 import plot_rates

        return plot_rates(fit_rates(self._obj, law=law, p=p, param=param), ax=ax)

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
