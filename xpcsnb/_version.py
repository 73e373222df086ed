"""The installed version of xpcsnb (from the package metadata)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xpcsnb")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
