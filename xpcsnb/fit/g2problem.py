r"""The g2 fit problem: a g2 Dataset + a g2 model + a FitSpec → weighted residuals over ROIs.

:class:`G2Problem` implements what :func:`xpcsnb.fit.nlsq.solve` needs (``names``,
``lower``, ``upper``, ``x0``, ``compressed(x)``, ``n_free``, ``n_data``, ``has_sigma``,
``model``, ``values(x)``, ``n_physics_free``), so g2 fits run on the same bounded trust
region, :class:`~xpcsnb.fit.solution.Solution` and :class:`~xpcsnb.core.status.Status`
as two-time fits. It knows no model by name: the model's parameters, its rate parameter
(:attr:`~xpcsnb.models.onetime.G2Model.rate`), its per-ROI parameters and its start
function come from the :class:`~xpcsnb.models.onetime.G2Model`.

Layout
------
The problem covers ``n_roi`` ROIs on the common lag grid τ (n_tau,). Each ROI's full
parameter vector θ_r (the model's parameters in order) is gathered from
``v = [x, consts]`` (the free vector, then the fixed values) by an integer index
matrix (n_roi, P), so one compiled function serves every layout:

* independent (``q_mode="independent"``): one problem per ROI (n_roi = 1); every
  ROI's problem has the same shapes, so the compiled residual/Jacobian function is
  built once and reused by the loop of solves over ROIs;
* joint (``rate_law="diffusive" | "power"``): one problem over all ROIs. The model's
  rate parameter is Γ_r = D·q_r^p (p = 2 for ``"diffusive"``), the per-ROI parameters
  (``baseline``, ``contrast``) are free per ROI and named ``baseline_r<k>``,
  ``contrast_r<k>`` (k the ROI index), and every other parameter (``stretch``,
  ``fraction``, ...) is shared by all ROIs.

Excluded points
---------------
The points that :func:`xpcsnb.core.g2.valid_points` rejects (non-finite g2,
``g2_err`` non-finite or <= 0) keep their place on the grid with weight 0: they add
nothing to χ² or the Jacobian and are not counted in ``n_data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401
from ..core.errors import G2Error
from ..core.g2 import valid_points
from ..models import get_model
from ..models.base import Model
from ..models.onetime import G2Model, initial_g2_guess
from ..models.parameters import Parameter
from .spec import FitSpec

__all__ = ["G2Problem", "LAW_PARAMETERS", "RATE_LAWS", "build_g2_problems", "check_g2_model"]

#: Rate laws of a joint fit over q: Γ(q) = D·q^p with p = 2 ("diffusive") or free ("power").
RATE_LAWS = ("diffusive", "power")


def _law_parameters(rate: Parameter) -> dict[str, Parameter]:
    return {
        "D": Parameter("D", "Å^p/s", 1e-12, 1e30, 1.0, f"prefactor of {rate.name} = D·q^p (Å²/s for p = 2)"),
        "p": Parameter("p", "1", 0.0, 6.0, 2.0, f"exponent of {rate.name} = D·q^p"),
    }


#: Parameters of a joint rate law (bounds of D are set from the data).
LAW_PARAMETERS = _law_parameters(Parameter("gamma", "1/s", 1e-8, 1e8, 1.0, "rate"))


def check_g2_model(model: str | Model) -> G2Model:
    """The registered g2 model ``model``; a two-time model name raises an error saying what to do."""
    mdl = get_model(model)
    if mdl.kind != "g2" or not isinstance(mdl, G2Model):
        raise G2Error(f"model {mdl.name!r} is a {mdl.kind} model and cannot fit a g2 Dataset; choose a g2 model "
                      "('single_exponential', 'stretched_exponential', 'double_exponential'), or fit the "
                      "two-time Dataset (ds.xpcs.fit_nlsq on c2) with it")
    return mdl


@dataclass(frozen=True)
class G2Problem:
    """Weighted least squares of a g2 model over one or several ROIs (see the module doc).

    Attributes
    ----------
    model : G2Model
    names : tuple of str
        Free parameter names.
    lower, upper, x0 : ndarray, shape (n_free,)
        Bounds and start of the free parameters.
    consts : ndarray
        Values of the fixed parameters (the tail of ``v = [x, consts]``).
    index : ndarray of int, shape (n_roi, P)
        Position in ``v`` of each ROI's model parameters.
    law_col : int
        Column of the rate parameter that follows ``D·q^p`` (−1: no rate law).
    law_index : ndarray of int, shape (2,)
        Positions of D and p in ``v`` (unused without a rate law).
    q : ndarray, shape (n_roi,)
        q of each ROI [1/Å] (NaN when unknown; only a rate law needs it).
    tau : jax array, shape (n_tau,)
        Lag times [s].
    y, w : jax arrays, shape (n_roi, n_tau)
        g2 and the weights 1/g2_err (1 without g2_err), 0 at excluded points.
    has_sigma : bool
        Whether ``w`` comes from ``g2_err``.
    roi : ndarray, shape (n_roi,)
        ROI positions in the Dataset.
    n_valid : ndarray of int, shape (n_roi,)
        Valid points per ROI.
    fixed_physics : dict
        Fixed parameters by name (the per-ROI parameters of a joint fit by their
        indexed names).
    info : dict
        ``q_mode``; for an independent fit ``alternatives`` (further starts, free vectors,
        from :attr:`~xpcsnb.models.onetime.G2Model.alternatives`); for a joint fit
        ``rate_law`` and the law's parameters.
    batch : tuple, optional
        ``(Lockstep, row)`` while the problem is solved in lockstep with others
        (:mod:`xpcsnb.fit.g2batch`): :meth:`compressed` is then answered by one batched call.
    """

    model: G2Model
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    x0: np.ndarray
    consts: np.ndarray
    index: np.ndarray
    law_col: int
    law_index: np.ndarray
    q: np.ndarray
    tau: jnp.ndarray
    y: jnp.ndarray
    w: jnp.ndarray
    has_sigma: bool
    roi: np.ndarray
    n_valid: np.ndarray
    fixed_physics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    batch: Any = field(default=None, compare=False, repr=False)

    @property
    def n_free(self) -> int:
        """Number of free parameters."""
        return len(self.names)

    @property
    def n_data(self) -> int:
        """Number of valid points (residuals that count)."""
        return int(np.sum(self.n_valid))

    @property
    def n_physics_free(self) -> int:
        """Every free parameter is a model parameter (there is no separate scaling)."""
        return self.n_free

    def _args(self) -> tuple[Any, ...]:
        """The device arrays of the compiled functions (converted once, then cached)."""
        cached = self.__dict__.get("_device")
        if cached is None:
            cached = (jnp.asarray(self.consts, dtype=jnp.float64), jnp.asarray(self.index),
                      jnp.asarray(self.law_index), jnp.asarray(self.q, dtype=jnp.float64), jnp.asarray(self.tau))
            object.__setattr__(self, "_device", cached)
        return cached

    def theta(self, x: Any) -> jnp.ndarray:
        """Each ROI's full model parameter vector, shape (n_roi, P)."""
        return _theta(jnp.asarray(x), *self._args()[:4], law_col=self.law_col)

    def predict(self, x: Any, tau: Any | None = None) -> jnp.ndarray:
        """Model g2 of every ROI, shape (n_roi, n_tau) (on ``tau`` [s] when given)."""
        t = self.tau if tau is None else jnp.asarray(tau, dtype=jnp.float64)
        return _predict(jnp.asarray(x), *self._args()[:4], t, signal=self.model.signal, law_col=self.law_col)

    def residuals(self, x: Any) -> jnp.ndarray:
        """Weighted residuals ``(y − model)·w``, flattened (n_roi·n_tau,); 0 at excluded points."""
        return _residuals(jnp.asarray(x), *self._args(), self.y, self.w, signal=self.model.signal,
                          law_col=self.law_col)

    def compressed(self, x: Any) -> tuple[jnp.ndarray, jnp.ndarray]:
        """``(r̃, J̃)``: the R factor of a QR of ``[J | r]`` (see :mod:`xpcsnb.fit.nlsq`), one compiled call."""
        if self.batch is not None:
            lock, row = self.batch
            return lock.compressed(row, x)
        return _compressed(jnp.asarray(x), *self._args(), self.y, self.w, signal=self.model.signal,
                           law_col=self.law_col)

    def reported(self, x: Any) -> jnp.ndarray:
        """Per ROI: the model parameters, then the model's derived quantities, shape (n_roi, P + n_derived)."""
        return _reported(jnp.asarray(x), *self._args()[:4], law_col=self.law_col, model=self.model)

    def reported_jacobian(self, x: Any) -> jnp.ndarray:
        """∂ reported / ∂ x, shape (n_roi, P + n_derived, n_free) (for delta-method stderr)."""
        return _reported_jac(jnp.asarray(x), *self._args()[:4], law_col=self.law_col, model=self.model)

    def values(self, x: Any) -> dict[str, float]:
        """Free and fixed parameter values by name."""
        out = dict(self.fixed_physics)
        out.update({n: float(v) for n, v in zip(self.names, np.asarray(x))})
        return out


