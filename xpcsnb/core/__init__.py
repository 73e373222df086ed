"""The data model: two-time, one-time g2 and frame-stack schemas, partitions, the diagonal rule, errors.

No file I/O, no algorithms, no JAX: every other part of xpcsnb builds on these objects.
"""

from .diagonal import DIAGONAL_MODES as DIAGONAL_MODES
from .diagonal import correct_diagonal as correct_diagonal
from .errors import ApsFileError as ApsFileError
from .errors import CorrelatorError as CorrelatorError
from .errors import FramesError as FramesError
from .errors import G2Error as G2Error
from .errors import PartitionError as PartitionError
from .errors import TwoTimeError as TwoTimeError
from .errors import XpcsError as XpcsError
from .errors import XsvsError as XsvsError
from .frames import FRAME_DIMS as FRAME_DIMS
from .frames import as_frames as as_frames
from .frames import frames_from_array as frames_from_array
from .g2 import ValidPoints as ValidPoints
from .g2 import g2 as g2
from .g2 import valid_points as valid_points
from .g2 import validate_g2 as validate_g2
from .partition import Geometry as Geometry
from .partition import Partition as Partition
from .partition import from_labels as from_labels
from .partition import partition as partition
from .twotime import concat_q as concat_q
from .twotime import q_value as q_value
from .twotime import time_step as time_step
from .twotime import twotime as twotime
from .twotime import validate_twotime as validate_twotime

__all__ = [
    "DIAGONAL_MODES", "FRAME_DIMS", "ApsFileError", "CorrelatorError", "FramesError", "G2Error", "Geometry", "Partition",
    "PartitionError", "TwoTimeError", "XpcsError", "XsvsError", "as_frames", "concat_q", "correct_diagonal",
    "frames_from_array", "from_labels", "g2", "partition", "q_value", "time_step", "twotime", "valid_points",
    "validate_g2", "validate_twotime", "ValidPoints",
]
