"""Fitting engines: bounded NLSQ and consensus Monte Carlo on a :class:`~xpcsnb.fit.problem.FitProblem`."""

from .cmc import cmc_summary as cmc_summary
from .cmc import cmc_warnings as cmc_warnings
from .cmc import fit_cmc as fit_cmc
from .cmc import load_cmc as load_cmc
from .cmc import save_cmc as save_cmc
from .nlsq import Status as Status
from .nlsq import fit_nlsq as fit_nlsq
from .problem import FitProblem as FitProblem
from .problem import build_problem as build_problem
from .result import NLSQResult as NLSQResult
from .result import as_result as as_result
from .result import concat_q as concat_q

__all__ = ["FitProblem", "NLSQResult", "Status", "as_result", "build_problem", "cmc_summary", "cmc_warnings",
           "concat_q", "fit_cmc", "fit_nlsq", "load_cmc", "save_cmc"]