# ------------------------------------------------------------------ compiled core
def _theta(x, consts, index, law_index, q, *, law_col):
    v = jnp.concatenate([x, consts])
    theta = v[index]
    if law_col >= 0:
        theta = theta.at[:, law_col].set(v[law_index[0]] * q ** v[law_index[1]])
    return theta


def _predict_impl(x, consts, index, law_index, q, tau, *, signal, law_col):
    theta = _theta(x, consts, index, law_index, q, law_col=law_col)
    return jax.vmap(signal, in_axes=(0, None))(theta, tau)


def _residuals_impl(x, consts, index, law_index, q, tau, y, w, *, signal, law_col):
    pred = _predict_impl(x, consts, index, law_index, q, tau, signal=signal, law_col=law_col)
    return (jnp.where(w > 0, y - pred, 0.0) * w).ravel()


def _compressed_impl(x, consts, index, law_index, q, tau, y, w, *, signal, law_col):
    def res(x_):
        return _residuals_impl(x_, consts, index, law_index, q, tau, y, w, signal=signal, law_col=law_col)

    r = res(x)
    jac = jax.jacfwd(res)(x)
    a = jnp.concatenate([jac, r[:, None]], axis=1)
    p = x.shape[0]
    short = a.shape[1] - a.shape[0]
    if short > 0:
        a = jnp.concatenate([a, jnp.zeros((short, a.shape[1]), a.dtype)], axis=0)
    rf = jnp.linalg.qr(a, mode="r")[:p + 1]
    return rf[:, p], rf[:, :p]


