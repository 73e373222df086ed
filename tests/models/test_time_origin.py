"""Homodyne models on a time grid that does not start at 0: the rates are those of the real sample ages.

``two_time`` and ``open_twotime`` keep the absolute frame times (t_0 > 0 for a window or a
stack with a start offset). The models evaluate D(t) and γ̇(t) at those times, so the
integrals are ∫_{t1}^{t2} of the power laws at the real ages — checked here against the
closed forms ∫ D0 t^α dt = D0 (t2^{α+1} − t1^{α+1}) / (α + 1).
"""

import numpy as np
import pytest

from xpcsnb.forward import simulate

Q, DT, N, T0 = 0.005, 0.1, 24, 100.0


def _power_integral(t1, t2, prefactor, exponent, offset):
    return prefactor * (t2 ** (exponent + 1) - t1 ** (exponent + 1)) / (exponent + 1) + offset * (t2 - t1)


def _off_diagonal(a):
    return a[..., ~np.eye(a.shape[-1], dtype=bool)]


@pytest.mark.parametrize("alpha, rtol", [(1.0, 1e-10), (-0.3, 1e-6), (0.7, 1e-6)])
def test_static_on_a_shifted_grid_is_the_closed_form_at_the_real_ages(alpha, rtol):
    """α = 1: the trapezoid is exact; other α: its error (dt/t0)² is far below rtol."""
    p = {"D0": 2e3, "alpha": alpha, "D_offset": 20.0}
    t = T0 + DT * np.arange(N)
    ds = simulate("static", p, t, phi=[0.0, 90.0], q=Q, contrast=0.3, offset=1.0)
    t1, t2 = np.meshgrid(t, t, indexing="ij")
    g1 = np.exp(-0.5 * Q**2 * np.abs(_power_integral(t1, t2, p["D0"], alpha, p["D_offset"])))
    expected = 1.0 + 0.3 * g1**2
    np.testing.assert_allclose(_off_diagonal(ds.c2.values), _off_diagonal(np.broadcast_to(expected, (2, N, N))),
                               rtol=rtol)
    # not the physics of a grid from 0: ageing (α ≠ 0) makes the absolute time matter
    from_zero = simulate("static", p, DT * np.arange(N), phi=[0.0, 90.0], q=Q, contrast=0.3, offset=1.0)
    if alpha != 0:
        assert np.max(np.abs(from_zero.c2.values - ds.c2.values)) > 1e-3


def test_without_ageing_only_time_differences_matter():
    p = {"D0": 2e3, "alpha": 0.0, "D_offset": 20.0}
    shifted = simulate("static", p, T0 + DT * np.arange(N), q=Q)
    from_zero = simulate("static", p, DT * np.arange(N), q=Q)
    np.testing.assert_allclose(shifted.c2.values, from_zero.c2.values, rtol=1e-12)


def test_linear_ageing_from_t0_equals_a_grid_from_zero_with_the_offset_absorbed():
    """D(t) = D0·t on t0 + s equals D0·s + (D_offset + D0·t0) on s ≥ dt: the same data simulated
    from 0 with adjusted parameters (away from the first frame, where the grid from 0 uses dt/2)."""
    p = {"D0": 2e3, "alpha": 1.0, "D_offset": 20.0}
    shifted = simulate("static", p, T0 + DT * np.arange(N), q=Q).c2.values[0]
    moved = {"D0": 2e3, "alpha": 1.0, "D_offset": 20.0 + 2e3 * T0}
    from_zero = simulate("static", moved, DT * np.arange(N), q=Q, check_bounds=False).c2.values[0]
    np.testing.assert_allclose(_off_diagonal(shifted[1:, 1:]), _off_diagonal(from_zero[1:, 1:]), rtol=1e-10)


def test_laminar_flow_on_a_shifted_grid_is_the_closed_form_at_the_real_ages():
    p = {"D0": 2e3, "alpha": -0.3, "D_offset": 20.0, "gamma_dot_t0": 1e-3, "beta": 0.4,
         "gamma_dot_t_offset": 1e-4, "phi0": 5.0}
    L = 2e6
    phi = np.array([0.0, 45.0, 90.0])
    t = T0 + DT * np.arange(N)
    ds = simulate("laminar_flow", p, t, phi=phi, q=Q, L=L, contrast=0.3, offset=1.0)
    t1, t2 = np.meshgrid(t, t, indexing="ij")
    g1_d = np.exp(-0.5 * Q**2 * np.abs(_power_integral(t1, t2, p["D0"], p["alpha"], p["D_offset"])))
    shear = _power_integral(t1, t2, p["gamma_dot_t0"], p["beta"], p["gamma_dot_t_offset"])
    phase = Q * L / (2 * np.pi) * np.cos(np.deg2rad(p["phi0"] - phi))[:, None, None] * shear[None]
    expected = 1.0 + 0.3 * (g1_d[None] * np.sinc(phase / np.pi) ** 2) ** 2
    np.testing.assert_allclose(_off_diagonal(ds.c2.values), _off_diagonal(expected), rtol=1e-6)
