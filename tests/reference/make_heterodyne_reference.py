"""Generate tests/data/heterodyne_reference.npz from the heterodyne package 2.0.1.

Run in a separate environment that has ``heterodyne==2.0.1`` installed (not an xpcsnb
dependency)::

    python -m venv /tmp/ref && /tmp/ref/bin/pip install heterodyne==2.0.1
    /tmp/ref/bin/python tests/reference/make_heterodyne_reference.py

C2 comes from ``heterodyne.core.physics_kernel.compute_c2_unified`` (meshgrid path, one
call per angle) on the package's own time grid t_k = dt·(k+1). The cases cover
positive and negative exponents, transport hitting the floor at 0 (negative offsets),
the fraction hitting both edges of its soft clip, a negative f1 with a nonzero f2,
signed (negative) velocity, phi0 ≠ 0, several angles and grid sizes.
"""

import json
from importlib.metadata import version
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from heterodyne.core.physics_kernel import compute_c2_unified  # noqa: E402

NAMES = ["D0_ref", "alpha_ref", "D_offset_ref", "D0_sample", "alpha_sample", "D_offset_sample",
         "v0", "beta", "v_offset", "f0", "f1", "f2", "f3", "phi0"]

CASES = [
    # name, params (14, order NAMES), phi [deg], N, dt [s], q [1/Å], contrast, offset
    ("basic", [1e4, 0.2, 50.0, 3e4, -0.3, 10.0, 800.0, 0.0, 5.0, 0.5, 0.0, 0.0, 0.1, 2.0],
     [0.0, 45.0, 90.0], 60, 0.1, 0.0054, 0.3, 1.0),
    ("floored_transport", [2e3, -0.8, -500.0, 5e3, -1.2, -2e3, 300.0, 0.5, -20.0, 0.3, 0.2, 1.0, 0.05, -4.0],
     [10.0, 120.0], 50, 0.2, 0.004, 0.45, 1.02),
    ("fraction_saturates", [1e5, 0.0, 0.0, 2e4, 0.5, 100.0, 50.0, -0.5, 30.0, 0.9, 0.5, 0.0, 0.2, 7.5],
     [-30.0, 0.0, 30.0, 60.0], 45, 0.05, 0.01, 0.2, 0.99),
    ("fraction_decays", [5e3, 1.0, 20.0, 8e4, 0.1, -50.0, 2e3, 1.3, -80.0, 0.8, -1.5, 2.0, 0.0, -9.0],
     [5.0, 95.0, 185.0], 70, 0.03, 0.006, 0.5, 1.0),
    ("no_velocity", [3e4, -0.5, 5.0, 1e4, 0.3, 0.0, 1e-6, 0.0, 0.0, 0.4, 0.1, 0.0, 0.3, 0.0],
     [0.0, 90.0], 40, 0.25, 0.005, 0.35, 1.01),
    ("large_grid", [2e4, 0.4, 100.0, 6e4, -0.2, 30.0, 1.5e3, -0.7, 12.0, 0.6, 0.05, -3.0, 0.1, 4.0],
     [-60.0, 0.0, 60.0], 120, 0.02, 0.003, 0.25, 1.0),
]


def main() -> None:
    out = {}
    meta = {"package": "heterodyne", "version": version("heterodyne"), "names": NAMES,
            "time_grid": "t_k = dt*(k+1)", "cases": []}
    for name, p, phi, n, dt, q, contrast, offset in CASES:
        params = jnp.asarray(p, dtype=jnp.float64)
        t = dt * (np.arange(n) + 1)
        c2 = np.stack([
            np.asarray(compute_c2_unified(params, q, dt, phi_k, contrast, offset, eval_strategy="meshgrid",
                                          t=jnp.asarray(t)))
            for phi_k in phi
        ])
        out[f"{name}__c2"] = c2
        out[f"{name}__params"] = np.asarray(p, float)
        out[f"{name}__phi"] = np.asarray(phi, float)
        out[f"{name}__t"] = t
        meta["cases"].append({"name": name, "dt": dt, "q": q, "contrast": contrast, "offset": offset})
    out["meta"] = np.array(json.dumps(meta))
    path = Path(__file__).resolve().parents[1] / "data" / "heterodyne_reference.npz"
    np.savez_compressed(path, **out)
    print("wrote", path, {k: v.shape for k, v in out.items() if k.endswith("__c2")})


if __name__ == "__main__":
    main()
