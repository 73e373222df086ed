"""``ParameterEditor``: bounds / initial value / fixed editor generated from a model's parameters.

One row per physics parameter of the model (``Model.parameters`` order) and one per scaling
parameter (``contrast``, ``offset``: their bounds apply to every angle; their start is
taken from the data by the fit). Each row validates itself as it is edited and shows
its error inline:

* every number is finite;
* a free parameter has ``lower < upper`` and ``lower ≤ initial ≤ upper`` (the rule of
  :func:`xpcsnb.fit.problem.build_problem`; equality is allowed because some default
  starts sit on a bound, e.g. heterodyne ``f3 = 0`` in [0, 1]);
* a fixed parameter only needs a finite value (its bounds are not used).

:meth:`ParameterEditor.fit_options` turns the rows into the ``bounds=``, ``initial=``,
``fixed=`` and ``free=`` arguments of :func:`xpcsnb.fit.nlsq.fit_nlsq`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from ..models import get_model
from ..models.base import Model
from ..models.parameters import SCALING, Parameter
from ..models.scaling import parse_scaling_name, scaling_names

__all__ = ["ParameterEditor", "ParameterRow", "validate_row"]

_COLUMNS = "150px 120px 120px 120px 56px 150px minmax(160px, 1fr)"
_ERROR_STYLE = "color:#cf222e"


def validate_row(initial: float | None, lower: float, upper: float, fixed: bool) -> str:
    """The error message of one editor row, or ``""`` when it is valid.

    Parameters
    ----------
    initial : float or None
        Start value (the held value when ``fixed``); None for a data-based start.
    lower, upper : float
        Bounds (ignored when ``fixed``).
    fixed : bool
        Whether the parameter is held at ``initial``.
    """
    if initial is not None and not math.isfinite(initial):
        return f"{'value' if fixed else 'initial'} must be finite, got {initial}"
    if fixed:
        return ""
    for name, v in (("lower", lower), ("upper", upper)):
        if not math.isfinite(v):
            return f"{name} bound must be finite, got {v}"
    if not lower < upper:
        return f"lower ({lower:g}) must be < upper ({upper:g})"
    if initial is not None and not lower <= initial <= upper:
        side = "below lower" if initial < lower else "above upper"
        return f"initial {initial:g} is {side} bound [{lower:g}, {upper:g}]"
    return ""


@dataclass
class ParameterRow:
    """The widgets of one editor row; ``initial`` and ``fixed`` are None for scaling rows."""

    name: str
    unit: str
    description: str
    initial: widgets.FloatText | None
    lower: widgets.FloatText
    upper: widgets.FloatText
    fixed: widgets.Checkbox | None
    error: widgets.HTML

    def cells(self) -> list[widgets.Widget]:
        """The row's widgets in column order (name, initial, lower, upper, fixed, unit, error)."""
        label = widgets.HTML(f"<span title='{html.escape(self.description, quote=True)}'>"
                             f"<b>{html.escape(self.name)}</b></span>")
        start = self.initial if self.initial is not None else widgets.HTML("<i>from data</i>")
        fix = self.fixed if self.fixed is not None else widgets.HTML("")
        return [label, start, self.lower, self.upper, fix, widgets.HTML(html.escape(self.unit)), self.error]

    def check(self) -> str:
        """Validate the row, show the message inline, return it (``""`` when valid)."""
        fixed = bool(self.fixed.value) if self.fixed is not None else False
        initial = float(self.initial.value) if self.initial is not None else None
        msg = validate_row(initial, float(self.lower.value), float(self.upper.value), fixed)
        self.error.value = f"<span style='{_ERROR_STYLE}'>{html.escape(msg)}</span>" if msg else ""
        self.lower.disabled = self.upper.disabled = fixed
        return msg


def _number(value: float, **layout: Any) -> widgets.FloatText:
    return widgets.FloatText(value=value, layout=widgets.Layout(width="115px", **layout))


