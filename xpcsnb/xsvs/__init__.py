"""X-ray speckle visibility spectroscopy: photon statistics, contrast, dynamics.

Typical use::

    from xpcsnb import xsvs
    vis = xsvs.visibility(frames, partition)          # histograms + contrast per (T, q)
    res = xsvs.fit_dynamics(vis, model="exponential")  # Γ(q) from β(T)
    xpcsnb.io.save_xsvs(res, "xsvs.nc")
"""

from typing import Any

from .contrast import nb_logpmf as nb_logpmf
from .contrast import nb_pmf as nb_pmf
from .dynamics import contrast_exponential as contrast_exponential
from .dynamics import contrast_from_g1 as contrast_from_g1
from .dynamics import contrast_stretched as contrast_stretched
from .dynamics import evaluate_dynamics as evaluate_dynamics
from .dynamics import fit_dynamics as fit_dynamics
from .series import ExposureSeries as ExposureSeries
from .series import XsvsError as XsvsError
from .series import as_exposure_series as as_exposure_series
from .simulate import simulate_series as simulate_series
from .visibility import visibility as visibility

__all__ = [
    "ExposureSeries",
    "XsvsError",
    "as_exposure_series",
    "contrast_exponential",
    "contrast_from_g1",
    "contrast_stretched",
    "evaluate_dynamics",
    "fit_dynamics",
    "load_results",
    "nb_logpmf",
    "nb_pmf",
    "save_results",
    "simulate_series",
    "visibility",
]


def __getattr__(name: str) -> Any:
    if name in ("save_results", "load_results"):  # deprecated: XSVS results are saved by xpcsnb.io
        import importlib

        from .._warn import warn

        warn(f"xpcsnb.xsvs.{name} is deprecated; use xpcsnb.io.{name.replace('results', 'xsvs')}", DeprecationWarning)
        return getattr(importlib.import_module("xpcsnb.io.xsvs_results"), name)
    if name == "FIT_STATUS":  # deprecated: fit_status holds xpcsnb.core.status.Status codes
        from . import contrast

        return getattr(contrast, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

