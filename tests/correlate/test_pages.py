import numpy as np
import pytest

from xpcsnb.correlate.pages import MAP_MIN_BYTES, mapped_empty


@pytest.mark.parametrize("shape, dtype", [((3, 700, 700), np.float64), ((5, 2000, 1024), np.uint16), ((10, 10), np.float32)])
def test_mapped_empty_is_a_zeroed_writeable_c_array(shape, dtype):
    a = mapped_empty(shape, dtype)
    assert a.shape == shape and a.dtype == np.dtype(dtype)
    assert a.flags.c_contiguous and a.flags.writeable
    assert not a.any()
    a[...] = 7
    assert np.all(a == 7)
    big = a.nbytes >= MAP_MIN_BYTES
    assert (a.base is not None) == big  # large arrays live in their own memory map


def test_mapped_arrays_do_not_share_memory():
    a, b = mapped_empty((MAP_MIN_BYTES // 8,)), mapped_empty((MAP_MIN_BYTES // 8,))
    a.fill(1.0)
    assert not b.any() and not np.shares_memory(a, b)
