"""The (q, φ) bin grid of an APS q-map, built from a partition or from per-ROI (q, φ) values.

An APS q-map numbers its dynamic bins ``1 … Nb`` and places bin ``b`` on cell
``dynamic_index_mapping[b−1]`` of an ``n0 × n1`` (q, φ) grid whose centres are
``dynamic_v_list_dim0`` [1/Å] and ``dynamic_v_list_dim1`` [deg] (q-major). This module
builds that grid for the writer (:mod:`.write`) and the q-map reader
(:mod:`xpcsnb.io.qmap` writes test fixtures through it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import ApsFileError
from ...core.partition import Partition

__all__ = ["BinGrid", "grid_from_partition", "grid_from_values"]


@dataclass(frozen=True)
class BinGrid:
    """Dynamic bins ``1 … Nb`` on an ``n0 × n1`` (q, φ) grid.

    Attributes
    ----------
    q_grid, phi_grid : ndarray, shapes (n0,), (n1,)
        Grid centres [1/Å], [deg].
    index_mapping : ndarray of int, shape (Nb,)
        Flat q-major cell of bin ``b`` at ``index_mapping[b−1]``.
    """

    q_grid: np.ndarray
    phi_grid: np.ndarray
    index_mapping: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of bins Nb."""
        return int(self.index_mapping.size)

    @property
    def q(self) -> np.ndarray:
        """q [1/Å] of each bin, shape (Nb,)."""
        return self.q_grid[self.index_mapping // self.phi_grid.size]

    @property
    def phi(self) -> np.ndarray:
        """φ [deg] of each bin, shape (Nb,)."""
        return self.phi_grid[self.index_mapping % self.phi_grid.size]


def _finite_phi(phi: np.ndarray) -> np.ndarray:
    """φ per ROI, NaN (no azimuthal sectors) read as a single sector at 0°."""
    phi = np.asarray(phi, dtype=float)
    if np.all(np.isnan(phi)):
        return np.zeros_like(phi)
    if np.any(np.isnan(phi)):
        raise ApsFileError("phi is NaN for some ROIs only; give every ROI an angle [deg] or none")
    return phi


def grid_from_values(q: Any, phi: Any) -> BinGrid:
    """Grid whose centres are the distinct ROI values: bin ``k+1`` has exactly ``(q[k], phi[k])``.

    Parameters
    ----------
    q, phi : array_like, shape (Nb,)
        q [1/Å] (finite, > 0) and φ [deg] of each bin (all NaN: one sector at 0°).

    Raises
    ------
    ApsFileError
        Non-finite or non-positive q, or two bins at the same (q, φ).
    """
    q = np.asarray(q, dtype=float).ravel()
    phi = _finite_phi(np.asarray(phi, dtype=float).ravel())
    if q.size == 0 or q.shape != phi.shape:
        raise ApsFileError(f"need one q and one phi per bin, got {q.size} q and {phi.size} phi")
    if not np.all(np.isfinite(q)) or np.any(q <= 0):
        raise ApsFileError(f"every bin needs a finite q > 0 [1/Å] to be written to a q-map, got {q.tolist()}")
    q_grid, iq = np.unique(q, return_inverse=True)
    phi_grid, iphi = np.unique(phi, return_inverse=True)
    flat = iq.ravel() * phi_grid.size + iphi.ravel()
    if np.unique(flat).size != flat.size:
        raise ApsFileError("two bins have the same (q, phi); a q-map needs distinct bins")
    return BinGrid(q_grid, phi_grid, flat.astype(np.int64))


def grid_from_partition(part: Partition) -> BinGrid:
    """The grid of a :class:`~xpcsnb.core.partition.Partition` (labels ``1 … n`` are the bins).

    A partition made by :func:`~xpcsnb.core.partition.partition` (with ``q_edges``)
    is laid on its rings and sectors: the q of a ring is the mean q of its pixels
    and the φ of a sector the mean φ of its pixels (APS files hold one q per ring), so
    the sectors of one ring share a q. A partition read by :func:`xpcsnb.io.open_qmap`
    keeps the file's grid (``attrs`` ``q_grid``, ``phi_grid``, ``index_mapping``).
    Otherwise the partition's own (q, φ) per label are the grid centres
    (:func:`grid_from_values`).
    """
    if not isinstance(part, Partition):
        raise TypeError(f"partition must be an xpcsnb.core.partition.Partition, got {type(part).__name__}")
    stored = [part.attrs.get(k) for k in ("q_grid", "phi_grid", "index_mapping")]
    if all(v is not None for v in stored):  # read from a q-map file: keep its grid as it was
        grid = BinGrid(*(np.asarray(v) for v in stored))
        if (grid.n_bins == part.n_roi and grid.index_mapping.max(initial=-1) < grid.q_grid.size * grid.phi_grid.size
                and np.array_equal(grid.q, part.q) and np.array_equal(grid.phi, part.phi)):
            return grid
    if part.q_edges is None:
        return grid_from_values(part.q, part.phi)
    npix = part.npix.astype(float)
    qe = np.asarray(part.q_edges, dtype=float)
    iq = np.clip(np.digitize(part.q, qe) - 1, 0, qe.size - 2)
    if part.phi_edges is not None and not np.all(np.isnan(part.phi)):
        pe = np.asarray(part.phi_edges, dtype=float)
        iphi = np.clip(np.digitize(part.phi, pe) - 1, 0, pe.size - 2)
        n1 = pe.size - 1
    else:
        iphi, n1, pe = np.zeros(part.n_roi, dtype=np.int64), 1, None
    flat = iq * n1 + iphi
    if np.unique(flat).size != flat.size:
        return grid_from_values(part.q, part.phi)  # labels were renumbered: keep their own values
    q_grid = 0.5 * (qe[:-1] + qe[1:])
    for i in np.unique(iq):
        sel = iq == i
        q_grid[i] = np.sum(part.q[sel] * npix[sel]) / np.sum(npix[sel])
    if pe is None:
        phi_grid = np.zeros(1)
    else:
        phi_grid = 0.5 * (pe[:-1] + pe[1:])
        for j in np.unique(iphi):
            sel = iphi == j
            ang = np.radians(part.phi[sel])
            phi_grid[j] = np.degrees(np.arctan2(np.sum(npix[sel] * np.sin(ang)), np.sum(npix[sel] * np.cos(ang))))
    return BinGrid(q_grid, phi_grid, flat.astype(np.int64))
