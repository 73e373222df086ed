"""Shared truths and session-scoped simulated data sets for the whole test suite.

Every test that needs "a laminar-flow truth" or "a small noisy static set" takes it from
here, so that the suite simulates each set once per worker and all tests agree on the
numbers.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest

#: Physics truths by model (registry names and units).
TRUTHS = MappingProxyType({
    "static": MappingProxyType({"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0}),
    "laminar_flow": MappingProxyType({"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0, "gamma_dot_t0": 5e-4,
                                      "beta": 0.3, "gamma_dot_t_offset": 2e-5, "phi0": 4.0}),
    "heterodyne": MappingProxyType(dict(D0_ref=2e4, alpha_ref=0.5, D_offset_ref=50.0, D0_sample=5e4,
                                        alpha_sample=0.3, D_offset_sample=10.0, v0=800.0, beta=0.2, v_offset=5.0,
                                        f0=0.5, f1=0.1, f2=0.0, f3=0.1, phi0=3.0)),
})
#: Per-angle scaling of the simulated sets (three angles).
PHI = (0.0, 45.0, 90.0)
CONTRAST = (0.3, 0.27, 0.33)
OFFSET = (1.0, 1.002, 0.998)


@pytest.fixture(scope="session")
def truths():
    """Physics truths by model name (read-only mappings)."""
    return TRUTHS


def simulate_set(model: str, *, n: int = 40, dt: float = 0.25, noise: float = 0.01, seed: int | None = 0,
                 q=0.0054):
    """A three-angle two-time set of ``model`` at its truth (L = 2e6 Å for laminar flow)."""
    from xpcsnb.forward import simulate

    t = dt * (np.arange(n) + (1 if model == "heterodyne" else 0))
    return simulate(model, dict(TRUTHS[model]), t, phi=list(PHI), q=q, L=2e6 if model == "laminar_flow" else None,
                    contrast=list(CONTRAST), offset=list(OFFSET), noise=noise, seed=seed)


@pytest.fixture(scope="session")
def static_set():
    """Static model, 3 angles × 40², 1 % noise, seed 0 (simulated once per session)."""
    return simulate_set("static")


@pytest.fixture(scope="session")
def laminar_set():
    """Laminar flow, 3 angles × 40², 1 % noise, seed 0."""
    return simulate_set("laminar_flow")


@pytest.fixture(scope="session")
def multiq_set():
    """Static model on 3 q × 3 φ × 30², 1 % noise (a multi-q Dataset, q as a dimension)."""
    return simulate_set("static", n=30, q=[0.004, 0.0054, 0.007])
