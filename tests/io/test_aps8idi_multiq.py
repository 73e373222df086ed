"""open_twotime of several q (3 q × 3 φ APS 8-ID-I file): multi-q Datasets, their bins and frame times."""

import numpy as np
import pytest

from xpcsnb.core.twotime import q_value, time_step, validate_twotime
from xpcsnb.correlate import g2_from_c2
from xpcsnb.io.aps8idi import open_twotime

N = 12
PHI3 = np.array([0.0, 45.0, 90.0])
DT = 1e-3 * 2 * 3  # frame_time * stride * avg of the writer


@pytest.fixture
def grid_file(tmp_path, aps):
    """Every (q, φ) cell of a 3 × 3 grid holds a C2 (bin b ↔ cell b − 1, q-major)."""
    c2 = aps.c2_set(list(range(1, 10)), N)
    return aps.write_nexus(tmp_path / "G_results.hdf", c2=c2, phi_grid=PHI3, mapping=None), c2


def test_all_q_give_one_multi_q_dataset_equal_to_the_single_q_reads(grid_file):
    path, c2 = grid_file
    mq = open_twotime(path, q="all", diagonal="raw")
    assert validate_twotime(mq) is mq
    assert mq.c2.dims == ("q", "phi", "t1", "t2") and mq.c2.shape == (3, 3, N, N)
    np.testing.assert_array_equal(mq.q.values, [0.002, 0.004, 0.006])
    np.testing.assert_array_equal(mq.phi.values, PHI3)
    assert mq.bin.dims == ("q", "phi") and mq.bin.values.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert mq.q_index.values.tolist() == [0, 1, 2] and np.all(np.isnan(mq.q_requested.values))
    assert "q" not in mq.attrs and mq.attrs["q_selection"] == "all q with C2 in the file"
    assert time_step(mq) == pytest.approx(DT) and "dt" not in mq.attrs
    for a, q in enumerate((0.002, 0.004, 0.006)):
        one = open_twotime(path, q=q, diagonal="raw")
        np.testing.assert_array_equal(mq.c2.values[a], one.c2.values)
        assert q_value(mq.isel(q=a)) == one.attrs["q"]
        for k, b in enumerate(mq.bin.values[a]):
            np.testing.assert_array_equal(mq.c2.values[a, k], c2[b])
    # corrected diagonals per matrix, as in the single-q read
    np.testing.assert_array_equal(open_twotime(path, q="all").c2.values[1], open_twotime(path, q=0.004).c2.values)


def test_a_list_of_q_keeps_its_order_and_the_angles_can_be_chosen(grid_file):
    path, _ = grid_file
    mq = open_twotime(path, q=[0.0061, 0.002], phi=[0.0, 90.0], diagonal="raw")
    np.testing.assert_array_equal(mq.q.values, [0.006, 0.002])
    np.testing.assert_array_equal(mq.q_requested.values, [0.0061, 0.002])
    assert mq.bin.values.tolist() == [[7, 9], [1, 3]] and mq.phi.values.tolist() == [0.0, 90.0]
    with pytest.raises(ValueError, match="select the same stored q 0.002"):
        open_twotime(path, q=[0.002, 0.0021])
    for bad, match in (("every", "or 'all'"), ([], "non-empty"), ([0.002, None], "sequence of numbers"),
                       ([0.002, 0.009], "no C2 at q=0.009")):
        with pytest.raises(ValueError, match=match):
            open_twotime(path, q=bad)


def test_a_frame_window_keeps_the_sample_age_at_every_q(grid_file):
    path, c2 = grid_file
    mq = open_twotime(path, q="all", start_frame=4, end_frame=N, diagonal="raw")
    np.testing.assert_allclose(mq.t1.values, DT * np.arange(3, N))
    np.testing.assert_array_equal(mq.c2.values[2, 0], c2[7][3:, 3:])


def test_q_with_other_angles_are_refused_unless_common_angles_are_chosen(tmp_path, aps):
    # the default grid has empty cells: q0 has phi -45, 0, 90; q1 -45, 45, 90; q2 0, 45, 90
    path = aps.write_nexus(tmp_path / "E_results.hdf", c2=aps.c2_set(list(range(1, 10)), N))
    with pytest.raises(ValueError, match=r"the same angles at every q: choose common ones with phi"):
        open_twotime(path, q="all")
    mq = open_twotime(path, q="all", phi=90.0)
    assert mq.c2.shape == (3, 1, N, N) and mq.bin.values.ravel().tolist() == [3, 6, 9]


def test_g2_of_the_multi_q_read_has_one_roi_per_q_and_phi_bin(grid_file):
    path, c2 = grid_file
    g = g2_from_c2(open_twotime(path, q="all", diagonal="raw"))
    assert g.sizes["roi"] == 9 and g.bin.values.tolist() == list(range(1, 10))
    np.testing.assert_allclose(g.q.values, np.repeat([0.002, 0.004, 0.006], 3))
    np.testing.assert_allclose(g.phi.values, np.tile(PHI3, 3))
    np.testing.assert_allclose(g.tau.values, DT * np.arange(1, N))
    c = c2[5]
    assert g.g2.values[4, 2] == pytest.approx(np.mean([c[i, i + 3] for i in range(N - 3)]), rel=1e-12)
