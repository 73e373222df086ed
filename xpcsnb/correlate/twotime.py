"""Two-time correlation C2(roi, t1, t2) from detector frames, and its q rings as data-model Datasets.

The g2 cuts (:func:`g2_from_c2`, :func:`g2_age_resolved`) live in
:mod:`xpcsnb.correlate.cuts` and are re-exported here.

Definition (P an ROI of n_P pixels, I_p(t) the counts of pixel p in frame t, or the
sum over ``average`` consecutive frames)::

    C2(P, t1, t2) = n_P Σ_p I_p(t1) I_p(t2) / (Σ_p I_p(t1) · Σ_p I_p(t2))

the full symmetric matrix, diagonal included (it carries the shot-noise spike; the
data model's fits decide what to do with it). This equals scikit-beam's and
xpcs-correlator's ⟨I(t1)I(t2)⟩_p / (⟨I(t1)⟩_p⟨I(t2)⟩_p) and boost-corr's formula
without static smoothing.

Time axis: ``t1 = t2`` are the start times [s] of the (averaged) frames, taken from the
frames' own ``t`` coordinate (frame·frame_time plus any start offset of the stack, e.g.
``frames[100:]`` starts at 100·frame_time): the absolute sample age that ageing models
need is kept, never restarted at 0. The time step is the coordinates' step
(:func:`xpcsnb.core.twotime.time_step`).

Algorithm: the frames are streamed in chunks and only the pixels of the selected ROIs
are kept (N × n_pix values: float32 for integer counts while every (summed) count is
below 2^24, else float64); C2 of each ROI is then formed from the
Gram matrix of its pixels by :mod:`xpcsnb.correlate.gram` (a JAX matmul in float32 when
that is exact, else float64; or, for photon-sparse ROIs on the CPU, a SciPy CSR product).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import xarray as xr

from .. import _jax  # noqa: F401  (float64)
from ..core.twotime import time_step, twotime
from .gram import (
    InexactStore,
    PixelBlocks,
    c2_rois,
    compile_dense,
    pixel_block,
    store_dtype,
)
from .badframes import DEFAULT_THRESHOLD, resolve_exclusions
from .cuts import g2_age_resolved, g2_from_c2
from .multitau import _roi_coords
from .pages import mapped_empty
from ..core.partition import Partition
from .stream import CorrelatorError, check_int, read_roi_chunk, resolve_input, roi_layout

__all__ = ["c2_at_q", "g2_age_resolved", "g2_from_c2", "roi_rings", "two_time"]


def roi_rings(part: Partition) -> np.ndarray:
    """0-based q ring of each ROI: from ``q_edges`` when known, else equal q values."""
    q = np.asarray(part.q, dtype=float)
    if part.q_edges is not None:
        return np.digitize(q, np.asarray(part.q_edges)) - 1
    if np.any(~np.isfinite(q)):
        return np.arange(q.size)  # unknown q: every ROI its own ring
    return np.unique(q, return_inverse=True)[1].ravel()


def _gather(da: xr.DataArray, lay: Any, average: int, chunk: int, blocks: PixelBlocks, progress: bool,
            pool: ThreadPoolExecutor) -> None:
    """Store the selected pixels of every (averaged) frame in ``blocks``, chunk by chunk on
    the threads of ``pool`` (each chunk into its own rows); an error is raised for the
    first bad chunk in frame order."""
    from tqdm.auto import tqdm

    n_raw = int(da.shape[0])
    bar = tqdm(total=n_raw, desc="two-time", unit="frame", disable=not progress, leave=False)

    def one(s: int) -> None:
        e = min(s + chunk, n_raw)
        xc = read_roi_chunk(da, lay, s, e)
        if average > 1:
            xc = xc.reshape((e - s) // average, average, -1).sum(axis=1, dtype=np.float64)
        blocks.put(s // average, xc)
        bar.update(e - s)

    jobs = [pool.submit(one, s) for s in range(0, n_raw, chunk)]
    try:
        for job in jobs:
            job.result()
    except BaseException:
        for job in jobs:
            job.cancel()
        raise
    finally:
        bar.close()
    blocks.zero_padding()


def _prepare(kernel: tuple | None, shape: tuple[int, int, int]) -> np.ndarray:
    """Compile the Gram update ``kernel`` (arguments of :func:`compile_dense`; None: no
    dense ROI) and return the C2 output of ``shape`` (float64), its pages touched."""
    if kernel is not None:
        compile_dense(*kernel)
    c2 = mapped_empty(shape)
    c2.fill(0.0)
    return c2


def two_time(
    frames: Any,
    rois: Any,
    *,
    frame_time: float | None = None,
    select: Any | None = None,
    q: float | Sequence[float] | str | None = None,
    mask: Any | None = None,
    average: int = 1,
    chunk: int = 256,
    progress: bool = True,
    sparse: bool | str = "auto",
    bad_frames: Any = None,
    bad_pixels: Any = None,
    bad_threshold: float = DEFAULT_THRESHOLD,
) -> xr.Dataset:
    """Two-time correlation C2(roi, t1, t2) of a frame stack.

    Parameters
    ----------
    frames : DataArray (frame, y, x) or array_like (N, H, W)
        Counts, finite and ≥ 0 on the ROI pixels; only the pixels of the selected ROIs
        are kept, read chunk by chunk (also from lazy dask/HDF5 stacks).
    rois : Partition or array_like of int (H, W)
        ROI labels (0 = unused); a Partition carries (q, phi) per ROI and its q ring edges.
    frame_time : float, optional
        Frame period [s]; default the frames' ``frame_time`` attribute.
    select : sequence of int, optional
        ROI labels (1-based) to correlate; default all (or, with ``q``, the rings that
        hold ``q``).
    q : float, sequence of float or "all", optional
        If given, correlate only the ROIs of the q ring(s) that hold ``q`` [1/Å] (as
        chosen by :func:`c2_at_q`; a q outside every ring raises) and return the
        fit-ready two-time Dataset of the data model: ``c2(phi, t1, t2)`` for one q,
        ``c2(q, phi, t1, t2)`` for a sequence or ``"all"`` (every ring).
    mask : array_like of bool (H, W), optional
        True = pixel used.
    average : int
        Sum this many consecutive frames into one (dt = frame_time·average; its time is
        that of its first frame); N must be a multiple of it.
    chunk : int
        Frames read per block (by two threads). Memory: two raw chunks + N/average × (selected pixels,
        padded to whole blocks) × 4 bytes for integer counts below 2^24 (8 bytes for
        non-integers or larger counts) + the output n_roi ×
        (N/average)² × 8 bytes + the JAX accumulators of one or two ROIs (row blocks of S
        on and above the diagonal, ≈ (N/average)²/2 × 4 bytes each, 8 in float64).
    progress : bool
        Show a tqdm progress bar.
    sparse : {"auto", True, False}
        Form the Gram matrix of an ROI from its nonzero counts only (SciPy CSR product,
        float64, exact) instead of the dense JAX matmul. ``"auto"`` (default) does so
        when JAX runs on the CPU and fewer than
        ``xpcsnb.correlate.gram.SPARSE_OCCUPANCY`` (0.3 %) of the ROI's pixel-frames
        hold a photon. Both paths give the same C2.
    bad_frames, bad_pixels, bad_threshold
        As in :func:`~xpcsnb.correlate.multitau` (``xpcsnb.correlate.badframes``):
        the rows and columns of an excluded (averaged) frame are NaN (missing) and
        ``frame_excluded(t1)`` marks them; not with ``q=`` (the fit-ready Dataset
        needs every frame: correlate a clean frame window instead).

    Returns
    -------
    xarray.Dataset
        ``c2(roi, t1, t2)`` and ``intensity(roi, t1)`` (mean counts per pixel per
        averaged frame), coords ``t1 = t2 = t_0 + k·dt`` [s] (``t_0`` the first frame's
        ``t``, see the module doc), ``q(roi)``, ``phi(roi)``, ``npix(roi)``,
        ``ring(roi)``, attrs ``frame_time`` and ``average`` (no ``dt`` attribute: use
        :func:`~xpcsnb.core.twotime.time_step`); or, with ``q``, the data model's
        ``c2(phi, t1, t2)`` (``c2(q, phi, t1, t2)``) Dataset.

    Raises
    ------
    FramesError
        Frames that are not a numeric (frame, y, x) stack with a valid frame time.
    PartitionError
        ROIs or mask that do not fit the frames, or an ROI without pixels.
    CorrelatorError
        NaN/inf or negative counts in an ROI, an ROI without counts in a frame, a q
        outside every ring, frames whose ``t`` coordinate is not uniform with step
        ``frame_time``, or an invalid ``select``, ``average``, ``chunk`` or ``sparse``.
    """
    if not (sparse is True or sparse is False or (isinstance(sparse, str) and sparse == "auto")):
        raise CorrelatorError(f"sparse must be 'auto', True or False, got {sparse!r}")
    average = check_int("average", average)
    chunk = check_int("chunk", chunk)
    if q is not None and select is not None:
        raise CorrelatorError("give either select= (ROI labels) or q=, not both")
    da, ft, part = resolve_input(frames, rois, frame_time, mask)
    n_raw = int(da.shape[0])
    excl = None
    if bad_frames is not None or bad_pixels is not None:
        part, excl = resolve_exclusions(da, part, bad_frames, bad_pixels, threshold=bad_threshold, chunk=chunk)
        if q is not None and excl.frames.size:
            raise CorrelatorError(f"{excl.summary()}: the fit-ready two-time Dataset (q=) needs every frame; "
                                  "correlate a frame window without them, or call two_time without q= and inspect")
    if n_raw % average:
        raise CorrelatorError(
            f"{n_raw} frames is not a multiple of average={average}; slice the frames explicitly "
            f"(e.g. frames[:{n_raw - n_raw % average}]) so that nothing is dropped silently"
        )
    n = n_raw // average
    if n < 2:
        raise CorrelatorError(f"two-time needs at least 2 (averaged) frames, got {n}")
    t = _frame_times(da, ft, average, n)
    rings = roi_rings(part)
    if q is not None:
        picked = _pick_rings(part.q, rings, part.npix, part.q_edges, q)
        sel = np.flatnonzero(np.isin(rings, [r for r, _, _ in picked]))
    elif select is None:
        sel = np.arange(part.n_roi)
    else:
        sel = _selected_rois(select, part.n_roi)
    chunk = max(average, chunk // average * average)
    sdtype = store_dtype(da.dtype)
    cols = pixel_block(part.npix[sel])
    lay = roi_layout(part, rois=sel, block=cols)
    blocks = PixelBlocks.empty(n, lay.npix, cols, sdtype)
    integer = np.dtype(da.dtype).kind in "ui"
    kernel = None if sparse is True else (n, cols, np.float32 if integer else np.float64, sdtype)
    with ThreadPoolExecutor(max_workers=2) as pool:  # compile and fault in the output while the frames
        output = pool.submit(_prepare, kernel, (sel.size, n, n))  # are read; then both threads read
        try:
            _gather(da, lay, average, chunk, blocks, progress, pool)
        except InexactStore:  # (summed) counts beyond 2^24: read again into float64 blocks
            blocks = PixelBlocks.empty(n, lay.npix, cols, np.float64)
            _gather(da, lay, average, chunk, blocks, progress, pool)
        c2 = output.result()
    s_t = c2_rois(blocks, c2, integer=integer, sparse=sparse)
    used = np.ones(n, dtype=bool) if excl is None else excl.valid(n_raw).reshape(n, average).all(axis=1)
    for k, r in enumerate(sel):
        if np.any((s_t[k] <= 0) & used):
            bad = np.flatnonzero((s_t[k] <= 0) & used)
            raise CorrelatorError(
                f"ROI {r + 1} has no counts in frame(s) {bad[:10].tolist()} (of {n}): C2 is undefined there; "
                "use a larger ROI, average frames (average=) or remove those frames"
            )
    inten = s_t / lay.npix[:, None]
    if not used.all():  # excluded frames are missing, not zero
        c2[:, ~used, :] = np.nan
        c2[:, :, ~used] = np.nan
        inten[:, ~used] = np.nan
    coords = {k: (d, v[sel], a) for k, (d, v, a) in _roi_coords(part).items()}
    coords["ring"] = ("roi", rings[sel], {"long_name": "q ring index (0-based)", "units": "1"})
    coords["t1"] = ("t1", t, {"long_name": "frame time t1 (start of the averaged frame)", "units": "s"})
    coords["t2"] = ("t2", t.copy(), {"long_name": "frame time t2 (start of the averaged frame)", "units": "s"})
    attrs = {
        "correlator": "xpcsnb.correlate.two_time",
        "definition": "C2 = n_p sum_p I_p(t1) I_p(t2) / (sum_p I_p(t1) sum_p I_p(t2)), full matrix, raw diagonal",
        "frame_time": ft, "frame_time_units": "s", "average": average, "n_frames": n_raw,
        "exposure": float(da.attrs.get("exposure", ft)), "exposure_units": "s",
    }
    if part.q_edges is not None:
        attrs["q_edges"] = np.asarray(part.q_edges, dtype=float)
    if part.phi_edges is not None:
        attrs["phi_edges"] = np.asarray(part.phi_edges, dtype=float)
    for key in ("source", "dataset"):
        if key in da.attrs:
            attrs[key] = da.attrs[key]
    ds = xr.Dataset(
        {
            "c2": (("roi", "t1", "t2"), c2, {"long_name": "two-time correlation C2", "units": "1"}),
            "intensity": (("roi", "t1"), inten, {"long_name": "mean counts per pixel", "units": "counts"}),
        },
        coords=coords,
        attrs=attrs,
    )
    if excl is not None:
        ds["frame_excluded"] = ("t1", ~used, {"long_name": "(averaged) frame excluded from the correlation"})
        ds.attrs.update(excl.attrs())
    return _rings_twotime(ds, picked, multi=_is_multi(q)) if q is not None else ds


def _frame_times(da: xr.DataArray, ft: float, average: int, n: int) -> np.ndarray:
    """Start time [s] of each of the ``n`` (averaged) frames: ``t_0 + k·ft·average``.

    ``t_0`` is the first value of the frames' ``t`` coordinate (0 without one), which
    must step uniformly by ``ft`` (a strided or gappy stack would make the time axis
    wrong silently)."""
    if "t" not in da.coords or da["t"].dims != ("frame",):
        return ft * average * np.arange(n, dtype=float)
    t_raw = np.asarray(da["t"].values, dtype=float)
    if not np.all(np.isfinite(t_raw)):
        raise CorrelatorError("the frames' t coordinate holds non-finite times; give finite frame times [s]")
    steps = np.diff(t_raw)
    if steps.size and np.max(np.abs(steps - ft)) > 1e-6 * ft + 4 * np.finfo(float).eps * np.max(np.abs(t_raw)):
        k = int(np.argmax(np.abs(steps - ft)))
        raise CorrelatorError(
            f"the frames' t coordinate steps by {float(steps[k]):.6g} s between frames {k} and {k + 1}, but frame_time is "
            f"{ft!r} s: the frames are strided or have gaps. Two-time needs a uniform frame grid: pass the "
            "consecutive frames (sum them with average=), or set the real period with "
            "frames.assign_attrs(frame_time=...) for a uniformly strided stack"
        )
    return float(t_raw[0]) + ft * average * np.arange(n, dtype=float)


def _ring_q(q: np.ndarray, rings: np.ndarray, npix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ring ids and the pixel-weighted mean q [1/Å] of each ring, from the q, ring and pixel
    count of every ROI (raises when the ROIs carry no q)."""
    q = np.asarray(q, dtype=float)
    if not np.all(np.isfinite(q)):
        raise CorrelatorError("the ROIs carry no q values; build them with partition() or from_labels(..., q=...)")
    w = np.asarray(npix, dtype=float)
    ring_ids = np.unique(rings)
    return ring_ids, np.array([np.sum(q[rings == g] * w[rings == g]) / np.sum(w[rings == g]) for g in ring_ids])


