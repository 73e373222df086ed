"""Parameter metadata: :class:`Parameter` (name, unit, bounds, start, prior) and :class:`Prior`.

A model carries its physics parameters (:attr:`xpcsnb.models.base.Model.parameters`);
the per-angle scaling parameters :data:`SCALING` (``contrast``, ``offset``) are shared by
every model. The default prior of every parameter is a normal centred on the middle of
its bounds with a standard deviation of a quarter of their width, truncated to the
bounds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

__all__ = ["PRIOR_KINDS", "Parameter", "Prior", "SCALING"]

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
        Parameter name (also the variable name in results).
    unit : str
        Physical unit ("1" for dimensionless).
    lower, upper : float
        Default bounds, in ``unit``.
    initial : float
        Default starting value of a fit, in ``unit``.
    description : str
        One line for reports and widgets.
    prior : Prior, optional
        Default prior (truncated to the bounds); by default a normal centred on the
        middle of the bounds with sd a quarter of their width.
    """

    name: str
    unit: str
    lower: float
    upper: float
    initial: float
    description: str
    prior: Prior = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a parameter name must be a Python identifier (it names result variables), "
                             f"got {self.name!r}")
        if not self.lower < self.upper:
            raise ValueError(f"{self.name}: lower bound {self.lower} must be < upper bound {self.upper}")
        if not self.lower <= self.initial <= self.upper:
            raise ValueError(f"{self.name}: initial value {self.initial} outside [{self.lower}, {self.upper}]")
        if self.prior is None:
            mid = 0.5 * (self.lower + self.upper)
            object.__setattr__(self, "prior", Prior("truncated_normal", mid, 0.25 * (self.upper - self.lower)))
        elif not isinstance(self.prior, Prior):
            raise TypeError(f"{self.name}: prior must be an xpcsnb.models.Prior, got {type(self.prior).__name__}")

    def with_(self, **changes: object) -> "Parameter":
        """A copy with some fields changed (bounds, initial, prior)."""
        return replace(self, **changes)


#: Per-angle scaling parameters, shared by all models: ``C2 = offset + contrast · signal``.
SCALING: Mapping[str, Parameter] = MappingProxyType(
    {
        "contrast": Parameter("contrast", "1", 0.0, 1.0, 0.5, "speckle contrast (C2 amplitude)"),
        "offset": Parameter("offset", "1", 0.5, 1.5, 1.0, "baseline of C2"),
    }
)
