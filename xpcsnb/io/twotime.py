"""Deprecated location of the two-time data model; use :mod:`xpcsnb.core.twotime`.

Kept as a thin re-export for one release.
"""

from ..core.twotime import TIME_RTOL, TwoTimeError, twotime, uniform_time_step, validate_twotime

__all__ = ["TIME_RTOL", "TwoTimeError", "twotime", "uniform_time_step", "validate_twotime"]
