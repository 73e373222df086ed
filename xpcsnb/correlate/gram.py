"""The two-time kernel: C2 of an ROI from the Gram matrix S = X Xᵀ of its pixel stack.

X (N frames × n_pix pixels) holds the counts of one ROI; S_ij = Σ_p I_p(t_i) I_p(t_j) and
C2 = n_pix · S / (s sᵀ) with the frame sums s = X·1 (:mod:`xpcsnb.correlate.twotime`).

Dense path (JAX): the gathered pixels of all selected ROIs are stored block-major
(:class:`PixelBlocks`: ``(n_blocks, N, cols)``, every ROI zero-padded to whole blocks of
``cols`` pixel columns; zero columns add nothing), so every block is one contiguous
array, kept in float32 for integer counts of up to 32 bits whenever every (summed) count
is below 2^24 (exact in float32; :func:`store_dtype`), else in float64. Per ROI, S and s are accumulated
block by block by one compiled update that forms only the row blocks of S on and above
the diagonal (``_GRAM_BLOCK`` rows, kept as separate arrays ``S[i:i+B, i:]``,
:func:`row_blocks`). Its inputs are the row ranges ``xb[i:i+B]`` and ``xb[i:]`` of the
block, handed over as views of the host array (:func:`block_pieces`; no copy, no slicing
inside the update), and on the CPU its dots and accumulating adds are fused YNNPACK
calls (:data:`_CPU_OPTIONS`). It has one shape per (N, cols) whatever the ROI sizes and
is compiled in a thread while the frames are read (:func:`compile_dense`). C2 is then
formed on the host (float64, mirrored, exactly symmetric) straight into the caller's
output (:func:`c2_from_gram`); the updates are dispatched asynchronously, so that one
ROI's C2 is formed while the next ROI's products are computed.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _jax  # noqa: F401  (float64)
from .pages import mapped_empty

__all__ = [
    "SPARSE_OCCUPANCY",
    "InexactStore",
    "PixelBlocks",
    "block_pieces",
    "c2_from_gram",
    "c2_rois",
    "compile_dense",
    "exact_in_float32",
    "gram_dense",
    "gram_sparse",
    "pixel_block",
    "roi_c2",
    "row_blocks",
    "store_dtype",
    "use_sparse",
]

#: Below 2^24 every integer is a float32.
EXACT_F32 = 2.0**24
#: Rows per block of S (only row blocks on or above the diagonal are formed).
_GRAM_BLOCK = 256
#: Pixel columns per block (ROIs with fewer than ``4 · _PIX_BLOCK_SMALL`` pixels use the
#: small block, so that a small ROI is not padded 10-fold).
_PIX_BLOCK = 1024
_PIX_BLOCK_SMALL = 128
#: Occupancy (fraction of an ROI's pixel-frames with a photon) below which ``sparse="auto"``
#: forms S from the nonzero counts: where the CSR product becomes faster than the dense one
#: (``bench/sparse_paths.py`` measures it).
SPARSE_OCCUPANCY = 0.003


def pixel_block(npix: np.ndarray) -> int:
    """Pixel columns per block for ROIs of ``npix`` pixels (one block size per call)."""
    return _PIX_BLOCK if int(np.min(npix)) > 4 * _PIX_BLOCK_SMALL else _PIX_BLOCK_SMALL


class InexactStore(ValueError):
    """A count to be stored in float32 pixel blocks is not a float32 number (|x| ≥ 2^24)."""


def store_dtype(dtype: Any) -> np.dtype:
    """Dtype of the pixel blocks of counts of ``dtype``: float32 for integers of up to 32
    bits (exact below 2^24; :meth:`PixelBlocks.put` raises :class:`InexactStore` for a
    count beyond, after which the caller stores float64), else float64. The update
    then reads the blocks in place, with no cast."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32 if dtype.kind in "ui" and dtype.itemsize <= 4 else np.float64)


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
        """One ROI from its pixels ``x`` (N, n_pix), stored as :func:`store_dtype` (float64
        for integer counts beyond 2^24)."""
        padded = np.pad(x, ((0, 0), (0, -x.shape[1] % cols)))
        npix = np.array([x.shape[1]])
        blocks = cls.empty(x.shape[0], npix, cols, store_dtype(x.dtype))
        try:
            blocks.put(0, padded)
        except InexactStore:
            blocks = cls.empty(x.shape[0], npix, cols, np.float64)
            blocks.put(0, padded)
        return blocks

    @property
    def cols(self) -> int:
        return int(self.data.shape[2])

    def put(self, row: int, x: np.ndarray) -> None:
        """Store ``x`` (m, n_blocks · cols), ROI-padded columns, as frames ``row … row + m − 1``.

        Raises :class:`InexactStore` if the blocks are float32 and ``x`` holds a value
        that float32 cannot hold exactly (checked unless ``x`` is an integer of ≤ 16 bits)."""
        m = x.shape[0]
        checked = self.data.dtype == np.float32 and not (x.dtype.kind in "ui" and x.dtype.itemsize <= 2)
        if checked and x.size and max(abs(float(x.max())), abs(float(x.min()))) >= EXACT_F32:
            raise InexactStore(f"a count of magnitude >= 2^24 in frames {row} … {row + m - 1}")
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


