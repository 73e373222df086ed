"""Reading, writing and validating XPCS data."""

from .aps8idi import ApsFileError as ApsFileError
from .aps8idi import open_aps as open_aps
from .aps8idi import open_twotime as open_twotime
from .diagonal import correct_diagonal as correct_diagonal
from .twotime import TwoTimeError as TwoTimeError
from .twotime import twotime as twotime
from .twotime import validate_twotime as validate_twotime

__all__ = ["ApsFileError", "TwoTimeError", "correct_diagonal", "open_aps", "open_twotime", "twotime",
           "validate_twotime"]
