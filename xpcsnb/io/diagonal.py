"""Deprecated location of the diagonal convention; use :mod:`xpcsnb.core.diagonal`.

Kept as a thin re-export for one release.
"""

from ..core.diagonal import DIAGONAL_MODES, apply_diagonal_mode, correct_diagonal, neighbour_mean_diagonal

__all__ = ["DIAGONAL_MODES", "apply_diagonal_mode", "correct_diagonal", "neighbour_mean_diagonal"]