def _reported_impl(x, consts, index, law_index, q, *, law_col, model):
    theta = _theta(x, consts, index, law_index, q, law_col=law_col)
    if not model.derived:
        return theta
    extra = [jax.vmap(d.function)(theta)[:, None] for d in model.derived]
    return jnp.concatenate([theta] + extra, axis=1)


_predict = jax.jit(_predict_impl, static_argnames=("signal", "law_col"))
_residuals = jax.jit(_residuals_impl, static_argnames=("signal", "law_col"))
_compressed = jax.jit(_compressed_impl, static_argnames=("signal", "law_col"))
_reported = jax.jit(_reported_impl, static_argnames=("law_col", "model"))
_reported_jac = jax.jit(jax.jacfwd(_reported_impl), static_argnames=("law_col", "model"))


# ------------------------------------------------------------------ set-up
def _check_spec(spec: FitSpec, allowed: list[str], table: Mapping[str, Parameter], model: G2Model) -> None:
    if spec.scaling != "individual" or spec.contrast is not None or spec.offset is not None:
        raise G2Error("g2 fits have no per-angle scaling: drop scaling=/contrast=/offset= (the g2 model's own "
                      "'contrast' and 'baseline' are parameters: use bounds=, initial= or fixed= on them)")
    if spec.free:
        raise G2Error(f"free= names default-fixed parameters; g2 model {model.name!r} has none")
    for what, names in (("bounds", spec.bounds), ("initial", spec.initial), ("fixed", spec.fixed)):
        unknown = [n for n in names if n not in allowed]
        if unknown:
            hint = ""
            for d in model.derived:
                n = d.parameter.name
                if n in unknown:
                    sources = ", ".join(f"{q.name} = {q.description}" for q in model.parameters if n in q.description)
                    hint += (f"; {n} is not fitted but derived ({d.parameter.description}): set the fitted "
                             f"parameters it comes from instead ({sources})")
            raise G2Error(f"{what}= names {unknown}, which are not parameters of this g2 fit; it has {allowed}{hint}")
    for n, v in spec.fixed.items():
        p = table[n]
        if n in spec.bounds:
            continue
        if not p.lower <= v <= p.upper:
            raise G2Error(f"fixed value of {n!r} = {v} [{p.unit}] is outside its bounds [{p.lower}, {p.upper}]")


