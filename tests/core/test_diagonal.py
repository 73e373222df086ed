"""Diagonal correction (xpcsnb.core.diagonal) against a brute-force loop."""

import numpy as np
import pytest

from xpcsnb.core.diagonal import apply_diagonal_mode, correct_diagonal, neighbour_mean_diagonal


def brute_force(c: np.ndarray) -> np.ndarray:
    """Literal transcription of the neighbour-mean rule, one element at a time."""
    n = c.shape[0]
    s = [0.5 * (c[i, i + 1] + c[i + 1, i]) for i in range(n - 1)]
    out = c.astype(float).copy()
    for i in range(n):
        if i == 0:
            out[i, i] = s[0]
        elif i == n - 1:
            out[i, i] = s[n - 2]
        else:
            out[i, i] = 0.5 * (s[i - 1] + s[i])
    return out


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_matches_brute_force_on_asymmetric_input(n):
    c = np.random.default_rng(n).normal(1.0, 0.3, (n, n))  # deliberately not symmetric
    np.testing.assert_array_equal(correct_diagonal(c), brute_force(c))


def test_only_diagonal_changes_and_input_untouched():
    c = np.random.default_rng(1).normal(1.0, 0.1, (9, 9))
    keep = c.copy()
    out = correct_diagonal(c)
    np.testing.assert_array_equal(c, keep)
    off = ~np.eye(9, dtype=bool)
    np.testing.assert_array_equal(out[off], c[off])
    assert not np.array_equal(np.diag(out), np.diag(c))


def test_known_values():
    c = np.array([[9.0, 1.0, 2.0], [1.0, 9.0, 3.0], [2.0, 3.0, 9.0]])
    assert np.diag(correct_diagonal(c)).tolist() == [1.0, 2.0, 3.0]
    two = np.array([[5.0, 1.0], [3.0, 5.0]])
    assert np.diag(correct_diagonal(two)).tolist() == [2.0, 2.0]


def test_smooth_matrix_spike_removed():
    """For C = 1 + β exp(-|i-j|/τ) plus a spike, the corrected diagonal is the
    first-neighbour value 1 + β exp(-1/τ) everywhere."""
    n, beta, tau = 30, 0.3, 4.0
    lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    c = 1 + beta * np.exp(-lag / tau) + 0.7 * np.eye(n)
    np.testing.assert_allclose(np.diag(correct_diagonal(c)), 1 + beta * np.exp(-1 / tau), rtol=0, atol=1e-15)


def test_stack_equals_per_matrix():
    stack = np.random.default_rng(3).normal(1.0, 0.1, (4, 11, 11))
    out = correct_diagonal(stack)
    for k in range(4):
        np.testing.assert_array_equal(out[k], brute_force(stack[k]))
    assert neighbour_mean_diagonal(stack).shape == (4, 11)


def test_float32_input_gives_float64():
    c = np.random.default_rng(4).normal(1.0, 0.1, (6, 6)).astype(np.float32)
    out = correct_diagonal(c)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, brute_force(c.astype(np.float64)))


@pytest.mark.parametrize(
    ("bad", "match"),
    [(np.ones(3), "at least 2 dimensions"), (np.ones((3, 4)), "square"), (np.ones((1, 1)), "at least 2 frames"),
     (np.array([["a", "b"], ["c", "d"]]), "numeric")],
)
def test_invalid_input(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        correct_diagonal(bad)


def test_modes():
    c = np.random.default_rng(5).normal(1.0, 0.1, (5, 5))
    np.testing.assert_array_equal(apply_diagonal_mode(c, "raw"), c)
    np.testing.assert_array_equal(apply_diagonal_mode(c, "correct"), brute_force(c))
    with pytest.raises(ValueError, match="NaN is not allowed"):
        apply_diagonal_mode(c, "nan")
    with pytest.raises(ValueError, match="diagonal must be one of"):
        apply_diagonal_mode(c, "mask")
