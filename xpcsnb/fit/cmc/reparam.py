r"""The sampler's coordinates: whitening by the NLSQ covariance, log scales, rate-law valleys, soft bounds.

NUTS samples a whitened vector ``z`` with ``u = û + √S · L z``: û is the NLSQ solution
and ``L Lᵀ`` the NLSQ covariance (:class:`~xpcsnb.fit.cmc.reference.NlsqReference`),
carried to u by the delta method; S is the number of shards. ``u`` is the parameter
itself, or its logarithm for positive bounds spanning more than two decades
(:func:`log_scaled`: ``D0``, ``gamma_dot_t0``, ...), except for the rate laws below.
A smooth bijection onto the bounds (:func:`soft_box`, the identity more than a few
posterior sd inside them) maps u to the parameter.

Rate laws ``r(t) = a·t^e + c`` (D(t), γ̇(t), v(t); :attr:`Model.rate_laws`) make curved
valleys: a change of the exponent e is compensated by a prefactor and offset that move
nonlinearly with e, far beyond the covariance's straight line. When a, e and c are all
free, the sampler's coordinates for a and c are their deviations from the valley,
``a = a*(e) + δa``, ``c = c*(e) + δc`` (:class:`~xpcsnb.fit.valley.LawMap`, shared with NLSQ): (a*(e), c*(e)) is the pair
whose rate best matches the reference rate at exponent e in the data's Fisher metric,
a 2 × 2 weighted least-squares solve per evaluation. The map has a unit Jacobian
determinant.

Every step is an exact change of variables (its log-Jacobian enters the potential), so
it changes only the sampler's efficiency: each shard's posterior is close to a standard
normal in z, and the draws mapped back always lie inside the bounds. When the data carry
no ``sigma``, one more coordinate is log ``noise_sd``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ... import _jax  # noqa: F401
from ...models.scaling import base_name, parse_scaling_name
from ..priors import BoundedPrior
from ..problem import FitProblem
from ..valley import LAW_NODES, LAW_RIDGE, LawMap, follow_laws, law_maps, law_target, unfollow_laws
from .reference import NlsqReference

__all__ = ["LOG_SCALE_DECADES", "LAW_RIDGE", "LAW_NODES", "Spec", "LawMap", "build_spec", "log_scaled",
           "transform", "physical_sites", "physical_from_z", "follow_laws", "unfollow_laws", "soft_box"]

#: Parameters with positive bounds whose ratio exceeds this are sampled as log x.
LOG_SCALE_DECADES = 100.0
# --------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class Spec:
    """Everything one shard needs besides its data (picklable: NumPy arrays only)."""

    problem: FitProblem
    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    log_scale: np.ndarray
    bend: np.ndarray
    priors: tuple[BoundedPrior, ...]
    center: np.ndarray
    chol: np.ndarray
    noise: bool
    n_shards: int
    layout: tuple[tuple[str, tuple[int, ...], bool], ...]
    laws: tuple["LawMap", ...] = ()


def _to_numpy(value: Any) -> Any:
    return jax.tree.map(lambda a: np.asarray(a) if isinstance(a, jax.Array) else a, value)


def portable(problem: FitProblem) -> FitProblem:
    """The problem with every JAX array as NumPy and without its data (shards carry theirs)."""
    changes = {f.name: _to_numpy(getattr(problem, f.name)) for f in dataclasses.fields(problem)}
    empty_f, empty_i = np.zeros(0), np.zeros(0, dtype=np.int32)
    changes.update(y=empty_f, sigma=empty_f, i=empty_i, j=empty_i, k=empty_i)
    return dataclasses.replace(problem, **changes)


def _row_key(name: str) -> tuple[int, int]:
    parsed = parse_scaling_name(name)
    return (parsed.q_index or 0, parsed.angle_index or 0)


def layout(names: Sequence[str]) -> tuple[tuple[str, tuple[int, ...], bool], ...]:
    """Posterior variables: (name, positions in the free vector, is a per-row vector).

    Indexed scaling parameters (``contrast_<k>``, or ``contrast_q<a>_<k>`` of a multi-q
    fit) form one vector per base name, in row order (q-major).
    """
    out: list[tuple[str, tuple[int, ...], bool]] = []
    groups: dict[str, list[int]] = {}
    for pos, name in enumerate(names):
        b = base_name(name)
        if b in ("contrast", "offset") and name != b:
            groups.setdefault(b, []).append(pos)
        else:
            out.append((name, (pos,), False))
    for b in ("contrast", "offset"):
        if b in groups:
            idx = sorted(groups[b], key=lambda p: _row_key(names[p]))
            out.append((b, tuple(idx), True))
    return tuple(out)


def soft_box(u: jnp.ndarray, lo: jnp.ndarray, hi: jnp.ndarray, h: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Smooth bijection R → (lo, hi) that is the identity far from the bounds, and log|dx/du|.

    ``x = lo + h·[softplus((u − lo)/h) − softplus((u − hi)/h)]``: ``x ≈ u`` when u is more
    than a few ``h`` inside the bounds, and x bends smoothly onto the bound over a width
    ``h``. ``dx/du = σ(a) − σ(a − w/h)`` with ``a = (u − lo)/h``, ``w = hi − lo``, so
    ``log dx/du = log σ(a) + log σ(w/h − a) + log(1 − e^{−w/h})``.
    """
    a = (u - lo) / h
    r = (hi - lo) / h
    x = lo + h * (jax.nn.softplus(a) - jax.nn.softplus(a - r))
    x = jnp.clip(x, lo, hi)
    logjac = jax.nn.log_sigmoid(a) + jax.nn.log_sigmoid(r - a) + jnp.log1p(-jnp.exp(-r))
    return x, logjac


