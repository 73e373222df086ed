r"""Speckle contrast from photon statistics: negative-binomial ML fit and fast estimators.

Model
-----
The count ``K`` of a pixel with mean ``μ`` in a speckle pattern of ``M`` coherent modes
follows the negative binomial (Poisson–Gamma) distribution

.. math:: P(K) = \frac{Γ(K+M)}{Γ(K+1)Γ(M)} \Big(\frac{μ}{μ+M}\Big)^K \Big(\frac{M}{μ+M}\Big)^M,

with contrast ``β = 1/M`` and ``Var K = μ + β μ²``. Written in ``β`` it reads

.. math:: \ln P(K) = \sum_{j<K} \ln(1+jβ) − \ln K! + K\ln μ − K\ln(1+μβ) − \ln(1+μβ)/β,

which is exact, free of large cancelling ``lnΓ`` terms and continuous at ``β = 0``
(the Poisson limit ``M → ∞``). All fits here are parametrised by ``β ∈ [0, β_max]``, so
a Poisson pattern gives ``β = 0`` with status ``POISSON_LIMIT`` instead of a huge ``M``.

Estimators (all per exposure and ROI, vectorised; errors by jackknife over frames unless
stated):

* :func:`fit_beta_ml` — maximum likelihood over all (pixel, frame) counts with the mean
  fixed per frame to the frame mean ``K̄_f`` (which is the ML estimate of ``μ`` for the
  NB; ``μ`` and ``β`` are orthogonal parameters, so the profile curvature gives the
  standard error). Standard error from the observed information ``−∂²ℓ/∂β²``.
* :func:`beta_ratio` — exact ratio of consecutive probabilities: for the NB
  ``P(k)/P(k+1) = (k+1)(μ+M)/((k+M)μ)``; summed over frames as the estimating equation
  ``Σ_f μ_f n_k,f − (k+1) n_k+1,f = β Σ_f μ_f ((k+1) n_k+1,f − k n_k,f)``, exact in
  expectation at any ``K̄`` and robust to drifting ``K̄_f`` and to empty bins.
* :func:`beta_variance` — moments, ``(⟨K²⟩ − ⟨K⟩² − ⟨K⟩)/⟨K⟩²`` per frame with unbiased
  variance and the ``Var(K̄_f)`` correction of the denominator, combined over frames as a
  ratio of sums. With a flat field the pixel weights ``w = 1/f`` make it exact.
* :func:`beta_lowcount` — pyxsvs' ``R − 1`` with ``R = 2P(2)(1−P(1))/P(1)²``. **Biased**:
  exactly ``R = (1+β)(1+K̄/M)^M (1−P(1))``, so ``R − 1`` exceeds ``β`` by O(K̄); at
  ``β = 0.5`` it gives 0.500 / 0.503 / 0.511 / 0.592 for ``K̄`` = 0.01 / 0.05 / 0.1 / 0.3.
  A diagnostic only.

References
----------
J. W. Goodman, *Speckle Phenomena in Optics* (Roberts & Company, 2007): the negative
binomial count statistics of integrated speckle with M modes.

R. Bandyopadhyay, A. S. Gittings, S. S. Suh, P. K. Dixon, D. J. Durian, "Speckle-visibility
spectroscopy: A tool to study time-varying dynamics", Rev. Sci. Instrum. 76, 093110
(2005), doi:10.1063/1.2037987.

L. Li et al., J. Synchrotron Rad. 21, 1288 (2014), doi:10.1107/S1600577514015847
(photon statistics and XSVS with partially coherent X-rays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from .._warn import warn
from ..core.errors import XsvsError
from ..core.status import Status

__all__ = [
    "STATUS_FLAGS",
    "MLResult",
    "nb_logpmf",
    "nb_pmf",
    "nb_loglik",
    "fit_beta_ml",
    "beta_ratio",
    "beta_variance",
    "beta_lowcount",
    "jackknife_ratio",
]

#: CF flag attributes of a variable of :class:`~xpcsnb.core.status.Status` codes.
STATUS_FLAGS = {"flag_values": np.array([int(s) for s in Status], dtype=np.int8),
                "flag_meanings": " ".join(s.name.lower() for s in Status)}

#: The outcomes of the ML contrast fit: an interior maximum, β = 0 (no excess variance
#: over Poisson), β at ``beta_max``, and no photon in the cell.
ML_STATUSES = (Status.CONVERGED, Status.POISSON_LIMIT, Status.AT_BOUND, Status.NO_DATA)


def __getattr__(name: str) -> Any:
    if name == "FIT_STATUS":
        warn("xpcsnb.xsvs.FIT_STATUS is deprecated: fit_status holds xpcsnb.core.status.Status codes "
             "(its flag_values/flag_meanings attributes name them)", DeprecationWarning)
        return {int(s): s.name.lower() for s in ML_STATUSES}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def nb_logpmf(k: np.ndarray, mean: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Log of the negative-binomial pmf at integer ``k`` with contrast ``beta = 1/M``.

    Parameters
    ----------
    k : array_like of int
        Photon counts (≥ 0).
    mean : array_like
        Mean count ``K̄`` [photons] (≥ 0).
    beta : array_like
        Contrast ``β = 1/M`` (≥ 0; 0 is the Poisson limit).

    Returns
    -------
    ndarray
        ``ln P(k)``, broadcast over the inputs.

    Notes
    -----
    The rising factorial ``Γ(k+M)/Γ(M)·β^k = Π_{j<k}(1+jβ)`` is summed as logs, so no
    ``lnΓ`` of a large ``M`` is ever subtracted; ``ln k!`` uses :obj:`scipy.special.gammaln`.
    """
    k, mean, beta = np.broadcast_arrays(np.asarray(k), np.asarray(mean, float), np.asarray(beta, float))
    if np.any(k < 0) or np.any(k != np.round(k)):
        bad = np.unique(k[(k < 0) | (k != np.round(k))])
        raise XsvsError(f"k must be non-negative integer photon counts, got {bad[:5].tolist()}")
    k = k.astype(np.int64)
    kmax = int(k.max()) if k.size else 0
    j = np.arange(max(kmax, 1))
    table = np.concatenate(
        [np.zeros(beta.shape + (1,)), np.cumsum(np.log1p(j * beta[..., None]), axis=-1)], axis=-1)
    rising = np.take_along_axis(table, k[..., None], axis=-1)[..., 0]
    x = mean * beta
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(beta > 0, np.log1p(x) / np.where(beta > 0, beta, 1.0), mean)
        logmu = np.where(k > 0, k * np.log(mean), 0.0)
    return rising - gammaln(k + 1.0) + logmu - k * np.log1p(x) - tail


