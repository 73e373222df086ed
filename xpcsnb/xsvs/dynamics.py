r"""Dynamics from contrast vs exposure time.

The contrast of a speckle pattern integrated over an exposure ``T`` is (Bandyopadhyay
et al. 2005, References)

.. math:: β(T) = β_0 \frac{2}{T}\int_0^T \Big(1 − \frac{τ}{T}\Big) |g_1(τ)|^2 dτ,

with ``β0`` the static (T → 0) contrast. Closed forms:

* single exponential ``|g1|² = e^{−2Γτ}``, ``x = ΓT``:
  ``β = β0 (e^{−2x} − 1 + 2x)/(2x²)`` (→ β0 for x → 0, → β0/x for x ≫ 1);
* stretched ``|g1|² = exp(−2(τ/τc)^γ)``, ``z = 2(T/τc)^γ``, ``γ_inc(s,z) = Γ(s)P(s,z)``:
  ``β = β0 2^{(γ−2)/γ} τc/(γT²) [2^{1/γ} T γ_inc(1/γ,z) − τc γ_inc(2/γ,z)]``;
* any other ``|g1(τ)|²``: fixed-node Gauss–Legendre quadrature
  (:func:`contrast_from_g1`).

:func:`fit_dynamics` fits β(T) per ROI (Γ, β0 and optionally γ), or jointly over all ROIs
with ``Γ(q) = D q^p`` (``p`` fixed, 2 by default, or fitted), by weighted least squares
(:func:`scipy.optimize.least_squares`) on the contrast and its standard errors.
Results follow the ``{var}_nlsq_*`` naming of xpcsnb (xarray ``curvefit`` style).

References
----------
R. Bandyopadhyay, A. S. Gittings, S. S. Suh, P. K. Dixon, D. J. Durian, "Speckle-visibility
spectroscopy: A tool to study time-varying dynamics", Rev. Sci. Instrum. 76, 093110
(2005), doi:10.1063/1.2037987.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr
from scipy.optimize import least_squares
from scipy.special import gamma as gamma_fn
from scipy.special import gammainc

from .._numeric import covariance
from ..core.status import Status
from .contrast import STATUS_FLAGS
from .series import XsvsError

__all__ = [
    "contrast_exponential",
    "contrast_stretched",
    "contrast_from_g1",
    "fit_dynamics",
    "evaluate_dynamics",
]

_X_SERIES = 1e-3


def _decay_exponential(x: np.ndarray) -> np.ndarray:
    """``(e^{−2x} − 1 + 2x)/(2x²)`` for ``x ≥ 0``, with a series below 1e-3."""
    x = np.asarray(x, dtype=float)
    small = x < _X_SERIES
    xs = np.where(small, x, 0.0)
    series = 1 - 2 * xs / 3 + xs**2 / 3 - 2 * xs**3 / 15 + 2 * xs**4 / 45
    xl = np.where(small, 1.0, x)
    closed = (np.expm1(-2 * xl) + 2 * xl) / (2 * xl * xl)
    return np.where(small, series, closed)


def contrast_exponential(T: Any, beta0: Any, rate: Any) -> np.ndarray:
    """Contrast for a single-exponential ``|g1(τ)|² = exp(−2Γτ)``.

    Parameters
    ----------
    T : array_like
        Exposure time [s].
    beta0 : array_like
        Static contrast.
    rate : array_like
        Relaxation rate Γ [1/s] of ``g1``.

    Returns
    -------
    ndarray
        ``β0 (e^{−2x} − 1 + 2x)/(2x²)`` with ``x = ΓT``, broadcast over the inputs.
    """
    return np.asarray(beta0, float) * _decay_exponential(np.asarray(rate, float) * np.asarray(T, float))


def contrast_stretched(T: Any, beta0: Any, tau_c: Any, stretch: Any) -> np.ndarray:
    """Contrast for a stretched exponential ``|g1(τ)|² = exp(−2(τ/τc)^γ)``.

    Parameters
    ----------
    T, beta0 : array_like
        Exposure time [s] and static contrast, as in :func:`contrast_exponential`.
    tau_c : array_like
        Correlation time τc [s] (> 0).
    stretch : array_like
        Stretching exponent γ (> 0).

    Returns
    -------
    ndarray
        Closed form with the lower incomplete gamma function; a three-term series in
        ``z = 2(T/τc)^γ`` is used for ``z < 1e-3``. For γ = 1 it equals
        :func:`contrast_exponential` with Γ = 1/τc.
    """
    T, beta0, tau_c, g = np.broadcast_arrays(*(np.asarray(a, float) for a in (T, beta0, tau_c, stretch)))
    z = 2.0 * (T / tau_c) ** g
    small = z < _X_SERIES
    zs = np.where(small, z, 0.0)
    series = (1 - 2 * zs / ((g + 1) * (g + 2)) + zs**2 / ((2 * g + 1) * (2 * g + 2))
              - zs**3 / (3 * (3 * g + 1) * (3 * g + 2)))
    Tl = np.where(small, 1.0, T)
    tl = np.where(small, 1.0, tau_c)
    zl = np.where(small, 1.0, z)
    low1 = gamma_fn(1 / g) * gammainc(1 / g, zl)
    low2 = gamma_fn(2 / g) * gammainc(2 / g, zl)
    closed = 2 ** ((g - 2) / g) * tl / (g * Tl**2) * (2 ** (1 / g) * Tl * low1 - tl * low2)
    return beta0 * np.where(small, series, closed)


def contrast_from_g1(T: Any, beta0: Any, g1_squared: Callable[[np.ndarray], np.ndarray],
                     n_nodes: int = 64) -> np.ndarray:
    """Contrast for any ``|g1(τ)|²`` by Gauss–Legendre quadrature on ``[0, T]``.

    Parameters
    ----------
    T : array_like, shape (...)
        Exposure times [s].
    beta0 : array_like
        Static contrast (broadcast with ``T``).
    g1_squared : callable
        ``|g1(τ)|²`` evaluated on an array of lags τ [s] of shape ``(..., n_nodes)``.
    n_nodes : int
        Quadrature nodes (fixed, so the result is a smooth function of the parameters).

    Returns
    -------
    ndarray, shape (...)
        ``β0 · 2∫₀¹ (1 − u) |g1(uT)|² du``.
    """
    x, w = np.polynomial.legendre.leggauss(int(n_nodes))
    u, w = (x + 1) / 2, w / 2
    T = np.asarray(T, float)
    vals = np.asarray(g1_squared(T[..., None] * u), float)
    return np.asarray(beta0, float) * 2 * np.sum(w * (1 - u) * vals, axis=-1)


# ---------------------------------------------------------------------------
# fitting

def _shape(model: str, T: np.ndarray, rate: np.ndarray, stretch: np.ndarray | float) -> np.ndarray:
    if model == "exponential":
        return _decay_exponential(rate * T)
    with np.errstate(divide="ignore"):
        tau = 1.0 / np.maximum(rate, 1e-300)
    return contrast_stretched(T, 1.0, tau, stretch)


def _init_rate(model: str, T: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Grid search over Γ with β0 solved linearly (variable projection)."""
    grid = np.geomspace(1e-3 / T.max(), 1e3 / T.min(), 241)
    s = _shape("exponential", T[None, :], grid[:, None], 1.0)
    b0 = np.sum(w * s * y, axis=1) / np.sum(w * s * s, axis=1)
    chi2 = np.sum(w * (y - b0[:, None] * s) ** 2, axis=1)
    i = int(np.argmin(chi2))
    return float(grid[i]), float(max(b0[i], 1e-6))


