"""Generate tests/data/homodyne_reference.npz from the homodyne package 2.23.3.

Run in a separate environment that has ``homodyne==2.23.3`` installed (not an xpcsnb
dependency)::

    python -m venv /tmp/ref && /tmp/ref/bin/pip install homodyne==2.23.3
    /tmp/ref/bin/python tests/reference/make_homodyne_reference.py

The cases cover static and laminar flow, positive and negative exponents, negative
offsets (hitting the 1e-10 floor), several angles and grid sizes. Grids use the
package's own convention t_k = k·dt.
"""

import json
from importlib.metadata import version
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from homodyne.core.jax_backend import compute_g2_scaled  # noqa: E402

CASES = [
    # name, params (7; static uses the first 3 + zeros), phi, N, dt, q, L, contrast, offset
    ("static_basic", [1200.0, -0.3, 15.0], [0.0, 45.0, 90.0], 60, 0.1, 0.0054, 2e6, 0.3, 1.0),
    ("static_superdiff", [500.0, 0.8, -20.0], [10.0], 41, 0.05, 0.01, 2e6, 0.5, 1.02),
    ("static_negoffset", [2e4, -1.2, -3e3], [0.0, 30.0], 50, 0.5, 0.003, 2e6, 0.25, 0.98),
    ("laminar_basic", [1200.0, -0.3, 15.0, 0.002, 0.4, 1e-4, 3.0], [0.0, 45.0, 90.0, 135.0], 60, 0.1, 0.0054, 2e6, 0.3, 1.0),
    ("laminar_negbeta", [800.0, 0.2, 0.0, 0.01, -0.7, -0.002, -6.0], [-20.0, 5.0, 60.0], 45, 0.2, 0.004, 1.5e6, 0.45, 1.01),
    ("laminar_fast", [3000.0, 0.0, 100.0, 0.05, 0.0, 0.0, 8.0], [0.0, 89.0], 80, 0.02, 0.008, 3e6, 0.2, 1.0),
]


def main() -> None:
    out = {}
    meta = {"package": "homodyne", "version": version("homodyne"), "cases": []}
    for name, p, phi, n, dt, q, L, contrast, offset in CASES:
        params = np.zeros(7)
        params[: len(p)] = p
        if len(p) == 3:
            params = params[:3]
        t = dt * np.arange(n)
        c2 = compute_g2_scaled(jnp.asarray(params), jnp.asarray(t), jnp.asarray(t), jnp.asarray(phi),
                               q, L, contrast, offset, dt)
        out[f"{name}__c2"] = np.asarray(c2)
        out[f"{name}__params"] = params
        out[f"{name}__phi"] = np.asarray(phi, float)
        out[f"{name}__t"] = t
        meta["cases"].append({"name": name, "dt": dt, "q": q, "L": L, "contrast": contrast, "offset": offset,
                              "model": "static" if len(p) == 3 else "laminar_flow"})
    out["meta"] = np.array(json.dumps(meta))
    path = Path(__file__).resolve().parents[1] / "data" / "homodyne_reference.npz"
    np.savez_compressed(path, **out)
    print("wrote", path, {k: v.shape for k, v in out.items() if k.endswith("__c2")})


if __name__ == "__main__":
    main()