def _nearest_ring(q_roi: np.ndarray, rings: np.ndarray, npix: np.ndarray, q_edges: Any | None,
                  q: Any) -> tuple[int, float]:
    """Id and mean q [1/Å] of the ring that holds the requested ``q`` [1/Å].

    With ``q_edges`` the ring whose edges enclose ``q``; without, the ring of nearest mean
    q if ``q`` lies within half the spacing to the neighbouring ring (10 % of its q when
    there is one ring). Otherwise a :class:`CorrelatorError` lists the rings.
    """
    real = isinstance(q, int | float | np.integer | np.floating) and not isinstance(q, bool | np.bool_)
    qr = float(q) if real else np.nan
    if not np.isfinite(qr) or qr <= 0:
        raise CorrelatorError(f"q must be a finite scattering vector > 0 [1/Å], got {q!r}")
    ring_ids, ring_q = _ring_q(q_roi, rings, npix)
    listing = ", ".join(f"{v:.6g}" for v in ring_q)
    if q_edges is not None:
        edges = np.asarray(q_edges, dtype=float)
        inside = np.flatnonzero((edges[ring_ids] <= qr) & (qr <= edges[ring_ids + 1]))
        if inside.size:  # on a shared edge: the ring of nearer mean q
            k = int(inside[np.argmin(np.abs(ring_q[inside] - qr))])
            return int(ring_ids[k]), float(ring_q[k])
        ranges = ", ".join(f"[{edges[g]:.6g}, {edges[g + 1]:.6g}]" for g in ring_ids)
        raise CorrelatorError(f"no q ring holds q={qr:.6g} 1/Å; the rings span {ranges} 1/Å")
    k = int(np.argmin(np.abs(ring_q - qr)))
    gaps = np.abs(np.delete(ring_q, k) - ring_q[k])
    tol = 0.5 * gaps.min() if gaps.size else 0.1 * ring_q[k]
    if abs(ring_q[k] - qr) > tol:
        raise CorrelatorError(f"no q ring at q={qr:.6g} 1/Å: the nearest ring has q={ring_q[k]:.6g} "
                              f"(tolerance {tol:.3g}); ring q values: {listing}")
    return int(ring_ids[k]), float(ring_q[k])


