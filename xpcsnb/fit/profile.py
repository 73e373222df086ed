"""Uncertainties beyond the linearisation: profile-likelihood intervals and rate laws with bands.

:func:`conf_interval` (like lmfit's ``conf_interval``): for each physics parameter p and
level s (in σ), the values where the profile ``χ²_p(v) = min over the others of χ²`` with p
held at v exceeds the minimum by s² (divided by χ²_red when the covariance is scaled, i.e.
without the data's σ). Each profile point is a refit from the best fit (no start search),
so an interval costs a few fits per side. Where the profile does not reach s² inside the
bounds the interval ends at the bound and is flagged.

:func:`rates`: every rate law of the model, ``r(t) = a·basis(t, e) + c`` (D(t), γ̇(t), v(t)),
on the data's time range with its standard error by the delta method on the full
covariance (correlations included), so D(t) stays well determined where D0 and D_offset
trade off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import xarray as xr

from .. import _jax  # noqa: F401
from ..core.errors import XpcsError
from ..models import get_model
from .nlsq import solve
from .problem import build_problem
from .result import nlsq_name, nlsq_var
from .spec import FitSpec

__all__ = ["conf_interval", "rates"]


def _single(res: xr.Dataset) -> str:
    var = nlsq_var(res)
    if res[nlsq_name(var, "coefficients")].ndim != 1:
        raise XpcsError("this result holds several fits; select one first, e.g. res.isel(q=0)")
    return var


def conf_interval(res: xr.Dataset, ds: xr.Dataset, params: Sequence[str] | str | None = None,
                  sigma: Sequence[float] = (1.0, 2.0), *, max_expand: int = 8) -> xr.DataArray:
    """Profile-likelihood confidence intervals of physics parameters of an NLSQ result.

    Parameters
    ----------
    res : xarray.Dataset
        A single NLSQ result of ``ds``.
    ds : xarray.Dataset
        The fitted two-time Dataset.
    params : str or sequence of str, optional
        Free physics parameters to profile (default: all free physics parameters).
    sigma : sequence of float
        Levels in standard deviations (Δχ² = s²).
    max_expand : int
        Doublings of the search step (starting at s·stderr) before giving up at a bound.

    Returns
    -------
    xarray.DataArray
        ``{var}_nlsq_conf_interval`` (param, sigma, bound) with bound = ["lower", "upper"] in the
        parameters' units; attribute ``at_bound`` lists the ends that hit a bound (there
        the data do not close the interval).

    Raises
    ------
    XpcsError
        For a name that is not a free physics parameter, a level ≤ 0, or a multi-fit result.
    """
    var = _single(res)
    model = get_model(str(res.attrs["model"]))
    spec = FitSpec.from_nlsq(res)
    coef = res[nlsq_name(var, "coefficients")]
    err = res[nlsq_name(var, "stderr")]
    vary = res[nlsq_name(var, "vary")]
    free = [p for p in model.parameter_names if bool(vary.sel(param=p))]
    names = free if params is None else ([params] if isinstance(params, str) else list(params))
    bad = [p for p in names if p not in free]
    if bad:
        raise XpcsError(f"conf_interval profiles free physics parameters {free}; got {bad}")
    levels = np.asarray(sigma, dtype=float).ravel()
    if levels.size == 0 or not np.all(levels > 0):
        raise XpcsError(f"sigma levels must be > 0, got {list(levels)}")
    chi2_best = float(res[nlsq_name(var, "chi2")])
    scale = float(res[nlsq_name(var, "chi2_red")]) if "scaled" in str(res.attrs.get("covariance", "")) else 1.0

    out = np.full((len(names), levels.size, 2), np.nan)
    hit = []
    for a, p in enumerate(names):
        best, sd = float(coef.sel(param=p)), float(err.sel(param=p))
        lo, hi = spec.bounds[p]
        if not (np.isfinite(sd) and sd > 0):
            sd = 1e-3 * (hi - lo)
        others = {n: v for n, v in spec.initial.items() if n != p}
        bounds = {n: v for n, v in spec.bounds.items() if n != p}

        def dchi2(v: float) -> float:
            s2 = dataclasses.replace(spec, fixed={**spec.fixed, p: float(v)}, initial=others, bounds=bounds)
            sol = solve(build_problem(ds, model, s2), coarse=False, n_starts=1)
            return (sol.chi2 - chi2_best) / scale

        for b, s in enumerate(levels):
            for c, sign in enumerate((-1.0, 1.0)):
                edge = lo if sign < 0 else hi
                step, inner = s * sd, best
                found = None
                for _ in range(max_expand):
                    v = float(np.clip(best + sign * step, lo, hi))
                    if dchi2(v) >= s * s:
                        found = scipy.optimize.brentq(lambda u: dchi2(u) - s * s, min(inner, v), max(inner, v),
                                                      xtol=1e-3 * sd)
                        break
                    inner = v
                    if v == edge:
                        break
                    step *= 2.0
                if found is None:
                    found = edge
                    hit.append(f"{p} {'lower' if sign < 0 else 'upper'} ({s:g} sigma)")
                out[a, b, c] = found
    return xr.DataArray(out, dims=("param", "sigma", "bound"),
                        coords={"param": names, "sigma": levels, "bound": ["lower", "upper"]},
                        name=nlsq_name(var, "conf_interval"),
                        attrs={"long_name": "profile-likelihood confidence interval", "at_bound": hit})


def _rate_name(prefactor: str) -> str:
    """``D0`` → ``D``, ``gamma_dot_t0`` → ``gamma_dot_t``, ``D0_ref`` → ``D_ref``, ``v0`` → ``v``."""
    return prefactor.replace("0", "", 1)


def rates(res: xr.Dataset, t: np.ndarray | None = None, n_t: int = 200) -> xr.Dataset:
    """Every rate law of the fitted model with its standard error, on the data's time range.

    Parameters
    ----------
    res : xarray.Dataset
        A single NLSQ result.
    t : array, optional
        Times [s]; default ``n_t`` points over the fitted data's time range (attribute
        ``t_range`` of the result).
    n_t : int
        Number of default times.

    Returns
    -------
    xarray.Dataset
        Per rate law (named after its prefactor without the ``0``: ``D``, ``gamma_dot_t``,
        ``D_ref``, ``v``): ``{name}(t)`` and ``{name}_stderr(t)`` (delta method on the full
        covariance; NaN when a parameter's covariance is unknown; fixed parameters count
        as exact). The rate is ``a·basis(t, e) + c`` without the model's floors.
    """
    var = _single(res)
    model = get_model(str(res.attrs["model"]))
    if t is None:
        if "t_range" not in res.attrs:
            raise XpcsError("this result has no 't_range' attribute (written by an older xpcsnb); pass t= [s]")
        t0, t1 = (float(v) for v in np.atleast_1d(res.attrs["t_range"]))
        t = np.linspace(t0, t1, n_t)
    t = np.asarray(t, dtype=float)
    coef = res[nlsq_name(var, "coefficients")]
    cov = res[nlsq_name(var, "covariance")]
    out = {}
    for law in model.rate_laws:
        names = [law.prefactor, law.exponent, law.offset]
        vals = jnp.asarray([float(coef.sel(param=n)) for n in names])

        def rate(v: jnp.ndarray) -> jnp.ndarray:
            return v[0] * law.basis(jnp.asarray(t), v[1]) + v[2]

        value = np.asarray(rate(vals))
        grad = np.asarray(jax.jacfwd(rate)(vals))                    # (n_t, 3)
        c = np.nan_to_num(cov.sel(cov_i=names, cov_j=names).values, nan=0.0)
        fixed = ~res[nlsq_name(var, "vary")].sel(param=names).values.astype(bool)
        unknown = ~np.isfinite(cov.sel(cov_i=names, cov_j=names).values).all() and not fixed.all()
        sd = np.sqrt(np.clip(np.einsum("ta,ab,tb->t", grad, c, grad), 0, None))
        if unknown and np.any(~np.isfinite(np.diag(cov.sel(cov_i=names, cov_j=names).values))[~fixed]):
            sd = np.full_like(value, np.nan)
        name = _rate_name(law.prefactor)
        unit = str(res["unit"].sel(param=law.offset).values)
        out[name] = ("t", value, {"long_name": f"rate law {law.prefactor}·t^{law.exponent} + {law.offset}",
                                  "units": unit})
        out[f"{name}_stderr"] = ("t", sd, {"long_name": f"standard error of {name} (delta method)", "units": unit})
    return xr.Dataset(out, coords={"t": ("t", t, {"units": "s"})}, attrs={"model": model.name})