def row_starts(n: int) -> range:
    """First row of each row block of S (``_GRAM_BLOCK`` rows; the last may be shorter)."""
    return range(0, n, _GRAM_BLOCK)


def row_blocks(g: np.ndarray) -> tuple[np.ndarray, ...]:
    """The row blocks ``S[i:i+B, i:]`` (on and above the diagonal) of a full S (N, N), as views."""
    return tuple(g[i: i + _GRAM_BLOCK, i:] for i in row_starts(g.shape[0]))


#: XLA CPU options of the Gram update: the dots and the accumulating adds (and the frame
#: sums) are handed to YNNPACK as fused library calls, which skips the LLVM code generation
#: of separate add/reduce loops (a shorter compile) and the temporaries of those loops.
#: Only used on the CPU; dropped if this jaxlib does not
#: know them (:func:`_compiled_update`).
_CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                "LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE"}


def _gram_update(g, s, *pieces):
    """Row blocks ``g[b] + a_b b_bᵀ`` and ``s + b_0·1``.

    ``g`` (tuple of (B, N − i) row blocks, :func:`row_blocks` layout) and ``s`` (N,)
    accumulate S and the frame sums in their own dtype (float32 or float64; donated);
    ``pieces`` = (a_0, b_0, a_1, b_1, …) with a_b = xb[i:i+B] and b_b = xb[i:] (i = b·B)
    of one block of pixels xb (N, cols) of any dtype (:func:`block_pieces`: views of
    the host array, so that the update reads them in place).
    """
    a, b = pieces[::2], pieces[1::2]
    g = tuple(gb + jnp.matmul(ab.astype(s.dtype), bb.astype(s.dtype).T, preferred_element_type=s.dtype)
              for gb, ab, bb in zip(g, a, b))
    return g, s + jnp.sum(b[0].astype(s.dtype), axis=1)


@lru_cache(maxsize=2)
def _update_fn(options: bool) -> Callable:
    """The jitted Gram update, with (:data:`_CPU_OPTIONS`) or without compiler options."""
    return jax.jit(_gram_update, donate_argnums=(0, 1), compiler_options=_CPU_OPTIONS if options else None)


def _row_shapes(n: int) -> list[tuple[int, int]]:
    """Shapes of the row blocks of S for N frames."""
    return [(min(_GRAM_BLOCK, n - i), n - i) for i in row_starts(n)]


def _piece_shapes(n: int, cols: int) -> list[tuple[int, int]]:
    """Shapes of the pieces (a_0, b_0, a_1, b_1, …) of a block of N frames × ``cols`` pixels."""
    return [shape for i in row_starts(n) for shape in ((min(_GRAM_BLOCK, n - i), cols), (n - i, cols))]


def block_pieces(xb: np.ndarray) -> list[jax.Array]:
    """The pieces (a_0, b_0, …) of :func:`_gram_update` of one block of pixels ``xb``
    (N, cols), C-contiguous: row ranges of it, put on the device without a copy where
    the CPU backend can alias them (aligned host memory, :func:`~.pages.mapped_empty`)."""
    return [jax.device_put(xb[i: e]) for i in row_starts(xb.shape[0])
            for e in (min(i + _GRAM_BLOCK, xb.shape[0]), xb.shape[0])]


