"""The one table of models: :func:`register`, :func:`get_model`, :func:`model_names`.

A model family is a :class:`~xpcsnb.models.base.Model` that carries its physics
parameters (names, units, bounds, starts, priors); registering it makes it known by
name to every part of xpcsnb (``simulate``, the fit engines, ``ds.xpcs.model``, the
widgets). The built-in families ``static``, ``laminar_flow`` (``xpcsnb.models.homodyne``) and
``heterodyne`` (``xpcsnb.models.heterodyne``) register themselves when :mod:`xpcsnb.models` is
imported. A Model object can also be passed wherever a model name is accepted,
without registering it.

The name-based helpers :data:`MODELS`, :func:`physics_names`, :func:`parameters` and
:func:`get` are views derived from the registered models.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from .base import Model, ModelError
from .parameters import PRIOR_KINDS, SCALING, Parameter, Prior

__all__ = [
    "MODELS",
    "PRIOR_KINDS",
    "SCALING",
    "Parameter",
    "Prior",
    "get",
    "get_model",
    "model_names",
    "parameters",
    "physics_names",
    "register",
    "unregister",
]

_REGISTERED: dict[str, Model] = {}


def register(model: Model, *, replace: bool = False) -> Model:
    """Make ``model`` known by its name; returns it.

    Parameters
    ----------
    model : Model
        A model definition (checked when it was constructed: unique parameter names,
        no clash with ``contrast``/``offset``, ``default_fixed``, ``rate_laws`` and
        ``start_symmetries`` naming its own parameters).
    replace : bool
        Replace a model already registered under the same name (registering the same
        object again is allowed and changes nothing).

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`Model`.
    ModelError
        If the name is taken and ``replace`` is False.
    """
    if not isinstance(model, Model):
        raise TypeError(f"register() takes an xpcsnb.models.Model, got {type(model).__name__}")
    old = _REGISTERED.get(model.name)
    if old is not None and old is not model and not replace:
        raise ModelError(f"a model named {model.name!r} is already registered; pass replace=True to replace it "
                         "or choose another name")
    _REGISTERED[model.name] = model
    return model


def unregister(name: str) -> Model:
    """Remove the model registered as ``name`` and return it (for tests and notebooks).

    Raises
    ------
    ModelError
        If no model of that name is registered.
    """
    if name not in _REGISTERED:
        raise ModelError(f"no model named {name!r} is registered; registered models: {list(_REGISTERED)}")
    return _REGISTERED.pop(name)


def model_names() -> tuple[str, ...]:
    """Names of the registered models, in registration order."""
    return tuple(_REGISTERED)


def get_model(name: str | Model) -> Model:
    """The registered :class:`Model` called ``name``; a Model object is returned as is.

    Raises
    ------
    ModelError
        For an unknown name (the message lists the registered ones).
    TypeError
        For anything that is neither a string nor a Model.
    """
    if isinstance(name, Model):
        return name
    if not isinstance(name, str):
        raise TypeError(f"a model is given by name (str) or as an xpcsnb.models.Model, got {type(name).__name__}")
    try:
        return _REGISTERED[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; registered models: {list(_REGISTERED)} "
                         "(add one with xpcsnb.models.register(Model(...)))") from None


class _ParameterTables(Mapping[str, tuple[Parameter, ...]]):
    """Read-only live view ``{model name: physics parameters in vector order}`` of the registry."""

    def __getitem__(self, name: str) -> tuple[Parameter, ...]:
        model = _REGISTERED.get(name) if isinstance(name, str) else None
        if model is None:
            raise KeyError(f"unknown model {name!r}; registered models: {list(_REGISTERED)}")
        return model.parameters

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_REGISTERED))

    def __len__(self) -> int:
        return len(_REGISTERED)

    def __repr__(self) -> str:
        return f"MODELS({ {n: [p.name for p in m.parameters] for n, m in _REGISTERED.items()} })"


#: Physics parameters of each registered model, in the order of its parameter vector
#: (a read-only view that follows :func:`register` / :func:`unregister`).
MODELS: Mapping[str, tuple[Parameter, ...]] = _ParameterTables()


def physics_names(model: str | Model) -> tuple[str, ...]:
    """Names of the physics parameters of ``model``, in vector order."""
    return get_model(model).parameter_names


def parameters(model: str | Model) -> dict[str, Parameter]:
    """Physics parameters of ``model`` followed by the scaling ones not named by the model, by name."""
    out = {p.name: p for p in get_model(model).parameters}
    for name, p in SCALING.items():  # a g2 model's own ``contrast`` (its Siegert factor) takes precedence
        out.setdefault(name, p)
    return out


def get(model: str | Model, name: str) -> Parameter:
    """One parameter of ``model`` (physics or scaling, by its base name) by name.

    Raises
    ------
    KeyError
        If the model has no such parameter (the message lists its parameters).
    """
    table = parameters(model)
    if name not in table:
        raise KeyError(f"model {get_model(model).name!r} has no parameter {name!r}; it has {list(table)}")
    return table[name]