def _points(vis: xr.Dataset, var: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    for name in ("exposure", var, f"{var}_err"):
        if name not in vis.variables:
            raise XsvsError(f"the dataset has no {name!r}; run xpcsnb.xsvs.visibility first")
    T = vis["exposure"].values.astype(float)
    y = vis[var].transpose("exposure", "roi").values.astype(float)
    err = vis[f"{var}_err"].transpose("exposure", "roi").values.astype(float)
    return T, y, err


def _outcome(res: Any, names: list[str]) -> tuple[np.ndarray, Status, str]:
    """Covariance ``(JᵀJ)⁻¹``, :class:`~xpcsnb.core.status.Status` and message of one
    :func:`scipy.optimize.least_squares` result (NaN covariance when it is singular)."""
    p = len(names)
    msgs = [str(res.message)]
    if not (np.all(np.isfinite(res.jac)) and np.all(np.isfinite(res.fun))):
        msgs.append("non-finite residuals or Jacobian at the solution")
        return np.full((p, p), np.nan), Status.NONFINITE, "; ".join(msgs)
    cov, cond, zero, degenerate = covariance(res.jac.T @ res.jac, names)
    status = Status.CONVERGED
    if zero:
        status = Status.ZERO_JACOBIAN_COLUMN
        msgs.append(f"the data do not constrain {zero}: their Jacobian columns are all zero")
    elif res.status == 0:
        status = Status.MAX_EVALUATIONS
        msgs.append("stopped at the evaluation limit before converging")
    elif not np.all(np.isfinite(cov)):
        status = Status.SINGULAR_COVARIANCE
        msgs.append(f"singular covariance (condition number {cond:.3g})"
                    + (f"; degenerate combination of {degenerate}" if degenerate else ""))
    elif degenerate:
        msgs.append(f"near-singular covariance (condition number {cond:.3g}): {degenerate} are strongly "
                    "correlated; their stderr are large")
    at_bound = [names[k] for k in np.flatnonzero(res.active_mask != 0)]
    if at_bound:
        msgs.append(f"at a bound: {at_bound} (stderr there is not meaningful)")
    return cov, status, "; ".join(msgs)


def fit_dynamics(vis: xr.Dataset, model: str = "exponential", *, estimator: str = "beta",
                 joint: bool = False, q_exponent: float | None = 2.0,
                 stretch_bounds: tuple[float, float] = (0.2, 1.8)) -> xr.Dataset:
    """Fit the contrast vs exposure time β(T) per ROI or jointly over q.

    Parameters
    ----------
    vis : xarray.Dataset
        Output of :func:`xpcsnb.xsvs.visibility` (needs ``exposure``, ``{estimator}`` and
        ``{estimator}_err``, and ``q`` for a joint fit).
    model : {"exponential", "stretched"}
        ``|g1|² = exp(−2Γτ)`` or ``exp(−2(Γτ)^γ)``.
    estimator : str
        Contrast variable to fit: ``"beta"`` (ML, default), ``"beta_ratio"`` or
        ``"beta_variance"``.
    joint : bool
        False: independent fits per ROI with parameters ``beta0, rate[, stretch]``.
        True: one fit over all ROIs with ``Γ(q) = D q^p``, shared ``D`` (and ``p``,
        ``stretch``), and one ``beta0`` per ROI.
    q_exponent : float or None
        ``p`` of the joint fit; None fits it.
    stretch_bounds : (float, float)
        Bounds of the stretching exponent γ.

    Returns
    -------
    xarray.Dataset
        A new Dataset: ``vis`` plus ``{estimator}_nlsq_coefficients``, ``_stderr``,
        ``_covariance``, ``_status`` (:class:`~xpcsnb.core.status.Status` codes), ``_success``,
        ``_message``, ``_chi2``, ``_chi2_red`` and the
        derived ``rate``/``rate_err`` [1/s] and ``tau_c``/``tau_c_err`` [s] per ROI.
        Per-ROI fits have dims ``(roi, param)``; a joint fit has dims ``(param,)``.
        Errors are the weighted least-squares covariance ``(JᵀJ)⁻¹`` with the contrast
        standard errors as absolute σ (not rescaled by χ²_red); a singular ``JᵀJ`` gives
        NaN errors and status ``SINGULAR_COVARIANCE`` (no pseudo-inverse).

    Raises
    ------
    XsvsError
        Unknown model, missing variables, fewer usable exposures than parameters,
        missing q for a joint fit.
    """
    if model not in ("exponential", "stretched"):
        raise XsvsError(f"model must be 'exponential' or 'stretched', got {model!r}")
    if not isinstance(estimator, str):
        raise XsvsError(f"estimator must be the name of a contrast variable (e.g. 'beta'), got {estimator!r}")
    sb = np.asarray(stretch_bounds, dtype=float) if np.ndim(stretch_bounds) == 1 else np.full(3, np.nan)
    if sb.shape != (2,) or not np.all(np.isfinite(sb)) or not 0 < sb[0] < sb[1]:
        raise XsvsError(f"stretch_bounds must be (low, high) with 0 < low < high, got {stretch_bounds!r}")
    if q_exponent is not None and not (isinstance(q_exponent, int | float | np.integer | np.floating)
                                       and np.isfinite(q_exponent)):
        raise XsvsError(f"q_exponent must be a finite number or None (fitted), got {q_exponent!r}")
    T, y, err = _points(vis, estimator)
    ok = np.isfinite(y) & np.isfinite(err) & (err > 0)
    prefix = f"{estimator}_nlsq"
    out = vis.drop_vars([v for v in vis.variables if str(v).startswith(prefix)]
                        + [v for v in ("rate", "rate_err", "tau_c", "tau_c_err", "param", "cov_i", "cov_j")
                           if v in vis.variables])
    if joint:
        new = _fit_joint(vis, model, T, y, err, ok, q_exponent, stretch_bounds)
    else:
        new = _fit_per_roi(vis, model, T, y, err, ok, stretch_bounds)
    new = {f"{prefix}_{k}" if not k.startswith(("rate", "tau_c")) else k: v for k, v in new.items()}
    out = out.assign(new)
    for k in ("param", "cov_i", "cov_j"):
        out.coords[k].attrs["units"] = "1"
    out[f"{prefix}_coefficients"].attrs.update(model=model, estimator=estimator, joint=int(joint),
                                               solver="scipy.optimize.least_squares (trf)", loss="linear",
                                               sigma="absolute (contrast standard errors)")
    return out


def _param_names(model: str) -> list[str]:
    return ["beta0", "rate"] + (["stretch"] if model == "stretched" else [])


def _fit_per_roi(vis, model, T, y, err, ok, stretch_bounds) -> dict[str, Any]:
    names = _param_names(model)
    P, R = len(names), y.shape[1]
    coef = np.full((R, P), np.nan)
    cov = np.full((R, P, P), np.nan)
    status = np.full(R, Status.NO_DATA, dtype=np.int8)
    message = np.empty(R, dtype=object)
    chi2 = np.full(R, np.nan)
    chi2_red = np.full(R, np.nan)
    lo = [0.0, 0.0] + ([stretch_bounds[0]] if model == "stretched" else [])
    hi = [np.inf, 1e6 / T.min()] + ([stretch_bounds[1]] if model == "stretched" else [])
    for r in range(R):
        m = ok[:, r]
        n = int(m.sum())
        if n <= P:
            message[r] = f"only {n} usable exposure(s) for {P} parameters"
            continue
        t, yy, ee = T[m], y[m, r], err[m, r]
        rate0, b00 = _init_rate(model, t, yy, 1 / ee**2)
        p0 = [b00, rate0] + ([1.0] if model == "stretched" else [])

        def resid(p, t=t, yy=yy, ee=ee):
            return (p[0] * _shape(model, t, p[1], p[2] if model == "stretched" else 1.0) - yy) / ee

        res = least_squares(resid, np.clip(p0, lo, [h * 0.999 for h in hi]), bounds=(lo, hi),
                            method="trf", jac="3-point", x_scale="jac")
        coef[r] = res.x
        cov[r], status[r], message[r] = _outcome(res, names)
        chi2[r] = float(2 * res.cost)
        chi2_red[r] = chi2[r] / (n - P)
    stderr = np.sqrt(np.einsum("rii->ri", cov))
    out = _result_vars(names, coef, stderr, cov, status, message, chi2, chi2_red, batch=("roi",), lo=lo, hi=hi)
    i = names.index("rate")
    out.update(_rate_vars(coef[:, i], stderr[:, i]))
    return out


def _fit_joint(vis, model, T, y, err, ok, q_exponent, stretch_bounds) -> dict[str, Any]:
    if "q" not in vis.coords or not np.all(np.isfinite(vis["q"].values)) or np.any(vis["q"].values <= 0):
        raise XsvsError("a joint fit needs finite q > 0 for every ROI (use a q partition)")
    q = vis["q"].values.astype(float)
    R = y.shape[1]
    fit_p = q_exponent is None
    shared = ["D"] + (["p"] if fit_p else []) + (["stretch"] if model == "stretched" else [])
    names = shared + [f"beta0_{int(r)}" for r in vis["roi"].values]
    n_sh = len(shared)
    n = int(ok.sum())
    if n <= len(names):
        raise XsvsError(f"only {n} usable (exposure, roi) points for {len(names)} parameters")
    # initial values from per-ROI variable projection
    rates, b0s = np.empty(R), np.empty(R)
    for r in range(R):
        m = ok[:, r]
        if m.sum() < 2:
            raise XsvsError(f"ROI {int(vis['roi'].values[r])} has fewer than 2 usable exposures")
        rates[r], b0s[r] = _init_rate(model, T[m], y[m, r], 1 / err[m, r] ** 2)
    p_init = 2.0 if fit_p else float(q_exponent)
    D0 = float(np.exp(np.median(np.log(rates) - p_init * np.log(q))))
    p0 = [D0] + ([p_init] if fit_p else []) + ([1.0] if model == "stretched" else []) + list(b0s)
    lo = [0.0] + ([0.0] if fit_p else []) + ([stretch_bounds[0]] if model == "stretched" else []) + [0.0] * R
    hi = [np.inf] + ([6.0] if fit_p else []) + ([stretch_bounds[1]] if model == "stretched" else []) + [np.inf] * R
    Tm, okf = T[:, None], ok.ravel()

    def unpack(p):
        D = p[0]
        pe = p[1] if fit_p else float(q_exponent)
        st = p[n_sh - 1] if model == "stretched" else 1.0
        return D, pe, st, np.asarray(p[n_sh:])

    def resid(p):
        D, pe, st, b0 = unpack(p)
        rate = D * q**pe
        pred = b0[None, :] * _shape(model, Tm, rate[None, :], st)
        return ((pred - y) / np.where(ok, err, 1.0)).ravel()[okf]

    res = least_squares(resid, np.clip(p0, lo, [h if np.isinf(h) else h * 0.999 for h in hi]), bounds=(lo, hi),
                        method="trf", jac="3-point", x_scale="jac")
    cov, status, message = _outcome(res, names)
    stderr = np.sqrt(np.diag(cov))
    chi2 = float(2 * res.cost)
    out = _result_vars(names, res.x, stderr, cov, np.int8(status), message, chi2,
                       chi2 / (n - len(names)), batch=(), lo=lo, hi=hi)
    # Γ(q) = D q^p and its delta-method error
    D, pe = res.x[0], (res.x[1] if fit_p else float(q_exponent))
    rate = D * q**pe
    grad = np.stack([q**pe] + ([D * q**pe * np.log(q)] if fit_p else []), axis=1)  # (R, 1|2)
    k = grad.shape[1]
    rate_err = np.sqrt(np.einsum("ri,ij,rj->r", grad, cov[:k, :k], grad))
    out.update(_rate_vars(rate, rate_err))
    return out


def _result_vars(names, coef, stderr, cov, status, message, chi2, chi2_red, *, batch, lo, hi) -> dict[str, Any]:
    one = {"units": "1"}
    status = np.asarray(status, dtype=np.int8)
    return {
        "coefficients": xr.DataArray(coef, dims=batch + ("param",), coords={"param": names},
                                     attrs={**one, "lower_bounds": np.asarray(lo, float),
                                            "upper_bounds": np.asarray(hi, float),
                                            "param_units": "beta0: 1, rate: 1/s, stretch: 1, D: (1/s)·Å^p, p: 1"}),
        "stderr": xr.DataArray(stderr, dims=batch + ("param",), coords={"param": names}, attrs=dict(one)),
        "covariance": xr.DataArray(cov, dims=batch + ("cov_i", "cov_j"),
                                   coords={"cov_i": names, "cov_j": names}, attrs=dict(one)),
        "status": xr.DataArray(status, dims=batch, attrs={**one, "long_name": "fit status", **STATUS_FLAGS}),
        "success": xr.DataArray(status == Status.CONVERGED, dims=batch, attrs=dict(one)),
        "message": xr.DataArray(np.asarray(message, dtype=str), dims=batch, attrs=dict(one)),
        "chi2": xr.DataArray(chi2, dims=batch, attrs=dict(one)),
        "chi2_red": xr.DataArray(chi2_red, dims=batch, attrs=dict(one)),
    }


def _rate_vars(rate: np.ndarray, rate_err: np.ndarray) -> dict[str, Any]:
    with np.errstate(divide="ignore", invalid="ignore"):
        tau = 1.0 / rate
        tau_err = rate_err / rate**2
    return {
        "rate": xr.DataArray(rate, dims=("roi",), attrs={"units": "1/s", "long_name": "relaxation rate Γ of g1"}),
        "rate_err": xr.DataArray(rate_err, dims=("roi",), attrs={"units": "1/s", "long_name": "stderr of rate"}),
        "tau_c": xr.DataArray(tau, dims=("roi",), attrs={"units": "s", "long_name": "correlation time 1/Γ"}),
        "tau_c_err": xr.DataArray(tau_err, dims=("roi",), attrs={"units": "s", "long_name": "stderr of tau_c"}),
    }


def evaluate_dynamics(ds: xr.Dataset, exposure: Any, *, estimator: str = "beta") -> xr.DataArray:
    """The fitted β(T) model of :func:`fit_dynamics` on exposure times ``exposure`` [s].

    Returns
    -------
    DataArray, dims (roi, exposure_model)
        Model contrast per ROI on the given exposure grid.
    """
    name = f"{estimator}_nlsq_coefficients"
    if name not in ds:
        raise XsvsError(f"no {name!r} in the dataset; run fit_dynamics first")
    coef = ds[name]
    model = coef.attrs["model"]
    T = np.asarray(exposure, float)
    rate = ds["rate"].values
    if "roi" in coef.dims:
        b0 = coef.sel(param="beta0").values
        st = coef.sel(param="stretch").values[:, None] if model == "stretched" else 1.0
    else:
        b0 = np.array([coef.sel(param=f"beta0_{int(r)}").item() for r in ds["roi"].values])
        st = coef.sel(param="stretch").item() if model == "stretched" else 1.0
    pred = b0[:, None] * _shape(model, T[None, :], rate[:, None], st)
    return xr.DataArray(pred, dims=("roi", "exposure_model"),
                        coords={"roi": ds["roi"].values, "exposure_model": ("exposure_model", T, {"units": "s"})},
                        attrs={"units": "1", "long_name": f"fitted {model} model of {estimator}"})
