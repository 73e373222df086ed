"""Frames to correlations: partitions, multi-tau g2, linear g2, two-time C2, simulated frames."""

from .ladder import Ladder as Ladder
from .ladder import multitau_ladder as multitau_ladder
from .linear import g2_linear as g2_linear
from .multitau import MultiTauAccumulator as MultiTauAccumulator
from .multitau import multitau as multitau
from ..core.partition import Geometry as Geometry
from ..core.partition import Partition as Partition
from ..core.partition import PartitionError as PartitionError
from ..core.partition import from_labels as from_labels
from ..core.partition import partition as partition
from .simulate import expected_g2 as expected_g2
from .simulate import iter_simulated_frames as iter_simulated_frames
from .simulate import simulate_frames as simulate_frames
from .stream import CorrelatorError as CorrelatorError
from .twotime import c2_at_q as c2_at_q
from .twotime import g2_age_resolved as g2_age_resolved
from .twotime import g2_from_c2 as g2_from_c2
from .twotime import two_time as two_time

__all__ = [
    "CorrelatorError",
    "Geometry",
    "Ladder",
    "MultiTauAccumulator",
    "Partition",
    "PartitionError",
    "c2_at_q",
    "expected_g2",
    "from_labels",
    "g2_age_resolved",
    "g2_from_c2",
    "g2_linear",
    "iter_simulated_frames",
    "multitau",
    "multitau_ladder",
    "partition",
    "simulate_frames",
    "two_time",
]
