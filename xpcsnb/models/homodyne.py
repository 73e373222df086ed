r"""Homodyne two-time models: ``static`` and ``laminar_flow`` (He et al. 2024).

Equations [1]_::

    C2(φ, t1, t2) = offset + contrast · c1²
    c1 = exp(−q²/2 ∫_{t1}^{t2} D dt) · sinc²( q L cos(φ0 − φ) / (2π) ∫_{t1}^{t2} γ̇ dt )
    D(t) = D0 t^α + D_offset,        γ̇(t) = γ̇0 t^β + γ̇_offset,      sinc(x) = sin(x)/x

so shear enters C2 as sinc⁴. ``static`` has no shear term (c1 = diffusion factor).

Conventions (identical to the homodyne package 2.23.3, ``core/jax_backend.py``), so that
on the same grid the result agrees with it to machine precision:

* Times are the Dataset's own absolute times ``t`` [s] (the package uses t_k = k·dt).
  A grid that does not start at 0 (a frame window, a stack with a start offset; the
  correlators and readers keep the real frame times) gives D(t) and γ̇(t) at those
  real sample ages, as the ageing laws require.
  Rates are evaluated at ``t_safe = t`` where ``t > ε`` else ``ε``, with
  ``ε = max(dt/2, 1e-8)``: the frame at t = 0 is evaluated at dt/2.
* D and γ̇ are floored at 1e-10 (``where(x > 1e-10, x, 1e-10)``).
* Integrals: cumulative trapezoid in step units ``S_k = Σ_{m<k} ½(f_m + f_{m+1})``;
  the pair integral is the smooth absolute value ``sqrt((S_j − S_i)² + 1e-12)``
  (1e-6 on the diagonal), multiplied by dt in the prefactors
  ``A = ½ q² dt`` and ``B = q L dt / (2π)``.
* ``g1_D = exp(clip(−A·I_D, −700, 0))``, phase ``Φ = B cos(deg2rad(φ0 − φ)) I_γ``
  (angles in degrees), ``g1 = max(g1_D · sinc(Φ)², 1e-10)`` and the signal is ``g1²``.

Units: q [1/Å], t [s], D0 [Å²/s^(1+α)], D_offset [Å²/s], γ̇0 [s⁻¹·s^(−β)], γ̇_offset [s⁻¹],
L [Å], φ and φ0 [deg].

References
----------
.. [1] He et al., Proc. Natl. Acad. Sci. U.S.A. 121 (31), e2401162121 (2024),
   doi:10.1073/pnas.2401162121.
"""

from __future__ import annotations

import jax.numpy as jnp

from .. import _jax  # noqa: F401
from .base import Grid, Mirror, Model, RateLaw, per_row
from .integrals import cumulative_trapezoid, pair_difference, safe_sinc, smooth_abs
from .parameters import Parameter
from .registry import register

__all__ = ["power", "rate", "static_signal", "laminar_flow_signal", "STATIC", "LAMINAR_FLOW",
           "STATIC_PARAMETERS", "LAMINAR_FLOW_PARAMETERS"]

_FLOOR = 1e-10


def power(t: jnp.ndarray, exponent: jnp.ndarray) -> jnp.ndarray:
    """``t_safe^exponent`` with ``t_safe = max(t, ε)``, ``ε = max(dt/2, 1e-8)``, ``dt = t[1] − t[0]``."""
    dt = jnp.abs(t[1] - t[0])
    eps = jnp.where(0.5 * dt > 1e-8, 0.5 * dt, 1e-8)
    t_safe = jnp.where(t > eps, t, eps)
    return t_safe**exponent


def rate(t: jnp.ndarray, prefactor: jnp.ndarray, exponent: jnp.ndarray, offset: jnp.ndarray) -> jnp.ndarray:
    """``prefactor · t_safe^exponent + offset`` floored at 1e-10 (D(t) or γ̇(t)); see :func:`power`."""
    r = prefactor * power(t, exponent) + offset
    return jnp.where(r > _FLOOR, r, _FLOOR)


#: Physics parameters of ``static`` in vector order. Bounds are those of the homodyne
#: package 2.23.3 (``parameter_registry``).
STATIC_PARAMETERS = (
    Parameter("D0", "Å²/s^(1+alpha)", 1e2, 1e5, 1e3, "diffusion prefactor of D(t) = D0 t^alpha + D_offset"),
    Parameter("alpha", "1", -2.0, 2.0, 0.0, "diffusion ageing exponent"),
    Parameter("D_offset", "Å²/s", -1e5, 1e5, 0.0, "constant part of D(t)"),
)

