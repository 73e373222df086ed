"""Frames to correlations: partitions, multi-tau g2 and two-time C2."""

from .partition import Geometry as Geometry
from .partition import Partition as Partition
from .partition import PartitionError as PartitionError
from .partition import from_labels as from_labels
from .partition import partition as partition

__all__ = ["Geometry", "Partition", "PartitionError", "from_labels", "partition"]