def whitening(cov: np.ndarray, fallback_sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factor of the covariance (or a diagonal fallback) and the sd it implies."""
    d = cov.shape[0]
    if np.all(np.isfinite(cov)):
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        if np.all(sd > 0):
            corr = cov / np.outer(sd, sd)
            try:
                return np.linalg.cholesky(corr + 1e-10 * np.eye(d)) * sd[:, None], sd
            except np.linalg.LinAlgError:
                pass
    diag = np.diag(cov)
    sd = np.where(np.isfinite(diag) & (diag > 0), np.sqrt(np.abs(diag)), fallback_sd)
    return np.diag(sd), sd


def log_scaled(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Which parameters are sampled on a log scale: positive bounds spanning more than two decades."""
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    return (lower > 0) & (upper > LOG_SCALE_DECADES * np.where(lower > 0, lower, 1.0))


def build_spec(problem: FitProblem, priors: Mapping[str, BoundedPrior], reference: NlsqReference | None,
               n_shards: int, follow_rate_laws: bool = True) -> tuple[Spec, str]:
    """The :class:`Spec` of a fit and where its reference point came from.

    Parameters
    ----------
    problem : FitProblem
    priors : dict
        ``{name: BoundedPrior}`` of every free parameter.
    reference : NlsqReference or None
        NLSQ solution centring the transform; None: the start values and prior widths.
    n_shards : int
        Number of shards S (the whitening is widened by √S: a shard sees 1/S of the data).
    follow_rate_laws : bool
        Sample rate-law prefactors/offsets along their valley (:class:`LawMap`).
    """
    names = problem.names
    lo, hi = np.asarray(problem.lower, float), np.asarray(problem.upper, float)
    prior_sd_x = np.array([(priors[n].prior.scale if priors[n].prior.kind != "uniform"
                            else (priors[n].upper - priors[n].lower) / np.sqrt(12)) for n in names])
    if reference is not None:
        x_ref, cov_x = reference.center(problem)
        source = reference.source
    else:
        x_ref, cov_x, source = problem.x0, np.diag(prior_sd_x**2), "start values and prior widths"
    x_ref = np.clip(x_ref, lo, hi)
    sd_x = np.sqrt(np.where(np.isfinite(np.diag(cov_x)) & (np.diag(cov_x) > 0), np.diag(cov_x), prior_sd_x**2))
    noise = not problem.has_sigma
    rms = None
    if noise:
        rms = float(np.sqrt(np.mean(np.asarray(problem.residuals(jnp.asarray(x_ref))) ** 2)))
        if not (np.isfinite(rms) and rms > 0):
            raise ValueError("cannot estimate the noise level: the residuals at the reference point are not finite")
    laws = law_maps(problem, x_ref, sd_x, rms) if follow_rate_laws else ()
    # parameter coordinates y: x, or log x for wide positive ranges (not for rate-law prefactors
    # followed along their valley, which are shifted linearly)
    logs = log_scaled(lo, hi)
    for law in laws:
        logs[law.pre] = False
    slo, shi = np.where(logs, np.log(np.where(logs, lo, 1.0)), lo), np.where(logs, np.log(np.where(logs, hi, 1.0)), hi)
    y_ref = np.where(logs, np.log(np.where(logs, x_ref, 1.0)), x_ref)
    dydx = np.where(logs, 1.0 / np.where(logs, x_ref, 1.0), 1.0)
    cov_y = cov_x * np.outer(dydx, dydx)
    width = shi - slo
    prior_sd = prior_sd_x * dydx
    # sampling coordinates u: y with each followed law's prefactor/offset measured from its valley
    center = np.asarray(unfollow_laws(jnp.asarray(y_ref), laws))
    t_map = np.asarray(jax.jacfwd(lambda y: unfollow_laws(y, laws))(jnp.asarray(y_ref))) if laws else np.eye(len(names))
    cov_u = t_map @ cov_y @ t_map.T if np.all(np.isfinite(cov_y)) else cov_y
    chol, _ = whitening(cov_u, np.minimum(prior_sd, 0.25 * width))
    chol = chol * np.sqrt(n_shards)
    _, sd = whitening(cov_y, np.minimum(prior_sd, 0.25 * width))
    bend = np.clip(np.sqrt(n_shards) * sd, 1e-6 * width, 0.25 * width)
    if noise:
        n_shard = problem.n_data / n_shards
        center = np.append(center, np.log(rms))
        d = chol.shape[0]
        grown = np.zeros((d + 1, d + 1))
        grown[:d, :d] = chol
        grown[d, d] = 1.0 / np.sqrt(2.0 * n_shard)
        chol = grown
    spec = Spec(
        problem=portable(problem), names=tuple(names), lower=slo, upper=shi, log_scale=logs, bend=bend,
        priors=tuple(priors[n] for n in names), center=center, chol=chol, noise=noise,
        n_shards=n_shards, layout=layout(names), laws=laws,
    )
    return spec, source


# --------------------------------------------------------------------------- z → parameters
def transform(z: jnp.ndarray, spec: Spec) -> tuple[jnp.ndarray, jnp.ndarray | None, jnp.ndarray]:
    """Physical free vector x, noise_sd (or None) and log|dx/du| from the whitened z."""
    v = jnp.asarray(spec.center) + jnp.asarray(spec.chol) @ z
    d = len(spec.names)
    y = follow_laws(v[:d], spec.laws)  # unit Jacobian determinant
    w, logjac_each = soft_box(y, jnp.asarray(spec.lower), jnp.asarray(spec.upper), jnp.asarray(spec.bend))
    logs = jnp.asarray(spec.log_scale)
    x = jnp.where(logs, jnp.exp(jnp.where(logs, w, 0.0)), w)
    logjac = jnp.sum(logjac_each) + jnp.sum(jnp.where(logs, w, 0.0))
    noise = None
    if spec.noise:
        noise = jnp.exp(v[d])
        logjac = logjac + v[d]
    return x, noise, logjac


def physical_sites(x: jnp.ndarray, noise: jnp.ndarray | None, spec: Spec) -> dict[str, jnp.ndarray]:
    """Posterior variables by name (:attr:`Spec.layout`; scaling vectors per row), plus ``noise_sd``."""
    out = {name: (x[jnp.asarray(idx)] if vec else x[idx[0]]) for name, idx, vec in spec.layout}
    if noise is not None:
        out["noise_sd"] = noise
    return out


def physical_from_z(z: jnp.ndarray, spec: Spec) -> dict[str, jnp.ndarray]:
    """:func:`physical_sites` at the whitened point z."""
    x, noise, _ = transform(z, spec)
    return physical_sites(x, noise, spec)

