"""Reading, writing and validating XPCS data."""

from .aps8idi import ApsFileError as ApsFileError
from .aps8idi import open_aps as open_aps
from .aps8idi import open_g2 as open_g2
from .aps8idi import open_twotime as open_twotime
from .aps8idi import read_g2 as read_g2
from .aps8idi import save_aps as save_aps
from ..core.diagonal import correct_diagonal as correct_diagonal
from .frames import FramesError as FramesError
from .frames import frames_from_array as frames_from_array
from .frames import open_frames as open_frames
from .imageseries import open_image_series as open_image_series
from .poni import read_poni as read_poni
from .qmap import open_qmap as open_qmap
from .rigaku import encode_rigaku as encode_rigaku
from .rigaku import open_rigaku as open_rigaku
from .xsvs_results import load_xsvs as load_xsvs
from .xsvs_results import save_xsvs as save_xsvs
from ..core.twotime import TwoTimeError as TwoTimeError
from ..core.twotime import twotime as twotime
from ..core.twotime import validate_twotime as validate_twotime

__all__ = ["ApsFileError", "FramesError", "TwoTimeError", "correct_diagonal", "encode_rigaku", "frames_from_array",
           "open_aps", "open_frames", "open_image_series", "open_g2", "open_qmap", "open_rigaku", "open_twotime", "read_g2", "read_poni", "save_aps",
           "load_xsvs", "save_xsvs", "twotime", "validate_twotime"]
