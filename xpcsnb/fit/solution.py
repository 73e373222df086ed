"""What an engine returns: a frozen :class:`Solution`, and the one :class:`Status` vocabulary.

:func:`xpcsnb.fit.nlsq.solve` returns a :class:`Solution`;
:func:`xpcsnb.fit.result.solution_to_dataset` turns it into the result Dataset.
``Status`` lives in :mod:`xpcsnb.core.status` (shared with CMC and XSVS) and is re-exported
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from .._warn import warn
from ..core.status import Status

__all__ = ["Solution", "Status"]

#: Keys of the former ``solve`` dict that are now entries of ``Solution.tolerances``.
_TOLERANCES = ("ftol", "xtol", "gtol", "max_nfev")


def _frozen_array(a: Any) -> np.ndarray:
    out = np.array(a, dtype=float)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Solution:
    """The outcome of one least-squares solve of a :class:`~xpcsnb.fit.problem.FitProblem`.

    Arrays are read-only copies; ``success`` follows from ``status``.

    Attributes
    ----------
    names : tuple of str
        Free parameter names, in the order of ``x`` (the problem's ``names``).
    x, x_start, stderr : ndarray, shape (p,)
        Best-fit values, the start that led to them, and standard errors (NaN when the
        covariance is singular), in the parameters' units.
    cov : ndarray, shape (p, p)
        Parameter covariance (NaN when singular); scaled by ``chi2_red`` when
        ``scale_covar``.
    chi2, chi2_red : float
        Σ (weighted residual)² at ``x`` and χ²/(n_data − n_params) (NaN without degrees of
        freedom).
    n_data, n_params : int
        Number of residuals and of free parameters.
    status : Status
    message : str
        The solver's message followed by every diagnosis ("; "-separated).
    nfev, njev : int
        Residual and Jacobian evaluations of the best start.
    cond : float
        Condition number of the correlation form of JᵀJ (NaN for non-finite values).
    at_bound : tuple of str
        Parameters on a bound at ``x``.
    starts : ndarray, shape (n_starts, p)
        Every start, in the order they ran (mirrored starts last).
    start_costs : ndarray, shape (n_starts,)
        ½χ² reached from each start (inf where the residuals were not finite at the start).
    scale_covar : bool
        Whether ``cov`` was scaled by ``chi2_red``.
    elapsed_s : float
        Wall time of the solve [s].
    tolerances : mapping
        ``ftol``, ``xtol``, ``gtol`` and ``max_nfev`` used.
    fit_quality : str
        ``"acceptable"``, ``"poor"`` (χ²_red outside its expected range for the data's σ,
        see ``xpcsnb.fit.quality``) or ``"not assessed"`` (no σ).
    start_note : str
        How the starts were found (e.g. from a coarse start search).
    """

    names: tuple[str, ...]
    x: np.ndarray
    x_start: np.ndarray
    stderr: np.ndarray
    cov: np.ndarray
    chi2: float
    chi2_red: float
    n_data: int
    n_params: int
    status: Status
    message: str
    nfev: int
    njev: int
    cond: float
    at_bound: tuple[str, ...]
    starts: np.ndarray
    start_costs: np.ndarray
    scale_covar: bool
    elapsed_s: float
    tolerances: Mapping[str, float]
    fit_quality: str = "not assessed"
    start_note: str = ""

    def __post_init__(self) -> None:
        for name in ("x", "x_start", "stderr", "cov", "starts", "start_costs"):
            object.__setattr__(self, name, _frozen_array(getattr(self, name)))
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "at_bound", tuple(self.at_bound))
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "tolerances", MappingProxyType(dict(self.tolerances)))

    @property
    def success(self) -> bool:
        """Whether the solution is usable as an estimate (``status.success``)."""
        return self.status.success

    @property
    def n_starts(self) -> int:
        """Number of starts run (including mirrored ones)."""
        return int(self.starts.shape[0])

    def __getitem__(self, key: str) -> Any:
        """Deprecated: the dict access of the former ``solve`` return value (``sol["x"]`` → ``sol.x``)."""
        names = {f.name for f in fields(self)} | {"success", "n_starts"}
        if key in names:
            attr = f"sol.{key}"
            value = getattr(self, key)
        elif key in _TOLERANCES:
            attr = f"sol.tolerances[{key!r}]"
            value = self.tolerances[key]
        else:
            raise KeyError(key)
        warn(f"sol[{key!r}] is deprecated: solve() returns a Solution; use {attr}",
             DeprecationWarning)
        return value