class ParameterEditor(widgets.VBox):
    """Editor of the fit's bounds, initial values and fixed parameters for one model.

    Parameters
    ----------
    model : str or Model
        Registered model name or a Model object.
    n_phi : int
        Number of angles of the data (the scaling bounds are expanded per angle).

    Attributes
    ----------
    model : str
        The model's name.
    rows : dict of str to ParameterRow
        The rows by parameter name (physics parameters, then ``contrast``, ``offset``).
    valid : bool
        Whether every row is valid (observable trait).
    """

    valid = traitlets.Bool(True)

    def __init__(self, model: str | Model, n_phi: int = 1, **kwargs: Any) -> None:
        mdl = get_model(model)
        self.model = mdl.name
        if isinstance(n_phi, bool) or not isinstance(n_phi, (int, np.integer)) or n_phi < 1:
            raise ValueError(f"n_phi must be an integer >= 1 (the number of angles of the data), got {n_phi!r}")
        self.n_phi = int(n_phi)
        self._physics: tuple[Parameter, ...] = mdl.parameters
        self._default_fixed = dict(mdl.default_fixed)
        self.rows: dict[str, ParameterRow] = {}
        for p in self._physics:
            is_fixed = p.name in self._default_fixed
            start = self._default_fixed.get(p.name, p.initial)
            self.rows[p.name] = ParameterRow(
                p.name, p.unit, p.description, _number(start), _number(p.lower), _number(p.upper),
                widgets.Checkbox(value=is_fixed, indent=False, layout=widgets.Layout(width="50px")),
                widgets.HTML(""))
        for p in SCALING.values():
            self.rows[p.name] = ParameterRow(p.name, p.unit, p.description + " (bounds for every angle)",
                                             None, _number(p.lower), _number(p.upper), None, widgets.HTML(""))
        head = [widgets.HTML(f"<b>{h}</b>") for h in ("parameter", "initial", "lower", "upper", "fixed",
                                                       "unit", "")]
        cells = head + [c for row in self.rows.values() for c in row.cells()]
        grid = widgets.GridBox(cells, layout=widgets.Layout(grid_template_columns=_COLUMNS,
                                                            grid_gap="2px 6px", align_items="center"))
        grid.add_class("xpcsnb-parameter-editor")
        super().__init__([grid], **kwargs)
        for row in self.rows.values():
            for w in (row.initial, row.lower, row.upper, row.fixed):
                if w is not None:
                    w.observe(self._on_edit, names="value")
        self.check()

    def _on_edit(self, change: Any) -> None:
        self.check()

    def check(self) -> dict[str, str]:
        """Validate every row; return ``{name: message}`` of the invalid ones (also shown inline)."""
        errors = {name: msg for name, row in self.rows.items() if (msg := row.check())}
        self.valid = not errors
        return errors

    def reset(self) -> None:
        """Back to the model's defaults."""
        for p in list(self._physics) + list(SCALING.values()):
            row = self.rows[p.name]
            row.lower.value, row.upper.value = p.lower, p.upper
            if row.initial is not None:
                row.initial.value = self._default_fixed.get(p.name, p.initial)
            if row.fixed is not None:
                row.fixed.value = p.name in self._default_fixed
        self.check()

    def set_initial(self, values: Mapping[str, float]) -> None:
        """Set start values of physics parameters (e.g. from a previous fit); unknown names raise."""
        unknown = sorted(n for n in values if n not in self.rows or self.rows[n].initial is None)
        if unknown:
            physics = [n for n, r in self.rows.items() if r.initial is not None]
            raise KeyError(f"no physics parameter {unknown} in model {self.model!r}; it has {physics}")
        for name, v in values.items():
            self.rows[name].initial.value = float(v)  # type: ignore[union-attr]
        self.check()

    def fit_options(self) -> dict[str, Any]:
        """``bounds``, ``initial``, ``fixed`` and ``free`` for :func:`xpcsnb.fit.nlsq.fit_nlsq`.

        Raises
        ------
        ValueError
            Naming every invalid row.
        """
        errors = self.check()
        if errors:
            raise ValueError("invalid parameters: " + "; ".join(f"{n}: {m}" for n, m in errors.items()))
        bounds: dict[str, tuple[float, float]] = {}
        initial: dict[str, float] = {}
        fixed: dict[str, float] = {}
        free: list[str] = []
        for p in self._physics:
            row = self.rows[p.name]
            value = float(row.initial.value)  # type: ignore[union-attr]
            if row.fixed.value:  # type: ignore[union-attr]
                fixed[p.name] = value
                continue
            if p.name in self._default_fixed:
                free.append(p.name)
            bounds[p.name] = (float(row.lower.value), float(row.upper.value))
            initial[p.name] = value
        for name in scaling_names("individual", self.n_phi):
            row = self.rows[parse_scaling_name(name).base]  # type: ignore[union-attr]
            bounds[name] = (float(row.lower.value), float(row.upper.value))
        return {"bounds": bounds, "initial": initial, "fixed": fixed, "free": free}
