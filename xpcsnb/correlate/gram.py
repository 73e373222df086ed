"""The two-time kernel: C2 of an ROI from the Gram matrix S = X Xᵀ of its pixel stack.

X (N frames × n_pix pixels) holds the counts of one ROI; S_ij = Σ_p I_p(t_i) I_p(t_j) and
C2 = n_pix · S / (s sᵀ) with the frame sums s = X·1 (:mod:`xpcsnb.correlate.twotime`).

Dense path (JAX): the gathered pixels of all selected ROIs are stored block-major
(:class:`PixelBlocks`: ``(n_blocks, N, cols)``, every ROI zero-padded to whole blocks of
``cols`` pixel columns; zero columns add nothing), so every block is one contiguous
array. Per ROI, S and s are accumulated block by block by one compiled update that
forms only the row blocks of S on and above the diagonal (``_GRAM_BLOCK`` rows); it has
one shape per (N, cols) whatever the ROI sizes and can be compiled in a thread while the
frames are read (:func:`compile_dense`). C2 is then formed on the host (float64,
mirrored, exactly symmetric) straight into the caller's output (:func:`c2_from_gram`);
the updates are dispatched asynchronously, so that one ROI's C2 is formed while the
next ROI's products are computed.

Exactness: for integer counts the float32 products are exact when every partial sum
is an integer below 2^24, which holds when ``max_t S_tt < 2^24`` (Cauchy–Schwarz: a
partial sum of S_ij is at most S_ij ≤ max(S_ii, S_jj); and s_t ≤ S_tt for integer
counts). The computed float32 diagonal is ≥ 2^24 whenever the exact one is (rounding is
monotone and 2^24 is a float32), so the check is made on the result and an ROI that
fails it is recomputed in float64. Non-integer counts use float64 throughout.

Sparse path (SciPy CSR, float64, exact): for photon-sparse ROIs on the CPU, S from the
nonzero counts only (:data:`SPARSE_OCCUPANCY`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from .pages import mapped_empty

__all__ = ["SPARSE_OCCUPANCY", "PixelBlocks", "c2_from_gram", "c2_rois", "compile_dense", "exact_in_float32", "gram_dense",
           "gram_sparse", "pixel_block", "roi_c2", "use_sparse"]

#: Below 2^24 every integer is a float32.
EXACT_F32 = 2.0**24
#: Rows per block of S (only row blocks on or above the diagonal are formed).
_GRAM_BLOCK = 512
#: Pixel columns per block (ROIs with fewer than ``4 · _PIX_BLOCK_SMALL`` pixels use the
#: small block, so that a small ROI is not padded 10-fold).
_PIX_BLOCK = 1024
_PIX_BLOCK_SMALL = 128
#: Occupancy (fraction of an ROI's pixel-frames with a photon) below which ``sparse="auto"``
#: forms S from the nonzero counts (measured by ``bench/sparse_paths.py``).
SPARSE_OCCUPANCY = 0.02


def pixel_block(npix: np.ndarray) -> int:
    """Pixel columns per block for ROIs of ``npix`` pixels (one block size per call)."""
    return _PIX_BLOCK if int(np.min(npix)) > 4 * _PIX_BLOCK_SMALL else _PIX_BLOCK_SMALL


@dataclass(frozen=True)
class PixelBlocks:
    """The gathered pixels of the selected ROIs, block-major.

    Attributes
    ----------
    data : ndarray, shape (n_blocks, N, cols)
        Counts; ROI k owns blocks ``first[k] … first[k+1] − 1``, its padding columns
        (at the end of its last block) are 0.
    first : ndarray of int, shape (n_roi + 1,)
    npix : ndarray of int, shape (n_roi,)
        Real pixels per ROI.
    """

    data: np.ndarray
    first: np.ndarray
    npix: np.ndarray

    @classmethod
    def empty(cls, n: int, npix: np.ndarray, cols: int, dtype: Any) -> PixelBlocks:
        """Storage for N frames of ROIs of ``npix`` pixels (padding zeroed by :meth:`zero_padding`)."""
        nblk = -(-np.asarray(npix) // cols)
        first = np.concatenate([[0], np.cumsum(nblk)])
        return cls(mapped_empty((int(first[-1]), n, cols), dtype), first, np.asarray(npix))

    @classmethod
    def from_pixels(cls, x: np.ndarray, cols: int) -> PixelBlocks:
        """One ROI from its pixels ``x`` (N, n_pix)."""
        blocks = cls.empty(x.shape[0], np.array([x.shape[1]]), cols, x.dtype)
        blocks.put(0, np.pad(x, ((0, 0), (0, blocks.data.shape[0] * cols - x.shape[1]))))
        return blocks

    @property
    def cols(self) -> int:
        return int(self.data.shape[2])

    def put(self, row: int, x: np.ndarray) -> None:
        """Store ``x`` (m, n_blocks · cols), ROI-padded columns, as frames ``row … row + m − 1``."""
        m = x.shape[0]
        self.data[:, row: row + m] = x.reshape(m, -1, self.cols).transpose(1, 0, 2)

    def zero_padding(self) -> None:
        """Set the padding columns of every ROI's last block to 0."""
        for k, npix in enumerate(self.npix):
            used = int(npix) - (int(self.first[k + 1] - self.first[k]) - 1) * self.cols
            self.data[self.first[k + 1] - 1, :, used:] = 0

    def roi(self, k: int) -> np.ndarray:
        """Pixels of ROI k, frame-major (N, n_pix) (a copy)."""
        blk = self.data[self.first[k]: self.first[k + 1]]
        return blk.transpose(1, 0, 2).reshape(self.data.shape[1], -1)[:, : int(self.npix[k])]

    def occupancy(self, k: int) -> float:
        """Fraction of ROI k's pixel-frames with a nonzero count."""
        nz = np.count_nonzero(self.data[self.first[k]: self.first[k + 1]])
        return nz / (int(self.npix[k]) * self.data.shape[1])


