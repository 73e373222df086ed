"""Reader for APS 8-ID-I XPCS result files (boost-corr / xpcs-viewer layouts).

Three layouts are read through one path table (:data:`~.paths.PATHS`) whose entries
are tried in order:

* ``"nexus"`` – the current (APS-U, 2025+) ``*_results.hdf`` layout: results under
  ``/xpcs/{qmap,multitau,twotime,temporal_mean,spatial_mean}``, metadata under
  ``/entry``. The NXxpcs draft names (``multitau/g2``, ``g2_derr``,
  ``delay_difference``, ``twotime/two_time_corr_func``) are accepted too.
* ``"legacy"`` – the pre-2025 layout (marker ``/xpcs/Version`` or ``/exchange``):
  results under ``/exchange`` and ``/xpcs``, metadata under ``/measurement``.
* ``"legacy"`` with ``variant="2023"`` – the 2023 intermediate files that keep the
  legacy result paths but carry metadata under ``/entry/instrument/bluesky/metadata``.

Modules: :mod:`.paths` (the path table), :mod:`.layout` (opening, layout detection,
reading table entries), :mod:`.bins` (q/φ bins), :mod:`.meta` (geometry, time steps),
:mod:`.g2` (multi-tau g2, ``open_g2``), :mod:`.c2` (two-time C2, ``open_twotime``), :mod:`.aps`
(``open_aps``), :mod:`.grid` (the (q, φ) bin grid of a q-map), :mod:`.write` (``save_aps``).
Conventions are described in ``docs/io.md``. Links out of the file's
folder and external storage are refused unless ``allow_external=True``
(:mod:`xpcsnb.io.h5safe`).
"""

from ...core.errors import ApsFileError
from .aps import open_aps
from .bins import BinTable, read_bins
from .c2 import C2Entry, full_from_upper, list_c2, open_twotime
from .g2 import open_g2, read_g2
from .layout import detect_layout
from .paths import PATHS, Source
from .write import save_aps

__all__ = [
    "PATHS",
    "ApsFileError",
    "BinTable",
    "C2Entry",
    "Source",
    "detect_layout",
    "full_from_upper",
    "list_c2",
    "open_aps",
    "open_g2",
    "open_twotime",
    "read_bins",
    "read_g2",
    "save_aps",
]
