"""``PriorEditor``: the priors of a CMC fit, one row per free parameter, checked as they are typed.

Each row shows the parameter (name, unit), the prior family (the kinds of
:data:`xpcsnb.models.parameters.PRIOR_KINDS`), its two numbers (their meaning follows
the family: mean/sd, μ/σ of ln x, a/b of the scaled Beta), the bounds the prior is
truncated to (every prior of the engine is truncated to the bounds in use, see
:mod:`xpcsnb.fit.priors`), a small live plot of the truncated density over the bounds,
and a check: the prior must be proper (finite numbers, scale > 0, a family whose
support meets the bounds) and the untruncated family must put mass inside the bounds
(at least :data:`MIN_MASS`), otherwise the truncated prior is numerically meaningless.

``editor.priors`` is ``{name: Prior}``, exactly what
:func:`xpcsnb.fit.cmc.fit_cmc` takes as ``priors=``; it raises while a row is invalid
(the invalid fields are highlighted in place and :attr:`PriorEditor.valid` is False).
Seeded from an NLSQ result, the rows are the result's free parameters (``contrast_0``,
``offset_0``, ... per angle) with truncated normals at the NLSQ values, sd ``width`` ×
the standard error (:func:`xpcsnb.fit.priors.nlsq_prior`), on the result's bounds.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
import xarray as xr

from ..core.units import pretty_unit
from ..fit.priors import NLSQ_PRIOR_WIDTH, BoundedPrior, beta_concentrations, nlsq_prior, prior_distribution
from ..fit.priors import check_prior as _check_prior
from ..models import get_model, registry
from ..models.base import Model
from ..models.parameters import PRIOR_KINDS, Prior
from ..models.scaling import base_name

__all__ = ["MIN_MASS", "PriorEditor", "PriorRow", "prior_mass", "check_prior", "density_svg"]

#: Smallest mass the untruncated prior may put inside the bounds.
MIN_MASS = 1e-6
_BAD_BG = "#ffebe9"
_ERR, _OK, _MUTED = "#cf222e", "#1a7f37", "#57606a"
#: Meaning of (loc, scale) per family; None: not used.
FIELD_LABELS: Mapping[str, tuple[str | None, str | None]] = {
    "truncated_normal": ("mean", "sd"),
    "normal": ("mean", "sd"),
    "uniform": (None, None),
    "lognormal": ("μ of ln x", "σ of ln x"),
    "halfnormal": (None, "scale"),
    "beta_scaled": ("a", "b"),
}


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def prior_mass(prior: Prior, lower: float, upper: float) -> float:
    """Mass the *untruncated* family of ``prior`` puts inside ``[lower, upper]`` (1 for uniform and scaled Beta)."""
    kind, m, s = prior.kind, float(prior.loc), float(prior.scale)
    if kind in ("truncated_normal", "normal"):
        return _phi((upper - m) / s) - _phi((lower - m) / s)
    if kind == "lognormal":
        lo = _phi((math.log(lower) - m) / s) if lower > 0 else 0.0
        return _phi((math.log(upper) - m) / s) - lo
    if kind == "halfnormal":
        return math.erf(upper / (s * math.sqrt(2))) - math.erf(max(lower, 0.0) / (s * math.sqrt(2)))
    return 1.0


def check_prior(prior: Prior, lower: float, upper: float, name: str = "this parameter") -> str:
    """Why ``prior`` on ``[lower, upper]`` cannot be used ("" when it is proper with mass inside the bounds).

    The message of :func:`xpcsnb.fit.priors.check_prior` (the rule ``fit_cmc`` applies).
    """
    try:
        _check_prior(name, prior, lower, upper)
        prior_distribution(prior, lower, upper)
    except ValueError as exc:
        return str(exc)
    return ""


def _grid(lower: float, upper: float, n: int = 81) -> np.ndarray:
    pad = 1e-6 * (upper - lower)
    return np.linspace(lower + pad, upper - pad, n)


def density(prior: Prior, lower: float, upper: float, n: int = 81) -> tuple[np.ndarray, np.ndarray]:
    """``(x, p(x))`` of the truncated prior on a grid over the bounds (NaN where not finite)."""
    import jax.numpy as jnp

    x = _grid(lower, upper, n)
    lp = np.asarray(prior_distribution(prior, lower, upper).log_prob(jnp.asarray(x)), dtype=float)
    return x, np.where(np.isfinite(lp), np.exp(lp), np.nan)


def density_svg(x: np.ndarray, p: np.ndarray, *, mark: float | None = None, width: int = 150,
                height: int = 36) -> str:
    """A small inline SVG of a density curve (filled), with an optional vertical mark (e.g. the NLSQ value)."""
    ok = np.isfinite(p)
    top = float(np.nanmax(p)) if ok.any() else 0.0
    if not top > 0:
        return f"<svg width='{width}' height='{height}'><text x='4' y='{height // 2}' font-size='10'>no density</text></svg>"
    xs = (x - x[0]) / (x[-1] - x[0]) * (width - 2) + 1
    ys = height - 2 - np.where(ok, p, 0.0) / top * (height - 6)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys))
    body = (f"<polygon points='1,{height - 2} {pts} {width - 1},{height - 2}' fill='#54aeff' fill-opacity='0.35' "
            f"stroke='#0969da' stroke-width='1'/>")
    if mark is not None and x[0] <= mark <= x[-1]:
        mx = (mark - x[0]) / (x[-1] - x[0]) * (width - 2) + 1
        body += f"<line x1='{mx:.1f}' x2='{mx:.1f}' y1='0' y2='{height}' stroke='#cf222e' stroke-width='1'/>"
    return (f"<svg class='xpcsnb-prior-density' width='{width}' height='{height}' "
            f"style='background:#f6f8fa'>{body}</svg>")


def _moments(prior: Prior, lower: float, upper: float) -> tuple[float, float]:
    """Mean and sd of the truncated prior (numerically, on the grid); the bounds' middle and width/4 on failure."""
    try:
        x, p = density(prior, lower, upper, 201)
        p = np.nan_to_num(p)
        w = p.sum()
        if w > 0:
            mean = float((x * p).sum() / w)
            return mean, float(np.sqrt(max(((x - mean) ** 2 * p).sum() / w, 0.0)))
    except ValueError:
        pass
    return 0.5 * (lower + upper), 0.25 * (upper - lower)


