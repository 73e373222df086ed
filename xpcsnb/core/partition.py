"""Detector geometry, q/phi maps and ROI partitions (shared by correlators and XSVS).

Conventions
-----------
* Pixel ``(y, x)`` = (row, column) of the detector image.
* ``beam_center = (x, y)`` in pixels (column, row), as APS 8-ID-I files store them.
* Scattering angle 2θ from ``tan 2θ = r / distance``, ``q = 4π sin θ / λ`` [1/Å].
* Azimuth ``phi = degrees(arctan2(-(y − cy), x − cx))`` in (−180, 180]: 0° points along
  +x, 90° points up the image (towards smaller row index), as on a detector seen from
  the sample.
* ROI labels are integers ``1 … n`` with ``0`` = unused pixel, the convention of
  scikit-beam and of the APS ``dynamic_roi_map``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .errors import PartitionError

__all__ = ["Geometry", "Partition", "PartitionError", "partition", "from_labels", "resolve_rois", "HC_KEV_ANGSTROM"]

#: h·c in keV·Å: wavelength [Å] = HC_KEV_ANGSTROM / energy [keV].
HC_KEV_ANGSTROM = 12.398419843320026


@dataclass(frozen=True)
class Geometry:
    """Detector geometry of a SAXS/XPCS set-up.

    Parameters
    ----------
    shape : (int, int)
        Detector shape (rows, columns).
    beam_center : (float, float)
        Direct-beam position ``(x, y)`` [px] (column, row).
    distance : float
        Sample–detector distance [m].
    pixel_size : float or (float, float)
        Pixel size [m], one value or ``(y, x)``.
    energy : float, optional
        Photon energy [keV]; give this or ``wavelength``.
    wavelength : float, optional
        Wavelength [Å].
    """

    shape: tuple[int, int]
    beam_center: tuple[float, float]
    distance: float
    pixel_size: float | tuple[float, float]
    energy: float | None = None
    wavelength: float | None = None

    def __post_init__(self) -> None:
        if len(self.shape) != 2 or min(self.shape) < 1:
            raise PartitionError(f"shape must be (rows, columns) >= 1, got {self.shape}")
        if (self.energy is None) == (self.wavelength is None):
            raise PartitionError("give exactly one of energy [keV] or wavelength [Å]")
        for name in ("distance", "energy", "wavelength"):
            v = getattr(self, name)
            if v is not None and (not np.isfinite(v) or v <= 0):
                raise PartitionError(f"{name} must be finite and > 0, got {v!r}")
        px = np.atleast_1d(np.asarray(self.pixel_size, dtype=float))
        if px.size not in (1, 2) or np.any(~np.isfinite(px)) or np.any(px <= 0):
            raise PartitionError(f"pixel_size must be one or two positive values [m], got {self.pixel_size!r}")
        if len(self.beam_center) != 2 or not np.all(np.isfinite(self.beam_center)):
            raise PartitionError(f"beam_center must be (x, y) in pixels, got {self.beam_center!r}")

    @property
    def lambda_angstrom(self) -> float:
        """Wavelength [Å]."""
        return float(self.wavelength if self.wavelength is not None else HC_KEV_ANGSTROM / self.energy)

    def _offsets(self) -> tuple[np.ndarray, np.ndarray]:
        px = np.atleast_1d(np.asarray(self.pixel_size, dtype=float))
        py_, px_ = (px[0], px[0]) if px.size == 1 else (px[0], px[1])
        cx, cy = self.beam_center
        y = (np.arange(self.shape[0]) - cy)[:, None] * py_
        x = (np.arange(self.shape[1]) - cx)[None, :] * px_
        return y, x

    def q_map(self) -> np.ndarray:
        """Scattering vector magnitude of every pixel [1/Å], shape ``self.shape``."""
        y, x = self._offsets()
        two_theta = np.arctan2(np.hypot(y, x), self.distance)
        return 4.0 * np.pi * np.sin(two_theta / 2.0) / self.lambda_angstrom

    def phi_map(self) -> np.ndarray:
        """Azimuth of every pixel [deg] in (−180, 180], 0° along +x, 90° up the image."""
        y, x = self._offsets()
        return np.degrees(np.arctan2(-y, x)) + 0.0 * y


@dataclass(frozen=True)
class Partition:
    """An ROI partition of the detector: integer labels with (q, phi) per label.

    Attributes
    ----------
    labels : ndarray of int, shape (H, W)
        ROI label of each pixel, 0 = unused, 1 … n_roi.
    q : ndarray, shape (n_roi,)
        Representative q of each ROI [1/Å] (mean over its pixels when built from maps).
    phi : ndarray, shape (n_roi,)
        Representative azimuth [deg]; NaN when the partition has no azimuthal sectors.
    """

    labels: np.ndarray
    q: np.ndarray
    phi: np.ndarray
    q_edges: np.ndarray | None = None
    phi_edges: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def n_roi(self) -> int:
        """Number of ROIs."""
        return int(self.q.size)

    @property
    def shape(self) -> tuple[int, int]:
        """Detector shape (rows, columns)."""
        return tuple(self.labels.shape)  # type: ignore[return-value]

    @property
    def npix(self) -> np.ndarray:
        """Number of pixels in each ROI, shape (n_roi,)."""
        return np.bincount(self.labels.ravel(), minlength=self.n_roi + 1)[1:]

    def to_dataset(self) -> xr.Dataset:
        """The partition as a Dataset: ``labels(y, x)`` and ``q(roi)``, ``phi(roi)``, ``npix(roi)``."""
        roi = np.arange(1, self.n_roi + 1)
        return xr.Dataset(
            {
                "labels": (("y", "x"), self.labels, {"long_name": "ROI label (0 = unused)"}),
                "npix": ("roi", self.npix, {"long_name": "pixels per ROI"}),
            },
            coords={
                "roi": roi,
                "q": ("roi", self.q, {"units": "1/Å"}),
                "phi": ("roi", self.phi, {"units": "deg"}),
            },
            attrs=dict(self.attrs),
        )


def _check_map(name: str, a: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 2:
        raise PartitionError(f"{name} must be a 2-D (y, x) image, got shape {a.shape}")
    if shape is not None and a.shape != shape:
        raise PartitionError(f"{name} has shape {a.shape} but the detector is {shape}")
    return a


def _check_mask(mask: Any, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = _check_map("mask", mask, shape)
    if m.dtype != bool and not np.all(np.isin(m, (0, 1))):
        raise PartitionError("mask must be boolean (or 0/1): True/1 = pixel used")
    return m.astype(bool)


def partition(
    q_map: Any,
    q_edges: Any,
    *,
    phi_map: Any | None = None,
    phi_edges: Any | None = None,
    mask: Any | None = None,
    allow_empty: bool = False,
) -> Partition:
    """Partition the detector into (q, phi) bins.

    Parameters
    ----------
    q_map : array_like, shape (H, W)
        q of every pixel [1/Å] (e.g. :meth:`Geometry.q_map`).
    q_edges : array_like, shape (n_q + 1,)
        Increasing ring edges [1/Å]; a pixel belongs to ring k when
        ``q_edges[k] <= q < q_edges[k + 1]``.
    phi_map : array_like, shape (H, W), optional
        Azimuth of every pixel [deg]; needed with ``phi_edges``.
    phi_edges : array_like, shape (n_phi + 1,), optional
        Increasing sector edges [deg]. Without it each ring is one ROI.
    mask : array_like of bool, shape (H, W), optional
        True = pixel used.
    allow_empty : bool
        If False (default) an empty bin raises; if True empty bins are dropped and
        listed in ``attrs["dropped_bins"]``.

    Returns
    -------
    Partition
        Labels numbered q-major: ``label = 1 + i_q·n_phi + i_phi`` before dropping.
    """
    qm = _check_map("q_map", q_map, None).astype(float)
    shape = qm.shape
    m = _check_mask(mask, shape)
    qe = np.asarray(q_edges, dtype=float)
    if qe.ndim != 1 or qe.size < 2 or np.any(np.diff(qe) <= 0) or not np.all(np.isfinite(qe)):
        raise PartitionError(f"q_edges must be at least two strictly increasing finite values, got {qe.tolist()}")
    iq = np.digitize(qm, qe) - 1
    valid = m & np.isfinite(qm) & (iq >= 0) & (iq < qe.size - 1)
    n_phi = 1
    iphi = np.zeros(shape, dtype=int)
    pe = None
    pm = None
    if phi_edges is not None:
        if phi_map is None:
            raise PartitionError("phi_edges needs phi_map")
        pm = _check_map("phi_map", phi_map, shape).astype(float)
        pe = np.asarray(phi_edges, dtype=float)
        if pe.ndim != 1 or pe.size < 2 or np.any(np.diff(pe) <= 0):
            raise PartitionError(f"phi_edges must be strictly increasing, got {pe.tolist()}")
        iphi = np.digitize(pm, pe) - 1
        valid &= (iphi >= 0) & (iphi < pe.size - 1)
        n_phi = pe.size - 1
    flat = np.where(valid, iq * n_phi + iphi, -1)
    counts = np.bincount(flat[valid], minlength=(qe.size - 1) * n_phi)
    empty = np.flatnonzero(counts == 0)
    if empty.size and not allow_empty:
        desc = [f"q ring {k // n_phi} [{qe[k // n_phi]:.4g}, {qe[k // n_phi + 1]:.4g}) 1/Å"
                + (f", phi sector {k % n_phi}" if pe is not None else "") for k in empty[:5]]
        raise PartitionError(
            f"{empty.size} empty ROI(s) (no unmasked pixel): {'; '.join(desc)}. "
            "Change the edges or the mask, or pass allow_empty=True to drop them."
        )
    kept = np.flatnonzero(counts > 0)
    relabel = np.zeros(counts.size + 1, dtype=np.int32)
    relabel[kept + 1] = np.arange(1, kept.size + 1)
    labels = relabel[flat + 1]
    sums_q = np.bincount(flat[valid], weights=qm[valid], minlength=counts.size)
    q_c = sums_q[kept] / counts[kept]
    if pm is not None:
        # circular mean of the sector's pixels
        ang = np.radians(pm[valid])
        s = np.bincount(flat[valid], weights=np.sin(ang), minlength=counts.size)[kept]
        c = np.bincount(flat[valid], weights=np.cos(ang), minlength=counts.size)[kept]
        phi_c = np.degrees(np.arctan2(s, c))
    else:
        phi_c = np.full(kept.size, np.nan)
    attrs: dict[str, Any] = {"label_order": "q-major"}
    if empty.size:
        attrs["dropped_bins"] = empty.tolist()
    return Partition(labels=labels, q=q_c, phi=phi_c, q_edges=qe, phi_edges=pe, attrs=attrs)


def from_labels(labels: Any, q: Any | None = None, phi: Any | None = None, *, mask: Any | None = None) -> Partition:
    """Wrap an integer label map (0 = unused) as a :class:`Partition`.

    Parameters
    ----------
    labels : array_like of int, shape (H, W)
        ROI labels 0 … n; every label 1 … n must have at least one pixel.
    q, phi : array_like, shape (n,), optional
        q [1/Å] and phi [deg] of each label; NaN when not given.
    mask : array_like of bool, shape (H, W), optional
        Pixels with False are set to 0.
    """
    lab = _check_map("labels", labels, None)
    if not np.issubdtype(lab.dtype, np.integer):
        if not np.all(np.isfinite(lab)) or np.any(lab != np.round(lab)):
            raise PartitionError("labels must be integers (0 = unused)")
        lab = lab.astype(np.int64)
    if np.any(lab < 0):
        raise PartitionError("labels must be >= 0 (0 = unused)")
    m = _check_mask(mask, lab.shape)
    lab = np.where(m, lab, 0).astype(np.int32)
    n = int(lab.max())
    if n == 0:
        raise PartitionError("the label map has no ROI (all pixels are 0 or masked)")
    n_used = int(np.count_nonzero(lab))
    if n > n_used:  # labels cannot all have a pixel (and a count table of n would be wasted memory)
        raise PartitionError(f"ROI labels go up to {n} but only {n_used} pixel(s) carry a label: number the ROIs "
                             "1 … n_roi, every label with at least one (unmasked) pixel")
    counts = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    if np.any(counts == 0):
        empty = (np.flatnonzero(counts == 0) + 1).tolist()
        raise PartitionError(f"ROI label(s) {empty[:10]} have no (unmasked) pixel")

    def _vec(name: str, v: Any) -> np.ndarray:
        if v is None:
            return np.full(n, np.nan)
        v = np.atleast_1d(np.asarray(v, dtype=float))
        if v.shape != (n,):
            raise PartitionError(f"{name} has {v.size} value(s) but there are {n} ROI labels")
        return v

    return Partition(labels=lab, q=_vec("q", q), phi=_vec("phi", phi))


def resolve_rois(rois: Any, shape: tuple[int, int], mask: Any | None = None) -> Partition:
    """Return ``rois`` as a :class:`Partition` of a detector of ``shape`` (the one ROI
    resolution of the correlators and XSVS).

    Parameters
    ----------
    rois : Partition or array_like of int, shape (H, W)
        A partition (keeps its q, phi and edges) or an integer label map (0 = unused;
        q and phi NaN), also as a DataArray.
    shape : (int, int)
        Detector shape (rows, columns) of the frames.
    mask : array_like of bool, shape (H, W), optional
        True = pixel used; masked pixels leave their ROI.

    Raises
    ------
    PartitionError
        A map or mask of another shape, non-integer or negative labels, or an ROI left
        without pixels.
    """
    if isinstance(rois, xr.Dataset):
        raise PartitionError("rois is a Dataset; pass a Partition or its (y, x) label map, e.g. ds['labels']")
    if isinstance(rois, Partition):
        part = rois
        if mask is not None:
            labels = np.where(_check_mask(mask, part.shape), part.labels, 0).astype(np.int32)
            part = Partition(labels, part.q, part.phi, part.q_edges, part.phi_edges, dict(part.attrs))
    else:
        part = from_labels(rois.values if isinstance(rois, xr.DataArray) else rois, mask=mask)
    if part.shape != tuple(shape):
        raise PartitionError(f"the ROI map has shape {part.shape} but the frames are {tuple(shape)} (y, x)")
    npix = part.npix
    if np.any(npix == 0):
        empty = (np.flatnonzero(npix == 0) + 1).tolist()
        raise PartitionError(f"ROI label(s) {empty[:10]} have no (unmasked) pixel")
    return part
