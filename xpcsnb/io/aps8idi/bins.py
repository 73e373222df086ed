"""Dynamic and static (q, φ) bins of an APS 8-ID-I result file.

Dynamic bins are the writer's compressed, 1-based ids (``dynamic_roi_map == b``).
Bin ``b`` sits at ``(i0, i1) = divmod(dynamic_index_mapping[b-1], n1)`` of the
``n0 × n1`` (q, φ) grid. Without an index mapping, bin ``b`` is flat index ``b-1``
of the full grid (q-major). Legacy ``dqlist``/``dphilist`` rows of one value per
bin are used per bin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import h5py
import numpy as np

from ...core.errors import ApsFileError
from .layout import detect_layout, read, read_array
from .paths import paths_of

__all__ = ["BinTable", "read_bins"]


@dataclass(frozen=True)
class BinTable:
    """Dynamic or static bins of a result file.

    Attributes
    ----------
    ids : ndarray of int, shape (Nb,)
        1-based compressed bin ids (``roi_map == id``); column ``ids[j]-1`` of g2.
    q, phi : ndarray, shape (Nb,)
        Bin centres [1/Å], [deg].
    iq, iphi : ndarray of int, shape (Nb,)
        Indices into ``q_grid`` and ``phi_grid``.
    q_grid, phi_grid : ndarray
        Grid centres [1/Å], [deg].
    mapping : str
        How bins were mapped: ``"index_mapping"``, ``"full_grid"`` or ``"per_bin_lists"``.
    """

    ids: np.ndarray
    q: np.ndarray
    phi: np.ndarray
    iq: np.ndarray
    iphi: np.ndarray
    q_grid: np.ndarray
    phi_grid: np.ndarray
    mapping: str

    def positions(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row positions of the given 1-based bin ids; raise for unknown ids."""
        ids = np.asarray(ids, dtype=np.int64)
        lookup = {int(b): k for k, b in enumerate(self.ids)}
        missing = [int(b) for b in ids if int(b) not in lookup]
        if missing:
            raise ApsFileError(
                f"bin id(s) {missing[:10]} are not among the {self.ids.size} bins of the q-map "
                f"(ids {int(self.ids.min())}…{int(self.ids.max())})"
            )
        return np.array([lookup[int(b)] for b in ids], dtype=np.int64)


def _grid_table(v0: np.ndarray, v1: np.ndarray, flat: np.ndarray, mapping: str, what: str) -> BinTable:
    n0, n1 = v0.size, v1.size
    flat = np.asarray(flat)
    if not np.issubdtype(flat.dtype, np.integer):
        if not np.all(flat == np.round(flat)):
            raise ApsFileError(f"{what} index mapping must be integers, got {flat[:5].tolist()}")
        flat = flat.astype(np.int64)
    flat = flat.astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= n0 * n1):
        raise ApsFileError(f"{what} index mapping has values outside 0…{n0 * n1 - 1} (grid {n0}×{n1})")
    if np.unique(flat).size != flat.size:
        raise ApsFileError(f"{what} index mapping has repeated grid cells")
    iq, iphi = np.divmod(flat, n1)
    return BinTable(
        ids=np.arange(1, flat.size + 1, dtype=np.int64), q=v0[iq].astype(float), phi=v1[iphi].astype(float),
        iq=iq, iphi=iphi, q_grid=v0.astype(float), phi_grid=v1.astype(float), mapping=mapping,
    )


def _nexus_bins(f: h5py.File, kind: str) -> BinTable | None:
    v0 = read_array(f, f"{kind}_v0")
    if v0 is None:
        return None
    v1 = read_array(f, f"{kind}_v1")
    q_grid = v0[0].astype(float)
    phi_grid = v1[0].astype(float) if v1 is not None else None
    if phi_grid is None:
        raise ApsFileError(f"{paths_of(f'{kind}_v1')[0]} is missing (needed with {v0[1]})")
    num = read_array(f, f"{kind}_num_pts")
    if num is not None and tuple(int(n) for n in num[0]) != (q_grid.size, phi_grid.size):
        raise ApsFileError(
            f"{num[1]} = {num[0].tolist()} disagrees with the bin-centre lists "
            f"({q_grid.size} × {phi_grid.size})"
        )
    idx = read_array(f, f"{kind}_index_mapping")
    if idx is None:
        return _grid_table(q_grid, phi_grid, np.arange(q_grid.size * phi_grid.size), "full_grid", kind)
    return _grid_table(q_grid, phi_grid, idx[0], "index_mapping", kind)


def _legacy_bins(f: h5py.File, kind: str) -> BinTable | None:
    p = "d" if kind == "dynamic" else "s"
    ql = read_array(f, f"{p}qlist")
    pl = read_array(f, f"{p}philist")
    if ql is None or pl is None:
        return None
    qv, pv = ql[0].astype(float), pl[0].astype(float)
    nq = read(f, f"{p}noq")
    nphi = read(f, f"{p}nophi")
    n0 = int(nq[0]) if nq is not None else None
    n1 = int(nphi[0]) if nphi is not None else None
    grid = (n0 is not None and n1 is not None and qv.size == n0 and pv.size == n1
            and (qv.size != pv.size or n0 == n1 > 1))
    if grid:
        return _grid_table(qv, pv, np.arange(n0 * n1), "full_grid", kind)
    if qv.size != pv.size:
        raise ApsFileError(
            f"{ql[1]} has {qv.size} values and {pl[1]} {pv.size}; they match neither "
            f"one value per bin nor the grid sizes {p}noq={n0}, {p}nophi={n1}"
        )
    q_grid, iq = np.unique(qv, return_inverse=True)
    phi_grid, iphi = np.unique(pv, return_inverse=True)
    return BinTable(
        ids=np.arange(1, qv.size + 1, dtype=np.int64), q=qv, phi=pv, iq=iq.astype(np.int64),
        iphi=iphi.astype(np.int64), q_grid=q_grid, phi_grid=phi_grid, mapping="per_bin_lists",
    )


def read_bins(f: h5py.File, kind: str = "dynamic") -> BinTable | None:
    """Read the dynamic or static bin table of an open result file (None if absent)."""
    if kind not in ("dynamic", "static"):
        raise ValueError(f"kind must be 'dynamic' or 'static', got {kind!r}")
    layout, _ = detect_layout(f)
    if layout == "nexus":
        names = read(f, "map_names")
        if names is not None:
            n = [str(s).lower() for s in np.atleast_1d(names[0]).tolist()]
            if len(n) != 2 or n[0] != "q" or n[1] not in ("phi", "φ"):
                raise NotImplementedError(
                    f"only (q, phi) partitions are supported; this q-map partitions by {n}"
                )
        return _nexus_bins(f, kind)
    return _legacy_bins(f, kind)