@partial(jax.jit, static_argnames=("block",), donate_argnums=(0, 1))
def _gram_update(g, s, xb, *, block):
    """``g + xb xbᵀ`` on the row blocks on and above the diagonal (the rest of g stays 0),
    and ``s + xb·1``.

    ``g`` (N, N) and ``s`` (N,) accumulate S and the frame sums in their own dtype
    (float32 or float64; donated); ``xb`` (N, cols) counts of any dtype.
    """
    n = xb.shape[0]
    xb = xb.astype(g.dtype)
    for i in range(0, n, block):
        g = g.at[i: i + block, i:].add(jnp.matmul(xb[i: i + block], xb[i:].T, preferred_element_type=g.dtype))
    return g, s + jnp.sum(xb, axis=1)


@lru_cache(maxsize=16)
def compile_dense(n: int, cols: int, dtype: Any, xdtype: np.dtype) -> None:
    """Compile the Gram update for N frames, blocks of ``cols`` pixels of ``xdtype`` and
    accumulators of ``dtype`` (fills its jit cache; once per shape and process)."""
    spec = jax.ShapeDtypeStruct
    _gram_update.lower(spec((n, n), dtype), spec((n,), dtype), spec((n, cols), xdtype), block=_GRAM_BLOCK).compile()


def gram_dense(blocks: PixelBlocks, k: int, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """S (upper row blocks, see :func:`c2_from_gram`) and frame sums s of ROI k, accumulated
    in ``dtype`` (float32 or float64) and dispatched asynchronously (JAX arrays)."""
    n = blocks.data.shape[1]
    g = jax.device_put(np.zeros((n, n), dtype=dtype))
    s = jax.device_put(np.zeros(n, dtype=dtype))
    for b in range(int(blocks.first[k]), int(blocks.first[k + 1])):
        g, s = _gram_update(g, s, jax.device_put(blocks.data[b]), block=_GRAM_BLOCK)
    return g, s


def exact_in_float32(g: np.ndarray) -> bool:
    """Whether a float32 accumulation of integer counts with Gram matrix ``g`` was exact."""
    return float(np.max(np.diagonal(g))) < EXACT_F32


def c2_from_gram(g: np.ndarray, s: np.ndarray, npix: int, out: np.ndarray) -> np.ndarray:
    """C2 = npix · S / (s sᵀ) into ``out`` (N, N) float64.

    ``g`` holds S on the row blocks of ``_GRAM_BLOCK`` rows on and above the diagonal
    (below them it is ignored), ``s`` (N,) the frame sums.
    """
    n = g.shape[0]
    inv = np.sqrt(float(npix)) / np.asarray(s, dtype=np.float64)
    for i in range(0, n, _GRAM_BLOCK):  # row block by row block: the part on and above the diagonal,
        e = min(i + _GRAM_BLOCK, n)     # then the part left of it mirrored from the rows above
        np.multiply(g[i:e, i:], inv[i:e, None] * inv[None, i:], out=out[i:e, i:])
        out[i:e, :i] = out[:i, i:e].T
        d = out[i:e, i:e]
        lower = np.tril_indices(e - i, -1)
        d[lower] = d.T[lower]  # exactly symmetric, whatever the rounding of the products
    return out


def gram_sparse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S (N, N) and frame sums s (N,) of one ROI from the nonzero counts of its pixels ``x``
    (N, n_pix): CSR product in float64 (exact)."""
    import scipy.sparse

    xs = scipy.sparse.csr_array(x, dtype=np.float64)
    return (xs @ xs.T).toarray(), x.sum(axis=1, dtype=np.float64)


def use_sparse(sparse: bool | str, occupancy: Callable[[], float]) -> bool:
    """Whether to take the sparse path for an ROI; ``sparse`` is "auto" (JAX on the CPU and
    ``occupancy()`` below :data:`SPARSE_OCCUPANCY`), True or False. ``occupancy`` (a pass
    over the ROI's pixels) is only called for "auto" on the CPU."""
    if sparse is True or sparse is False:
        return sparse
    return jax.default_backend() == "cpu" and occupancy() < SPARSE_OCCUPANCY


def c2_rois(blocks: PixelBlocks, out: np.ndarray, *, integer: bool, sparse: bool | str = "auto") -> np.ndarray:
    """C2 of every ROI of ``blocks`` into ``out`` (n_roi, N, N) float64.

    Parameters
    ----------
    blocks : PixelBlocks
    out : ndarray (n_roi, N, N) float64
    integer : bool
        The counts are integers (float32 products when exact, else float64).
    sparse : {"auto", True, False}
        Path choice per ROI (:func:`use_sparse`).

    Returns
    -------
    ndarray (n_roi, N) float64
        Frame sums s of each ROI; C2 is inf/NaN where s = 0 (the caller reports it).
    """
    n_roi, n = len(blocks.npix), blocks.data.shape[1]
    sums = np.empty((n_roi, n))

    def normalise(k: int, g: Any, s: Any) -> None:
        g, sums[k] = np.asarray(g), np.asarray(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            c2_from_gram(g, sums[k], int(blocks.npix[k]), out[k])

    def finish(k: int, g: jax.Array, s: jax.Array) -> None:
        if integer and not exact_in_float32(np.asarray(g)):
            g, s = gram_dense(blocks, k, jnp.float64)
        normalise(k, g, s)

    pending = None  # the dense ROI in flight: normalised while the next one computes
    for k in range(n_roi):
        if use_sparse(sparse, partial(blocks.occupancy, k)):
            normalise(k, *gram_sparse(blocks.roi(k)))
            continue
        g, s = gram_dense(blocks, k, jnp.float32 if integer else jnp.float64)
        if pending is not None:
            finish(*pending)
        pending = (k, g, s)
    if pending is not None:
        finish(*pending)
    return sums


def roi_c2(x: np.ndarray, *, sparse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """C2 (N, N) and frame sums s (N,) of one ROI's pixels ``x`` (N, n_pix), by the dense
    (JAX, float32 when exact) or the sparse path."""
    blocks = PixelBlocks.from_pixels(x, pixel_block(np.array([x.shape[1]])))
    out = np.empty((1, x.shape[0], x.shape[0]))
    sums = c2_rois(blocks, out, integer=x.dtype.kind in "ui", sparse=bool(sparse))
    return out[0], sums[0]
