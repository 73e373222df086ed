"""``ds.xpcs``: thin xarray glue over the library functions; it never mutates ``ds``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
import xarray as xr

from .fit.nlsq import fit_nlsq
from .fit.result import NLSQResult, parameter_values
from .io.twotime import twotime, validate_twotime
from .models import get_model, make_grid, registry
from .simulate import physics_vector

__all__ = ["XpcsAccessor", "evaluate_model"]


def evaluate_model(ds: xr.Dataset, model: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
    """Evaluate ``model`` on the grid of the two-time Dataset ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset whose ``t1``, ``phi``, ``q``, ``L`` define the grid.
    model : str
        Model name.
    params : dict or NLSQ result Dataset
        Physics parameters by registry name plus ``contrast``/``offset`` (scalars or
        per angle ``contrast_<k>``/``offset_<k>``); or a fit result.

    Returns
    -------
    xarray.Dataset
        A two-time Dataset like ``ds`` whose ``c2`` is the model.
    """
    validate_twotime(ds)
    if isinstance(params, xr.Dataset):
        res = params
        vals = parameter_values(res)
        if "contrast_fixed" in res:
            vals["contrast"] = res["contrast_fixed"].values
            vals["offset"] = res["offset_fixed"].values
    else:
        vals = dict(params)
    mdl = get_model(model)
    names = registry.physics_names(mdl.name)
    theta = physics_vector(mdl.name, {n: vals[n] for n in names if n in vals}, check_bounds=False)
    n_phi = ds.sizes["phi"]
    scale = {}
    for base in ("contrast", "offset"):
        if base in vals:
            scale[base] = np.broadcast_to(np.asarray(vals[base], dtype=float), (n_phi,))
        elif all(f"{base}_{k}" in vals for k in range(n_phi)):
            scale[base] = np.array([vals[f"{base}_{k}"] for k in range(n_phi)])
        else:
            raise ValueError(f"params give no {base!r} (scalar, per-angle '{base}_<k>', or a fit result)")
    L = ds.attrs.get("L")
    grid = make_grid(ds["t1"].values, ds["phi"].values, ds.attrs["q"], L)
    sig = np.asarray(mdl.signal(jnp.asarray(theta), grid))
    c2 = scale["offset"][:, None, None] + scale["contrast"][:, None, None] * sig
    return twotime(c2, ds["t1"].values, ds["phi"].values, ds.attrs["q"], L=L,
                   attrs={"source": f"model {mdl.name!r}"})


@xr.register_dataset_accessor("xpcs")
class XpcsAccessor:
    """XPCS methods on a two-time Dataset: ``ds.xpcs.fit_nlsq(...)``, ``ds.xpcs.model(...)``."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._obj = ds

    def validate(self) -> xr.Dataset:
        """Check the two-time data model; return the Dataset unchanged."""
        return validate_twotime(self._obj)

    def fit_nlsq(self, model: str, **kwargs: Any) -> NLSQResult:
        """Bounded NLSQ fit; see :func:`xpcsnb.fit.nlsq.fit_nlsq` for the options."""
        return fit_nlsq(self._obj, model, **kwargs)

    def fit_cmc(self, model: str, **kwargs: Any) -> xr.DataTree:
        """Consensus Monte Carlo (NUTS) posterior; see :func:`xpcsnb.fit.cmc.fit_cmc` for the options."""
        from .fit.cmc import fit_cmc

        return fit_cmc(self._obj, model, **kwargs)

    def model(self, name: str, params: Mapping[str, float] | xr.Dataset) -> xr.Dataset:
        """The model evaluated on this Dataset's grid; see :func:`evaluate_model`."""
        return evaluate_model(self._obj, name, params)

    def residuals(self, name: str, params: Mapping[str, float] | xr.Dataset) -> xr.DataArray:
        """``c2 − model`` on this Dataset's grid."""
        return self._obj["c2"] - evaluate_model(self._obj, name, params)["c2"]

    def plot(self, **kwargs: Any) -> Any:
        """Quick-look matplotlib figure of ``c2`` per angle; see :func:`xpcsnb.plot.twotime.plot_c2`."""
        from .plot.twotime import plot_c2

        return plot_c2(self._obj, **kwargs)

    def explore(self, model: str | None = None, **kwargs: Any) -> Any:
        """Interactive fit dashboard (C2 viewer, bounds editor, Fit button); see :func:`xpcsnb.widgets.explore`."""
        from .widgets import explore

        return explore(self._obj, model, **kwargs)
