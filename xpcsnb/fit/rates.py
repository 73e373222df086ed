r"""Γ(q) across q: the rate law Γ = D·q^p fitted to per-ROI relaxation rates.

Model: ``Γ(q) = D · q^p`` with q [1/Å] and Γ [1/s], so D is in Å^p/s (Å²/s for the
diffusive law p = 2, Γ = D q², Berne & Pecora 1976). ``law="power"`` fits p (or holds it
at a given ``p=``), ``law="diffusive"`` holds p = 2.

Method: weighted least squares in linear Γ, ``χ² = Σ_i ((Γ_i − D q_i^p)/σ_i)²`` with the
per-ROI standard errors σ_i as absolute weights (``scipy.optimize.curve_fit``,
``absolute_sigma=True``): the σ_i of an NLSQ g2 fit describe a Gaussian in Γ, not in
ln Γ, and a linear-space fit stays correct when some σ_i/Γ_i are large (where the
delta-method log transform biases the slope). The fit coordinates are (ln D, p), which
keeps the problem well conditioned across decades of Γ; it starts from the closed-form
weighted line through (ln q, ln Γ) with weights (Γ/σ)². Standard errors come from the
covariance of (ln D, p); ``D_stderr = D · stderr(ln D)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import G2Error

__all__ = ["LAWS", "fit_rates", "rate_law"]

#: Names of the rate laws.
LAWS = ("power", "diffusive")


def rate_law(q: Any, D: float, p: float = 2.0) -> np.ndarray:
    """``Γ = D · q^p`` [1/s] for q [1/Å] and D [Å^p/s]."""
    return D * np.asarray(q, dtype=float) ** p


def _from_result(res: xr.Dataset, param: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(roi, q, Γ, σ, success) from a g2 NLSQ result Dataset."""
    for name in ("g2_nlsq_coefficients", "g2_nlsq_stderr"):
        if name not in res:
            raise G2Error(f"not a g2 NLSQ result: no {name!r} variable (variables: {list(res.data_vars)})")
    coef, err = res["g2_nlsq_coefficients"], res["g2_nlsq_stderr"]
    if set(coef.dims) != {"roi", "param"}:
        raise G2Error(f"g2_nlsq_coefficients must have dims (roi, param), got {coef.dims}")
    if res.attrs.get("q_mode") == "joint":
        raise G2Error(f"this result is a joint fit with rate_law={res.attrs.get('rate_law')!r}: its rates already "
                      "follow D·q^p (see g2_nlsq_law_coefficients); fit_rates takes an independent fit "
                      "(fit_nlsq without rate_law=)")
    names = [str(n) for n in coef["param"].values]
    if param not in names:
        hint = " (a double exponential: pass param='gamma_fast' or 'gamma_slow')" if "gamma_slow" in names else ""
        raise G2Error(f"the result has no parameter {param!r}; it has {names}{hint}")
    if "unit" in coef.coords:
        units = {str(n): str(u) for n, u in zip(coef["param"].values, coef["unit"].values)}
        if units[param] != "1/s":
            rates = [n for n, u in units.items() if u == "1/s"]
            raise G2Error(f"{param!r} is not a rate (its unit is {units[param]!r}); Γ(q) is fitted to a rate "
                          f"in 1/s: one of {rates}")
    if "q" not in res.coords or res["q"].dims != ("roi",):
        raise G2Error("the result has no q(roi) coordinate [1/Å]; Γ(q) needs the q of every ROI")
    success_var = "g2_nlsq_success" if "g2_nlsq_success" in res else "success"
    if success_var in res and res[success_var].dims == ("roi",):
        success = res[success_var].values.astype(bool)
    else:
        raise G2Error("the result has no g2_nlsq_success(roi) variable")
    return (res["roi"].values, res["q"].values.astype(float), coef.sel(param=param).transpose("roi").values,
            err.sel(param=param).transpose("roi").values, success)


