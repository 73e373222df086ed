"""Multi-tau lag ladders: which lags are computed at which averaging level.

At level L the frames are sums of 2^L consecutive frames (pairs of level L−1 frames,
paired from the first frame: (0, 1), (2, 3), …), so a lag of j level-L frames is a
lag of ``j·2^L`` frames. There are ``n_L = N >> L`` level-L frames and a lag j is kept
when at least one pair exists, ``j < n_L``.

Schemes (B = ``num_bufs``, even):

``"skbeam"``
    scikit-beam's ``multi_tau_auto_corr``: level 0 lags 1 … B−1, level L ≥ 1 lags
    B/2 … B−1 (×2^L). B = 8 gives 1…7, 8, 10, 12, 14, 16, 20, …
``"aps"``
    APS 8-ID-I / boost-corr ``gen_tau_bin`` with B/2 lags per octave: level 0 lags
    1 … B, level L ≥ 1 lags B/2+1 … B (×2^L). B = 8 gives 1…8, 10, 12, 14, 16, 20, …

Lag 0 (shot noise) is never part of a ladder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._numeric import check_int
from ..core.errors import CorrelatorError

__all__ = ["LADDERS", "Ladder", "multitau_ladder"]

#: Names of the available ladder schemes.
LADDERS = ("skbeam", "aps")


@dataclass(frozen=True)
class Ladder:
    """A multi-tau ladder for a given number of frames.

    Attributes
    ----------
    scheme : str
        ``"skbeam"`` or ``"aps"``.
    num_bufs : int
        Buffers per level B.
    n_frames : int
        Number of frames N the ladder was built for.
    levels : tuple of tuple of int
        Lags of each level 0 … L_max in level-L frames.
    """

    scheme: str
    num_bufs: int
    n_frames: int
    levels: tuple[tuple[int, ...], ...]

    @property
    def n_levels(self) -> int:
        """Number of levels."""
        return len(self.levels)

    @property
    def lag(self) -> np.ndarray:
        """All lags [frames], increasing."""
        return np.array([j << lev for lev, lags in enumerate(self.levels) for j in lags], dtype=np.int64)

    @property
    def level(self) -> np.ndarray:
        """Level of each lag."""
        return np.array([lev for lev, lags in enumerate(self.levels) for _ in lags], dtype=np.int64)

    @property
    def lag_in_level(self) -> np.ndarray:
        """Each lag in frames of its level."""
        return np.array([j for lags in self.levels for j in lags], dtype=np.int64)


def _level_lags(scheme: str, num_bufs: int, level: int) -> range:
    half = num_bufs // 2
    if scheme == "skbeam":
        return range(1, num_bufs) if level == 0 else range(half, num_bufs)
    return range(1, num_bufs + 1) if level == 0 else range(half + 1, num_bufs + 1)


def multitau_ladder(n_frames: int, num_bufs: int = 8, scheme: str = "skbeam", num_levels: int | None = None) -> Ladder:
    """Build the multi-tau ladder for ``n_frames`` frames.

    Parameters
    ----------
    n_frames : int
        Number of frames N.
    num_bufs : int
        Buffers per level B (even, ≥ 2).
    scheme : {"skbeam", "aps"}
        Ladder scheme (see the module docstring).
    num_levels : int, optional
        Number of levels. Default: as many as the frames allow (the last level may
        hold only part of its lags). When given, every level must have at least one
        lag, otherwise the frames are too few and a CorrelatorError says how many are needed.

    Raises
    ------
    CorrelatorError
        For an unknown scheme, an odd or too small ``num_bufs``, or fewer frames than
        the requested lags need.
    """
    if scheme not in LADDERS:
        raise CorrelatorError(f"unknown ladder {scheme!r}; choose one of {LADDERS}")
    if check_int("num_bufs", num_bufs, 2, error=CorrelatorError) % 2:
        raise CorrelatorError(f"num_bufs must be an even integer >= 2, got {num_bufs!r}")
    num_bufs = int(num_bufs)
    n = check_int("n_frames", n_frames, 1, error=CorrelatorError)
    level0 = _level_lags(scheme, num_bufs, 0)
    if n <= level0[-1]:
        raise CorrelatorError(
            f"fewer frames than lags: {n} frame(s), but the level-0 lags of the {scheme!r} ladder with "
            f"num_bufs={num_bufs} go up to {level0[-1]} (need at least {level0[-1] + 1} frames)"
        )
    if num_levels is not None:
        num_levels = check_int("num_levels", num_levels, 1, error=CorrelatorError)
    levels: list[tuple[int, ...]] = []
    lev = 0
    while num_levels is None or lev < num_levels:
        n_l = n >> lev
        lags = tuple(j for j in _level_lags(scheme, num_bufs, lev) if j < n_l)
        if not lags:
            if num_levels is not None:
                first = _level_lags(scheme, num_bufs, lev)[0]
                raise CorrelatorError(
                    f"fewer frames than lags: num_levels={num_levels} needs at least {(first + 1) << lev} frames "
                    f"(level {lev} starts at lag {first << lev}), got {n}"
                )
            break
        levels.append(lags)
        lev += 1
    return Ladder(scheme=scheme, num_bufs=int(num_bufs), n_frames=n, levels=tuple(levels))