def convert(prior: Prior, kind: str, lower: float, upper: float) -> Prior:
    """A prior of family ``kind`` with (about) the mean and sd of ``prior`` truncated to the bounds."""
    mean, sd = _moments(prior, lower, upper)
    sd = sd if sd > 0 else 0.25 * (upper - lower)
    if kind in ("truncated_normal", "normal"):
        return Prior(kind, mean, sd)
    if kind == "uniform":
        return Prior("uniform", mean, sd)
    if kind == "halfnormal":
        return Prior("halfnormal", 0.0, max(math.sqrt(mean**2 + sd**2), 1e-12))
    if kind == "lognormal":
        if mean > 0:
            s2 = math.log1p((sd / mean) ** 2)
            return Prior("lognormal", math.log(mean) - 0.5 * s2, math.sqrt(s2))
        return Prior("lognormal", 0.0, 1.0)
    try:
        a, b = beta_concentrations(mean, sd, lower, upper)
    except ValueError:
        a, b = 2.0, 2.0
    return Prior("beta_scaled", a, b)


def _number(text: str) -> float | None:
    try:
        v = float(str(text).strip())
    except ValueError:
        return None
    return v if np.isfinite(v) else None


class PriorRow(widgets.HBox):
    """One parameter's prior: family, numbers, bounds, live density and check (see :class:`PriorEditor`)."""

    def __init__(self, name: str, unit: str, lower: float, upper: float, seed: Prior, source: str,
                 mark: float | None = None) -> None:
        self.name, self.unit = name, unit
        self.lower, self.upper = float(lower), float(upper)
        self.seed, self.seed_source, self.mark = seed, source, mark
        self.source = source
        self.error = ""
        self._prior: Prior | None = seed
        self._busy = False
        unit_txt = f" [{html.escape(pretty_unit(unit))}]" if pretty_unit(unit) else ""
        self.label = widgets.HTML(f"<b>{html.escape(name)}</b>{unit_txt}",
                                  layout=widgets.Layout(width="150px", min_width="110px"))
        self.kind = widgets.Dropdown(options=list(PRIOR_KINDS), value=seed.kind,
                                     layout=widgets.Layout(width="150px"))
        self.loc = widgets.Text(layout=widgets.Layout(width="110px"), continuous_update=True)
        self.scale = widgets.Text(layout=widgets.Layout(width="110px"), continuous_update=True)
        self.loc_label = widgets.HTML(layout=widgets.Layout(width="70px"))
        self.scale_label = widgets.HTML(layout=widgets.Layout(width="70px"))
        self.bounds_label = widgets.HTML(f"<span style='color:{_MUTED}'>on [{self.lower:.4g}, {self.upper:.4g}]"
                                         "</span>", layout=widgets.Layout(width="150px"))
        self.bounds_label.add_class("xpcsnb-prior-bounds")
        self.plot = widgets.HTML(layout=widgets.Layout(width="160px"))
        self.check = widgets.HTML(layout=widgets.Layout(flex="1 1 200px", min_width="160px"))
        self.check.add_class("xpcsnb-prior-check")
        self._fill(seed)
        self.kind.observe(self._on_kind, names="value")
        self.loc.observe(self._on_edit, names="value")
        self.scale.observe(self._on_edit, names="value")
        super().__init__([self.label, self.kind, self.loc_label, self.loc, self.scale_label, self.scale,
                          self.bounds_label, self.plot, self.check],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="center", width="100%"))
        self.add_class("xpcsnb-prior-row")
        self.on_change: Any = None
        self._update()

    # ------------------------------------------------------------------ public
    @property
    def prior(self) -> Prior | None:
        """The row's prior, None while it is invalid (:attr:`error` says why)."""
        return self._prior if not self.error else None

    def set_prior(self, prior: Prior, source: str = "user") -> None:
        """Show ``prior`` in the row."""
        self._busy = True
        try:
            self._fill(prior)
        finally:
            self._busy = False
        self.source = source
        self._update()

    def reset(self) -> None:
        """Back to the seed (NLSQ or registry)."""
        self.set_prior(self.seed, self.seed_source)

    # ------------------------------------------------------------------ internals
    def _fill(self, prior: Prior) -> None:
        self.kind.value = prior.kind
        self.loc.value = f"{prior.loc:.6g}"
        self.scale.value = f"{prior.scale:.6g}"
        self._shown = (prior.kind, self.loc.value, self.scale.value, prior)  # exact numbers behind the text
        self._labels()

    def _labels(self) -> None:
        loc_name, scale_name = FIELD_LABELS[self.kind.value]
        self.loc_label.value = loc_name or "—"
        self.scale_label.value = scale_name or "—"
        self.loc.disabled = loc_name is None
        self.scale.disabled = scale_name is None

    def _on_kind(self, change: dict) -> None:
        if self._busy:
            return
        old = self._prior or self.seed
        new = convert(old, change["new"], self.lower, self.upper)
        self._busy = True
        try:
            self.loc.value = f"{new.loc:.6g}"
            self.scale.value = f"{new.scale:.6g}"
            self._shown = (new.kind, self.loc.value, self.scale.value, new)
            self._labels()
        finally:
            self._busy = False
        self.source = "user"
        self._update()

    def _on_edit(self, _change: dict) -> None:
        if self._busy:
            return
        self.source = "user"
        self._update()

    def _parse(self) -> tuple[Prior | None, str, set[str]]:
        kind = self.kind.value
        loc_name, scale_name = FIELD_LABELS[kind]
        bad: set[str] = set()
        loc = _number(self.loc.value) if loc_name else 0.0
        scale = _number(self.scale.value) if scale_name else 1.0
        if loc is None:
            bad.add("loc")
        if scale is None:
            bad.add("scale")
        if bad:
            which = " and ".join(n for f, n in (("loc", loc_name), ("scale", scale_name)) if f in bad)
            return None, f"{which}: type a finite number", bad
        if kind != "uniform" and not scale > 0:
            return None, f"{scale_name} must be > 0", {"scale"}
        if kind == "beta_scaled" and not loc > 0:
            return None, "a must be > 0", {"loc"}
        shown_kind, shown_loc, shown_scale, shown = self._shown
        if (kind, self.loc.value, self.scale.value) == (shown_kind, shown_loc, shown_scale):
            prior = shown  # the text shows 6 digits of these exact numbers
        else:
            prior = Prior(kind, float(loc), float(scale))
        msg = check_prior(prior, self.lower, self.upper, self.name)
        return prior, msg, ({"loc", "scale"} - {f for f, n in (("loc", loc_name), ("scale", scale_name)) if n is None}
                            if msg else set())

    def _update(self) -> None:
        prior, msg, bad = self._parse()
        self._prior, self.error = prior, msg
        for field in ("loc", "scale"):
            getattr(self, field).style.background = _BAD_BG if field in bad else None
        if msg:
            self.add_class("xpcsnb-prior-invalid")
            self.check.value = f"<span style='color:{_ERR}'>✗ {html.escape(msg)}</span>"
            self.plot.value = ""
        else:
            self.remove_class("xpcsnb-prior-invalid")
            x, p = density(prior, self.lower, self.upper)
            self.plot.value = density_svg(x, p, mark=self.mark)
            mass = prior_mass(prior, self.lower, self.upper)
            self.check.value = (f"<span style='color:{_OK}'>✓ proper; {100 * mass:.3g} % of the untruncated "
                                f"prior inside the bounds</span> <span style='color:{_MUTED}'>({self.source})</span>")
        if self.on_change is not None:
            self.on_change(self)


