"""Fitting engines: bounded NLSQ (and CMC) on a :class:`~xpcsnb.fit.problem.FitProblem`."""

from .nlsq import Status as Status
from .nlsq import fit_nlsq as fit_nlsq
from .problem import FitProblem as FitProblem
from .problem import build_problem as build_problem
from .result import NLSQResult as NLSQResult
from .result import as_result as as_result
from .result import concat_q as concat_q

__all__ = ["FitProblem", "NLSQResult", "Status", "as_result", "build_problem", "concat_q", "fit_nlsq"]
