"""Shared truths and the simulated sets of the test suite (imported by tests/conftest.py and by tests).

Import them as ``from truths import TRUTHS, simulate_set`` (``tests/`` is on ``sys.path``); a module
of its own, because ``conftest`` names more than one module in this suite.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

#: Physics truths by model (registry names and units).
TRUTHS = MappingProxyType({
    "static": MappingProxyType({"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0}),
    "laminar_flow": MappingProxyType({"D0": 8000.0, "alpha": -0.3, "D_offset": 150.0, "gamma_dot_t0": 5e-4,
                                      "beta": 0.3, "gamma_dot_t_offset": 2e-5, "phi0": 4.0}),
    "heterodyne": MappingProxyType(dict(D0_ref=2e4, alpha_ref=0.5, D_offset_ref=50.0, D0_sample=5e4,
                                        alpha_sample=0.3, D_offset_sample=10.0, v0=800.0, beta=0.2, v_offset=5.0,
                                        f0=0.5, f1=0.1, f2=0.0, f3=0.1, phi0=3.0)),
})
#: The small, low-noise static truth of the CMC tests (two angles, 1 s frames: short NUTS runs).
CMC_TRUTH = MappingProxyType({"D0": 1e4, "alpha": -0.3, "D_offset": 100.0})
#: Per-angle scaling of the simulated sets (three angles).
PHI = (0.0, 45.0, 90.0)
CONTRAST = (0.3, 0.27, 0.33)
OFFSET = (1.0, 1.002, 0.998)


def simulate_set(model: str, *, n: int = 40, dt: float = 0.25, noise: float = 0.01, seed: int | None = 0,
                 q=0.0054):
    """A three-angle two-time set of ``model`` at its truth (L = 2e6 Å for laminar flow)."""
    from xpcsnb.forward import simulate

    t = dt * (np.arange(n) + (1 if model == "heterodyne" else 0))
    return simulate(model, dict(TRUTHS[model]), t, phi=list(PHI), q=q, L=2e6 if model == "laminar_flow" else None,
                    contrast=list(CONTRAST), offset=list(OFFSET), noise=noise, seed=seed)


def simulate_cmc_set(n: int = 40, *, seed: int = 3, noise: float = 0.002):
    """The CMC tests' two-angle static set at :data:`CMC_TRUTH`: t = 0 … n − 1 s, φ = 0°, 45°."""
    from xpcsnb.forward import simulate

    return simulate("static", dict(CMC_TRUTH), np.arange(float(n)), phi=[0.0, 45.0], q=0.0054, contrast=[0.3, 0.4],
                    offset=[1.0, 1.01], noise=noise, seed=seed)
