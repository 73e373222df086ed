"""Pure JAX physics of two-time correlations (no I/O)."""

from . import registry as registry
from .base import Grid as Grid
from .base import Model as Model
from .base import make_grid as make_grid
from .homodyne import LAMINAR_FLOW, STATIC

__all__ = ["Grid", "Model", "get_model", "make_grid", "registry", "model_names"]

_MODELS: dict[str, Model] = {"static": STATIC, "laminar_flow": LAMINAR_FLOW}


def _load_optional() -> None:
    if "heterodyne" not in _MODELS:
        try:
            from .heterodyne import HETERODYNE
        except ImportError:  # pragma: no cover - heterodyne module not present
            return
        _MODELS["heterodyne"] = HETERODYNE


def model_names() -> tuple[str, ...]:
    """Names of the available models."""
    _load_optional()
    return tuple(_MODELS)


def get_model(name: str | Model) -> Model:
    """The :class:`Model` called ``name`` (``"static"``, ``"laminar_flow"``, ``"heterodyne"``)."""
    if isinstance(name, Model):
        return name
    _load_optional()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(_MODELS)}")
    return _MODELS[name]