def nb_pmf(k: np.ndarray, mean: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Negative-binomial probability ``P(k)``; see :func:`nb_logpmf`."""
    return np.exp(nb_logpmf(k, mean, beta))


# ---------------------------------------------------------------------------
# L(x) = log1p(x)/x and its derivatives, stable at small x
_SERIES_X = 1e-2
_N_SERIES = 10


def _L(x: np.ndarray, d: int) -> np.ndarray:
    """``d``-th derivative (0, 1, 2) of ``L(x) = log1p(x)/x`` for ``x ≥ 0``."""
    x = np.asarray(x, float)
    small = x < _SERIES_X
    xs = np.where(small, x, 0.0)
    n = np.arange(_N_SERIES).reshape((_N_SERIES,) + (1,) * x.ndim)
    xs_ = xs[None, ...]
    if d == 0:
        coef = (-1.0) ** n / (n + 1)
        series = np.sum(coef * xs_**n, axis=0)
    elif d == 1:
        m = n + 1
        series = np.sum((-1.0) ** m * m / (m + 1) * xs_**n, axis=0)
    else:
        m = n + 2
        series = np.sum((-1.0) ** m * m * (m - 1) / (m + 1) * xs_**n, axis=0)
    xl = np.where(small, 1.0, x)
    lg = np.log1p(xl)
    if d == 0:
        closed = lg / xl
    elif d == 1:
        closed = (xl / (1 + xl) - lg) / xl**2
    else:
        closed = (2 * lg / xl - 2 / (1 + xl) - xl / (1 + xl) ** 2) / xl**2
    return np.where(small, series, closed)


@dataclass(frozen=True)
class _CellData:
    """Sufficient statistics of the NB likelihood of one cell (1-D fields) or of C cells
    (2-D fields, cells along axis 0, padded with zeros)."""

    tail: np.ndarray  # (C, n_k) T_j = number of (pixel, frame) counts with K > j
    S: np.ndarray  # (C, n_obs) photon sums per (frame, group)
    N: np.ndarray  # (C, n_obs) pixels per (frame, group)
    mu: np.ndarray  # (C, n_obs) expected count per pixel of (frame, group)


def nb_loglik(beta, data: _CellData, deriv: int = 0, cells=None):
    """β-dependent part of the NB log-likelihood, or its 1st/2nd derivative in β.

    ``ℓ(β) = Σ_j T_j ln(1+jβ) − Σ_{f,g} [S_fg ln(1+μ_fg β) + N_g μ_fg L(μ_fg β)]`` with
    ``T_j`` the number of counts above ``j`` and ``L(x) = ln(1+x)/x``.

    Parameters
    ----------
    beta : float or ndarray, shape (C',)
        Contrast values, one per evaluated cell.
    data : _CellData
        1-D fields (one cell) or 2-D fields (cells along axis 0).
    deriv : {0, 1, 2}
        Derivative order.
    cells : ndarray of int, shape (C',), optional
        Which cells of a 2-D ``data`` to evaluate (default: all).

    Returns
    -------
    float or ndarray, shape (C',)
    """
    single = np.ndim(data.tail) == 1
    tail, S, N, mu = (np.atleast_2d(a) for a in (data.tail, data.S, data.N, data.mu))
    if cells is not None:
        cells = np.asarray(cells, dtype=np.intp)
        tail, S, N, mu = tail[cells], S[cells], N[cells], mu[cells]
    b = np.broadcast_to(np.asarray(beta, float), (tail.shape[0],))[:, None]
    j = np.arange(tail.shape[1])
    x = mu * b
    if deriv == 0:
        out = (np.sum(tail * np.log1p(j * b), -1) - np.sum(S * np.log1p(x), -1)
               - np.sum(N * mu * _L(x, 0), -1))
    elif deriv == 1:
        out = (np.sum(tail * (j / (1 + j * b)), -1) - np.sum(S * mu / (1 + x), -1)
               - np.sum(N * mu**2 * _L(x, 1), -1))
    else:
        out = (-np.sum(tail * (j**2 / (1 + j * b) ** 2), -1) + np.sum(S * mu**2 / (1 + x) ** 2, -1)
               - np.sum(N * mu**3 * _L(x, 2), -1))
    return float(out[0]) if single and np.ndim(beta) == 0 else out


def _fit_cells(data: _CellData, beta_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ML β for every cell of a 2-D ``data``: grid, then bracketed root of the score."""
    from scipy.optimize.elementwise import find_root

    C = data.tail.shape[0]
    beta = np.full(C, np.nan)
    status = np.full(C, Status.NO_DATA, dtype=np.int8)
    has = np.sum(data.S, axis=-1) > 0
    grid = np.concatenate([[0.0], np.geomspace(1e-6, beta_max, 48)])
    ll = np.stack([nb_loglik(g, data) for g in grid], axis=1)  # (C, n_grid)
    best = np.argmax(ll, axis=1)
    s0 = nb_loglik(0.0, data, 1)
    smax = nb_loglik(beta_max, data, 1)
    lo = grid[np.maximum(best - 1, 0)]
    hi = grid[np.minimum(best + 1, grid.size - 1)]
    s_lo = nb_loglik(lo, data, 1)
    s_hi = nb_loglik(hi, data, 1)
    poisson = has & (best == 0) & (s0 <= 0)
    upper = has & (best == grid.size - 1) & (smax >= 0)
    interior = has & ~poisson & ~upper
    bracketed = interior & (s_lo > 0) & (s_hi < 0)
    beta[poisson], status[poisson] = 0.0, Status.POISSON_LIMIT
    beta[upper], status[upper] = beta_max, Status.AT_BOUND
    idx = np.flatnonzero(bracketed)
    if idx.size:
        res = find_root(lambda b, c: nb_loglik(b, data, 1, cells=c), (lo[idx], hi[idx]), args=(idx,),
                        tolerances={"xatol": 1e-14, "xrtol": 1e-12})
        beta[idx], status[idx] = res.x, Status.CONVERGED
    for c in np.flatnonzero(interior & ~bracketed):  # no sign change around the grid maximum
        opt = minimize_scalar(lambda b: -nb_loglik(b, data, 0, cells=[c])[0], bounds=(lo[c], hi[c]),
                              method="bounded", options={"xatol": 1e-12})
        beta[c], status[c] = opt.x, Status.CONVERGED
    info = np.full(C, np.nan)
    ok = np.flatnonzero(has)
    if ok.size:
        info[ok] = -nb_loglik(beta[ok], data, 2, cells=ok)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(info > 0, 1.0 / np.sqrt(np.where(info > 0, info, 1.0)), np.where(has, np.inf, np.nan))
    return beta, err, status


@dataclass(frozen=True)
class MLResult:
    """Maximum-likelihood contrast per cell.

    Attributes
    ----------
    beta, beta_err : ndarray
        Contrast ``β = 1/M`` and its standard error from the observed information.
    status : ndarray of int8
        :class:`~xpcsnb.core.status.Status` codes (:data:`ML_STATUSES`).
    """

    beta: np.ndarray
    beta_err: np.ndarray
    status: np.ndarray


def fit_beta_ml(counts: np.ndarray, group_sum: np.ndarray, group_npix: np.ndarray,
                group_flat: np.ndarray, valid: np.ndarray, *, beta_max: float = 10.0) -> MLResult:
    """Maximum-likelihood negative-binomial contrast for every (exposure, ROI).

    Parameters
    ----------
    counts : ndarray of int, shape (E, R, F, n_k)
        Per-frame histograms.
    group_sum : ndarray, shape (E, R, F, G)
        Photon sums per flat-field group (G = 1 without flat field).
    group_npix : ndarray of int, shape (R, G)
        Pixels per (ROI, group).
    group_flat : ndarray, shape (R, G)
        Mean normalised flat field per (ROI, group).
    valid : ndarray of bool, shape (E, F)
        Frames present for each exposure (ragged series).
    beta_max : float
        Upper bound of β.

    Returns
    -------
    MLResult
        Arrays of shape (E, R).

    Notes
    -----
    The likelihood is the product over all (pixel, frame) counts of
    ``NB(K; K̄_f·f_g, β)``, with ``K̄_f`` the frame's ROI mean count and ``f_g`` the
    flat-field group of the pixel (``f_g = 1`` without flat field). It depends on the data
    only through the histogram pooled over frames and the per-(frame, group) photon sums.
    The maximum is located on a grid and refined with the vectorised bracketing root
    finder :func:`scipy.optimize.elementwise.find_root` on the analytic score, all
    (exposure, ROI) cells at once; ``β = 0`` (status ``POISSON_LIMIT``) when the score at
    0 is ≤ 0, i.e. the counts show no excess variance over Poisson.
    """
    E, R, F, n_k = counts.shape
    G = group_npix.shape[1]
    npix = group_npix.sum(axis=1)
    w = valid[:, None, :, None]
    pooled = np.einsum("erfk,ef->erk", counts, valid.astype(counts.dtype), dtype=np.int64)  # (E, R, n_k)
    tail = pooled[..., ::-1].cumsum(axis=-1)[..., ::-1]
    tail = np.concatenate([tail[..., 1:], np.zeros((E, R, 1), dtype=tail.dtype)], axis=-1)
    S = np.where(w, group_sum, 0.0)  # (E, R, F, G)
    mean_f = S.sum(axis=-1) / npix[None, :, None]  # (E, R, F)
    mu = mean_f[..., None] * group_flat[None, :, None, :]
    N = np.where(w, group_npix[None, :, None, :], 0).astype(float) * np.ones_like(mu)
    data = _CellData(tail.reshape(E * R, n_k).astype(float), S.reshape(E * R, F * G),
                     N.reshape(E * R, F * G), mu.reshape(E * R, F * G))
    beta, err, status = _fit_cells(data, beta_max)
    return MLResult(beta.reshape(E, R), err.reshape(E, R), status.reshape(E, R))


def jackknife_ratio(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ratio of sums ``Σa/Σb`` over the last (frame) axis and its jackknife standard error.

    Parameters
    ----------
    a, b : ndarray, shape (..., F)
        Per-frame numerator and denominator terms.
    valid : ndarray of bool, broadcastable to (..., F)
        Frames to use.

    Returns
    -------
    (value, stderr) : ndarrays of shape (...)
    """
    valid = np.broadcast_to(valid, a.shape)
    a = np.where(valid, a, 0.0)
    b = np.where(valid, b, 0.0)
    n = valid.sum(axis=-1)
    A, B = a.sum(axis=-1), b.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = A / B
        loo = (A[..., None] - a) / (B[..., None] - b)
        loo_mean = np.sum(np.where(valid, loo, 0.0), axis=-1) / n
        var = (n - 1) / n * np.sum(np.where(valid, (loo - loo_mean[..., None]) ** 2, 0.0), axis=-1)
    return theta, np.sqrt(var)


def beta_ratio(counts: np.ndarray, mean_f: np.ndarray, valid: np.ndarray, k: int = 0):
    """Exact-ratio contrast from bins ``k`` and ``k+1`` (default ``k = 0``).

    Parameters
    ----------
    counts : ndarray, shape (..., F, n_k)
        Per-frame histograms.
    mean_f : ndarray, shape (..., F)
        Per-frame mean counts ``K̄_f``.
    valid : ndarray of bool, broadcastable to (..., F)
    k : int
        Lower bin of the ratio.

    Returns
    -------
    (beta, stderr) : ndarrays of shape (...)
        NaN where bins ``k``/``k+1`` are empty in every frame.
    """
    n_k = counts.shape[-1]
    nk = counts[..., k].astype(float) if k < n_k else np.zeros(counts.shape[:-1])
    nk1 = counts[..., k + 1].astype(float) if k + 1 < n_k else np.zeros(counts.shape[:-1])
    a = mean_f * nk - (k + 1) * nk1
    b = mean_f * ((k + 1) * nk1 - k * nk)
    return jackknife_ratio(a, b, valid)


def beta_variance(sum_w: np.ndarray, sum_w2: np.ndarray, sum_ww: np.ndarray, npix: np.ndarray,
                  valid: np.ndarray):
    """Moment estimator ``(Var K − K̄)/K̄²`` with flat-field weights.

    Parameters
    ----------
    sum_w, sum_w2, sum_ww : ndarray, shape (..., F)
        Per-frame ``Σ K w``, ``Σ (K w)²`` and ``Σ K w²`` (``w = 1/f``).
    npix : ndarray, broadcastable to (..., 1)
        Pixels per ROI.
    valid : ndarray of bool, broadcastable to (..., F)

    Returns
    -------
    (beta, stderr) : ndarrays of shape (...)

    Notes
    -----
    With ``y = K w`` and ``E y = K̄``, ``Var y_i = K̄ w_i + β K̄²`` per pixel, so per frame
    ``a_f = s²_y − ⟨K w²⟩`` estimates ``β K̄²`` and ``b_f = ⟨y⟩² − s²_y/N`` estimates
    ``K̄²`` (``s²`` the unbiased sample variance over the ``N`` ROI pixels). The estimate
    is ``Σ_f a_f / Σ_f b_f``.
    """
    n = np.asarray(npix, float)
    m = sum_w / n
    s2 = (sum_w2 - n * m * m) / (n - 1)
    a = s2 - sum_ww / n
    b = m * m - s2 / n
    return jackknife_ratio(a, b, valid)


def beta_lowcount(counts: np.ndarray, npix: np.ndarray, valid: np.ndarray):
    """pyxsvs' approximate ``R − 1 = 2P(2)(1−P(1))/P(1)² − 1`` (biased high, diagnostic).

    Parameters
    ----------
    counts : ndarray, shape (..., F, n_k)
    npix : ndarray, broadcastable to (..., 1)
    valid : ndarray of bool, broadcastable to (..., F)

    Returns
    -------
    (value, stderr) : ndarrays of shape (...)
        From frame-averaged ``P(1)``, ``P(2)``; jackknife error over frames.
    """
    n_k = counts.shape[-1]
    n = np.asarray(npix, float)
    valid = np.broadcast_to(valid, counts.shape[:-1])
    p1 = (counts[..., 1] if n_k > 1 else np.zeros(counts.shape[:-1])) / n
    p2 = (counts[..., 2] if n_k > 2 else np.zeros(counts.shape[:-1])) / n
    p1 = np.where(valid, p1, 0.0)
    p2 = np.where(valid, p2, 0.0)
    nf = valid.sum(axis=-1)

    def r_minus_1(s1, s2, cnt):
        q1, q2 = s1 / cnt, s2 / cnt
        return 2 * q2 * (1 - q1) / q1**2 - 1

    with np.errstate(divide="ignore", invalid="ignore"):
        S1, S2 = p1.sum(-1), p2.sum(-1)
        value = r_minus_1(S1, S2, nf)
        loo = r_minus_1(S1[..., None] - p1, S2[..., None] - p2, (nf - 1)[..., None])
        loo_mean = np.sum(np.where(valid, loo, 0.0), -1) / nf
        var = (nf - 1) / nf * np.sum(np.where(valid, (loo - loo_mean[..., None]) ** 2, 0.0), -1)
    return value, np.sqrt(var)
