"""The fit set-up: scaling mode, bounds, starts, fixed and freed parameters — built and checked once.

A :class:`FitSpec` holds what a user says about a fit, independent of the data and of the
engine: both engines (NLSQ, CMC) and the independent per-q loop take the same spec to
:func:`~xpcsnb.fit.problem.build_problem`. Its constructor checks everything that does
not need the data (forms, finiteness, conflicts); :meth:`FitSpec.fixed_for` checks the
names and fixed values against a model's registry; :func:`~xpcsnb.fit.problem.build_problem`
checks the rest against the data (scaling-parameter names, one value per angle).

Names are the result's parameter names: physics names of the registry (``"D0"``,
``"phi0"``) and scaling names (``"contrast_1"``, ``"offset"``, ``"contrast_q0_1"``, see
``xpcsnb.models.scaling``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import xarray as xr

from ..core.errors import XpcsError
from ..models import get_model
from ..models.base import Model
from ..models.scaling import SCALING_MODES
from .result import nlsq_var

__all__ = ["FitSpec", "as_spec"]

Scaling = float | tuple[float, ...] | tuple[tuple[float, ...], ...]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


def _number(value: Any) -> bool:
    """A real scalar (Python or NumPy, also a 0-d array), not a bool or a string."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or np.ndim(value) != 0 or np.iscomplexobj(value):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _names(what: str, mapping: Any) -> Mapping[str, Any]:
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise XpcsError(f"{what}= must be a dict {{name: ...}}, got {type(mapping).__name__} {mapping!r}")
    bad = [k for k in mapping if not isinstance(k, str)]
    if bad:
        raise XpcsError(f"{what}= keys must be parameter names (str), got {bad}")
    return mapping


def _pair(name: str, value: Any) -> tuple[float, float]:
    """``(lower, upper)`` as floats; anything else (a scalar, three values, lower >= upper) is refused."""
    form = f"bounds[{name!r}] must be a pair (lower, upper) of finite numbers with lower < upper, got {value!r}"
    items: list[Any] | None = None
    if isinstance(value, np.ndarray):
        items = value.tolist() if value.ndim == 1 else None
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
    if items is not None and len(items) != 2:
        raise XpcsError(f"{form} ({len(items)} values)")
    if items is None or not all(_number(v) for v in items):
        raise XpcsError(form)
    lo, hi = float(items[0]), float(items[1])
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise XpcsError(form)
    return lo, hi


def _finite(what: str, name: str, value: Any) -> float:
    if not _number(value) or not np.isfinite(float(value)):
        raise XpcsError(f"{what} of {name!r} must be a finite number, got {value!r}")
    return float(value)


