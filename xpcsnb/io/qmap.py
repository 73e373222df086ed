"""q-map files → :class:`~xpcsnb.core.partition.Partition`: pySimpleMask / APS 8-ID-I q-maps.

A q-map holds, under ``/qmap`` (a pySimpleMask q-map file) or ``/xpcs/qmap`` (its copy
in an APS result file): ``dynamic_roi_map`` (H, W) with 0 = unused and ``b`` = bin b,
the bin-centre lists ``dynamic_v_list_dim0`` (q [1/Å]) and ``dynamic_v_list_dim1``
(φ [deg]), ``dynamic_index_mapping`` (bin b → flat q-major grid cell), the same for the
``static_*`` bins, and ``mask``. The names come from the APS path table
(:func:`xpcsnb.io.aps8idi.paths.qmap_name`). Links out of the file's folder are refused
unless ``allow_external=True`` (:mod:`xpcsnb.io.h5safe`).
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np

from ..core.errors import ApsFileError, PartitionError
from ..core.partition import Partition, from_labels
from .aps8idi.layout import existing_file
from .aps8idi.paths import QMAP_ROOTS, qmap_name
from .h5safe import get_object, open_reader, read_dataset

__all__ = ["open_qmap"]


def _read(f: Any, root: str, key: str, *, required: bool = True) -> np.ndarray | None:
    path = f"{root}/{qmap_name(key)}"
    obj = get_object(f, path)
    if obj is None:
        if required:
            raise ApsFileError(f"{f.filename}:{path} is missing (needed for the q-map)")
        return None
    if not isinstance(obj, h5py.Dataset):
        raise ApsFileError(f"{f.filename}:{path} is a group, expected a dataset")
    a = np.asarray(read_dataset(f, obj, path))
    if key not in ("map_names", "map_units") and a.dtype.kind not in "biuf":
        raise ApsFileError(f"{f.filename}:{path} stores {a.dtype} values, not numbers")
    return a


def open_qmap(path: str | os.PathLike[str], *, kind: str = "dynamic", allow_external: bool = False) -> Partition:
    """Read the dynamic (or static) bins of a q-map file as a :class:`Partition`.

    Parameters
    ----------
    path : str or os.PathLike
        pySimpleMask q-map file (group ``/qmap``) or APS result file (``/xpcs/qmap``).
    kind : {"dynamic", "static"}
        Which partition: the dynamic bins (correlations) or the static ones (I(q)).
    allow_external : bool
        Follow links out of the file's folder (default False: refused).

    Returns
    -------
    Partition
        ``labels`` = the ROI map (masked pixels set to 0), ``q`` [1/Å] and ``phi``
        [deg] of each bin ``1 … Nb`` (their grid centres), attrs ``source``,
        ``qmap_group``, ``kind``, ``q_grid``, ``phi_grid``, ``index_mapping`` and the
        stored geometry (``beam_center_x/y`` [px], ``detector_distance`` [m],
        ``pixel_size`` [m], ``energy`` [keV]) where present.

    Raises
    ------
    FileNotFoundError, ApsFileError
        Missing file, no q-map group, missing or malformed entries (named with the
        file and object path), bins without pixels, a map that partitions by other
        quantities than (q, φ).
    """
    if kind not in ("dynamic", "static"):
        raise ValueError(f"kind must be 'dynamic' or 'static', got {kind!r}")
    p = existing_file(path)
    with open_reader(p, error=ApsFileError, allow_external=allow_external) as f:
        root = next((r for r in QMAP_ROOTS if isinstance(get_object(f, r, dangling="none"), h5py.Group)), None)
        if root is None:
            raise ApsFileError(f"{p} holds no q-map: no group {' or '.join(QMAP_ROOTS)} "
                               f"(top-level: {sorted(f.keys())})")
        names = _read(f, root, "map_names", required=False)
        if names is not None:
            n = [v.decode() if isinstance(v, bytes) else str(v) for v in np.atleast_1d(names).tolist()]
            if [s.lower() for s in n][:1] != ["q"] or len(n) != 2 or n[1].lower() not in ("phi", "φ"):
                raise ApsFileError(f"{p}:{root}/{qmap_name('map_names')} = {n}: only (q, phi) q-maps are read")
        labels = _read(f, root, f"roi_{kind}")
        v0 = np.atleast_1d(np.squeeze(_read(f, root, f"{kind}_v0"))).astype(float)
        v1 = np.atleast_1d(np.squeeze(_read(f, root, f"{kind}_v1"))).astype(float)
        idx = _read(f, root, f"{kind}_index_mapping", required=False)
        mask = _read(f, root, "mask", required=False)
        geometry = {}
        for key, attr in (("beam_center_x", "beam_center_x"), ("beam_center_y", "beam_center_y"),
                          ("qmap_distance", "detector_distance"), ("qmap_pixel_size", "pixel_size"),
                          ("qmap_energy", "energy")):
            v = _read(f, root, key, required=False)
            if v is not None and v.size == 1:
                geometry[attr] = float(v.squeeze())
    where = f"{p}:{root}/{qmap_name(f'roi_{kind}')}"
    labels = np.squeeze(labels)
    flat = np.arange(v0.size * v1.size) if idx is None else np.atleast_1d(np.squeeze(idx)).astype(np.int64)
    if flat.size and (flat.min() < 0 or flat.max() >= v0.size * v1.size):
        raise ApsFileError(f"{p}:{root}/{qmap_name(f'{kind}_index_mapping')} has cells outside the "
                           f"{v0.size} × {v1.size} grid")
    if labels.ndim != 2:
        raise ApsFileError(f"{where} must be a 2-D (y, x) map, got shape {labels.shape}")
    if mask is not None and np.squeeze(mask).shape != labels.shape:
        raise ApsFileError(f"{p}:{root}/{qmap_name('mask')} has shape {np.squeeze(mask).shape}, "
                           f"the ROI map {labels.shape}")
    n_bins = int(labels.max(initial=0))
    if n_bins > flat.size:
        raise ApsFileError(f"{where} has bin ids up to {n_bins} but the index mapping lists {flat.size} bins")
    iq, iphi = np.divmod(flat[:n_bins], v1.size)
    try:
        part = from_labels(labels, v0[iq], v1[iphi], mask=None if mask is None else np.squeeze(mask) != 0)
    except PartitionError as exc:
        raise ApsFileError(f"{where}: {exc}") from exc
    attrs = {"source": str(p), "qmap_group": root, "kind": kind, "q_grid": v0, "phi_grid": v1,
             "index_mapping": flat[:n_bins], **geometry}
    return Partition(part.labels, part.q, part.phi, attrs=attrs)
