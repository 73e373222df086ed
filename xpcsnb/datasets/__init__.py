"""Demo data: deterministic synthetic two-time sets and one real measured C2 matrix.

``load("static")`` / ``load("laminar_flow")``
    Synthetic 3-angle two-time Datasets computed by the homodyne models with 1 %
    seeded noise (t_k = k·dt, dt = 0.1 s, N = 200). The true parameters are in
    ``DEMO_TRUTH`` and in the Dataset attrs.
``load("bnl_two_time_350")``
    The measured 350 × 350 two-time matrix of the BNL "automating XPCS analysis"
    example (BSD-3-Clause, licence file shipped next to it as
    ``LICENSE-two_time_350``). It carries no geometry: times are in frames
    (``dt = 1``, unit "frame") and ``q = 1`` so that a fitted ``D0`` is ``q²·D`` in
    frame⁻¹; the stored diagonal (shot-noise spike) is replaced by the neighbour mean
    (recorded in attrs; the fits exclude the diagonal anyway).
"""

from __future__ import annotations

from importlib.resources import files
from types import MappingProxyType

import numpy as np
import xarray as xr

__all__ = ["load", "names", "DEMO_TRUTH", "data_path"]

#: True physics parameters of the synthetic demo sets.
DEMO_TRUTH = MappingProxyType({
    "static": MappingProxyType({"D0": 1.0e4, "alpha": -0.4, "D_offset": 100.0}),
    "laminar_flow": MappingProxyType({
        "D0": 1.0e4, "alpha": -0.4, "D_offset": 100.0,
        "gamma_dot_t0": 5e-4, "beta": 0.3, "gamma_dot_t_offset": 2e-5, "phi0": 4.0,
    }),
})

_DEMO_GRID = {"n": 200, "dt": 0.1, "phi": (0.0, 45.0, 90.0), "q": 0.0054, "L": 2e6,
              "contrast": (0.30, 0.28, 0.32), "offset": (1.0, 1.001, 0.999), "noise": 0.01, "seed": 2026}


def names() -> tuple[str, ...]:
    """Names accepted by :func:`load`."""
    return ("static", "laminar_flow", "bnl_two_time_350")


def data_path(filename: str) -> str:
    """Path of a file shipped in ``xpcsnb/datasets/data``."""
    return str(files(__name__) / "data" / filename)


def load(name: str) -> xr.Dataset:
    """Load a demo two-time Dataset by name (see the module doc)."""
    from ..core.diagonal import correct_diagonal
    from ..core.twotime import twotime
    from ..forward import simulate

    if name in DEMO_TRUTH:
        g = _DEMO_GRID
        ds = simulate(name, dict(DEMO_TRUTH[name]), g["dt"] * np.arange(g["n"]), phi=list(g["phi"]), q=g["q"],
                      L=g["L"], contrast=list(g["contrast"]), offset=list(g["offset"]), noise=g["noise"],
                      seed=g["seed"])
        ds.attrs["title"] = f"xpcsnb synthetic demo: {name}"
        return ds
    if name == "bnl_two_time_350":
        raw = np.load(data_path("two_time_350.npy"))
        c2 = correct_diagonal(raw)
        ds = twotime(c2, t=np.arange(raw.shape[0], dtype=float), phi=0.0, q=1.0, attrs={
            "title": "measured two-time correlation (BNL automating_XPCS_analysis_pub example)",
            "licence": "BSD-3-Clause, Brookhaven National Laboratory (LICENSE-two_time_350)",
            "time_units": "frame (no frame time is known; dt = 1 frame)",
            "q_note": "unknown; q = 1 so that a fitted D0 is q²·D in 1/frame",
            "diagonal": "replaced by the neighbour mean (xpcsnb.io.correct_diagonal)",
        })
        ds["t1"].attrs["units"] = ds["t2"].attrs["units"] = "frame"
        return ds
    raise ValueError(f"unknown demo dataset {name!r}; choose from {names()}")