#: Physics parameters of ``laminar_flow`` in vector order (``static``'s, then shear).
LAMINAR_FLOW_PARAMETERS = STATIC_PARAMETERS + (
    Parameter("gamma_dot_t0", "s⁻¹·s^(-beta)", 1e-6, 0.5, 1e-2,
              "shear-rate prefactor of γ̇(t) = γ̇0 t^beta + γ̇_offset"),
    Parameter("beta", "1", -2.0, 2.0, 0.0, "shear-rate ageing exponent"),
    Parameter("gamma_dot_t_offset", "s⁻¹", -0.1, 0.1, 0.0, "constant part of γ̇(t)"),
    Parameter("phi0", "deg", -10.0, 10.0, 0.0, "flow direction relative to phi = 0"),
)

_DIFFUSION = RateLaw("D0", "alpha", "D_offset", power)
_SHEAR = RateLaw("gamma_dot_t0", "beta", "gamma_dot_t_offset", power)


def _diffusion_g1(theta: jnp.ndarray, grid: Grid, i, j, k) -> jnp.ndarray:
    d = rate(grid.t, theta[0], theta[1], theta[2])
    s = cumulative_trapezoid(d)
    integral = smooth_abs(pair_difference(s, i, j))
    a = 0.5 * per_row(grid.q, k if i is not None else None) ** 2 * grid.dt
    return jnp.exp(jnp.clip(-a * integral, -700.0, 0.0))


def static_signal(theta: jnp.ndarray, grid: Grid, i=None, j=None, k=None) -> jnp.ndarray:
    """Normalised static signal ``g1²``; theta = [D0, alpha, D_offset].

    Returns shape (n_rows, N, N) (identical for every angle at one q), or (n,) at
    index pairs.
    """
    g1 = _diffusion_g1(theta, grid, i, j, k)
    g1 = jnp.where(g1 > _FLOOR, g1, _FLOOR)
    if i is None:
        return jnp.broadcast_to(g1**2, (grid.phi.shape[0],) + g1.shape[-2:])
    return g1**2


def laminar_flow_signal(theta: jnp.ndarray, grid: Grid, i=None, j=None, k=None) -> jnp.ndarray:
    """Normalised laminar-flow signal ``(g1_D · sinc²Φ)²``.

    theta = [D0, alpha, D_offset, gamma_dot_t0, beta, gamma_dot_t_offset, phi0].
    Returns shape (n_rows, N, N), or (n,) at index pairs (i, j, k).
    """
    g1_d = _diffusion_g1(theta, grid, i, j, k)
    gdot = rate(grid.t, theta[3], theta[4], theta[5])
    s = cumulative_trapezoid(gdot)
    i_g = smooth_abs(pair_difference(s, i, j))
    b = per_row(grid.q, k if i is not None else None) * grid.L * grid.dt / (2.0 * jnp.pi)
    cos_term = jnp.cos(jnp.deg2rad(theta[6] - grid.phi))
    if i is None:
        phase = b * cos_term[:, None, None] * i_g[None]
    else:
        phase = b * cos_term[k] * i_g
    g1 = g1_d * safe_sinc(phase) ** 2
    g1 = jnp.where(g1 > _FLOOR, g1, _FLOOR)
    return g1**2


STATIC = register(Model(
    name="static",
    signal=static_signal,
    parameters=STATIC_PARAMETERS,
    needs_L=False,
    symmetric=True,
    time_convention="the Dataset's absolute t1 (homodyne 2.23.3: t_k = k·dt from 0), rates at max(t, dt/2)",
    rate_laws=(_DIFFUSION,),
))

LAMINAR_FLOW = register(Model(
    name="laminar_flow",
    signal=laminar_flow_signal,
    parameters=LAMINAR_FLOW_PARAMETERS,
    needs_L=True,
    symmetric=True,
    time_convention="the Dataset's absolute t1 (homodyne 2.23.3: t_k = k·dt from 0), rates at max(t, dt/2)",
    rate_laws=(_DIFFUSION, _SHEAR),
    start_symmetries=(Mirror("phi0"),),
))
