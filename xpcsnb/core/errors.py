"""The library's exceptions: one base class, one subclass per kind of input.

Every error xpcsnb raises for bad input derives from :class:`XpcsError` (and from
:class:`ValueError`, so ``except ValueError`` keeps working), so that a caller can catch
all of them at once.
"""

from __future__ import annotations

__all__ = [
    "ApsFileError",
    "CorrelatorError",
    "FramesError",
    "G2Error",
    "PartitionError",
    "TwoTimeError",
    "UnitsWarning",
    "XpcsError",
    "XsvsError",
]


class XpcsError(ValueError):
    """Base class of every xpcsnb input error."""


class TwoTimeError(XpcsError):
    """Raised when input does not describe a valid two-time correlation."""


class G2Error(XpcsError):
    """Raised when input does not describe a valid one-time g2 Dataset."""


class FramesError(XpcsError):
    """Raised for an invalid frame stack or frame metadata."""


class PartitionError(XpcsError):
    """Raised for an invalid geometry, mask or ROI partition."""


class CorrelatorError(XpcsError):
    """Raised for invalid correlator input (frames, ROIs, normalisation, ladder)."""


class XsvsError(XpcsError):
    """Raised for invalid XSVS input (frames, exposure times, mask, flat field, ROIs)."""


class ApsFileError(XpcsError):
    """Raised when a file is not a readable APS 8-ID-I result file."""


class UnitsWarning(UserWarning):
    """Warned when a number looks like it is in other units than the documented ones.

    For example phi in radians instead of degrees, q in 1/nm or 1/m instead of 1/Å,
    dt in ms instead of s. Silence it per call (``twotime(..., units_check=False)``) or
    with ``warnings.filterwarnings("ignore", category=UnitsWarning)``.
    """
