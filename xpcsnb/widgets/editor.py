"""``ParameterEditor``: bounds / initial value / fixed editor generated from a model's parameters.

One row per physics parameter of the model (``Model.parameters`` order), then the
scaling rows: with ``scaling="shared"`` one ``contrast`` and one ``offset`` row whose
bounds apply to every angle; with ``scaling="individual"`` (per angle) one row per angle
and quantity (``contrast_0``, ``offset_0``, ...). A scaling start left empty is taken
from the data by the fit. Each row validates itself on every keystroke and shows its
error inline; the offending box is highlighted (red border) and its text is kept, so an
empty or half-typed number (``"1e"``) is an error to fix, never a silent revert:

* every number parses and is finite;
* a free parameter has ``lower < upper`` and ``lower ≤ initial ≤ upper`` (the rule of
  :func:`xpcsnb.fit.problem.build_problem`; equality is allowed because some default
  starts sit on a bound, e.g. heterodyne ``f3 = 0`` in [0, 1]);
* a fixed parameter only needs a finite value (its bounds are not used);
* the engines hold contrast/offset for every angle or for none (``scaling="fixed"``): a
  fixed scaling row needs every scaling row fixed.

The grid is fluid (CSS grid with ``minmax`` columns inside a horizontally scrolling box),
so at 1024 px nothing is cut off. Units are text units, as in the reports
(:func:`xpcsnb.core.units.pretty_unit`: ``Å²/s^(1+alpha)`` → ``Å²·s⁻¹⁻ᵅ``).
:meth:`ParameterEditor.fit_options` turns the rows into the ``scaling=``, ``bounds=``,
``initial=``, ``fixed=``, ``free=`` (and ``contrast=``/``offset=``) arguments of :func:`xpcsnb.fit.nlsq.fit_nlsq`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets

from ..core.units import pretty_unit
from ..models import get_model
from ..models.base import Model
from ..models.parameters import SCALING, Parameter
from ..models.scaling import parse_scaling_name, scaling_names

__all__ = ["NumberText", "ParameterEditor", "ParameterRow", "parse_number", "validate_row"]

_COLUMNS = ("minmax(6.5em, max-content) repeat(3, minmax(5.5em, 9em)) 3.2em "
            "minmax(4em, max-content) minmax(9em, 1fr)")
_ERROR_STYLE = "color:#cf222e"
#: CSS of the editor (an HTML widget carries it, so it works in every front end).
EDITOR_CSS = """<style>
.xpcsnb-parameter-editor { width: 100%; box-sizing: border-box; overflow-x: auto; }
.xpcsnb-parameter-editor .widget-text { width: 100%; min-width: 5em; margin: 0; }
.xpcsnb-parameter-editor .widget-text input { min-width: 0; }
.xpcsnb-invalid input, input.xpcsnb-invalid { border: 2px solid #cf222e !important; background: #ffebe9 !important; }
.xpcsnb-highlight { background: #fff8c5; border-radius: 3px; outline: 2px solid #d4a72c; }
.xpcsnb-row-error { color: #cf222e; white-space: normal; overflow-wrap: anywhere; }
</style>"""

def parse_number(text: str) -> float:
    """Parse a typed number (``"1e3"``, ``" -0.5 "``, ``"inf"``); raise ValueError naming the text."""
    s = str(text).strip().replace("−", "-")
    if not s:
        raise ValueError("empty: type a number")
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"{text!r} is not a number (e.g. 1.5, -2, 1e-3)") from None


def _fmt(v: float) -> str:
    return format(float(v), ".12g")


class _NumberString(traitlets.Unicode):
    """A Unicode trait that also takes numbers (formatted with 12 significant digits)."""

    def validate(self, obj: Any, value: Any) -> str:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            value = _fmt(value)
        return super().validate(obj, value)


class NumberText(widgets.Text):
    """A text box for a number that keeps whatever is typed; :attr:`number` parses it.

    ``value`` is the text (numbers assigned to it are formatted); an empty or invalid
    text stays in the box and is reported by the editor instead of being reverted.
    """

    value = _NumberString("", help="the typed text").tag(sync=True)

    @property
    def number(self) -> float:
        """The parsed value (ValueError for an empty or invalid text)."""
        return parse_number(self.value)

    @number.setter
    def number(self, v: float) -> None:
        self.value = _fmt(v)


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
        return "" if initial is not None else "a fixed parameter needs a value"
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
    """The widgets of one editor row; ``fixed`` is None for scaling rows of a shared scaling.

    ``initial`` of a scaling row may be left empty (start from the data).
    """

    name: str
    unit: str
    description: str
    initial: NumberText
    lower: NumberText
    upper: NumberText
    fixed: widgets.Checkbox | None
    error: widgets.HTML
    optional_start: bool = False

    def __post_init__(self) -> None:
        self.label = widgets.HTML(f"<span title='{html.escape(self.description, quote=True)}'>"
                                  f"<b>{html.escape(self.name)}</b></span>")

    def cells(self) -> list[widgets.Widget]:
        """The row's widgets in column order (name, initial, lower, upper, fixed, unit, error)."""
        fix = self.fixed if self.fixed is not None else widgets.HTML("")
        return [self.label, self.initial, self.lower, self.upper, fix,
                widgets.HTML(html.escape(pretty_unit(self.unit))), self.error]

    def check(self) -> str:
        """Validate the row, show the message inline, highlight bad boxes; return it (``""`` if valid)."""
        fixed = bool(self.fixed.value) if self.fixed is not None else False
        bad: list[NumberText] = []
        msgs: list[str] = []
        numbers: dict[str, float | None] = {}
        for key, box in (("initial", self.initial), ("lower", self.lower), ("upper", self.upper)):
            if key == "initial" and self.optional_start and not fixed and not box.value.strip():
                numbers[key] = None
                continue
            if key != "initial" and fixed:
                numbers[key] = math.nan
                continue
            try:
                numbers[key] = box.number
            except ValueError as exc:
                bad.append(box)
                msgs.append(f"{'value' if key == 'initial' and fixed else key}: {exc}")
        if not msgs:
            msg = validate_row(numbers["initial"], numbers["lower"], numbers["upper"], fixed)  # type: ignore[arg-type]
            if msg:
                msgs.append(msg)
                bad.extend(_culprits(msg, self))
        msg = "; ".join(msgs)
        self.show(msg, bad)
        self.lower.disabled = self.upper.disabled = fixed
        return msg

    def show(self, msg: str, bad: Iterable[NumberText] = ()) -> None:
        """Show ``msg`` inline and highlight ``bad`` boxes (the others are cleared)."""
        self.error.value = f"<span class='xpcsnb-row-error' style='{_ERROR_STYLE}'>{html.escape(msg)}</span>" \
            if msg else ""
        bad = list(bad)
        for box in (self.initial, self.lower, self.upper):
            if any(box is b for b in bad):
                box.add_class("xpcsnb-invalid")
            else:
                box.remove_class("xpcsnb-invalid")


def _culprits(msg: str, row: ParameterRow) -> list[NumberText]:
    if msg.startswith("lower ("):
        return [row.lower, row.upper]
    if "bound must be finite" in msg:
        return [row.lower if msg.startswith("lower") else row.upper]
    return [row.initial]


def _number(value: float | None) -> NumberText:
    box = NumberText(value="" if value is None else _fmt(value), continuous_update=True,
                     layout=widgets.Layout(width="100%"))
    return box


class ParameterEditor(widgets.VBox):
    """Editor of the fit's bounds, initial values and fixed parameters for one model.

    Parameters
    ----------
    model : str or Model
        Registered model name or a Model object.
    n_phi : int
        Number of angles of the data (the scaling bounds are expanded per angle).
    scaling : {"individual", "shared"}
        Contrast/offset per angle or one pair for all angles (fixing every scaling row
        gives ``scaling="fixed"``).
    per_angle : bool
        With ``scaling="individual"``: one row per angle (``contrast_0``, ...) instead
        of one row whose bounds apply to every angle.

    Attributes
    ----------
    model : str
        The model's name.
    rows : dict of str to ParameterRow
        The rows by parameter name (physics parameters, then the scaling rows).
    valid : bool
        Whether every row is valid (observable trait).
    version : int
        Incremented at every edit (observe it to mark results out of date).
    """

    valid = traitlets.Bool(True)
    version = traitlets.Int(0)

    def __init__(self, model: str | Model, n_phi: int = 1, *, scaling: str = "individual",
                 per_angle: bool = False, **kwargs: Any) -> None:
        mdl = get_model(model)
        self.model = mdl.name
        if isinstance(n_phi, bool) or not isinstance(n_phi, (int, np.integer)) or n_phi < 1:
            raise ValueError(f"n_phi must be an integer >= 1 (the number of angles of the data), got {n_phi!r}")
        if scaling not in ("individual", "shared"):
            raise ValueError(f"scaling must be 'individual' or 'shared' (fix every scaling row for 'fixed'), "
                             f"got {scaling!r}")
        self.n_phi = int(n_phi)
        self.scaling = scaling
        self.per_angle = bool(per_angle) and scaling == "individual"
        self._physics: tuple[Parameter, ...] = mdl.parameters
        self._default_fixed = dict(mdl.default_fixed)
        self.rows: dict[str, ParameterRow] = {}
        for p in self._physics:
            is_fixed = p.name in self._default_fixed
            start = self._default_fixed.get(p.name, p.initial)
            self.rows[p.name] = ParameterRow(
                p.name, p.unit, p.description, _number(start), _number(p.lower), _number(p.upper),
                widgets.Checkbox(value=is_fixed, indent=False, layout=widgets.Layout(width="auto")),
                widgets.HTML(""))
        for p in SCALING.values():
            names = [n for n in scaling_names("individual", self.n_phi) if n.startswith(p.name)] \
                if self.per_angle else [p.name]
            for name in names:
                what = (f" (angle {parse_scaling_name(name).angle_index})" if self.per_angle
                        else " (bounds for every angle)")
                self.rows[name] = ParameterRow(
                    name, p.unit, p.description + what + "; empty start: from the data", _number(None),
                    _number(p.lower), _number(p.upper),
                    widgets.Checkbox(value=False, indent=False, layout=widgets.Layout(width="auto")),
                    widgets.HTML(""), optional_start=True)
        head = [widgets.HTML(f"<b>{h}</b>") for h in ("parameter", "initial", "lower", "upper", "fixed",
                                                       "unit", "")]
        cells = head + [c for row in self.rows.values() for c in row.cells()]
        self.grid = widgets.GridBox(cells, layout=widgets.Layout(
            grid_template_columns=_COLUMNS, grid_gap="2px 6px", align_items="center", width="100%",
            overflow="auto hidden"))
        self.grid.add_class("xpcsnb-parameter-editor")
        self.message = widgets.HTML("")
        super().__init__([widgets.HTML(EDITOR_CSS), self.grid, self.message],
                         layout=kwargs.pop("layout", widgets.Layout(width="100%", max_width="100%")), **kwargs)
        for row in self.rows.values():
            for w in (row.initial, row.lower, row.upper, row.fixed):
                if w is not None:
                    w.observe(self._on_edit, names="value")
        self.check()

    def _on_edit(self, change: Any) -> None:
        self.check()
        self.version += 1

    def _scaling_rows(self) -> list[ParameterRow]:
        return [r for n, r in self.rows.items() if parse_scaling_name(n) is not None]

    def check(self) -> dict[str, str]:
        """Validate every row; return ``{name: message}`` of the invalid ones (shown inline, highlighted)."""
        errors = {name: msg for name, row in self.rows.items() if (msg := row.check())}
        scaling = self._scaling_rows()
        n_fixed = sum(bool(r.fixed.value) for r in scaling if r.fixed is not None)
        if 0 < n_fixed < len(scaling):
            msg = ("contrast/offset are held for every angle or for none: fix every scaling row "
                   "(scaling='fixed') or none")
            for r in scaling:
                if r.fixed is not None and r.fixed.value and r.name not in errors:
                    errors[r.name] = msg
                    r.show(msg, [r.initial])
        self.valid = not errors
        n = len(errors)
        self.message.value = "" if not n else (
            f"<span style='{_ERROR_STYLE}'>{n} parameter(s) need attention (highlighted in red): "
            f"{html.escape(', '.join(errors))}</span>")
        return errors

    def highlight(self, names: Iterable[str]) -> None:
        """Mark the rows ``names`` (e.g. parameters a fit left at a bound); ``[]`` clears the marks."""
        names = set(names)
        unknown = sorted(names - set(self.rows))
        if unknown:
            raise KeyError(f"no rows {unknown}; the editor has {list(self.rows)}")
        for name, row in self.rows.items():
            (row.label.add_class if name in names else row.label.remove_class)("xpcsnb-highlight")

    @property
    def highlighted(self) -> list[str]:
        """Names of the rows marked by :meth:`highlight`."""
        return [n for n, r in self.rows.items() if "xpcsnb-highlight" in r.label._dom_classes]

    def reset(self) -> None:
        """Back to the model's defaults (also clears the highlight marks)."""
        with self.hold_trait_notifications():
            for name, row in self.rows.items():
                p = SCALING[parse_scaling_name(name).base] if parse_scaling_name(name) else \
                    next(q for q in self._physics if q.name == name)
                row.lower.number, row.upper.number = p.lower, p.upper
                if row.optional_start:
                    row.initial.value = ""
                else:
                    row.initial.number = self._default_fixed.get(p.name, p.initial)
                if row.fixed is not None:
                    row.fixed.value = p.name in self._default_fixed
        self.highlight([])
        self.check()
        self.version += 1

    def set_initial(self, values: Mapping[str, float]) -> None:
        """Set start values (physics or scaling rows, e.g. from a previous fit); unknown names raise."""
        unknown = sorted(n for n in values if n not in self.rows)
        if unknown:
            raise KeyError(f"no parameter {unknown} in the editor of model {self.model!r}; it has {list(self.rows)}")
        for name, v in values.items():
            self.rows[name].initial.number = float(v)
        self.check()

    def fit_options(self) -> dict[str, Any]:
        """``scaling``, ``bounds``, ``initial``, ``fixed``, ``free`` (+ ``contrast``/``offset``) for ``fit_nlsq``.

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
            value = row.initial.number
            if row.fixed.value:  # type: ignore[union-attr]
                fixed[p.name] = value
                continue
            if p.name in self._default_fixed:
                free.append(p.name)
            bounds[p.name] = (row.lower.number, row.upper.number)
            initial[p.name] = value
        out: dict[str, Any] = {"scaling": self.scaling, "bounds": bounds, "initial": initial, "fixed": fixed,
                               "free": free}
        scaling = self._scaling_rows()
        if scaling and all(r.fixed is not None and r.fixed.value for r in scaling):
            out["scaling"] = "fixed"
            for base in ("contrast", "offset"):
                vals = [r.initial.number for r in scaling if r.name.startswith(base)]
                out[base] = vals[0] if len(vals) == 1 else vals
            return out
        targets = scaling_names(self.scaling, self.n_phi)
        for name in targets:
            row = self.rows[name] if name in self.rows else self.rows[parse_scaling_name(name).base]  # type: ignore[union-attr]
            bounds[name] = (row.lower.number, row.upper.number)
            if row.initial.value.strip():
                initial[name] = row.initial.number
        return out
