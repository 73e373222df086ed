"""``FitPanel``: an ipywidgets dashboard to look at C2, edit the fit set-up, fit, and read the result.

Layout (top to bottom): a header; the data viewer (:class:`~xpcsnb.widgets.c2view.C2View`)
and, after a fit, the residual viewer (data − model, same angle, signed colour scale);
the parameter editor (:class:`~xpcsnb.widgets.editor.ParameterEditor`); the buttons
(Fit, Start from result, Reset); a progress bar and status line; the solver's own
progress output; the result table (the result's ``_repr_html_``).

The fit runs :func:`xpcsnb.fit.nlsq.fit_nlsq` in the kernel thread: the button is
disabled and the bar shows the stage while it runs (widget updates reach the page as
they are made), and the result is available as :attr:`FitPanel.result` when the click
handler returns, so ``panel.fit_button.click()`` is a synchronous fit.
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as widgets
import numpy as np
import xarray as xr

from ..fit.nlsq import fit_nlsq
from ..fit.result import FitReport, nlsq_name
from ..core.twotime import validate_twotime, q_value
from ..models import get_model
from .c2view import C2View
from .editor import ParameterEditor

__all__ = ["FitPanel", "explore", "residual"]

_OK, _WARN, _ERR = "#1a7f37", "#9a6700", "#cf222e"
#: The fitted variable (results are named ``c2_nlsq_*``).
_VAR = "c2"


def residual(ds: xr.Dataset, res: xr.Dataset) -> xr.DataArray:
    """``c2 − c2_model`` (phi, t1, t2) of a fit made with ``return_model=True`` (unweighted)."""
    if "c2_model" not in res:
        raise ValueError("the result has no c2_model: fit with return_model=True")
    out = ds["c2"] - res["c2_model"].transpose(*ds["c2"].dims)
    out.name = "residual"
    out.attrs = {"long_name": "residual: data − model", "units": ds["c2"].attrs.get("units", "1")}
    return out


def _status(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


class FitPanel(widgets.VBox):
    """Dashboard: C2 viewer, bounds/initial/fixed editor, Fit button, result and residuals.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (:func:`xpcsnb.twotime`) with dims (phi, t1, t2); for a multi-q
        Dataset select one q first (``ds.isel(q=0)``, keeping ``q`` as attribute).
    model : str
        Registry model name (``"static"``, ``"laminar_flow"``, ``"heterodyne"``).
    n_starts, seed, max_nfev
        Passed to :func:`~xpcsnb.fit.nlsq.fit_nlsq`.
    progress : bool
        Show the solver's tqdm bar (over its starts) in the panel.
    size : int
        On-screen edge of each C2 image [CSS px].

    Attributes
    ----------
    result : xarray.Dataset or None
        The last fit's NLSQ result Dataset (with ``c2_model`` and ``c2_residual``), None before a fit
        and after a fit that raised.
    error : str
        Message of the last fit that raised (empty otherwise).
    viewer, residual_view : C2View
        Data view and residual view (``residual_view`` is None until the first fit).
    editor : ParameterEditor
    fit_button : ipywidgets.Button
    """

    def __init__(
        self,
        ds: xr.Dataset,
        model: str = "laminar_flow",
        *,
        n_starts: int | None = None,
        seed: int | None = 0,
        max_nfev: int | None = None,
        progress: bool = True,
        size: int = 340,
        **kwargs: Any,
    ) -> None:
        validate_twotime(ds)
        if "q" in ds["c2"].dims:
            raise ValueError("FitPanel fits one q at a time; select one first, e.g. "
                             "ds.isel(q=0).drop_vars('q').assign_attrs(q=float(ds.q[0]))")
        mdl = get_model(model)
        if mdl.needs_L and ds.attrs.get("L") is None:
            raise ValueError(f"model {mdl.name!r} needs the gap L [Å] in ds.attrs['L']")
        self._ds = ds
        self.model = mdl.name
        self._fit_kwargs = {"n_starts": n_starts, "seed": seed, "max_nfev": max_nfev, "progress": progress}
        self._result: xr.Dataset | None = None
        self.error = ""

        n_phi, n = ds.sizes["phi"], ds.sizes["t1"]
        q = q_value(ds) if "q" not in ds["c2"].dims else None
        self.header = widgets.HTML(
            f"<b>xpcsnb fit panel</b> — model <code>{self.model}</code>, {n_phi} angle(s) × {n}² frames"
            + (f", q = {q:.4g} 1/Å" if q is not None else ""))
        self.viewer = C2View(ds, title="C2 data", size=size)
        self.residual_view: C2View | None = None
        self._views = widgets.HBox([self.viewer], layout=widgets.Layout(flex_flow="row wrap"))
        self.editor = ParameterEditor(self.model, n_phi)

        self.fit_button = widgets.Button(description="Fit", button_style="primary", icon="play",
                                         tooltip="run fit_nlsq with these settings")
        self.fit_button.add_class("xpcsnb-fit-button")
        self.use_result_button = widgets.Button(description="Start from result", disabled=True,
                                                tooltip="copy the fitted values into 'initial'")
        self.reset_button = widgets.Button(description="Reset", tooltip="registry defaults")
        self.progress = widgets.IntProgress(value=0, min=0, max=3, description="idle",
                                            layout=widgets.Layout(width="320px"))
        self.status = widgets.HTML("")
        self.status.add_class("xpcsnb-fit-status")
        self.solver_output = widgets.Output()
        self.result_html = widgets.HTML("")
        self.result_html.add_class("xpcsnb-fit-result")

        self.fit_button.on_click(self._on_fit)
        self.use_result_button.on_click(self._on_use_result)
        self.reset_button.on_click(lambda _: self.editor.reset())
        self.editor.observe(self._on_valid, names="valid")
        self._on_valid(None)

        buttons = widgets.HBox([self.fit_button, self.use_result_button, self.reset_button])
        super().__init__([self.header, self._views, self.editor, buttons,
                          widgets.HBox([self.progress, self.status]), self.solver_output, self.result_html], **kwargs)
        self.add_class("xpcsnb-fit-panel")

    # ------------------------------------------------------------------ public
    @property
    def result(self) -> xr.Dataset | None:
        """The last fit result (None before a fit or after one that raised)."""
        return self._result

    def fit(self) -> xr.Dataset | None:
        """Run the fit with the editor's settings; update the views; return the result.

        A fit that raises (invalid settings, non-finite residuals, ...) sets ``result``
        to None and shows the message in the status line (also in :attr:`error`).
        """
        self.error = ""
        try:
            options = self.editor.fit_options()
        except ValueError as exc:
            return self._fail(str(exc), stage="invalid settings")
        self._busy(True)
        t0 = time.perf_counter()
        try:
            self.solver_output.clear_output()
            with self.solver_output:
                res = fit_nlsq(self._ds, self.model, **options, **self._fit_kwargs, return_model=True)
            self._advance(2, "updating views")
            self._show(res, time.perf_counter() - t0)
        except Exception as exc:  # shown in the panel: a click handler's exception is otherwise invisible
            return self._fail(f"{type(exc).__name__}: {exc}", stage="fit raised")
        finally:
            self._busy(False)
        return res

    # ------------------------------------------------------------------ internals
    def _on_fit(self, _button: widgets.Button) -> None:
        self.fit()

    def _on_use_result(self, _button: widgets.Button) -> None:
        if self._result is None:
            return
        free = self._result[nlsq_name(_VAR, "vary")].values
        names = [str(n) for n in self._result["param"].values]
        values = {n: float(v) for n, v, f in zip(names, self._result[nlsq_name(_VAR, "coefficients")].values, free)
                  if f and n in self.editor.rows and self.editor.rows[n].initial is not None}
        self.editor.set_initial(values)

    def _on_valid(self, _change: Any) -> None:
        self.fit_button.disabled = not self.editor.valid
        if not self.editor.valid:
            self.status.value = _status("fix the highlighted parameters to fit", _ERR)
        elif self.progress.description == "idle":
            self.status.value = ""

    def _advance(self, step: int, what: str) -> None:
        self.progress.value = step
        self.progress.description = what if len(what) < 14 else what[:13] + "…"
        self.progress.tooltip = what

    def _busy(self, on: bool) -> None:
        self.fit_button.disabled = on or not self.editor.valid
        self.fit_button.description = "Fitting…" if on else "Fit"
        self.reset_button.disabled = on
        if on:
            self.use_result_button.disabled = True
            self.progress.bar_style = "info"
            self._advance(1, "fitting")
            self.status.value = _status(
                f"fitting {self.model} (the first fit of a model compiles it: allow ~10–30 s) …", _WARN)
        else:
            self.use_result_button.disabled = self._result is None

    def _fail(self, message: str, *, stage: str) -> None:
        self._result = None
        self.error = message
        self.progress.bar_style = "danger"
        self._advance(self.progress.max, stage)
        self.status.value = _status(message, _ERR)
        self.result_html.value = ""
        return None

    def _show(self, res: xr.Dataset, elapsed: float) -> None:
        self._result = res
        resid = residual(self._ds, res)
        if self.residual_view is None:
            self.residual_view = C2View(resid, symmetric=True, title="residual: data − model",
                                        size=self.viewer.size)
            self.residual_view.phi_index = self.viewer.phi_index
            self._phi_link = widgets.link((self.viewer, "phi_index"), (self.residual_view, "phi_index"))
            self._views.children = (self.viewer, self.residual_view)
        else:
            self.residual_view.set_data(resid, symmetric=True, title="residual: data − model")
        self.result_html.value = FitReport(res)._repr_html_()
        ok = bool(res[nlsq_name(_VAR, "success")])
        self.progress.bar_style = "success" if ok else "warning"
        self._advance(3, "done" if ok else "not converged")
        chi2 = float(res[nlsq_name(_VAR, "chi2_red")])
        self.status.value = _status(
            f"fit {'succeeded' if ok else 'did not succeed'} in {elapsed:.1f} s: χ²_red = {chi2:.4g}; "
            f"rms residual off the diagonal = {_offdiag_rms(resid.values):.3g}", _OK if ok else _WARN)


def _offdiag_rms(r: np.ndarray) -> float:
    """Root mean square of (phi, N, N) values off the diagonal t1 = t2 (which the fit leaves out)."""
    off = ~np.eye(r.shape[-1], dtype=bool)
    return float(np.sqrt(np.mean(r[:, off] ** 2)))


def explore(ds: xr.Dataset, model: str | None = None, **kwargs: Any) -> FitPanel:
    """A :class:`FitPanel` for ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (one q).
    model : str, optional
        Model to fit; default ``"laminar_flow"`` when ``ds.attrs`` has the gap ``L``,
        otherwise ``"static"``.
    **kwargs
        Passed to :class:`FitPanel`.
    """
    if model is None:
        model = "laminar_flow" if ds.attrs.get("L") is not None else "static"
    return FitPanel(ds, model, **kwargs)