def _scaling_values(name: str, value: Any) -> Scaling | None:
    """A fixed contrast/offset as a float or nested tuples (immutable), checked finite."""
    if value is None:
        return None
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise XpcsError(f"{name}= must be a number, one per angle, or (multi-q) an array (n_q, n_phi); "
                        f"got {value!r}") from None
    if a.ndim > 2 or a.size == 0:
        raise XpcsError(f"{name}= must be a number, one per angle, or (multi-q) an array (n_q, n_phi); "
                        f"got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise XpcsError(f"{name} must be finite, got {a.tolist()}")
    if a.ndim == 0:
        return float(a)
    if a.ndim == 1:
        return tuple(float(v) for v in a)
    return tuple(tuple(float(v) for v in row) for row in a)


@dataclass(frozen=True)
class FitSpec:
    """What a fit may vary and where: validated on construction, immutable.

    Parameters
    ----------
    scaling : {"individual", "shared", "fixed"}
        Per-angle contrast/offset mode (``xpcsnb.models.scaling``); ``"fixed"`` needs
        ``contrast`` and ``offset``.
    bounds : dict, optional
        ``{name: (lower, upper)}`` overriding registry bounds; each value a pair of finite
        numbers with lower < upper, in the parameter's unit.
    initial : dict, optional
        ``{name: value}`` starting values overriding the registry's (physics) or the data
        quantiles (scaling).
    fixed : dict, optional
        Physics parameters held at given values, e.g. ``{"beta": 0.0}``; also sets the
        value of a default-fixed parameter (``{"f2": 1.0}``). A value must lie inside the
        parameter's registry bounds.
    free : sequence of str, optional
        Default-fixed parameters to fit anyway (e.g. ``["f2"]`` for heterodyne).
    contrast, offset : float or sequence, optional
        Values [1] for ``scaling="fixed"``: a scalar, one per angle, or (multi-q) an array
        (n_q, n_phi).

    Raises
    ------
    XpcsError
        (a ValueError) naming the parameter and the expected form, for a malformed
        bound, a non-finite value, a name both fixed and free, a bound or start for a
        fixed parameter, an unknown scaling mode, or contrast/offset missing with (or
        given without) ``scaling="fixed"``.
    """

    scaling: str = "individual"
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=_empty)
    initial: Mapping[str, float] = field(default_factory=_empty)
    fixed: Mapping[str, float] = field(default_factory=_empty)
    free: tuple[str, ...] = ()
    contrast: Scaling | None = None
    offset: Scaling | None = None

    def __post_init__(self) -> None:
        if self.scaling not in SCALING_MODES:
            raise XpcsError(f"unknown scaling {self.scaling!r}; choose from {SCALING_MODES}")
        bounds = {n: _pair(n, v) for n, v in _names("bounds", self.bounds).items()}
        initial = {n: _finite("initial value", n, v) for n, v in _names("initial", self.initial).items()}
        fixed = {n: _finite("fixed value", n, v) for n, v in _names("fixed", self.fixed).items()}
        free = self.free
        if isinstance(free, (str, bytes, Mapping)) or not hasattr(free, "__iter__") \
                or not all(isinstance(n, str) for n in free):
            raise XpcsError(f"free= must be a list of parameter names, e.g. free=['f2'], got {free!r}")
        free = tuple(free)
        both = sorted(set(fixed) & set(free))
        if both:
            raise XpcsError(f"{both} are both in fixed= and free=; a parameter is either held or fitted")
        for name in list(bounds) + list(initial):
            if name in fixed:
                raise XpcsError(f"{name!r} is fixed; it takes no bounds or initial value (drop it from fixed= "
                                "to fit it)")
        for name, v in initial.items():
            if name in bounds and not bounds[name][0] <= v <= bounds[name][1]:
                raise XpcsError(f"initial value of {name!r} = {v} is outside its bounds "
                                f"[{bounds[name][0]}, {bounds[name][1]}]")
        contrast = _scaling_values("contrast", self.contrast)
        offset = _scaling_values("offset", self.offset)
        if self.scaling == "fixed":
            if contrast is None or offset is None:
                raise XpcsError("scaling='fixed' needs contrast= and offset= (scalar or one per angle)")
        elif contrast is not None or offset is not None:
            raise XpcsError("contrast=/offset= are only used with scaling='fixed'; use initial= to set start values")
        for attr, value in (("bounds", MappingProxyType(bounds)), ("initial", MappingProxyType(initial)),
                            ("fixed", MappingProxyType(fixed)), ("free", free), ("contrast", contrast),
                            ("offset", offset)):
            object.__setattr__(self, attr, value)

    @classmethod
    def create(
        cls,
        *,
        scaling: str | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        initial: Mapping[str, float] | None = None,
        fixed: Mapping[str, float] | None = None,
        free: Sequence[str] | None = None,
        contrast: float | Sequence[float] | np.ndarray | None = None,
        offset: float | Sequence[float] | np.ndarray | None = None,
    ) -> "FitSpec":
        """A spec from keywords as :func:`~xpcsnb.fit.nlsq.fit_nlsq` takes them (None = default)."""
        return cls(scaling="individual" if scaling is None else scaling, bounds=bounds or {},
                   initial=initial or {}, fixed=fixed or {}, free=() if free is None else free,
                   contrast=contrast, offset=offset)

    @classmethod
    def from_nlsq(cls, result: xr.Dataset) -> "FitSpec":
        """The set-up of a previous NLSQ fit, to refit from its solution.

        Scaling mode (and fixed contrast/offset) as in ``result``; every free parameter
        gets its bounds and starts at its best-fit value; every held physics parameter
        stays fixed at its value; default-fixed parameters that were fitted are freed.

        Parameters
        ----------
        result : xarray.Dataset
            A single fit's NLSQ result (for a per-q result select one q first,
            ``result.isel(q=a)``).
        """
        var = nlsq_var(result)
        coef = result[f"{var}_nlsq_coefficients"]
        if coef.ndim != 1:
            raise XpcsError(f"this result holds several fits (dims {coef.dims}); select one first, "
                            "e.g. FitSpec.from_nlsq(res.isel(q=0))")
        if "model" not in result.attrs or "scaling" not in result.attrs:
            raise XpcsError("this NLSQ result has no 'model'/'scaling' attributes: it was not written by xpcsnb")
        mdl = get_model(str(result.attrs["model"]))
        phys = set(mdl.parameter_names)
        names = [str(n) for n in result["param"].values]
        vary = result[f"{var}_nlsq_vary"].values.astype(bool)
        lo, hi = result[f"{var}_nlsq_lower"].values, result[f"{var}_nlsq_upper"].values
        values = coef.values
        scaling = str(result.attrs["scaling"])
        contrast = offset = None
        if scaling == "fixed":
            if "contrast_fixed" not in result or "offset_fixed" not in result:
                raise XpcsError("a scaling='fixed' result needs 'contrast_fixed' and 'offset_fixed' variables")
            contrast, offset = result["contrast_fixed"].values, result["offset_fixed"].values
        return cls(
            scaling=scaling,
            bounds={n: (float(a), float(b)) for n, a, b, f in zip(names, lo, hi, vary) if f},
            initial={n: float(v) for n, v, f in zip(names, values, vary) if f},
            fixed={n: float(v) for n, v, f in zip(names, values, vary) if not f and n in phys},
            free=tuple(n for n, f in zip(names, vary) if f and n in mdl.default_fixed),
            contrast=contrast,
            offset=offset,
        )

    def fixed_for(self, model: Model) -> dict[str, float]:
        """The physics parameters held fixed in a fit of ``model``, checked against its registry.

        The user's ``fixed`` values plus the model's default-fixed ones not released by
        ``free``.

        Raises
        ------
        XpcsError
            For a name in ``fixed``/``free`` that is not a physics parameter of the model,
            a fixed value outside the parameter's registry bounds, or a bound or start for
            a default-fixed parameter that is not freed.
        """
        table = {p.name: p for p in model.parameters}
        names = list(table)
        for name in list(self.fixed) + list(self.free):
            if name not in table:
                raise XpcsError(f"unknown physics parameter {name!r}: model {model.name!r} has {names}")
        for name, v in self.fixed.items():
            p = table[name]
            if not p.lower <= v <= p.upper:
                raise XpcsError(f"fixed value of {name!r} = {v} [{p.unit}] is outside its bounds "
                                f"[{p.lower}, {p.upper}]; hold it at a value inside them")
        out = {n: float(v) for n, v in model.default_fixed.items() if n not in self.free}
        out.update(self.fixed)
        for name in list(self.bounds) + list(self.initial):
            if name in out:
                raise XpcsError(f"{name!r} is fixed by default for model {model.name!r}; it takes no bounds or "
                                f"initial value (pass free=[{name!r}] to fit it)")
        return out

    def select_q(self, a: int) -> "FitSpec":
        """The spec of q index ``a`` alone: a fixed (n_q, n_phi) contrast/offset reduced to row ``a``."""
        def row(value: Scaling | None) -> Scaling | None:
            return value[a] if value is not None and np.ndim(value) == 2 else value  # type: ignore[index]

        return replace(self, contrast=row(self.contrast), offset=row(self.offset))


def as_spec(spec: FitSpec | None = None, **keywords: Any) -> FitSpec:
    """``spec`` itself, or a :class:`FitSpec` made from the keywords; never both.

    ``keywords`` are the :meth:`FitSpec.create` keywords; None values count as not given.

    Raises
    ------
    XpcsError
        If ``spec`` is given together with any keyword, or is not a FitSpec.
    """
    given = sorted(k for k, v in keywords.items() if v is not None)
    if spec is None:
        return FitSpec.create(**keywords)
    if not isinstance(spec, FitSpec):
        raise XpcsError(f"spec= must be an xpcsnb.fit.FitSpec, got {type(spec).__name__}")
    if given:
        raise XpcsError(f"pass either spec= or the set-up keywords {given}, not both "
                        "(e.g. dataclasses.replace(spec, bounds=...) changes a spec)")
    return spec
