"""xpcsnb: X-ray photon correlation spectroscopy from detector frames to physics, in a notebook.

The package face. Importing it registers the ``ds.xpcs`` accessor and nothing heavy:
every name below is imported on first use (module ``__getattr__``), so ``import xpcsnb``
loads neither the widgets, the plotting libraries nor the Bayesian engine until one of
them is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import accessor as _accessor  # noqa: F401  (registers ds.xpcs)
from ._version import __version__ as __version__

#: Public name -> (module, attribute); attribute None means the module itself.
_LAZY: dict[str, tuple[str, str | None]] = {
    "CMCWorkerError": (".fit.cmc", "CMCWorkerError"),
    "FitSpec": (".fit.spec", "FitSpec"),
    "G2Error": (".core.errors", "G2Error"),
    "NLSQResult": (".fit.result", "NLSQResult"),
    "TwoTimeError": (".core.errors", "TwoTimeError"),
    "UnitsWarning": (".core.errors", "UnitsWarning"),
    "XpcsError": (".core.errors", "XpcsError"),
    "as_result": (".fit.result", "as_result"),
    "batch": (".pipeline", "batch"),
    "cmc_summary": (".fit.cmc", "cmc_summary"),
    "cmc_warnings": (".fit.cmc", "cmc_warnings"),
    "core": (".core", None),
    "correlate": (".correlate", None),
    "datasets": (".datasets", None),
    "fit": (".fit", None),
    "fit_cmc": (".fit.cmc", "fit_cmc"),
    "fit_nlsq": (".fit.nlsq", "fit_nlsq"),
    "fit_rates": (".fit.rates", "fit_rates"),
    "g2": (".core.g2", "g2"),
    "get_model": (".models.registry", "get_model"),
    "io": (".io", None),
    "load_cmc": (".fit.cmc", "load_cmc"),
    "load_nlsq": (".fit.result", "load_nlsq"),
    "models": (".models", None),
    "open_aps": (".io.aps8idi", "open_aps"),
    "open_frames": (".io.frames", "open_frames"),
    "open_g2": (".io.aps8idi", "open_g2"),
    "open_image_series": (".io.imageseries", "open_image_series"),
    "open_qmap": (".io.qmap", "open_qmap"),
    "open_rigaku": (".io.rigaku", "open_rigaku"),
    "open_twotime": (".io.aps8idi", "open_twotime"),
    "plot": (".plot", None),
    "register_model": (".models.registry", "register"),
    "read_poni": (".io.poni", "read_poni"),
    "registry": (".models.registry", None),
    "save_aps": (".io.aps8idi", "save_aps"),
    "save_cmc": (".fit.cmc", "save_cmc"),
    "save_nlsq": (".fit.result", "save_nlsq"),
    "simulate": (".forward", "simulate"),
    "twotime": (".core.twotime", "twotime"),
    "widgets": (".widgets", None),
    "xsvs": (".xsvs", None),
}

__all__ = sorted(["__version__", *_LAZY])


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'xpcsnb' has no attribute {name!r}") from None
    mod = importlib.import_module(module, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
