r"""One-time g2(τ) models: single, stretched and double exponential (pure JAX).

Equations (Siegert relation g2 = baseline + contrast·|g1|², g1 the field correlation)::

    single_exponential:     g2 = baseline + contrast · exp(−2 Γ τ)
    stretched_exponential:  g2 = baseline + contrast · exp(−2 (Γ τ)^stretch)
    double_exponential:     g2 = baseline + contrast · [f exp(−Γ_fast τ) + (1 − f) exp(−Γ_slow τ)]²

with g1 = exp(−Γτ) (Brownian diffusion: Γ = D q², Berne & Pecora 1976) or the
Kohlrausch–Williams–Watts form g1 = exp(−(Γτ)^stretch) (stretch < 1: a distribution of
relaxation times, > 1: compressed, ballistic-like dynamics).

Conventions:

* τ [s] are the lag times of the g2 Dataset (> 0); Γ, Γ_fast, Γ_slow [1/s];
  ``baseline``, ``contrast``, ``stretch`` and ``fraction`` (f) are dimensionless.
* Parameters broadcast against τ: scalars give a curve of τ's shape; arrays of shape
  (n_roi, 1) with τ of shape (n_tau,) give (n_roi, n_tau).
* ``stretch``: (Γτ) is floored at the smallest positive float before the power, so the
  value and its gradient stay finite for any τ ≥ 0.
* ``double_exponential``: the REPORTED parameters are ``gamma_fast`` > ``gamma_slow``
  and ``fraction`` (the amplitude of the fast mode in g1). Fits use
  :func:`double_exponential_ordered`, parametrised by ``gamma_slow`` and
  ``log_excess`` = ln(Γ_fast/Γ_slow − 1), so that Γ_fast = Γ_slow·(1 + e^log_excess)
  > Γ_slow for every value and the two labels can never swap.

References
----------
B. J. Berne and R. Pecora, *Dynamic Light Scattering* (Wiley, 1976), ch. 5 (Siegert
relation, g1 of diffusing particles).
G. Williams and D. C. Watts, "Non-symmetrical dielectric relaxation behaviour arising
from a simple empirical decay function", Trans. Faraday Soc. 66, 80 (1970),
doi:10.1039/TF9706600080 (the stretched exponential).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from .base import Model, ModelError
from .registry import Parameter, Prior, register

__all__ = [
    "DOUBLE_EXPONENTIAL",
    "Derived",
    "G2Model",
    "SINGLE_EXPONENTIAL",
    "STRETCHED_EXPONENTIAL",
    "PARAMETERS",
    "MODEL_PARAMETERS",
    "single_exponential",
    "stretched_exponential",
    "double_exponential",
    "double_exponential_ordered",
    "gamma_fast_from",
    "log_excess_from",
    "initial_g2_guess",
]

_RATE_PRIOR = Prior("lognormal", 0.0, 5.0)

#: Metadata of every one-time parameter (not registered: the registry connects them).
PARAMETERS: Mapping[str, Parameter] = MappingProxyType(
    {
        "baseline": Parameter("baseline", "1", 0.0, 2.0, 1.0, "g2 at long lags (1 for ergodic, normalised data)"),
        "contrast": Parameter("contrast", "1", 0.0, 1.0, 0.2, "speckle contrast: g2(0) − baseline"),
        "gamma": Parameter("gamma", "1/s", 1e-8, 1e8, 1.0, "relaxation rate Γ of g1 = exp(−Γτ)",
                           prior=_RATE_PRIOR),
        "stretch": Parameter("stretch", "1", 0.1, 2.5, 1.0, "KWW exponent of g1 = exp(−(Γτ)^stretch)"),
        "gamma_fast": Parameter("gamma_fast", "1/s", 1e-8, 1e8, 10.0, "rate of the fast mode (> gamma_slow)",
                                prior=_RATE_PRIOR),
        "gamma_slow": Parameter("gamma_slow", "1/s", 1e-8, 1e8, 1.0, "rate of the slow mode",
                                prior=_RATE_PRIOR),
        "fraction": Parameter("fraction", "1", 0.0, 1.0, 0.5, "amplitude of the fast mode in g1"),
        "log_excess": Parameter("log_excess", "1", -10.0, 12.0, 1.0,
                                "ln(gamma_fast/gamma_slow − 1), the fit coordinate of the double exponential",
                                prior=Prior("normal", 1.0, 4.0)),
    }
)

#: Reported parameter names of each model, in the order of the model functions' arguments.
MODEL_PARAMETERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "single_exponential": ("baseline", "contrast", "gamma"),
        "stretched_exponential": ("baseline", "contrast", "gamma", "stretch"),
        "double_exponential": ("baseline", "contrast", "gamma_fast", "gamma_slow", "fraction"),
    }
)

_TINY = float(np.finfo(np.float64).tiny)


def single_exponential(tau: Any, baseline: Any, contrast: Any, gamma: Any) -> jnp.ndarray:
    """``g2 = baseline + contrast · exp(−2 Γ τ)``; τ [s], Γ [1/s] (module docstring)."""
    return baseline + contrast * jnp.exp(-2.0 * gamma * tau)


def stretched_exponential(tau: Any, baseline: Any, contrast: Any, gamma: Any, stretch: Any) -> jnp.ndarray:
    """``g2 = baseline + contrast · exp(−2 (Γ τ)^stretch)`` (KWW); τ [s], Γ [1/s]."""
    x = jnp.maximum(gamma * tau, _TINY)
    return baseline + contrast * jnp.exp(-2.0 * x**stretch)


def double_exponential(tau: Any, baseline: Any, contrast: Any, gamma_fast: Any, gamma_slow: Any,
                       fraction: Any) -> jnp.ndarray:
    """``g2 = baseline + contrast · [f e^{−Γ_fast τ} + (1 − f) e^{−Γ_slow τ}]²``; τ [s], Γ [1/s].

    The reported parametrisation; no order of the rates is imposed here (fits use
    :func:`double_exponential_ordered`).
    """
    g1 = fraction * jnp.exp(-gamma_fast * tau) + (1.0 - fraction) * jnp.exp(-gamma_slow * tau)
    return baseline + contrast * g1**2


def gamma_fast_from(gamma_slow: Any, log_excess: Any) -> Any:
    """``Γ_fast = Γ_slow · (1 + exp(log_excess))`` [1/s], always > Γ_slow."""
    return gamma_slow * (1.0 + jnp.exp(log_excess))


def log_excess_from(gamma_fast: float, gamma_slow: float) -> float:
    """Inverse of :func:`gamma_fast_from`: ``ln(Γ_fast/Γ_slow − 1)``; needs Γ_fast > Γ_slow > 0."""
    gf, gs = float(gamma_fast), float(gamma_slow)
    if not (gs > 0 and gf > gs):
        raise ValueError(f"need gamma_fast > gamma_slow > 0 [1/s], got gamma_fast={gf!r}, gamma_slow={gs!r}")
    return float(np.log(gf / gs - 1.0))


def double_exponential_ordered(tau: Any, baseline: Any, contrast: Any, gamma_slow: Any, log_excess: Any,
                               fraction: Any) -> jnp.ndarray:
    """:func:`double_exponential` with ``Γ_fast = Γ_slow (1 + e^log_excess)`` (the fit parametrisation)."""
    return double_exponential(tau, baseline, contrast, gamma_fast_from(gamma_slow, log_excess), gamma_slow, fraction)


def _clip(name: str, v: float) -> float:
    p = PARAMETERS[name]
    return float(np.clip(v, p.lower, p.upper))


def _median3(y: np.ndarray) -> np.ndarray:
    if y.size < 3:
        return y
    pad = np.r_[y[0], y, y[-1]]
    return np.median(np.stack([pad[:-2], pad[1:-1], pad[2:]]), axis=0)


def _half_decay_rate(t: np.ndarray, y: np.ndarray, baseline: float, contrast: float) -> float:
    """Γ = ln 2 / (2 τ½), τ½ where the median-of-3 smoothed (y − baseline)/contrast first reaches ½."""
    z = _median3((y - baseline) / contrast)
    below = np.flatnonzero(z <= 0.5)
    if below.size == 0:
        t_half = 2.0 * t[-1]  # slower than the window
    elif below[0] == 0:
        t_half = 0.5 * t[0]  # faster than the first lag
    else:
        k = below[0]
        z0, z1 = z[k - 1], z[k]
        w = (z0 - 0.5) / (z0 - z1) if z0 != z1 else 0.5
        t_half = float(np.exp(np.log(t[k - 1]) + w * (np.log(t[k]) - np.log(t[k - 1]))))
    return float(np.log(2.0) / (2.0 * t_half))  # exp(−2Γ τ½) = 1/2


def _profile_refine(t: np.ndarray, y: np.ndarray, w: np.ndarray, baseline: float, contrast: float,
                    gamma: float) -> tuple[float, float, float]:
    """Best (baseline, contrast, Γ) of the single exponential over Γ·[1/30, 30] (61 log steps),
    baseline and contrast ≥ 0 solved by weighted linear least squares at each Γ; the start is
    kept unless a grid point has a lower χ²."""
    def chi2(b: np.ndarray, c: np.ndarray, e: np.ndarray) -> np.ndarray:
        return np.sum(w * (y - b[:, None] - c[:, None] * e) ** 2, axis=1)

    grid = gamma * np.geomspace(1 / 30, 30, 61)
    e = np.exp(-2.0 * grid[:, None] * t[None, :])  # (K, n)
    sw, se, see = w.sum(), e @ w, (e * e) @ w
    sy, sey = np.sum(w * y), (e * y) @ w
    det = sw * see - se**2
    with np.errstate(invalid="ignore", divide="ignore"):
        c = (sw * sey - se * sy) / det
        b = (sy - c * se) / sw
    c = np.where(np.isfinite(c) & (c > 0), c, np.nan)
    x2 = np.where(np.isfinite(c), chi2(np.nan_to_num(b), np.nan_to_num(c), e), np.inf)
    start = float(chi2(np.array([baseline]), np.array([contrast]), np.exp(-2.0 * gamma * t)[None])[0])
    k = int(np.argmin(x2))
    if not x2[k] < start:
        return baseline, contrast, gamma
    return float(b[k]), float(c[k]), float(grid[k])


def _guess_one(tau: np.ndarray, y: np.ndarray, ok: np.ndarray, w: np.ndarray) -> dict[str, float]:
    defaults = {k: PARAMETERS[k].initial for k in ("baseline", "contrast", "gamma", "stretch", "fraction")}
    t, y = tau[ok], y[ok]
    if t.size < 3:
        g = defaults["gamma"]
        return {**defaults, "gamma_fast": 3.0 * g, "gamma_slow": g / 3.0}
    n_tail = max(3, t.size // 10)
    n_head = max(2, min(3, t.size // 10))
    baseline = float(np.median(y[-n_tail:]))
    head = float(np.mean(y[:n_head])) - baseline
    contrast = head if head > 1e-6 else 1e-3  # no visible decay: a small contrast
    gamma = _half_decay_rate(t, y, baseline, contrast)
    for _ in range(3 if head > 1e-6 else 0):  # the first lags may already have decayed: extrapolate to τ = 0
        decay = float(np.mean(np.exp(-2.0 * gamma * t[:n_head])))
        contrast = head / max(decay, 0.1)
        gamma = _half_decay_rate(t, y, baseline, contrast)
    baseline, contrast, gamma = _profile_refine(t, y, w[ok], baseline, contrast, gamma)
    return {
        "baseline": _clip("baseline", baseline),
        "contrast": _clip("contrast", contrast),
        "gamma": _clip("gamma", gamma),
        "stretch": defaults["stretch"],
        "gamma_fast": _clip("gamma_fast", 3.0 * gamma),
        "gamma_slow": _clip("gamma_slow", gamma / 3.0),
        "fraction": defaults["fraction"],
    }


def initial_g2_guess(tau: Any, g2: Any, g2_err: Any | None = None) -> dict[str, Any]:
    """Data-driven starting values of every one-time parameter (numpy, no fit).

    ``baseline`` is the median of the last tenth of the valid points (at least 3),
    ``contrast`` the mean of the first valid points (2–3) minus the baseline, and
    ``gamma`` = ln 2 / (2 τ½) from the half-decay time τ½ at which the median-of-3
    smoothed (g2 − baseline)/contrast first falls to ½ (log-τ interpolation; 2·τ_max if
    it never does, τ_min/2 if it already has at the first lag). Once Γ is known, the
    contrast is extrapolated to τ = 0 (divided by the mean of exp(−2Γτ) over the first
    points, at most 10×) and Γ is taken again (three times). Last, Γ is profiled on a log
    grid over [Γ/30, 30Γ] (61 points) with baseline and contrast > 0 solved by weighted
    linear least squares at each (1/g2_err² weights), and the grid's best replaces the
    start where it has a lower χ² (curves that have not decayed, or decayed before the
    first lag, would otherwise start far off). The double exponential
    starts at Γ_fast = 3Γ, Γ_slow = Γ/3, f = ½, the stretch at 1. Every value is clipped
    to the default bounds of ``PARAMETERS`` (``xpcsnb.models.onetime``).

    Parameters
    ----------
    tau : array_like, shape (n_tau,)
        Lag times [s].
    g2 : array_like, shape (n_tau,) or (n_roi, n_tau)
        g2 values; non-finite points are ignored.
    g2_err : array_like, same shape as ``g2``, optional
        Standard errors; points with a non-finite error or an error <= 0 are ignored
        (the rule of :func:`xpcsnb.core.g2.valid_points`).

    Returns
    -------
    dict
        ``baseline``, ``contrast``, ``gamma`` [1/s], ``stretch``, ``gamma_fast`` [1/s],
        ``gamma_slow`` [1/s], ``fraction``: floats for a 1-D ``g2``, arrays (n_roi,) for
        2-D. Curves with fewer than 3 valid points get the defaults of ``PARAMETERS``.
    """
    t = np.asarray(tau, dtype=float)
    y = np.asarray(g2, dtype=float)
    if t.ndim != 1 or y.shape[-1] != t.size or y.ndim not in (1, 2):
        raise ValueError(f"need tau (n_tau,) and g2 (n_tau,) or (n_roi, n_tau), got {t.shape} and {y.shape}")
    ok = np.isfinite(y) & np.isfinite(t) & (t > 0)
    w = np.ones(y.shape)
    if g2_err is not None:
        e = np.asarray(g2_err, dtype=float)
        if e.shape != y.shape:
            raise ValueError(f"g2_err has shape {e.shape} but g2 has shape {y.shape}")
        ok &= np.isfinite(e) & (e > 0)
        w = np.where(ok, 1.0 / np.where(ok, e, 1.0) ** 2, 0.0)
    if y.ndim == 1:
        return _guess_one(t, y, ok, w)
    rows = [_guess_one(t, y[i], ok[i], w[i]) for i in range(y.shape[0])]
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}



# ---------------------------------------------------------------------- registered models
class Derived(NamedTuple):
    """A reported quantity computed from a g2 model's fit parameters (e.g. Γ_fast).

    Attributes
    ----------
    parameter : Parameter
        Its name, unit and description (bounds are informative only).
    function : callable
        ``function(theta)`` → value, a pure JAX function of the full parameter vector
        (module level, so that it pickles); its stderr follows by the delta method.
    """

    parameter: Parameter
    function: Callable[[Any], Any]


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class G2Model(Model):
    """A one-time g2 model: ``signal(theta, tau)`` → g2(τ) [1] for one ROI.

    ``theta`` holds the fit parameters in the order of ``parameters``, τ [s] has
    shape (n_tau,); the result has τ's shape. ``kind`` is ``"g2"``.

    Attributes
    ----------
    rate : str, optional
        The parameter that follows a rate law Γ(q) = D·q^p in a joint fit over q
        (``rate_law=``); None if the model has none.
    per_roi : tuple of str
        Parameters that stay per ROI in a joint fit (the Siegert factors ``baseline``,
        ``contrast``); every other parameter except ``rate`` is shared by the ROIs.
    guess : callable, optional
        ``guess(start)`` → ``{name: value}`` of every parameter, from the data-driven
        starts of :func:`initial_g2_guess` for one ROI (a dict of floats).
    derived : tuple of Derived
        Reported quantities that are functions of the fit parameters (the double
        exponential's ``gamma_fast``); results list them after the parameters.
    alternatives : callable, optional
        ``alternatives(start)`` → list of ``{name: value}`` (some or all parameters) from
        the start ``guess`` made: further starts, tried by an independent fit whose first
        start did not end in a success (the lowest χ² is kept).
    """

    kind: str = "g2"
    rate: str | None = None
    per_roi: tuple[str, ...] = ("baseline", "contrast")
    guess: Callable[[Mapping[str, float]], dict[str, float]] | None = None
    derived: tuple[Derived, ...] = ()
    alternatives: Callable[[Mapping[str, float]], list[dict[str, float]]] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"g2 model {self.name!r}"
        if self.kind != "g2":
            raise ModelError(f"{where}: a G2Model has kind 'g2', got {self.kind!r}")
        names = self.parameter_names
        if self.rate is not None and self.rate not in names:
            raise ModelError(f"{where}: rate {self.rate!r} is not one of its parameters {list(names)}")
        object.__setattr__(self, "per_roi", tuple(self.per_roi))
        bad = [n for n in self.per_roi if n not in names or n == self.rate]
        if bad:
            raise ModelError(f"{where}: per_roi names {bad}, which are not its (non-rate) parameters {list(names)}")
        for what in ("guess", "alternatives"):
            if getattr(self, what) is not None and not callable(getattr(self, what)):
                raise ModelError(f"{where}: {what} must be callable or None")
        object.__setattr__(self, "derived", tuple(self.derived))
        for d in self.derived:
            if not isinstance(d, Derived) or d.parameter.name in names:
                raise ModelError(f"{where}: derived entries must be Derived objects with new names, got {d!r}")


def _single_signal(theta: Any, tau: Any) -> jnp.ndarray:
    return single_exponential(tau, theta[0], theta[1], theta[2])


def _stretched_signal(theta: Any, tau: Any) -> jnp.ndarray:
    return stretched_exponential(tau, theta[0], theta[1], theta[2], theta[3])


def _double_signal(theta: Any, tau: Any) -> jnp.ndarray:
    return double_exponential_ordered(tau, theta[0], theta[1], theta[2], theta[3], theta[4])


def _gamma_fast(theta: Any) -> Any:
    return gamma_fast_from(theta[2], theta[3])


def _single_guess(start: Mapping[str, float]) -> dict[str, float]:
    return {n: float(start[n]) for n in ("baseline", "contrast", "gamma")}


def _stretched_guess(start: Mapping[str, float]) -> dict[str, float]:
    return {n: float(start[n]) for n in ("baseline", "contrast", "gamma", "stretch")}


def _double_guess(start: Mapping[str, float]) -> dict[str, float]:
    out = {n: float(start[n]) for n in ("baseline", "contrast", "gamma_slow", "fraction")}
    out["log_excess"] = log_excess_from(start["gamma_fast"], start["gamma_slow"])
    return out


def _rate_alternatives(start: Mapping[str, float]) -> list[dict[str, float]]:
    """Γ a decade lower and higher than the data-driven start."""
    g = float(start["gamma"])
    return [{"gamma": g / 10.0}, {"gamma": 10.0 * g}]


def _stretched_alternatives(start: Mapping[str, float]) -> list[dict[str, float]]:
    """A stretched start (0.5) and Γ a decade lower."""
    return [{"stretch": 0.5}, {"gamma": float(start["gamma"]) / 10.0}]


def _double_alternatives(start: Mapping[str, float]) -> list[dict[str, float]]:
    """A mostly slow (f = 0.2) and a mostly fast (f = 0.8) start."""
    return [{"fraction": 0.2}, {"fraction": 0.8}]


_P = PARAMETERS
#: ``single_exponential``: g2 = baseline + contrast · exp(−2Γτ).
SINGLE_EXPONENTIAL = register(G2Model(
    name="single_exponential", signal=_single_signal, rate="gamma", guess=_single_guess,
    alternatives=_rate_alternatives,
    parameters=(_P["baseline"], _P["contrast"], _P["gamma"]),
    time_convention="lag times tau [s] of the g2 Dataset",
))
#: ``stretched_exponential``: g2 = baseline + contrast · exp(−2(Γτ)^stretch).
STRETCHED_EXPONENTIAL = register(G2Model(
    name="stretched_exponential", signal=_stretched_signal, rate="gamma", guess=_stretched_guess,
    alternatives=_stretched_alternatives,
    parameters=(_P["baseline"], _P["contrast"], _P["gamma"], _P["stretch"]),
    time_convention="lag times tau [s] of the g2 Dataset",
))
#: ``double_exponential``: fitted in (gamma_slow, log_excess) so that gamma_fast > gamma_slow always;
#: ``gamma_fast`` is reported as a derived parameter.
DOUBLE_EXPONENTIAL = register(G2Model(
    name="double_exponential", signal=_double_signal, rate="gamma_slow", guess=_double_guess,
    alternatives=_double_alternatives,
    parameters=(_P["baseline"], _P["contrast"], _P["gamma_slow"], _P["log_excess"], _P["fraction"]),
    derived=(Derived(_P["gamma_fast"], _gamma_fast),),
    time_convention="lag times tau [s] of the g2 Dataset",
))
