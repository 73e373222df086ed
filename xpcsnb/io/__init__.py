"""Reading, writing and validating XPCS data."""

from .twotime import TwoTimeError as TwoTimeError
from .twotime import twotime as twotime
from .twotime import validate_twotime as validate_twotime

__all__ = ["TwoTimeError", "twotime", "validate_twotime"]
