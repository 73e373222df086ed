"""Fitting engines: bounded NLSQ and consensus Monte Carlo on a :class:`~xpcsnb.fit.problem.FitProblem`.

The set-up is a :class:`~xpcsnb.fit.spec.FitSpec`; NLSQ returns a
:class:`~xpcsnb.fit.solution.Solution`, turned into a plain result Dataset
(``xpcsnb.fit.result``). The CMC names (NumPyro, ArviZ) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .nlsq import fit_nlsq as fit_nlsq
from .problem import FitProblem as FitProblem
from .problem import build_problem as build_problem
from .result import FitReport as FitReport
from .result import NLSQResult as NLSQResult
from .result import as_result as as_result
from .result import concat_q as concat_q
from .result import load_nlsq as load_nlsq
from .result import save_nlsq as save_nlsq
from .solution import Solution as Solution
from .solution import Status as Status
from .spec import FitSpec as FitSpec

_LAZY = {name: ".cmc" for name in ("cmc_summary", "cmc_warnings", "fit_cmc", "load_cmc", "save_cmc")}
_LAZY.update({"fit_g2_nlsq": ".g2nlsq", "fit_g2_cmc": ".g2cmc", "fit_rates": ".rates"})

__all__ = ["FitProblem", "FitReport", "FitSpec", "NLSQResult", "Solution", "Status", "as_result", "build_problem",
           "cmc_summary", "cmc_warnings", "concat_q", "fit_cmc", "fit_g2_cmc", "fit_g2_nlsq", "fit_nlsq", "fit_rates", "load_cmc", "load_nlsq", "save_cmc",
           "save_nlsq"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'xpcsnb.fit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value