def _nlsq_rows(nlsq: xr.Dataset) -> tuple[list[str], dict[str, float], dict[str, float], dict[str, tuple]]:
    if not isinstance(nlsq, xr.Dataset) or "c2_nlsq_coefficients" not in nlsq:
        raise ValueError("nlsq= must be an NLSQ result Dataset (from ds.xpcs.fit_nlsq) with 'c2_nlsq_coefficients'")
    if nlsq["c2_nlsq_coefficients"].dims != ("param",):
        raise ValueError("nlsq= holds independent per-q fits; seed the priors with a joint NLSQ fit or one q")
    names = [str(n) for n in nlsq["param"].values]
    vary = nlsq["c2_nlsq_vary"].values if "c2_nlsq_vary" in nlsq else np.ones(len(names), bool)
    coef = nlsq["c2_nlsq_coefficients"].values
    err = nlsq["c2_nlsq_stderr"].values if "c2_nlsq_stderr" in nlsq else np.full(len(names), np.nan)
    free = [n for n, f in zip(names, vary) if f]
    values = {n: float(v) for n, v in zip(names, coef)}
    errors = {n: float(e) for n, e in zip(names, err)}
    bounds: dict[str, tuple] = {}
    if "c2_nlsq_lower" in nlsq:
        bounds = {n: (float(a), float(b)) for n, a, b in zip(names, nlsq["c2_nlsq_lower"].values,
                                                             nlsq["c2_nlsq_upper"].values)}
    return free, values, errors, bounds


