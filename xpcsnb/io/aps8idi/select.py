"""Choosing q, φ and the frame window of a two-time read."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bins import BinTable

__all__ = ["frame_window", "select_phi", "select_q", "select_qs"]


def _half_spacing(grid: np.ndarray, value: float) -> float | None:
    g = np.unique(np.asarray(grid, dtype=float))
    if g.size < 2:
        return None
    k = int(np.argmin(np.abs(g - value)))
    gaps = [abs(g[k] - g[j]) for j in (k - 1, k + 1) if 0 <= j < g.size]
    return 0.5 * min(gaps)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer (1-based frame number), got {value!r}")
    return int(value)


def frame_window(n: int, start_frame: Any, end_frame: Any) -> tuple[int, int]:
    start = 1 if start_frame is None else _check_int("start_frame", start_frame)
    end = n if end_frame is None else _check_int("end_frame", end_frame)
    if start < 1:
        raise ValueError(f"start_frame is 1-based and must be >= 1, got {start}")
    if end > n:
        raise ValueError(f"end_frame={end} exceeds the {n} frames of the stored C2")
    if end - start + 1 < 2:
        raise ValueError(f"the frame window {start}…{end} must hold at least 2 frames")
    return start, end


def select_q(bins: BinTable, iq_c2: np.ndarray, q: Any, q_tol: float | None) -> tuple[int, dict[str, Any]]:
    avail = np.unique(iq_c2)
    q_avail = bins.q_grid[avail]
    listing = ", ".join(f"{v:.6g}" for v in q_avail)
    if q is None:
        if avail.size != 1:
            raise ValueError(
                f"the file holds C2 at {avail.size} q values; choose one with q= [1/Å]: {listing}"
            )
        return int(avail[0]), {"q_selection": "only q with C2 in the file"}
    qr = float(q)
    if not np.isfinite(qr) or qr <= 0:
        raise ValueError(f"q must be finite and > 0 [1/Å], got {q!r}")
    k = int(np.argmin(np.abs(q_avail - qr)))
    tol = q_tol if q_tol is not None else _half_spacing(bins.q_grid, q_avail[k])
    if tol is None:
        tol = 0.1 * q_avail[k]
    if abs(q_avail[k] - qr) > tol:
        raise ValueError(
            f"no C2 at q={qr:.6g} 1/Å: the nearest stored q is {q_avail[k]:.6g} "
            f"(tolerance {tol:.3g}); q values with C2: {listing}"
        )
    return int(avail[k]), {"q_requested": qr, "q_selection": "nearest stored q"}


def select_qs(bins: BinTable, iq_c2: np.ndarray, q: Any, q_tol: float | None) -> list[tuple[int, dict[str, Any]]]:
    """The q-grid indices (and how each was chosen) of a q request: one q (or None, see
    :func:`select_q`), a sequence of q (each matched by :func:`select_q`, each stored q
    once, order kept) or ``"all"`` (every q with C2, increasing)."""
    if isinstance(q, str):
        if q != "all":
            raise ValueError(f"q must be a number, a sequence of numbers or 'all' [1/Å], got {q!r}")
        return [(int(i), {"q_selection": "all q with C2 in the file"}) for i in np.unique(iq_c2)]
    if q is None or np.ndim(q) == 0:
        return [select_q(bins, iq_c2, q, q_tol)]
    values = list(np.asarray(q, dtype=object).ravel()) if np.ndim(q) == 1 else []
    if not values or any(v is None or isinstance(v, str) for v in values):
        raise ValueError(f"q must be a number, a non-empty 1-D sequence of numbers or 'all' [1/Å], got {q!r}")
    picked = [select_q(bins, iq_c2, v, q_tol) for v in values]
    seen: dict[int, Any] = {}
    for (iq, _), v in zip(picked, values):
        if iq in seen:
            raise ValueError(f"q={seen[iq]!r} and q={v!r} 1/Å select the same stored q {bins.q_grid[iq]:.6g}; "
                             "give each q once")
        seen[iq] = v
    return picked


def select_phi(phi_avail: np.ndarray, grid: np.ndarray, phi: Any) -> np.ndarray:
    """Positions in ``phi_avail`` of the requested angles (all when phi is None)."""
    if phi is None:
        return np.arange(phi_avail.size)
    req = np.atleast_1d(np.asarray(phi, dtype=float))
    if req.ndim != 1 or req.size == 0 or not np.all(np.isfinite(req)):
        raise ValueError(f"phi must be a finite angle or a non-empty sequence of angles [deg], got {phi!r}")
    out = []
    for p in req:
        k = int(np.argmin(np.abs(phi_avail - p)))
        tol = _half_spacing(grid, phi_avail[k]) or 1e-6
        if abs(phi_avail[k] - p) > tol:
            raise ValueError(
                f"no C2 at phi={p:.6g} deg for this q; stored angles: "
                + ", ".join(f"{v:.6g}" for v in phi_avail)
            )
        out.append(k)
    if len(set(out)) != len(out):
        raise ValueError(f"requested angles {req.tolist()} select the same phi bin more than once")
    return np.array(out, dtype=np.int64)

