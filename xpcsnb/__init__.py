"""xpcsnb: X-ray photon correlation spectroscopy from detector frames to physics, in a notebook."""

from importlib.metadata import PackageNotFoundError, version

from .io.twotime import TwoTimeError as TwoTimeError
from .io.twotime import twotime as twotime

try:
    __version__ = version("xpcsnb")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["TwoTimeError", "__version__", "twotime"]