def _is_multi(q: Any) -> bool:
    """Whether ``q`` asks for a multi-q Dataset (a sequence of values or ``"all"``)."""
    return isinstance(q, str) or np.ndim(q) > 0


def _pick_rings(q_roi: np.ndarray, rings: np.ndarray, npix: np.ndarray, q_edges: Any | None,
                q: Any) -> list[tuple[int, float, float | None]]:
    """``(ring id, ring mean q, requested q or None)`` for a q, a sequence of q or ``"all"``."""
    if isinstance(q, str):
        if q != "all":
            raise CorrelatorError(f"q must be a finite scattering vector > 0 [1/Å], a sequence of them or 'all', "
                                  f"got {q!r}")
        ring_ids, ring_q = _ring_q(q_roi, rings, npix)
        return [(int(r), float(v), None) for r, v in zip(ring_ids, ring_q)]
    if np.ndim(q) == 0:
        return [(*_nearest_ring(q_roi, rings, npix, q_edges, q), float(q))]
    values = list(np.asarray(q, dtype=object).ravel()) if np.ndim(q) == 1 else None
    if not values:
        raise CorrelatorError(f"q must be a finite scattering vector > 0 [1/Å], a non-empty 1-D sequence of them "
                              f"or 'all', got {q!r}")
    picked = [(*_nearest_ring(q_roi, rings, npix, q_edges, v), float(v)) for v in values]
    seen: dict[int, float] = {}
    for ring, _, req in picked:
        if ring in seen:
            raise CorrelatorError(f"q={seen[ring]:.6g} and q={req:.6g} 1/Å select the same ring {ring}; give each "
                                  "ring once")
        seen[ring] = req
    return picked