def _arrays(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(tau, y, w, valid) of a validated g2 Dataset (one age), with w = 1/err or 1, 0 where invalid."""
    if "t_age" in ds["g2"].dims:
        raise G2Error("this g2 Dataset is age-resolved (t_age, roi, tau); fit one age at a time, "
                      "e.g. ds.isel(t_age=0)")
    ok = valid_points(ds).mask.values
    tau = ds["tau"].values.astype(float)
    y = ds["g2"].values.astype(float)
    has_sigma = "g2_err" in ds
    if has_sigma:
        err = ds["g2_err"].transpose("roi", "tau").values.astype(float)
        w = np.where(ok, 1.0 / np.where(ok, err, 1.0), 0.0)
    else:
        w = ok.astype(float)
    return tau, np.where(ok, y, 0.0), w, ok, has_sigma


def _starts(model: G2Model, tau: np.ndarray, y: np.ndarray, w: np.ndarray,
            ok: np.ndarray) -> tuple[list[dict[str, float]], list[list[dict[str, float]]]]:
    """Per ROI: the data-driven start of every parameter, and the model's alternative starts."""
    err = np.where(ok, 1.0 / np.where(w > 0, w, 1.0), 0.0)
    g = initial_g2_guess(tau, np.where(ok, y, np.nan), err)
    rows = [{k: float(v[r]) for k, v in g.items()} for r in range(y.shape[0])]
    alts = [model.alternatives(r) if model.alternatives is not None else [] for r in rows]
    if model.guess is None:
        return [{p.name: p.initial for p in model.parameters} for _ in rows], alts
    return [model.guess(r) for r in rows], alts


def _bounded_start(name: str, value: float, lo: float, hi: float) -> float:
    if not np.isfinite(value):
        value = 0.5 * (lo + hi)
    return float(np.clip(value, lo, hi))


def build_g2_problems(ds: xr.Dataset, model: str | Model, spec: FitSpec, *, rate_law: str | None = None,
                      p: float | None = None) -> list[G2Problem]:
    """The problems of a g2 fit: one per ROI (``rate_law=None``) or one joint problem.

    Parameters
    ----------
    ds : xarray.Dataset
        A g2 Dataset (:func:`xpcsnb.core.g2.g2`), one age.
    model : str or G2Model
        A g2 model (``kind == "g2"``).
    spec : FitSpec
        ``bounds``, ``initial`` and ``fixed`` by parameter name (applied to every ROI;
        in a joint fit also ``D`` [Å^p/s] and ``p``); scaling options are refused.
    rate_law : {None, "diffusive", "power"}
        None: independent ROIs; otherwise the joint fit with Γ = D·q^p.
    p : float, optional
        Hold the exponent of ``rate_law="power"`` at this value.

    Raises
    ------
    G2Error
        For a two-time model, names that are not parameters, a rate law without q or
        for a model without a rate parameter, an unknown rate law.
    """
    mdl = check_g2_model(model)
    tau, y, w, ok, has_sigma = _arrays(ds)
    table = {prm.name: prm for prm in mdl.parameters}
    starts, alternatives = _starts(mdl, tau, y, w, ok)
    n_roi = y.shape[0]
    q = ds["q"].values.astype(float) if "q" in ds.coords else np.full(n_roi, np.nan)
    n_valid = ok.sum(axis=1)
    if rate_law is None:
        if p is not None:
            raise G2Error("p= is the exponent of a rate law; pass rate_law='power' with it")
        _check_spec(spec, list(table), table, mdl)
        return [_independent(mdl, table, spec, starts[r], alternatives[r], tau, y[r:r + 1], w[r:r + 1], has_sigma,
                             r, n_valid[r:r + 1], q[r:r + 1]) for r in range(n_roi)]
    if rate_law not in RATE_LAWS:
        raise G2Error(f"unknown rate_law {rate_law!r}; choose one of {RATE_LAWS} (or None for independent ROIs)")
    if mdl.rate is None:
        raise G2Error(f"model {mdl.name!r} declares no rate parameter, so it cannot follow a rate law")
    if "q" not in ds.coords or not np.all(np.isfinite(q)):
        raise G2Error("a joint fit with a rate law needs q(roi) [1/Å]; give q= when building the g2 Dataset")
    return [_joint(mdl, table, spec, starts, tau, y, w, has_sigma, n_valid, q, rate_law, p)]


def _independent(mdl: G2Model, table: Mapping[str, Parameter], spec: FitSpec, start: Mapping[str, float],
                 alternatives: list[dict[str, float]], tau: np.ndarray, y: np.ndarray, w: np.ndarray,
                 has_sigma: bool, r: int, n_valid: np.ndarray, q: np.ndarray) -> G2Problem:
    names, lo, hi, x0, consts, index = [], [], [], [], [], []
    n_free = sum(1 for prm in mdl.parameters if prm.name not in spec.fixed)
    fixed_vals = [spec.fixed[prm.name] for prm in mdl.parameters if prm.name in spec.fixed]
    k_fixed = 0
    for prm in mdl.parameters:
        if prm.name in spec.fixed:
            index.append(n_free + k_fixed)
            k_fixed += 1
            continue
        b = spec.bounds.get(prm.name, (prm.lower, prm.upper))
        index.append(len(names))
        names.append(prm.name)
        lo.append(float(b[0]))
        hi.append(float(b[1]))
        x0.append(_bounded_start(prm.name, spec.initial.get(prm.name, start.get(prm.name, prm.initial)), *b))
    consts = fixed_vals
    others = []  # the model's alternative starts, for parameters neither fixed nor given an initial value
    for alt in alternatives:
        x_alt = np.array(x0)
        for k, n in enumerate(names):
            if n in alt and n not in spec.initial:
                x_alt[k] = _bounded_start(n, alt[n], lo[k], hi[k])
        if not np.array_equal(x_alt, x0) and not any(np.array_equal(x_alt, o) for o in others):
            others.append(x_alt)
    return G2Problem(
        model=mdl, names=tuple(names), lower=np.array(lo), upper=np.array(hi), x0=np.array(x0),
        consts=np.array(consts, dtype=float), index=np.array([index], dtype=np.int32), law_col=-1,
        law_index=np.zeros(2, np.int32), q=np.where(np.isfinite(q), q, 1.0), tau=jnp.asarray(tau),
        y=jnp.asarray(y), w=jnp.asarray(w), has_sigma=has_sigma, roi=np.array([r]), n_valid=np.asarray(n_valid),
        fixed_physics={n: float(v) for n, v in spec.fixed.items()},
        info={"q_mode": "independent", "alternatives": tuple(others)},
    )


def _joint(mdl: G2Model, table: Mapping[str, Parameter], spec: FitSpec, starts: list[dict[str, float]],
           tau: np.ndarray, y: np.ndarray, w: np.ndarray, has_sigma: bool, n_valid: np.ndarray, q: np.ndarray,
           rate_law: str, p: float | None) -> G2Problem:
    law = _law_parameters(table[mdl.rate])
    if rate_law == "diffusive":
        if p is not None and float(p) != 2.0:
            raise G2Error(f"rate_law='diffusive' holds p = 2; got p={p!r} (use rate_law='power', p=...)")
        p = 2.0
    shared = [prm.name for prm in mdl.parameters if prm.name not in mdl.per_roi and prm.name != mdl.rate]
    allowed = shared + ["D", "p"] + list(mdl.per_roi)
    _check_spec(spec, allowed, {**table, **law}, mdl)
    fixed = dict(spec.fixed)
    if p is not None and (isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating))
                          or not np.isfinite(float(p))):
        raise G2Error(f"p must be a finite number, got {p!r}")
    if p is None and "p" not in spec.fixed and np.unique(q).size < 2:
        raise G2Error(f"rate_law={rate_law!r} with a free exponent p needs ROIs at two or more distinct q (these have "
                      f"q = {np.unique(q).tolist()}); hold p with p= or use rate_law='diffusive'")
    if p is not None:
        if "p" in spec.bounds or "p" in spec.initial:
            raise G2Error("p is held by p= or rate_law='diffusive'; it takes no bounds or initial value")
        fixed["p"] = float(p)
    n_own = sum(1 for n in mdl.per_roi if n not in fixed)  # free parameters of each ROI's own
    starved = np.flatnonzero(n_valid <= n_own)
    if starved.size:
        raise G2Error(f"ROI(s) at position(s) {starved.tolist()} have {n_valid[starved].tolist()} valid point(s) for "
                      f"their own {n_own} parameter(s) ({', '.join(mdl.per_roi)}), which would leave the joint fit "
                      f"undetermined: drop them first, e.g. ds.drop_isel(roi={starved.tolist()})")
    # data-driven start of the law: weighted line through (ln q, ln Γ) of the per-ROI starts
    good = n_valid >= 3
    rates = np.array([s[mdl.rate] for s in starts])
    use = good & (rates > 0)
    lq, lg = np.log(q[use]), np.log(rates[use])
    p0 = float(fixed.get("p", spec.initial.get("p", 2.0)))
    if "p" not in fixed and "p" not in spec.initial and use.sum() >= 2 and np.ptp(lq) > 0:
        p0 = float(np.clip(np.polyfit(lq, lg, 1)[0], 0.5, 5.0))
    d0 = float(np.exp(np.median(lg - p0 * lq))) if use.any() else 1.0
    law_bounds = {"D": (d0 * 1e-6, d0 * 1e6), "p": (law["p"].lower, law["p"].upper)}
    law_start = {"D": d0, "p": p0}

    names: list[str] = []
    lo: list[float] = []
    hi: list[float] = []
    x0: list[float] = []
    consts: list[float] = []
    fixed_named: dict[str, float] = {}
    pos: dict[str, int] = {}  # name -> ("free", k) encoded later

    def add(name: str, base: str, bounds: tuple[float, float], start: float) -> None:
        if base in fixed:
            pos[name] = -(len(consts) + 1)
            consts.append(float(fixed[base]))
            fixed_named[name] = float(fixed[base])
            return
        b = spec.bounds.get(base, bounds)
        pos[name] = len(names)
        names.append(name)
        lo.append(float(b[0]))
        hi.append(float(b[1]))
        x0.append(_bounded_start(name, spec.initial.get(base, start), *b))

    for n in shared:
        prm = table[n]
        add(n, n, (prm.lower, prm.upper), float(np.median([s[n] for s in starts])))
    for n in ("D", "p"):
        add(n, n, law_bounds[n], law_start[n])
    for r in range(y.shape[0]):
        for n in mdl.per_roi:
            prm = table[n]
            add(f"{n}_r{r}", n, (prm.lower, prm.upper), starts[r][n])
    n_free = len(names)

    def at(name: str) -> int:
        k = pos[name]
        return k if k >= 0 else n_free + (-k - 1)

    index = np.zeros((y.shape[0], len(mdl.parameters)), dtype=np.int32)
    law_col = -1
    for c, prm in enumerate(mdl.parameters):
        for r in range(y.shape[0]):
            if prm.name == mdl.rate:
                index[r, c] = at("D")  # placeholder: the column is replaced by D·q^p
                law_col = c
            elif prm.name in mdl.per_roi:
                index[r, c] = at(f"{prm.name}_r{r}")
            else:
                index[r, c] = at(prm.name)
    return G2Problem(
        model=mdl, names=tuple(names), lower=np.array(lo), upper=np.array(hi), x0=np.array(x0),
        consts=np.array(consts, dtype=float), index=index, law_col=law_col,
        law_index=np.array([at("D"), at("p")], dtype=np.int32), q=q, tau=jnp.asarray(tau), y=jnp.asarray(y),
        w=jnp.asarray(w), has_sigma=has_sigma, roi=np.arange(y.shape[0]), n_valid=np.asarray(n_valid),
        fixed_physics=fixed_named, info={"q_mode": "joint", "rate_law": rate_law, "law_parameters": law},
    )
