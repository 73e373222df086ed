"""The one outcome vocabulary of every fit in xpcsnb (NLSQ, CMC, XSVS contrast and dynamics).

A fit result stores its outcome as the integer code of a :class:`Status` (``*_status``,
with the name in the ``meaning`` attribute) together with a boolean ``*_success`` and a
human-readable ``*_message``. Codes are stable: new members get new codes.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.IntEnum):
    """Outcome of a fit.

    Attributes
    ----------
    CONVERGED
        The solver met its tolerances and the solution is usable.
    MAX_EVALUATIONS
        Stopped at the evaluation (or iteration) limit before converging.
    DID_NOT_MOVE
        The parameters did not move from the start.
    ZERO_JACOBIAN_COLUMN
        Some parameter does not change the model at all (the data do not constrain it).
    SINGULAR_COVARIANCE
        The covariance could not be computed (singular or near-singular curvature).
    NONFINITE
        Non-finite values (residuals, Jacobian, log density) at the solution.
    UNDETERMINED
        Some stderr exceeds the width of its bounds: the value is one point of a flat valley.
    POISSON_LIMIT
        XSVS: the photon statistics are Poissonian, the contrast is 0 (no speckle).
    AT_BOUND
        The estimate sits on a bound (stderr not meaningful there).
    NO_DATA
        Nothing to fit (no photons, no valid points).
    NOT_CONVERGED
        A sampler's convergence diagnostics (R-hat, ESS, divergences) failed their thresholds.
    """

    CONVERGED = 0
    MAX_EVALUATIONS = 1
    DID_NOT_MOVE = 2
    ZERO_JACOBIAN_COLUMN = 3
    SINGULAR_COVARIANCE = 4
    NONFINITE = 5
    UNDETERMINED = 6
    POISSON_LIMIT = 7
    AT_BOUND = 8
    NO_DATA = 9
    NOT_CONVERGED = 10

    @property
    def success(self) -> bool:
        """Whether a result with this status is usable as an estimate."""
        return self in (Status.CONVERGED, Status.POISSON_LIMIT)
