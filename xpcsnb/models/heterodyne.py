r"""Heterodyne two-component two-time model (reference + sample component, 14 parameters).

Equation (the heterodyne package 2.0.1, "Three-Term Model": reference self-correlation,
sample self-correlation and their cross term with a velocity phase)::

    C2(φ, t1, t2) = offset + contrast · [ (x_r1 x_r2)² e^{−q² |∫J_r|}
                                         + (x_s1 x_s2)² e^{−q² |∫J_s|}
                                         + 2 x_r1 x_r2 x_s1 x_s2 e^{−q²/2 (|∫J_r| + |∫J_s|)}
                                           · cos(q cos(φ + φ0) ∫v) ]
                                       / [(x_s1² + x_r1²)(x_s2² + x_r2²)]

    J_n(t) = max(D0_n t^α_n + D_offset_n, 0)       n ∈ {ref, sample}   (transport)
    v(t)   = v0 t^β + v_offset                                          (signed velocity)
    x_s(t) = smooth_clip(f0 · exp(f1 (t − f2)) + f3),   x_r = 1 − x_s  (sample fraction)

with ∫ = ∫_{t1}^{t2}, subscripts 1, 2 meaning t1, t2.

Conventions (identical to the heterodyne package 2.0.1,
``core/physics_kernel.py::compute_c2_unified``), so that on the same time grid the
result agrees with it to machine precision:

* **Time grid.** The model is evaluated on the Dataset's own absolute times ``t`` [s].
  The heterodyne package uses ``t_k = dt·(k+1)`` (its first frame is at dt, not 0);
  build the Dataset with ``t = dt * (np.arange(N) + 1)`` to reproduce it. This differs
  from the homodyne convention ``t_k = k·dt``; the two are deliberately not unified.
* **Power law at t ≤ 0.** ``t^α`` is evaluated on ``max(t, 1e-10)`` and set to 0 where
  ``t ≤ 0`` (so J(0) = D_offset and v(0) = v_offset, also for α < 0).
* **Transport floored at 0** (``max(·, 0)``); the velocity is signed and not floored.
* **Integrals**: cumulative trapezoid with dt inside, ``C_0 = 0``,
  ``C_k = dt·Σ_{m<k} ½(f_m + f_{m+1})``; pair integral ``C[j] − C[i]`` (row i ↔ t1).
  Transport uses the smooth absolute value ``sqrt(x² + 1e-12)`` (1e-6 on the diagonal),
  velocity stays signed.
* ``h_n = exp(clip(−½ q² I_n, −700, 0))``; the reference term is ``(x_r1 x_r2)² h_r²``.
* **Fraction clip**: ``smooth_clip(x) = 1 − softplus(50·(1 − lo))/50`` with
  ``lo = softplus(50·x)/50`` (sharpness 50). It is *not* the identity near the edges
  (0.938 → 0.937, 0 → ln 2/50 ≈ 0.0139), and the exponent is clipped to [−500, 500].
  The package's ``TwoComponentModel.compute_fraction`` hard clip is not used.
* **Phase**: ``Φ = q · cos(deg2rad(φ + φ0)) · ∫v`` — φ0 is *added* to φ (the package's
  template text says φ − φ0; its code, the reference, adds).
* Normalisation floored at 1e-10. No factor 6: D0 multiplies q² directly.

Units: q [1/Å], t [s], D0_n [Å²/s^(1+α_n)], D_offset_n [Å²/s], v0 [Å/s^(1+β)],
v_offset [Å/s], f1 [s⁻¹], f2 [s], f0, f3 dimensionless, φ and φ0 [deg].

Degeneracies (reported by ``HETERODYNE.diagnose``): f0 and f2
are exactly degenerate (``f0·e^{f1(t−f2)} = (f0 e^{−f1 f2})·e^{f1 t}``), so ``f2`` is
held fixed at 0 by default; D0_n and D_offset_n are degenerate when α_n = 0, and v0 and
v_offset when β = 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401
from .base import Grid, Mirror, Model, RateLaw, per_row
from .integrals import cumulative_trapezoid, pair_difference, smooth_abs
from .parameters import Parameter
from .registry import register

__all__ = [
    "power_law",
    "transport_rate",
    "velocity_rate",
    "smooth_clip",
    "sample_fraction",
    "combine_terms",
    "heterodyne_signal",
    "diagnose",
    "HETERODYNE",
    "HETERODYNE_PARAMETERS",
]

#: Sharpness of the soft clip of the sample fraction (heterodyne 2.0.1).
CLIP_SHARPNESS = 50.0
#: |exponent| cap of the fraction's exponential.
EXP_LIMIT = 500.0
#: Floor of the normalisation (x_s1² + x_r1²)(x_s2² + x_r2²).
NORM_FLOOR = 1e-10
#: |exponent| below which a power-law exponent counts as 0 in :func:`diagnose`.
EXPONENT_ZERO_TOL = 1e-3


#: Physics parameters in vector order. Bounds: the heterodyne 2.0.1 registry
#: (``PARAMETER_BOUNDS``) with alpha in [−2, 2] and D0 in [100, 1e6].
HETERODYNE_PARAMETERS = (
    Parameter("D0_ref", "Å²/s^(1+alpha_ref)", 1e2, 1e6, 1e4, "reference transport prefactor"),
    Parameter("alpha_ref", "1", -2.0, 2.0, 0.0, "reference transport exponent"),
    Parameter("D_offset_ref", "Å²/s", -1e5, 1e5, 0.0, "reference transport offset"),
    Parameter("D0_sample", "Å²/s^(1+alpha_sample)", 1e2, 1e6, 1e4, "sample transport prefactor"),
    Parameter("alpha_sample", "1", -2.0, 2.0, 0.0, "sample transport exponent"),
    Parameter("D_offset_sample", "Å²/s", -1e5, 1e5, 0.0, "sample transport offset"),
    Parameter("v0", "Å/s^(1+beta)", 1e-6, 1e4, 1e3, "velocity prefactor of v(t) = v0 t^beta + v_offset"),
    Parameter("beta", "1", -2.0, 2.0, 0.0, "velocity exponent"),
    Parameter("v_offset", "Å/s", -100.0, 100.0, 0.0, "velocity offset"),
    Parameter("f0", "1", 0.0, 1.0, 0.5, "sample fraction amplitude (field amplitude)"),
    Parameter("f1", "s⁻¹", -10.0, 10.0, 0.0, "sample fraction rate"),
    Parameter("f2", "s", -1e4, 1e4, 0.0, "sample fraction time shift (degenerate with f0)"),
    Parameter("f3", "1", 0.0, 1.0, 0.0, "sample fraction baseline"),
    Parameter("phi0", "deg", -10.0, 10.0, 0.0, "flow direction (added to phi)"),
)


def power_law(t: jnp.ndarray, exponent: jnp.ndarray) -> jnp.ndarray:
    """``t^exponent`` evaluated on ``max(t, 1e-10)`` and set to 0 where ``t ≤ 0``."""
    t_safe = jnp.where(t > 1e-10, t, 1e-10)
    return jnp.where(t > 0, jnp.power(t_safe, exponent), 0.0)


def transport_rate(t: jnp.ndarray, D0: jnp.ndarray, alpha: jnp.ndarray, D_offset: jnp.ndarray) -> jnp.ndarray:
    """Transport ``J(t) = max(D0·t^alpha + D_offset, 0)`` [Å²/s]."""
    return jnp.maximum(D0 * power_law(t, alpha) + D_offset, 0.0)


def velocity_rate(t: jnp.ndarray, v0: jnp.ndarray, beta: jnp.ndarray, v_offset: jnp.ndarray) -> jnp.ndarray:
    """Velocity ``v(t) = v0·t^beta + v_offset`` [Å/s] (signed, not floored)."""
    return v0 * power_law(t, beta) + v_offset


def smooth_clip(x: jnp.ndarray, sharpness: float = CLIP_SHARPNESS) -> jnp.ndarray:
    """Soft clip to [0, 1]: ``1 − softplus(k(1 − lo))/k`` with ``lo = softplus(k·x)/k``, k = 50."""
    lo = jax.nn.softplus(sharpness * x) / sharpness
    return 1.0 - jax.nn.softplus(sharpness * (1.0 - lo)) / sharpness


def sample_fraction(t: jnp.ndarray, f0: jnp.ndarray, f1: jnp.ndarray, f2: jnp.ndarray,
                    f3: jnp.ndarray) -> jnp.ndarray:
    """Sample field fraction ``x_s(t) = smooth_clip(f0·exp(clip(f1(t − f2), ±500)) + f3)``."""
    return smooth_clip(f0 * jnp.exp(jnp.clip(f1 * (t - f2), -EXP_LIMIT, EXP_LIMIT)) + f3)


def combine_terms(xs1: jnp.ndarray, xs2: jnp.ndarray, h_ref: jnp.ndarray, h_sample: jnp.ndarray,
                  phase: jnp.ndarray) -> jnp.ndarray:
    """Normalised two-component signal from fractions, half-transport factors and phase.

    ``[(x_r1 x_r2)² h_r² + (x_s1 x_s2)² h_s² + 2 x_r1 x_s1 x_r2 x_s2 h_r h_s cos Φ]
    / max((x_s1² + x_r1²)(x_s2² + x_r2²), 1e-10)`` with ``x_r = 1 − x_s``; all inputs
    broadcast against each other.
    """
    xr1, xr2 = 1.0 - xs1, 1.0 - xs2
    ref = (xr1 * xr2) ** 2 * h_ref**2
    sample = (xs1 * xs2) ** 2 * h_sample**2
    cross = 2.0 * ((xr1 * xs1) * (xr2 * xs2)) * h_ref * h_sample * jnp.cos(phase)
    norm = (xs1**2 + xr1**2) * (xs2**2 + xr2**2)
    return (ref + sample + cross) / jnp.where(norm > NORM_FLOOR, norm, NORM_FLOOR)


def _half_transport(cum: jnp.ndarray, half_q2: jnp.ndarray, i, j) -> jnp.ndarray:
    integral = smooth_abs(pair_difference(cum, i, j))
    return jnp.exp(jnp.clip(-half_q2 * integral, -700.0, 0.0))


def heterodyne_signal(theta: jnp.ndarray, grid: Grid, i=None, j=None, k=None) -> jnp.ndarray:
    """Normalised heterodyne signal (the bracket of the module equation over its norm).

    Parameters
    ----------
    theta : array, shape (14,)
        ``[D0_ref, alpha_ref, D_offset_ref, D0_sample, alpha_sample, D_offset_sample,
        v0, beta, v_offset, f0, f1, f2, f3, phi0]``.
    grid : Grid
    i, j, k : int arrays, optional
        Points (t1 index, t2 index, row index).

    Returns
    -------
    array
        Shape (n_rows, N, N), or (n,) at the points.
    """
    t, dt = grid.t, grid.dt
    rows = k if i is not None else None
    q = per_row(grid.q, rows)
    half_q2 = 0.5 * q * q
    cum_ref = cumulative_trapezoid(transport_rate(t, theta[0], theta[1], theta[2]), dt)
    cum_sample = cumulative_trapezoid(transport_rate(t, theta[3], theta[4], theta[5]), dt)
    cum_v = cumulative_trapezoid(velocity_rate(t, theta[6], theta[7], theta[8]), dt)
    xs = sample_fraction(t, theta[9], theta[10], theta[11], theta[12])
    h_ref = _half_transport(cum_ref, half_q2, i, j)
    h_sample = _half_transport(cum_sample, half_q2, i, j)
    cos_phi = jnp.cos(jnp.deg2rad(grid.phi + theta[13]))
    i_v = pair_difference(cum_v, i, j)
    if i is None:
        phase = (q * cos_phi[:, None, None]) * i_v[None]
        return combine_terms(xs[:, None], xs[None, :], h_ref, h_sample, phase)
    phase = (q * cos_phi[k]) * i_v
    return combine_terms(xs[i], xs[j], h_ref, h_sample, phase)


def diagnose(values: Mapping[str, float], stderr: Mapping[str, float], free: frozenset[str]) -> list[str]:
    """Warnings about degenerate parameter pairs at a heterodyne solution.

    An exponent is "at 0" when ``|value| < max(1e-3, 2·stderr)`` (zero within the
    fit's own uncertainty):

    * ``alpha_n`` at 0 with D0_n and D_offset_n both free: only D0_n + D_offset_n is
      determined there;
    * ``beta`` at 0 with v0 and v_offset both free: only v0 + v_offset is determined;
    * f0 and f2 both free: exactly degenerate whenever f1 ≠ 0 (f2 is fixed by default).
    """

    def at_zero(name: str) -> bool:
        err = stderr.get(name, np.nan)
        tol = max(EXPONENT_ZERO_TOL, 2.0 * err) if np.isfinite(err) else EXPONENT_ZERO_TOL
        return abs(values[name]) < tol

    out = []
    for n in ("ref", "sample"):
        a, d0, doff = f"alpha_{n}", f"D0_{n}", f"D_offset_{n}"
        if d0 in free and doff in free and at_zero(a):
            out.append(f"{a} = {values[a]:.3g} is compatible with 0, where {d0} and {doff} are degenerate "
                       f"(only their sum is determined); consider fixed={{'{doff}': 0.0}} or fixed={{'{a}': 0.0}}")
    if "v0" in free and "v_offset" in free and at_zero("beta"):
        out.append(f"beta = {values['beta']:.3g} is compatible with 0, where v0 and v_offset are degenerate "
                   "(only their sum is determined); consider fixed={'v_offset': 0.0} or fixed={'beta': 0.0}")
    if "f0" in free and "f2" in free:
        out.append("f0 and f2 are exactly degenerate (f0·exp(f1(t − f2)) = f0·exp(−f1 f2)·exp(f1 t)); "
                   "fix f2 (the default)")
    return out


HETERODYNE = register(Model(
    name="heterodyne",
    signal=heterodyne_signal,
    parameters=HETERODYNE_PARAMETERS,
    needs_L=False,
    symmetric=True,
    time_convention="heterodyne 2.0.1: t_k = dt·(k+1); xpcsnb evaluates on the Dataset's t1",
    default_fixed={"f2": 0.0},
    diagnose=diagnose,
    rate_laws=(RateLaw("D0_ref", "alpha_ref", "D_offset_ref", power_law),
               RateLaw("D0_sample", "alpha_sample", "D_offset_sample", power_law),
               RateLaw("v0", "beta", "v_offset", power_law)),
    start_symmetries=(Mirror("phi0"),),
))
