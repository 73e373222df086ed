r"""Rate-law valley coordinates, shared by the NLSQ solver and the CMC sampler.

Rate laws ``r(t) = a·basis(t, e) + c`` (D(t), γ̇(t), v(t); :attr:`Model.rate_laws`) make
curved valleys: a change of the exponent e is compensated by a prefactor and offset that
move nonlinearly with e. When a, e and c are all free, an engine can move in
``(δa, e, δc)`` with ``a = a*(e) + δa``, ``c = c*(e) + δc`` (:class:`LawMap`): (a*(e), c*(e))
is the pair whose rate best matches a reference rate at exponent e in the data's Fisher
metric, a 2 × 2 weighted least-squares solve per evaluation. The map has a unit Jacobian
determinant. NLSQ (:mod:`xpcsnb.fit.nlsq`) solves in these coordinates around its coarse
start; CMC (:mod:`xpcsnb.fit.cmc.reparam`) samples in them around the NLSQ solution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from .problem import FitProblem

__all__ = ["LAW_ARRAYS", "LAW_NODES", "LAW_RIDGE", "LawMap", "follow_laws", "law_maps", "law_target", "unfollow_laws"]

#: Ridge of the rate-law valley map, in units of 1/(NLSQ stderr)² (see :class:`LawMap`):
#: small enough not to matter where the data define the valley, it keeps the map finite
#: where they do not (an exponent of 0 makes prefactor and offset interchangeable).
LAW_RIDGE = 1e-2
#: Grid nodes at which the rate-law valley map compares cumulative integrals.
LAW_NODES = 48
#: The array fields of :class:`LawMap` (its numbers: compiled code takes them as arguments, so that one
#: compilation serves every map of a structure); ``pre``, ``exp``, ``off`` and ``basis`` are its structure.
LAW_ARRAYS = ("t", "nodes", "laplacian", "s_ref", "ref", "ridge")

@dataclass(frozen=True)
class LawMap:
    """Valley-following coordinates of one rate law ``r(t) = a · basis(t, e) + c`` (see :func:`law_maps`).

    The sampler's coordinates for the law are ``(δa, e, δc)`` with ``a = a*(e) + δa`` and
    ``c = c*(e) + δc``, where ``(a*(e), c*(e))`` is the prefactor/offset pair whose rate
    best matches the reference rate at exponent e in the data's own (Fisher) metric:
    ``argmin (S − S_ref)ᵀ L (S − S_ref) + Σ ridge·(· − ref)²`` over S = a·S_e + c·S_1,
    with S_e the cumulative trapezoid of the basis (step units) and L the Laplacian
    of the pair weights ``w_p = (∂C2_p/∂ΔS_p)²/σ_p²`` at the reference. The map is
    triangular with a unit diagonal: its Jacobian determinant is 1.

    The weights are aggregated onto at most :data:`LAW_NODES` grid nodes (every pair
    counted at the nodes nearest its two times), so the solve costs O(nodes²), not O(N²).
    """

    pre: int
    exp: int
    off: int
    basis: Any
    t: np.ndarray        # (N,) grid times
    nodes: np.ndarray    # (G,) grid indices where S is compared
    laplacian: np.ndarray  # (G, G)
    s_ref: np.ndarray    # (G,) reference S at the nodes
    ref: np.ndarray      # (a_ref, c_ref)
    ridge: np.ndarray    # (2,)


def law_target(law: LawMap, e: jnp.ndarray) -> jnp.ndarray:
    """``(a*(e), c*(e))`` of :class:`LawMap`."""
    from ..models.integrals import cumulative_trapezoid

    s_e = cumulative_trapezoid(law.basis(jnp.asarray(law.t), e))[jnp.asarray(law.nodes)]
    s_1 = jnp.asarray(law.nodes, dtype=s_e.dtype)
    m = jnp.stack([s_e, s_1], axis=1)
    lm = jnp.asarray(law.laplacian) @ m
    gram = m.T @ lm + jnp.diag(jnp.asarray(law.ridge))
    rhs = lm.T @ jnp.asarray(law.s_ref) + jnp.asarray(law.ridge) * jnp.asarray(law.ref)
    return jnp.linalg.solve(gram, rhs)


def follow_laws(v: jnp.ndarray, laws: Sequence[LawMap], sign: float = 1.0) -> jnp.ndarray:
    """Sampling coordinates (δa, e, δc per law) → parameter coordinates (a, e, c); ``sign=-1``
    gives the inverse (the shift depends on the exponent only, which neither direction changes)."""
    for law in laws:
        target = sign * law_target(law, v[law.exp])
        v = v.at[law.pre].add(target[0]).at[law.off].add(target[1])
    return v


def unfollow_laws(y: jnp.ndarray, laws: Sequence[LawMap]) -> jnp.ndarray:
    """Inverse of :func:`follow_laws`: parameter coordinates → sampling coordinates."""
    return follow_laws(y, laws, -1.0)


def law_maps(problem: FitProblem, x_ref: np.ndarray, sd_x: np.ndarray,
              noise_rms: float | None) -> tuple[LawMap, ...]:
    """:class:`LawMap` of every rate law of the model whose three parameters are all free.

    ``noise_rms``: the noise level at ``x_ref`` when the data carry no sigma.
    """
    names = list(problem.names[: problem.n_physics_free])
    laws = []
    i, j = np.asarray(problem.i), np.asarray(problem.j)
    lag = np.abs(j - i).astype(float)
    if np.any(lag == 0):
        return ()
    sigma = np.asarray(problem.sigma, float) if noise_rms is None else np.full(lag.shape, noise_rms)
    t = np.asarray(problem.grid.t, float)
    n = t.size
    nodes = np.unique(np.round(np.linspace(0, n - 1, min(n, LAW_NODES))).astype(int))
    node_of = np.abs(np.arange(n)[:, None] - nodes[None, :]).argmin(axis=1)  # nearest node of each index
    g = nodes.size
    for law in problem.model.rate_laws:
        if not all(p in names for p in (law.prefactor, law.exponent, law.offset)):
            continue
        a, e, c = names.index(law.prefactor), names.index(law.exponent), names.index(law.offset)
        if not (np.isfinite(sd_x[a]) and sd_x[a] > 0 and np.isfinite(sd_x[c]) and sd_x[c] > 0):
            continue
        tangent = np.zeros_like(x_ref)
        tangent[c] = 1.0
        d_model = np.asarray(jax.jvp(problem.predict, (jnp.asarray(x_ref),), (jnp.asarray(tangent),))[1])
        w = (d_model / lag) ** 2 / sigma**2  # (∂C2/∂ΔS)²/σ²: the offset enters ΔS as c·(j − i)
        pair = np.zeros((g, g))
        np.add.at(pair, (node_of[i], node_of[j]), w)
        pair = pair + pair.T
        np.fill_diagonal(pair, 0.0)
        laplacian = np.diag(pair.sum(axis=1)) - pair
        if not np.any(laplacian):
            continue
        rate_ref = x_ref[a] * np.asarray(law.basis(jnp.asarray(t), x_ref[e])) + x_ref[c]
        # models.integrals.cumulative_trapezoid's definition, in NumPy: the JAX function differs
        # in the last bits here, which changes every chain downstream (seeded results would move)
        s_ref = np.concatenate([[0.0], np.cumsum(0.5 * (rate_ref[:-1] + rate_ref[1:]))])[nodes]
        laws.append(LawMap(pre=a, exp=e, off=c, basis=law.basis, t=t, nodes=nodes, laplacian=laplacian,
                           s_ref=s_ref, ref=np.array([x_ref[a], x_ref[c]]),
                           ridge=LAW_RIDGE / np.array([sd_x[a], sd_x[c]]) ** 2))
    return tuple(laws)