def compile_dense(n: int, cols: int, dtype: Any, xdtype: Any) -> Callable:
    """The Gram update for N frames, blocks of ``cols`` pixels of ``xdtype`` and
    accumulators of ``dtype``, compiled (once per shape and process; can run in a thread
    while the frames are read). Returns the jitted update, called as ``f(g, s, *pieces)``."""
    return _compiled_update(int(n), int(cols), np.dtype(dtype), np.dtype(xdtype))


def _update_args(n: int, cols: int, dtype: np.dtype, xdtype: np.dtype) -> tuple:
    """Abstract arguments (g, s, *pieces) of the Gram update."""
    spec = jax.ShapeDtypeStruct
    return (tuple(spec(shape, dtype) for shape in _row_shapes(n)), spec((n,), dtype),
            *(spec(shape, xdtype) for shape in _piece_shapes(n, cols)))


@lru_cache(maxsize=16)
def _compiled_update(n: int, cols: int, dtype: np.dtype, xdtype: np.dtype) -> Callable:
    """:func:`compile_dense` with normalised arguments (the cache key): on the CPU the
    update with :data:`_CPU_OPTIONS` unless this jaxlib rejects them, else without."""
    args = _update_args(n, cols, dtype, xdtype)
    if jax.default_backend() == "cpu":
        try:
            _update_fn(True).lower(*args).compile()  # fills the jit cache of the update
            return _update_fn(True)
        except jax.errors.JaxRuntimeError as err:  # a jaxlib that lacks these options
            if "option" not in str(err):
                raise
    _update_fn(False).lower(*args).compile()
    return _update_fn(False)


def gram_dense(blocks: PixelBlocks, k: int, dtype: Any) -> tuple[tuple[jax.Array, ...], jax.Array]:
    """Row blocks of S (:func:`row_blocks` layout) and frame sums s of ROI k, accumulated
    in ``dtype`` (float32 or float64) and dispatched asynchronously (JAX arrays)."""
    n = blocks.data.shape[1]
    update = compile_dense(n, blocks.cols, dtype, blocks.data.dtype)
    g, s = jax.device_put(([np.zeros(shape, dtype) for shape in _row_shapes(n)], np.zeros(n, dtype)))
    g = tuple(g)
    for b in range(int(blocks.first[k]), int(blocks.first[k + 1])):
        g, s = update(g, s, *block_pieces(blocks.data[b]))
    return g, s


def exact_in_float32(g: Sequence[np.ndarray]) -> bool:
    """Whether a float32 accumulation of integer counts with Gram row blocks ``g``
    (:func:`row_blocks` layout) was exact."""
    return max(float(np.max(np.diagonal(gb))) for gb in g) < EXACT_F32


def c2_from_gram(g: Sequence[np.ndarray], s: np.ndarray, npix: int, out: np.ndarray) -> np.ndarray:
    """C2 = npix · S / (s sᵀ) into ``out`` (N, N) float64.

    ``g`` holds the row blocks of S on and above the diagonal (:func:`row_blocks`
    layout), ``s`` (N,) the frame sums; the part below is mirrored, so that ``out`` is
    exactly symmetric.
    """
    n = out.shape[0]
    inv = np.sqrt(float(npix)) / np.asarray(s, dtype=np.float64)
    for gb, i in zip(g, row_starts(n)):  # row block by row block: the part on and above the diagonal,
        e = i + gb.shape[0]                # then the part left of it mirrored from the rows above
        np.multiply(gb, inv[i:e, None] * inv[None, i:], out=out[i:e, i:])
        out[i:e, :i] = out[:i, i:e].T
        d = out[i:e, i:e]  # exactly symmetric, whatever the rounding of the products:
        np.copyto(d, d.T, where=np.tri(e - i, e - i, -1, dtype=bool))
    return out


def gram_sparse(x: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Row blocks of S (:func:`row_blocks` layout) and frame sums s (N,) of one ROI from the
    nonzero counts of its pixels ``x`` (N, n_pix): CSR product in float64 (exact)."""
    import scipy.sparse

    xs = scipy.sparse.csr_array(x, dtype=np.float64)
    return row_blocks((xs @ xs.T).toarray()), x.sum(axis=1, dtype=np.float64)


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
        g, sums[k] = [np.asarray(gb) for gb in g], np.asarray(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            c2_from_gram(g, sums[k], int(blocks.npix[k]), out[k])

    def finish(k: int, g: tuple[jax.Array, ...], s: jax.Array) -> None:
        if integer and not exact_in_float32([np.asarray(gb) for gb in g]):
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