def _arrays(name: str, v: Any, n: int | None) -> np.ndarray:
    a = np.asarray(v)
    if a.dtype.kind not in "iuf":
        raise G2Error(f"{name} must be real numbers, got dtype {a.dtype}")
    a = np.atleast_1d(a.astype(float))
    if a.ndim != 1 or (n is not None and a.size != n):
        raise G2Error(f"{name} must be 1-D with one value per ROI ({n}), got shape {a.shape}")
    return a


def fit_rates(
    res: xr.Dataset | None = None,
    law: str = "power",
    *,
    p: float | None = None,
    param: str = "gamma",
    q: Any | None = None,
    gamma: Any | None = None,
    gamma_err: Any | None = None,
    n_curve: int = 100,
) -> xr.Dataset:
    """Fit Γ(q) = D·q^p to per-ROI relaxation rates weighted by their standard errors.

    Parameters
    ----------
    res : xarray.Dataset, optional
        A g2 NLSQ result: ``g2_nlsq_coefficients(roi, param)``,
        ``g2_nlsq_stderr(roi, param)``, ``g2_nlsq_success(roi)`` and coordinate ``q(roi)``
        [1/Å]. Alternatively give ``q``, ``gamma`` and ``gamma_err``.
    law : {"power", "diffusive"}
        ``"power"``: p free (or fixed at ``p``); ``"diffusive"``: p = 2.
    p : float, optional
        Hold the exponent at this value (``law="power"`` only).
    param : str
        The rate parameter of ``res`` [1/s]: ``"gamma"`` (single and stretched
        exponential) or ``"gamma_fast"`` / ``"gamma_slow"``.
    q, gamma, gamma_err : array_like, shape (n_roi,), optional
        Plain arrays instead of ``res``: q [1/Å], Γ [1/s] and its standard error [1/s].
    n_curve : int
        Points of the smooth fitted curve ``gamma_curve(q_curve)`` (log-spaced over the
        used q range).

    Returns
    -------
    xarray.Dataset
        ``D`` [Å^p/s] and ``D_stderr``; ``p`` (and ``p_stderr``, ``D_p_correlation`` when
        free); ``chi2_red`` (NaN with no degree of freedom left); per ROI ``gamma``,
        ``gamma_err``, ``used`` and the fitted ``gamma_fit`` at ``q(roi)``; the curve
        ``gamma_curve(q_curve)``. Attributes: ``law``, ``p_fixed``, ``n_used``,
        ``n_excluded`` and ``excluded_rois`` (failed fits, non-finite or non-positive Γ,
        stderr or q).

    Raises
    ------
    G2Error
        For an unknown law, a conflicting ``p``, input that is neither a g2 result nor
        three arrays of one length, or fewer usable ROIs than free parameters.
    """
    from scipy.optimize import curve_fit

    if law not in LAWS:
        raise G2Error(f"unknown law {law!r}; choose one of {LAWS}")
    if law == "diffusive":
        if p is not None and float(p) != 2.0:
            raise G2Error(f"law='diffusive' holds p = 2; got p={p!r} (use law='power', p=... instead)")
        p = 2.0
    if p is not None and (isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating))
                          or not np.isfinite(float(p))):
        raise G2Error(f"p must be a finite number, got {p!r}")
    arrays_given = [x is not None for x in (q, gamma, gamma_err)]
    if res is not None:
        if any(arrays_given):
            raise G2Error("give either a g2 fit result or q=, gamma=, gamma_err=, not both")
        if not isinstance(res, xr.Dataset):
            raise G2Error(f"res must be a g2 NLSQ result Dataset, got {type(res).__name__}")
        roi, qv, gv, ev, success = _from_result(res, param)
    else:
        if not all(arrays_given):
            raise G2Error("give a g2 fit result, or all three of q= [1/Å], gamma= [1/s] and gamma_err= [1/s]")
        qv = _arrays("q", q, None)
        gv, ev = _arrays("gamma", gamma, qv.size), _arrays("gamma_err", gamma_err, qv.size)
        roi, success = np.arange(qv.size), np.ones(qv.size, bool)

    used = success & np.isfinite(qv) & (qv > 0) & np.isfinite(gv) & (gv > 0) & np.isfinite(ev) & (ev > 0)
    n_free = 2 if p is None else 1
    n_used = int(used.sum())
    if n_used < n_free:
        raise G2Error(
            f"only {n_used} usable ROI(s) (successful fit, finite Γ > 0, stderr > 0, q > 0) for {n_free} free "
            "parameter(s); fit more q bins or fix p (law='diffusive' or p=...)"
        )
    x, y, s = qv[used], gv[used], ev[used]
    lx, ly, w = np.log(x), np.log(y), (y / s) ** 2
    if p is None:
        if np.ptp(lx) == 0:
            raise G2Error("a free exponent needs ROIs at two or more distinct q; fix p (law='diffusive' or p=...)")
        A = np.stack([np.ones_like(lx), lx], axis=1) * np.sqrt(w)[:, None]
        start = np.linalg.lstsq(A, ly * np.sqrt(w), rcond=None)[0]

        def f(qq, lnD, pp):
            return np.exp(lnD + pp * np.log(qq))
    else:
        pf = float(p)
        start = np.array([np.sum(w * (ly - pf * lx)) / np.sum(w)])

        def f(qq, lnD):
            return np.exp(lnD + pf * np.log(qq))

    popt, pcov = curve_fit(f, x, y, p0=start, sigma=s, absolute_sigma=True, maxfev=10000)
    perr = np.sqrt(np.diag(pcov))
    chi2 = float(np.sum(((y - f(x, *popt)) / s) ** 2))
    dof = n_used - n_free
    D = float(np.exp(popt[0]))
    p_val = float(popt[1]) if p is None else float(p)
    d_unit = "Å²/s" if p_val == 2.0 and p is not None else f"Å^{p_val:.4g}/s"

    q_curve = np.geomspace(x.min(), x.max(), int(n_curve)) if x.min() < x.max() else x[:1]
    data: dict[str, Any] = {
        "D": ((), D, {"long_name": "prefactor D of Γ = D q^p", "units": d_unit}),
        "D_stderr": ((), D * float(perr[0]), {"long_name": "standard error of D", "units": d_unit}),
        "p": ((), p_val, {"long_name": "exponent p of Γ = D q^p", "units": "1", "fixed": int(p is not None)}),
        "chi2_red": ((), chi2 / dof if dof > 0 else np.nan, {"long_name": "reduced chi-squared", "units": "1"}),
        "gamma": ("roi", gv, {"long_name": f"relaxation rate ({param})", "units": "1/s"}),
        "gamma_err": ("roi", ev, {"long_name": f"standard error of {param}", "units": "1/s"}),
        "used": ("roi", used, {"long_name": "ROI used in the fit", "units": "1"}),
        "gamma_fit": ("roi", D * qv**p_val, {"long_name": "fitted Γ = D q^p", "units": "1/s"}),
        "gamma_curve": ("q_curve", D * q_curve**p_val, {"long_name": "fitted Γ = D q^p", "units": "1/s"}),
    }
    if p is None:
        data["p_stderr"] = ((), float(perr[1]), {"long_name": "standard error of p", "units": "1"})
        data["D_p_correlation"] = ((), float(pcov[0, 1] / (perr[0] * perr[1])),
                                   {"long_name": "correlation of ln D and p", "units": "1"})
    coords = {
        "roi": ("roi", roi, {"long_name": "ROI label", "units": "1"}),
        "q": ("roi", qv, {"long_name": "scattering vector", "units": "1/Å"}),
        "q_curve": ("q_curve", q_curve, {"long_name": "scattering vector", "units": "1/Å"}),
    }
    attrs = {
        "law": law, "p_fixed": int(p is not None), "param": param, "n_used": n_used,
        "n_excluded": int(used.size - n_used), "excluded_rois": np.asarray(roi)[~used].astype(np.int64),
        "method": "scipy.optimize.curve_fit in (ln D, p), linear-space residuals, absolute_sigma=True",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)