def c2_at_q(ds: xr.Dataset, q: float | Sequence[float] | str) -> xr.Dataset:
    """The fit-ready two-time Dataset of the q ring(s) that hold ``q``.

    Parameters
    ----------
    ds : Dataset
        Output of :func:`two_time` (dims ``roi, t1, t2``).
    q : float, sequence of float, or "all"
        Requested q [1/Å], finite and > 0. With ring edges (``attrs["q_edges"]``, from
        :func:`~xpcsnb.core.partition.partition`) the ring whose edges enclose it; without,
        the ring of nearest pixel-weighted mean q within half the spacing to its
        neighbour (10 % of its q for a single ring). A sequence picks one ring per
        value (each ring once, order kept); ``"all"`` takes every ring.

    Returns
    -------
    xarray.Dataset
        Built by :func:`xpcsnb.core.twotime.twotime`. One q: ``c2(phi, t1, t2)`` with
        ``attrs["q"]`` the ring's mean q and ``attrs["q_requested"]``, ``ring``,
        ``rois``, ``npix``. A sequence or ``"all"``: ``c2(q, phi, t1, t2)`` with the
        coordinates ``q`` (ring mean q), ``ring(q)``, ``q_requested(q)`` (NaN for
        ``"all"``), ``roi_label(q, phi)``, ``npix(q, phi)`` and ``phi_roi(q, phi)`` (each
        ROI's own mean angle); every ring must have the same sectors (the k-th angles
        within half the sector spacing), ``phi`` is their pixel-weighted circular mean.
        The times are ``ds``'s own ``t1`` (real frame times, not restarted at 0). A ring
        without azimuthal sectors gets ``phi = 0``.

    Raises
    ------
    CorrelatorError
        A q that is not finite and > 0 or that no ring holds (the rings are listed),
        two q values in one ring, or rings with different angles.
    """
    if not isinstance(ds, xr.Dataset) or "c2" not in ds or ds["c2"].dims != ("roi", "t1", "t2"):
        raise CorrelatorError("c2_at_q needs the (roi, t1, t2) Dataset returned by two_time()")
    picked = _pick_rings(ds["q"].values, ds["ring"].values, ds["npix"].values, ds.attrs.get("q_edges"), q)
    return _rings_twotime(ds, picked, multi=_is_multi(q))