class PriorEditor(widgets.VBox):
    """Editor of the CMC priors of ``model``, one row per free parameter.

    Parameters
    ----------
    model : str or Model
        Registered model name or Model object.
    nlsq : xarray.Dataset, optional
        NLSQ result of the same model: its free parameters become the rows, seeded with
        truncated normals at the NLSQ values (sd ``width`` × stderr) on the result's bounds.
    bounds : dict, optional
        ``{name: (lower, upper)}`` overriding the bounds the priors are truncated to
        (the same bounds must then be given to ``fit_cmc``).
    width : float
        Width of NLSQ-seeded priors in standard errors.
    scaling : {"individual", "shared", "fixed"}
        Without ``nlsq``: whether contrast/offset rows are shown (not for "fixed").

    Attributes
    ----------
    rows : dict
        ``{name: PriorRow}``.
    valid : bool
        Whether every row holds a proper prior (trait).
    version : int
        Counter increased on every edit (trait; observe it to mark results out of date).
    """

    valid = traitlets.Bool(True)
    version = traitlets.Int(0)

    def __init__(self, model: str | Model, nlsq: xr.Dataset | None = None, *,
                 bounds: Mapping[str, tuple[float, float]] | None = None, width: float = NLSQ_PRIOR_WIDTH,
                 scaling: str = "individual", **kwargs: Any) -> None:
        self.model = get_model(model)
        if not (np.isfinite(width) and width > 0):
            raise ValueError(f"width (NLSQ prior width in standard errors) must be finite and > 0, got {width}")
        if nlsq is not None and nlsq.attrs.get("model") not in (None, self.model.name):
            raise ValueError(f"nlsq= is a fit of model {nlsq.attrs.get('model')!r}, not {self.model.name!r}")
        bounds = dict(bounds or {})
        values: dict[str, float] = {}
        errors: dict[str, float] = {}
        if nlsq is not None:
            names, values, errors, nlsq_bounds = _nlsq_rows(nlsq)
            bounds = {**nlsq_bounds, **bounds}
        else:
            fixed = set(self.model.default_fixed)
            names = [n for n in self.model.parameter_names if n not in fixed]
            if scaling != "fixed":
                names += ["contrast", "offset"]
        unknown = sorted(set(bounds) - set(names) - {base_name(n) for n in names})
        if unknown:
            raise ValueError(f"bounds given for {unknown}, which are not rows of the editor; rows: {names}")
        self.rows: dict[str, PriorRow] = {}
        for name in names:
            par = registry.get(self.model, base_name(name))
            lo, hi = bounds.get(name, bounds.get(base_name(name), (par.lower, par.upper)))
            err = errors.get(name, np.nan)
            if name in values and np.isfinite(err) and err > 0:
                seed, source = nlsq_prior(values[name], err, lo, hi, width), "nlsq"
            else:
                seed, source = par.prior, "registry"
            row = PriorRow(name, par.unit, lo, hi, seed, source, mark=values.get(name))
            row.on_change = self._on_row
            self.rows[name] = row
        self.reset_button = widgets.Button(description="Reset priors", icon="undo",
                                           tooltip="back to the NLSQ-seeded / registry priors")
        self.reset_button.on_click(lambda _: self.reset())
        source = ("seeded from the NLSQ result; red line: NLSQ value" if nlsq is not None else
                  "registry defaults")
        self.header = widgets.HTML(f"<b>Priors</b> of <code>{html.escape(self.model.name)}</code> ({source}; "
                                   "each truncated to its bounds)")
        self.summary = widgets.HTML("")
        self.summary.add_class("xpcsnb-prior-summary")
        super().__init__([self.header, *self.rows.values(), widgets.HBox([self.reset_button, self.summary])],
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("xpcsnb-prior-editor")
        self._refresh()

    # ------------------------------------------------------------------ public
    @property
    def errors(self) -> dict[str, str]:
        """``{name: message}`` of the invalid rows."""
        return {n: r.error for n, r in self.rows.items() if r.error}

    @property
    def priors(self) -> dict[str, Prior]:
        """``{name: Prior}`` for ``fit_cmc(priors=...)``.

        Raises
        ------
        ValueError
            Naming every invalid row and why, while some row is invalid.
        """
        bad = self.errors
        if bad:
            raise ValueError("fix the highlighted priors first: " + "; ".join(f"{n}: {m}" for n, m in bad.items()))
        return {n: r.prior for n, r in self.rows.items()}  # type: ignore[misc]

    @property
    def bounds(self) -> dict[str, tuple[float, float]]:
        """``{name: (lower, upper)}`` each prior is truncated to."""
        return {n: (r.lower, r.upper) for n, r in self.rows.items()}

    def bounded(self) -> dict[str, BoundedPrior]:
        """``{name: BoundedPrior}`` of the valid rows (for plots of prior against posterior)."""
        return {n: BoundedPrior(r.prior, r.lower, r.upper, r.source) for n, r in self.rows.items()
                if r.prior is not None}

    def set_priors(self, priors: Mapping[str, Prior]) -> None:
        """Set some rows' priors (by row name, or by base name ``"contrast"`` for every angle's row)."""
        targets = {}
        for key, p in priors.items():
            if not isinstance(p, Prior):
                raise TypeError(f"prior of {key!r} must be an xpcsnb.models.Prior, got {type(p).__name__}")
            hit = [n for n in self.rows if n == key or base_name(n) == key]
            if not hit:
                raise ValueError(f"no row {key!r}; rows: {list(self.rows)}")
            targets.update({n: p for n in hit})
        for n, p in targets.items():
            self.rows[n].set_prior(p, "user")

    def reset(self) -> None:
        """Every row back to its seed."""
        for row in self.rows.values():
            row.reset()

    # ------------------------------------------------------------------ internals
    def _on_row(self, _row: PriorRow) -> None:
        if hasattr(self, "summary"):
            self._refresh()
            self.version += 1

    def _refresh(self) -> None:
        bad = self.errors
        self.valid = not bad
        self.summary.value = (f"<span style='color:{_ERR}'>{len(bad)} invalid prior(s): "
                              f"{html.escape(', '.join(bad))}</span>" if bad else
                              f"<span style='color:{_OK}'>{len(self.rows)} proper priors</span>")
