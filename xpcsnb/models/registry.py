"""The parameter registry: one table of names, units, bounds, initial values and priors.

Every part of xpcsnb (models, NLSQ, CMC, widgets, reports) reads parameter metadata
from here and nowhere else.

Bounds follow ``../shared/guides/models.md`` (homodyne 2.23.3 ``parameter_registry``;
heterodyne: the registry/``PARAMETER_BOUNDS`` values with alpha in [−2, 2] and D0 in
[100, 1e6]). The default prior of every parameter is a normal centred on the middle of
its bounds with a standard deviation of a quarter of their width, truncated to the
bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

__all__ = [
    "Prior",
    "Parameter",
    "MODELS",
    "SCALING",
    "PRIOR_KINDS",
    "parameters",
    "physics_names",
    "get",
]

#: Prior families understood by the Bayesian engine.
PRIOR_KINDS = ("truncated_normal", "uniform", "lognormal", "halfnormal", "normal", "beta_scaled")


@dataclass(frozen=True)
class Prior:
    """A prior distribution, always truncated to the parameter's bounds.

    Parameters
    ----------
    kind : str
        One of :data:`PRIOR_KINDS`.
    loc, scale : float
        Location and scale in the parameter's units (``normal``/``truncated_normal``:
        mean and sd; ``lognormal``: mean and sd of log(value); ``halfnormal``: scale
        only; ``beta_scaled``: ``loc``/``scale`` are the Beta concentrations a, b on
        the bounds interval; ``uniform``: ignored).
    """

    kind: str = "truncated_normal"
    loc: float = 0.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in PRIOR_KINDS:
            raise ValueError(f"unknown prior kind {self.kind!r}; choose from {PRIOR_KINDS}")
        if self.kind != "uniform" and not self.scale > 0:
            raise ValueError(f"prior scale must be > 0, got {self.scale!r}")


@dataclass(frozen=True)
class Parameter:
    """Metadata of one model parameter.

    Attributes
    ----------
    name : str
        Registry name (also the variable name in results).
    unit : str
        Physical unit ("1" for dimensionless).
    lower, upper : float
        Default bounds.
    initial : float
        Default starting value of a fit.
    prior : Prior
        Default prior (truncated to the bounds).
    description : str
        One line for reports and widgets.
    """

    name: str
    unit: str
    lower: float
    upper: float
    initial: float
    description: str
    prior: Prior = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not self.lower < self.upper:
            raise ValueError(f"{self.name}: lower bound {self.lower} must be < upper bound {self.upper}")
        if not self.lower <= self.initial <= self.upper:
            raise ValueError(f"{self.name}: initial value {self.initial} outside [{self.lower}, {self.upper}]")
        if self.prior is None:
            mid = 0.5 * (self.lower + self.upper)
            object.__setattr__(self, "prior", Prior("truncated_normal", mid, 0.25 * (self.upper - self.lower)))

    def with_(self, **changes: object) -> "Parameter":
        """A copy with some fields changed (bounds, initial, prior)."""
        return replace(self, **changes)


def _p(name: str, unit: str, lo: float, hi: float, init: float, desc: str) -> Parameter:
    return Parameter(name, unit, lo, hi, init, desc)


#: Per-angle scaling parameters, shared by all models.
SCALING: Mapping[str, Parameter] = MappingProxyType(
    {
        "contrast": _p("contrast", "1", 0.0, 1.0, 0.5, "speckle contrast (C2 amplitude)"),
        "offset": _p("offset", "1", 0.5, 1.5, 1.0, "baseline of C2"),
    }
)

_HOMODYNE = (
    _p("D0", "Å²/s^(1+alpha)", 1e2, 1e5, 1e3, "diffusion prefactor of D(t) = D0 t^alpha + D_offset"),
    _p("alpha", "1", -2.0, 2.0, 0.0, "diffusion ageing exponent"),
    _p("D_offset", "Å²/s", -1e5, 1e5, 0.0, "constant part of D(t)"),
    _p("gamma_dot_t0", "s⁻¹·s^(-beta)", 1e-6, 0.5, 1e-2, "shear-rate prefactor of γ̇(t) = γ̇0 t^beta + γ̇_offset"),
    _p("beta", "1", -2.0, 2.0, 0.0, "shear-rate ageing exponent"),
    _p("gamma_dot_t_offset", "s⁻¹", -0.1, 0.1, 0.0, "constant part of γ̇(t)"),
    _p("phi0", "deg", -10.0, 10.0, 0.0, "flow direction relative to phi = 0"),
)

_HETERODYNE = (
    _p("D0_ref", "Å²/s^(1+alpha_ref)", 1e2, 1e6, 1e4, "reference transport prefactor"),
    _p("alpha_ref", "1", -2.0, 2.0, 0.0, "reference transport exponent"),
    _p("D_offset_ref", "Å²/s", -1e5, 1e5, 0.0, "reference transport offset"),
    _p("D0_sample", "Å²/s^(1+alpha_sample)", 1e2, 1e6, 1e4, "sample transport prefactor"),
    _p("alpha_sample", "1", -2.0, 2.0, 0.0, "sample transport exponent"),
    _p("D_offset_sample", "Å²/s", -1e5, 1e5, 0.0, "sample transport offset"),
    _p("v0", "Å/s^(1+beta)", 1e-6, 1e4, 1e3, "velocity prefactor of v(t) = v0 t^beta + v_offset"),
    _p("beta", "1", -2.0, 2.0, 0.0, "velocity exponent"),
    _p("v_offset", "Å/s", -100.0, 100.0, 0.0, "velocity offset"),
    _p("f0", "1", 0.0, 1.0, 0.5, "sample fraction amplitude (field amplitude)"),
    _p("f1", "s⁻¹", -10.0, 10.0, 0.0, "sample fraction rate"),
    _p("f2", "s", -1e4, 1e4, 0.0, "sample fraction time shift (degenerate with f0)"),
    _p("f3", "1", 0.0, 1.0, 0.0, "sample fraction baseline"),
    _p("phi0", "deg", -10.0, 10.0, 0.0, "flow direction (added to phi)"),
)

_BY_NAME_HOMO = {p.name: p for p in _HOMODYNE}

#: Physics parameters of each model, in the order of the model's parameter vector.
MODELS: Mapping[str, tuple[Parameter, ...]] = MappingProxyType(
    {
        "static": tuple(_BY_NAME_HOMO[n] for n in ("D0", "alpha", "D_offset")),
        "laminar_flow": _HOMODYNE,
        "heterodyne": _HETERODYNE,
    }
)


def _check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {list(MODELS)}")


def physics_names(model: str) -> tuple[str, ...]:
    """Names of the physics parameters of ``model``, in vector order."""
    _check_model(model)
    return tuple(p.name for p in MODELS[model])


def parameters(model: str) -> dict[str, Parameter]:
    """Physics parameters of ``model`` followed by the scaling ones, by name."""
    _check_model(model)
    out = {p.name: p for p in MODELS[model]}
    out.update(SCALING)
    return out


def get(model: str, name: str) -> Parameter:
    """One parameter of ``model`` (physics or scaling) by name."""
    table = parameters(model)
    if name not in table:
        raise KeyError(f"model {model!r} has no parameter {name!r}; it has {list(table)}")
    return table[name]