def _ring_rois(ds: xr.Dataset, ring: int) -> tuple[xr.Dataset, np.ndarray]:
    """The ROIs of ring ``ring`` of ``ds`` and their angles [deg] (0 for one ROI without an angle)."""
    sub = ds.isel(roi=np.flatnonzero(ds["ring"].values == ring))
    phi = sub["phi"].values.astype(float)
    if np.any(~np.isfinite(phi)):
        if sub.sizes["roi"] > 1:
            raise CorrelatorError(f"ring {ring} has {sub.sizes['roi']} ROIs without phi values")
        phi = np.zeros(1)
    return sub, phi


def _rings_twotime(ds: xr.Dataset, picked: list[tuple[int, float, float | None]], multi: bool) -> xr.Dataset:
    """The data model's two-time Dataset of the rings ``picked`` (see :func:`_pick_rings`) of ``ds``."""
    time_step(ds)  # a uniform time axis, t1 == t2
    attrs = {
        "correlator": ds.attrs.get("correlator", ""), "definition": ds.attrs.get("definition", ""),
        "frame_time": ds.attrs.get("frame_time"), "average": ds.attrs.get("average", 1),
        "diagonal": "raw (shot-noise spike kept)",
    }
    if "source" in ds.attrs:
        attrs["source"] = ds.attrs["source"]
    t = ds["t1"].values
    parts = [_ring_rois(ds, ring) for ring, _, _ in picked]
    if not multi:
        (ring, ring_q, req), (sub, phi) = picked[0], parts[0]
        attrs.update(q_requested=req, ring=ring, rois=sub["roi"].values.tolist(), npix=sub["npix"].values.tolist())
        return twotime(sub["c2"].values, t, phi=phi, q=ring_q, attrs=attrs)
    phi_roi = _matched_angles([ring for ring, _, _ in picked], [phi for _, phi in parts], ds.attrs.get("phi_edges"))
    w = np.stack([sub["npix"].values for sub, _ in parts]).astype(float)
    rad = np.deg2rad(phi_roi)  # the sector angle: pixel-weighted circular mean over the rings
    phi = np.rad2deg(np.arctan2((w * np.sin(rad)).sum(0), (w * np.cos(rad)).sum(0)))
    out = twotime(np.stack([sub["c2"].values for sub, _ in parts]), t, phi=phi,
                  q=[rq for _, rq, _ in picked], attrs=attrs)
    req = np.array([np.nan if r is None else r for _, _, r in picked])
    return out.assign_coords(
        phi_roi=(("q", "phi"), phi_roi, {"long_name": "azimuthal angle of each ROI", "units": "deg"}),
        ring=("q", np.array([r for r, _, _ in picked]), {"long_name": "q ring index (0-based)", "units": "1"}),
        q_requested=("q", req, {"long_name": "requested q (NaN: every ring)", "units": "1/Å"}),
        roi_label=(("q", "phi"), np.stack([sub["roi"].values for sub, _ in parts]),
                   {"long_name": "ROI label (1-based)", "units": "1"}),
        npix=(("q", "phi"), np.stack([sub["npix"].values for sub, _ in parts]),
              {"long_name": "pixels per ROI", "units": "1"}),
    )


