"""Large work and result arrays in their own anonymous memory maps.

NumPy asks the kernel for transparent huge pages (``MADV_HUGEPAGE``) on every array of
4 MiB or more. Where the machine must first find (or compact, or, on a virtual machine,
get back from the host) a free 2 MiB page, the first touch of such an array can cost
several times as much as ordinary 4 KiB page faults. The big buffers the correlators fill once
(pixel stacks, C2) are therefore mapped directly, without that advice; the system's own
huge-page policy (``/sys/kernel/mm/transparent_hugepage``) still applies.
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

__all__ = ["mapped_empty"]

#: Arrays smaller than this come from NumPy's allocator (NumPy's own huge-page threshold).
MAP_MIN_BYTES = 4 << 20


def mapped_empty(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """A writeable C-ordered array of ``shape`` and ``dtype``, zero-filled by the kernel on
    first touch (arrays below :data:`MAP_MIN_BYTES`: ``np.zeros``).

    The memory is a private anonymous map owned by the array (released with it).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes < MAP_MIN_BYTES:
        return np.zeros(shape, dtype=dtype)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)
