"""Multi-tau lag ladders."""

import numpy as np
import pytest

from xpcsnb.correlate import multitau_ladder


def test_skbeam_ladder_num_bufs_8():
    lad = multitau_ladder(1000, 8, "skbeam")
    assert lad.lag[:12].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]
    assert lad.level[:12].tolist() == [0] * 7 + [1] * 4 + [2]


def test_aps_ladder_matches_boost_corr_gen_tau_bin():
    # boost-corr gen_tau_bin(2000, dpl=4): 1..8 then x*2**L, x = 5..8, while x*2**L < (N >> L) << L
    n = 2000
    ref = list(range(1, 9))
    lev = 1
    while True:
        new = [x << lev for x in range(5, 9) if (x << lev) < ((n >> lev) << lev)]
        if not new:
            break
        ref += new
        lev += 1
    lad = multitau_ladder(n, 8, "aps")
    assert lad.lag.tolist() == ref
    assert lad.lag.size == 38  # as in shared/guides/correlators.md
    assert np.all(np.diff(lad.lag) > 0)


def test_every_lag_has_a_pair():
    for n in (9, 17, 100, 1023, 4097):
        lad = multitau_ladder(n, 8)
        assert np.all(lad.lag_in_level < (n >> lad.level))


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"n_frames": 5}, "fewer frames than lags"),
        ({"n_frames": 100, "num_levels": 9}, "fewer frames than lags"),
        ({"n_frames": 100, "num_bufs": 7}, "even"),
        ({"n_frames": 100, "scheme": "log"}, "unknown ladder"),
    ],
)
def test_ladder_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        multitau_ladder(**kw)