def _matched_angles(rings: list[int], angles: list[np.ndarray], phi_edges: Any | None) -> np.ndarray:
    """The ROI angles of several rings as ``(n_q, n_phi)``, checked to be the same sectors.

    The k-th angle of every ring must lie within half the smallest spacing of the first
    ring's angles (modulo 360°); a single sector within half its width (``phi_edges``)."""
    first = angles[0]
    if first.size > 1:
        gaps = np.abs((np.diff(np.sort(first)) + 180.0) % 360.0 - 180.0)
        tol = 0.5 * min(float(gaps.min()), 360.0 - float(np.ptp(first)))
    elif phi_edges is not None and len(phi_edges) == 2:
        tol = 0.5 * float(np.diff(phi_edges)[0])
    else:
        tol = 1e-6
    for ring, phi in zip(rings[1:], angles[1:]):
        off = np.abs((phi - first + 180.0) % 360.0 - 180.0) if phi.size == first.size else None
        if off is None or np.any(off > tol):
            raise CorrelatorError(
                f"ring {ring} has the angles {np.round(phi, 3).tolist()} deg but ring {rings[0]} has "
                f"{np.round(first, 3).tolist()} deg (tolerance {tol:.3g} deg): a multi-q Dataset needs the same "
                "phi sectors in every ring; take the rings one at a time"
            )
    return np.stack(angles)


def _selected_rois(select: Any, n_roi: int) -> np.ndarray:
    """0-based ROIs of the 1-based labels ``select`` (sorted, unique)."""
    lab = np.atleast_1d(np.asarray(select))
    ok = lab.ndim == 1 and lab.size > 0 and lab.dtype.kind in "uif" and bool(np.all(np.isfinite(lab)))
    if not ok or np.any(lab != np.round(lab)) or lab.min() < 1 or lab.max() > n_roi:
        raise CorrelatorError(f"select must hold ROI labels (integers) in 1 … {n_roi}, got {select!r}")
    return np.unique(lab.astype(int)) - 1
