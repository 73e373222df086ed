"""Pure JAX physics of two-time correlations (no I/O).

Every model is a :class:`Model` carrying its signal function and its physics
parameters; :func:`register` makes one known by name, :func:`get_model` finds it. The
built-in families (``static``, ``laminar_flow``, ``heterodyne``) register themselves
here.
"""

from . import registry as registry
from .base import Grid as Grid
from .base import Mirror as Mirror
from .base import Model as Model
from .base import ModelError as ModelError
from .base import RateLaw as RateLaw
from .base import make_grid as make_grid
from .homodyne import LAMINAR_FLOW as LAMINAR_FLOW  # registration order: static, laminar_flow, heterodyne
from .homodyne import STATIC as STATIC
from .heterodyne import HETERODYNE as HETERODYNE
from .onetime import DOUBLE_EXPONENTIAL as DOUBLE_EXPONENTIAL  # the g2 families: kind "g2"
from .onetime import SINGLE_EXPONENTIAL as SINGLE_EXPONENTIAL
from .onetime import STRETCHED_EXPONENTIAL as STRETCHED_EXPONENTIAL
from .onetime import G2Model as G2Model
from .parameters import Parameter as Parameter
from .parameters import Prior as Prior
from .registry import get_model as get_model
from .registry import model_names as model_names
from .registry import register as register
from .registry import unregister as unregister
from .scaling import model_c2 as model_c2

__all__ = ["DOUBLE_EXPONENTIAL", "G2Model", "SINGLE_EXPONENTIAL", "STRETCHED_EXPONENTIAL", "Grid", "HETERODYNE", "LAMINAR_FLOW", "Mirror", "Model", "ModelError", "Parameter", "Prior", "RateLaw",
           "STATIC", "get_model", "make_grid", "model_c2", "model_names", "register", "registry", "unregister"]
