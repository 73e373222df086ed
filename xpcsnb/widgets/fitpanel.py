"""``FitPanel``: the workbench — look at C2, set up and run a fit without blocking the kernel, read the result.

Layout: a header; a control bar (model, scaling, ``n_starts``, q and φ selectors; Fit,
Cancel, Start from result, Reset; progress and status) that stays visible; three tabs:

``Data``
    the C2 viewer (:class:`~xpcsnb.widgets.c2view.C2View`) and the lag-averaged g2(τ);
``Fit``
    the parameter editor (:class:`~xpcsnb.widgets.editor.ParameterEditor`, per-angle
    contrast/offset rows with bounds and fixing) and the result table
    (:func:`~xpcsnb.widgets.table.result_table_html`: parameters at a bound and relative
    errors > 100 % flagged, collapsible correlation matrix with |r| > 0.95 marked) and
    CSV/JSON downloads of the parameters;
``Diagnostics``
    data | model | residual (weighted by ``sigma`` when the data have it) side by side,
    on one angle (linked), and g2(τ) of data and model.

The fit (:func:`xpcsnb.fit.nlsq.fit_nlsq`) runs in a worker thread: the kernel stays
responsive (other cells and widget events run during the fit). A click while a fit runs
is ignored (one fit at a time). **Cancel** discards the running fit at once and returns
the panel to idle; the solver's current computation cannot be interrupted inside XLA, so
it finishes in the background and Fit is enabled again when it has stopped (the status
says so). After an edit, Reset, or a change of model/scaling/q/φ the shown result is
marked "out of date" (:attr:`FitPanel.stale`). :meth:`FitPanel.wait` joins the worker
(used by scripts and tests: ``panel.fit_button.click(); panel.wait()``).
"""

from __future__ import annotations

import base64
import html
import threading
import time
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
import xarray as xr

from ..core.twotime import q_value, validate_twotime
from ..fit.nlsq import fit_nlsq
from ..fit.result import nlsq_name
from ..models import get_model, model_names
from .c2view import C2View
from .cuts import g2_svg, lag_average
from .editor import ParameterEditor
from .table import flag_parameters, parameters_csv, parameters_json, result_table_html

__all__ = ["FitPanel", "explore", "residual"]

_OK, _WARN, _ERR = "#1a7f37", "#9a6700", "#cf222e"
_VAR = "c2"
_STALE = " — out of date (settings changed since this fit)"


def residual(ds: xr.Dataset, res: xr.Dataset, *, weighted: bool = False) -> xr.DataArray:
    """``c2 − c2_model`` (phi, t1, t2) of a fit made with ``return_model=True``; ``weighted``: divided by ``sigma``."""
    if "c2_model" not in res:
        raise ValueError("the result has no c2_model: fit with return_model=True")
    out = ds["c2"] - res["c2_model"].transpose(*ds["c2"].dims)
    label, unit = "residual: data − model", ds["c2"].attrs.get("units", "1")
    if weighted:
        if "sigma" not in ds:
            raise ValueError("the Dataset has no sigma to weight the residual with; use weighted=False")
        out = out / ds["sigma"].transpose(*ds["c2"].dims)
        label, unit = "weighted residual: (data − model)/σ", "1"
    out.name = "residual"
    out.attrs = {"long_name": label, "units": unit}
    return out


def _status(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def _download(text: str, name: str, mime: str) -> str:
    data = base64.b64encode(text.encode()).decode()
    return (f"<a download='{name}' href='data:{mime};base64,{data}' class='xpcsnb-download' "
            f"style='margin-right:1em'>⬇ {name}</a>")


class FitPanel(widgets.VBox):
    """The workbench: C2 viewer, fit set-up, non-blocking NLSQ fit, flagged result table, diagnostics.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (:func:`xpcsnb.twotime`) with dims (phi, t1, t2), or (q, phi,
        t1, t2): a q selector then picks the q that is shown and fitted.
    model : str
        Registry model name; models that need the gap ``L`` are offered only when
        ``ds.attrs["L"]`` is set.
    n_starts, seed, max_nfev
        Passed to :func:`~xpcsnb.fit.nlsq.fit_nlsq` (``n_starts`` also in the panel).
    scaling : {"individual", "shared"}
        Contrast/offset per angle or shared (also in the panel).
    per_angle : bool
        One contrast and one offset row per angle in the editor (bounds, start, fixing).
    size : int
        Largest on-screen edge of each C2 image [CSS px] (the views shrink with the window).

    Attributes
    ----------
    result : xarray.Dataset or None
        The last fit's result (with ``c2_model``), None before a fit, after one that
        raised, and after a cancelled one.
    stale : bool
        The shown result no longer matches the settings.
    error : str
        Message of the last fit that raised (empty otherwise).
    ignored_clicks : int
        Fit clicks ignored because a fit was running.
    """

    stale = traitlets.Bool(False)
    running = traitlets.Bool(False)

    def __init__(self, ds: xr.Dataset, model: str = "laminar_flow", *, n_starts: int | None = None,
                 seed: int | None = 0, max_nfev: int | None = None, scaling: str = "individual",
                 per_angle: bool = False, progress: bool = False, size: int = 340, **kwargs: Any) -> None:
        validate_twotime(ds)
        mdl = get_model(model)
        if mdl.needs_L and ds.attrs.get("L") is None:
            raise ValueError(f"model {mdl.name!r} needs the gap L [Å] in ds.attrs['L']")
        del progress  # the solver's console bar is not shown: the panel has its own status
        self._full = ds
        self._fit_kwargs = {"seed": seed, "max_nfev": max_nfev}
        self._result: xr.Dataset | None = None
        self._fitted_on: xr.Dataset | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._token: object | None = None
        self.error = ""
        self.ignored_clicks = 0
        super().__init__(**kwargs)

        allowed = [m for m in model_names() if not get_model(m).needs_L or ds.attrs.get("L") is not None]
        self.model_select = widgets.Dropdown(options=allowed, value=mdl.name, description="model",
                                             layout=widgets.Layout(width="auto"))
        self.scaling_select = widgets.Dropdown(options=["individual", "shared"], value=scaling,
                                               description="scaling", layout=widgets.Layout(width="auto"))
        self.per_angle = widgets.Checkbox(value=per_angle, description="per-angle rows", indent=False,
                                          layout=widgets.Layout(width="auto"))
        if n_starts is not None and (isinstance(n_starts, bool) or not isinstance(n_starts, (int, np.integer))
                                     or n_starts < 1):
            raise ValueError(f"n_starts must be None (automatic) or an integer >= 1, got {n_starts!r}")
        starts = sorted({1, 2, 4, 8, 16} | ({int(n_starts)} if n_starts else set()))
        self.n_starts = widgets.Dropdown(options=[("auto", 0)] + [(str(k), k) for k in starts], value=n_starts or 0,
                                         description="starts", layout=widgets.Layout(width="auto"))
        q_opts = [(f"q = {float(q):.4g} 1/Å", k) for k, q in enumerate(np.atleast_1d(ds["q"].values))] \
            if "q" in ds["c2"].dims else [("q = " + f"{q_value(ds):.4g} 1/Å", 0)]
        self.q_select = widgets.Dropdown(options=q_opts, value=0, description="q",
                                         disabled=len(q_opts) < 2, layout=widgets.Layout(width="auto"))
        self.phi_select = widgets.SelectMultiple(
            options=[(f"φ = {float(p):g}°", k) for k, p in enumerate(ds["phi"].values)],
            value=tuple(range(ds.sizes["phi"])), description="fit angles", rows=min(4, ds.sizes["phi"]),
            layout=widgets.Layout(width="auto"))

        self.fit_button = widgets.Button(description="Fit", button_style="primary", icon="play",
                                         tooltip="run fit_nlsq with these settings (in the background)")
        self.fit_button.add_class("xpcsnb-fit-button")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            tooltip="discard the running fit")
        self.cancel_button.add_class("xpcsnb-cancel-button")
        self.use_result_button = widgets.Button(description="Start from result", disabled=True,
                                                tooltip="copy the fitted values into 'initial'")
        self.reset_button = widgets.Button(description="Reset", tooltip="registry defaults")
        self.progress = widgets.IntProgress(value=0, min=0, max=3, description="idle",
                                            layout=widgets.Layout(width="260px"))
        self.status = widgets.HTML("", layout=widgets.Layout(flex="1 1 20em"))
        self.status.add_class("xpcsnb-fit-status")

        data = self._data()
        self.header = widgets.HTML("")
        self.viewer = C2View(data, title="C2 data", size=size)
        self.data_g2 = widgets.HTML("")
        self.model_view: C2View | None = None
        self.residual_view: C2View | None = None
        self._views = widgets.HBox([], layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        self.fit_g2 = widgets.HTML("")
        self.result_html = widgets.HTML("")
        self.result_html.add_class("xpcsnb-fit-result")
        self.exports = widgets.HTML("")
        self.editor = self._make_editor()
        self._editor_box = widgets.Box([self.editor], layout=widgets.Layout(width="100%"))

        data_tab = widgets.VBox([widgets.HBox([self.viewer, self.data_g2],
                                              layout=widgets.Layout(flex_flow="row wrap"))])
        fit_tab = widgets.VBox([self._editor_box, self.result_html, self.exports])
        diag_tab = widgets.VBox([self._views, self.fit_g2])
        self.tabs = widgets.Tab([data_tab, fit_tab, diag_tab], layout=widgets.Layout(width="100%"))
        for k, name in enumerate(("Data", "Fit", "Diagnostics")):
            self.tabs.set_title(k, name)
        self.tabs.selected_index = 1
        selectors = widgets.HBox([self.model_select, self.scaling_select, self.per_angle, self.n_starts,
                                  self.q_select, self.phi_select],
                                 layout=widgets.Layout(flex_flow="row wrap", align_items="center", width="100%"))
        buttons = widgets.HBox([self.fit_button, self.cancel_button, self.use_result_button, self.reset_button,
                                self.progress, self.status],
                               layout=widgets.Layout(flex_flow="row wrap", align_items="center", width="100%"))
        self.children = [self.header, selectors, buttons, self.tabs]
        self.layout.width = "100%"
        self.layout.max_width = "100%"
        self.add_class("xpcsnb-fit-panel")

        self.fit_button.on_click(lambda _: self.fit())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.use_result_button.on_click(self._on_use_result)
        self.reset_button.on_click(lambda _: self.editor.reset())
        for w in (self.model_select, self.scaling_select, self.per_angle, self.phi_select):
            w.observe(self._on_setup, names="value")
        self.q_select.observe(self._on_q, names="value")
        self.n_starts.observe(lambda _: self._mark_stale(), names="value")
        self.viewer.observe(lambda _: self._update_data_g2(), names="phi_index")
        self._update_header()
        self._update_data_g2()
        self._on_valid(None)

    # ------------------------------------------------------------------ public
    @property
    def model(self) -> str:
        """The selected model's name."""
        return str(self.model_select.value)

    @property
    def result(self) -> xr.Dataset | None:
        """The last fit result (None before a fit or after one that raised or was cancelled)."""
        return self._result

    def fit(self, *, wait: bool = False) -> xr.Dataset | None:
        """Start a fit with the panel's settings in a worker thread; a call while one runs is ignored.

        Parameters
        ----------
        wait : bool
            Block until the fit is over and return its result (None when it raised).
        """
        with self._lock:
            if self.running or (self._thread is not None and self._thread.is_alive()):
                self.ignored_clicks += 1
                return None
            self.error = ""
            try:
                options = self.editor.fit_options()
            except ValueError as exc:
                self._fail(str(exc), stage="invalid settings")
                return None
            data = self._fit_data()
            token = object()
            self._token = token
            kwargs = dict(self._fit_kwargs, n_starts=self.n_starts.value or None)
            self._thread = threading.Thread(target=self._work, args=(token, data, self.model, options, kwargs),
                                            name="xpcsnb-fit", daemon=True)
            self._busy(True)
            self._thread.start()
        if wait:
            self.wait()
            return self._result
        return None

    def wait(self, timeout: float | None = None) -> xr.Dataset | None:
        """Wait for the running fit (if any) to end; return :attr:`result`.

        Raises
        ------
        TimeoutError
            When the fit is still running after ``timeout`` seconds.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the fit is still running after {timeout} s")
        return self._result

    def cancel(self) -> None:
        """Discard the running fit now (its computation ends in the background; Fit waits for it)."""
        with self._lock:
            if not self.running:
                return
            self._token = None
            self.running = False
            self.cancel_button.disabled = True
            self.progress.bar_style = "warning"
            self._advance(self.progress.max, "cancelled")
            self.status.value = _status("cancelled: the result will be discarded; the solver is finishing its "
                                        "current step in the background, Fit is enabled when it has stopped", _WARN)
            self.fit_button.description = "stopping…"

    # ------------------------------------------------------------------ worker
    def _work(self, token: object, data: xr.Dataset, model: str, options: dict[str, Any],
              kwargs: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        try:
            res, err = fit_nlsq(data, model, **options, **kwargs, return_model=True), ""
        except Exception as exc:  # shown in the panel: a worker's exception is otherwise invisible
            res, err = None, f"{type(exc).__name__}: {exc}"
        with self._lock:
            current = token is self._token
            self._token = None
        try:
            if not current:  # cancelled
                self.status.value = _status("the cancelled fit has stopped; its result was discarded", _WARN)
            elif err:
                self._fail(err, stage="fit raised")
            else:
                self._advance(2, "updating views")
                self._show(res, data, time.perf_counter() - t0)
        except Exception as exc:  # keep the panel usable even if drawing fails
            self._fail(f"{type(exc).__name__}: {exc}", stage="display failed")
        finally:
            self._thread = None
            self._busy(False)

    # ------------------------------------------------------------------ internals
    def _data(self) -> xr.Dataset:
        ds = self._full
        if "q" in ds["c2"].dims:
            k = self.q_select.value if hasattr(self, "q_select") else 0
            q = float(ds["q"].values[k])
            ds = ds.isel(q=k).drop_vars("q").assign_attrs(q=q)
        return ds

    def _fit_data(self) -> xr.Dataset:
        return self._data().isel(phi=list(self.phi_select.value))

    def _make_editor(self) -> ParameterEditor:
        ed = ParameterEditor(self.model, max(1, len(self.phi_select.value)), scaling=self.scaling_select.value,
                             per_angle=self.per_angle.value)
        ed.observe(self._on_valid, names="valid")
        ed.observe(lambda _: self._mark_stale(), names="version")
        return ed

    def _on_setup(self, _change: Any) -> None:
        if not self.phi_select.value:
            self.status.value = _status("pick at least one angle to fit", _ERR)
            self.fit_button.disabled = True
            return
        self.editor = self._make_editor()
        self._editor_box.children = [self.editor]
        self._update_header()
        self._mark_stale()
        self._on_valid(None)

    def _on_q(self, _change: Any) -> None:
        self.viewer.set_data(self._data(), title="C2 data")
        self._update_header()
        self._update_data_g2()
        self._mark_stale()

    def _update_header(self) -> None:
        d = self._data()
        self.header.value = (f"<b>xpcsnb workbench</b> — model <code>{self.model}</code>, "
                             f"{len(self.phi_select.value)} of {d.sizes['phi']} angle(s) fitted, "
                             f"{d.sizes['t1']}² frames, q = {q_value(d):.4g} 1/Å")

    def _update_data_g2(self) -> None:
        d = self._data()
        k = self.viewer.phi_index
        tau, g2 = lag_average(d["c2"].values[k], d["t1"].values)
        self.data_g2.value = g2_svg(tau, g2, title=f"lag-averaged g₂, φ = {float(d['phi'][k]):g}°")

    def _mark_stale(self) -> None:
        if self._result is None or self.stale:
            return
        self.stale = True
        self.result_html.value = result_table_html(self._result, stale=True)
        for v in (self.model_view, self.residual_view):
            if v is not None and not v.title.endswith(_STALE):
                v.title = v.title + _STALE
        if not self.running:
            self.status.value = _status("⚠ out of date: the settings changed after the shown fit; fit again", _WARN)

    def _on_use_result(self, _button: widgets.Button) -> None:
        if self._result is None:
            return
        res = self._result
        names = [str(n) for n in res["param"].values]
        vals = res[nlsq_name(_VAR, "coefficients")].values
        free = res[nlsq_name(_VAR, "vary")].values
        values = {n: float(v) for n, v, f in zip(names, vals, free)
                  if f and n in self.editor.rows and not (self.editor.rows[n].fixed and self.editor.rows[n].fixed.value)}
        self.editor.set_initial(values)

    def _on_valid(self, _change: Any) -> None:
        self.fit_button.disabled = self.running or not self.editor.valid or self._thread is not None
        if not self.editor.valid:
            self.status.value = _status("fix the parameters highlighted in red to fit", _ERR)
        elif self.progress.description == "idle":
            self.status.value = ""

    def _advance(self, step: int, what: str) -> None:
        self.progress.value = step
        self.progress.description = what if len(what) < 14 else what[:13] + "…"

    def _busy(self, on: bool) -> None:
        self.running = on
        self.fit_button.disabled = on or not self.editor.valid or self._thread is not None
        self.fit_button.description = "Fitting…" if on else ("stopping…" if self._thread is not None else "Fit")
        self.cancel_button.disabled = not on
        self.reset_button.disabled = on
        if on:
            self.use_result_button.disabled = True
            self.progress.bar_style = "info"
            self._advance(1, "fitting")
            self.status.value = _status(f"fitting {self.model} in the background (the first fit of a model "
                                        "compiles it: allow ~10–30 s); the notebook stays usable …", _WARN)
        else:
            self.use_result_button.disabled = self._result is None

    def _fail(self, message: str, *, stage: str) -> None:
        self._result = None
        self.error = message
        self.progress.bar_style = "danger"
        self._advance(self.progress.max, stage)
        self.status.value = _status(message, _ERR)
        self.result_html.value = ""
        self.exports.value = ""

    def _show(self, res: xr.Dataset, data: xr.Dataset, elapsed: float) -> None:
        self._result, self._fitted_on, self.stale = res, data, False
        weighted = "sigma" in data
        resid = residual(data, res, weighted=weighted)
        model_map = res["c2_model"].transpose(*data["c2"].dims).rename("c2_model")
        rtitle = resid.attrs["long_name"]
        if self.residual_view is None:
            size = self.viewer.size
            self.model_view = C2View(model_map, title="model", size=size)
            self.residual_view = C2View(resid, symmetric=True, title=rtitle, size=size)
            self._fit_viewer = C2View(data, title="C2 data (fitted angles)", size=size)
            for v in (self.model_view, self.residual_view):
                widgets.link((self._fit_viewer, "phi_index"), (v, "phi_index"))
            self._fit_viewer.observe(lambda _: self._update_fit_g2(), names="phi_index")
            for v in (self._fit_viewer, self.model_view, self.residual_view):  # side by side when wide enough
                v.layout = widgets.Layout(flex="1 1 300px", max_width=f"{size + 200}px")
            self._views.children = (self._fit_viewer, self.model_view, self.residual_view)
        else:
            self._fit_viewer.set_data(data, title="C2 data (fitted angles)")
            self.model_view.set_data(model_map, title="model")  # type: ignore[union-attr]
            self.residual_view.set_data(resid, symmetric=True, title=rtitle)
        self._update_fit_g2()
        flags = flag_parameters(res)
        self.editor.highlight([n for n in flags if n in self.editor.rows])
        self.result_html.value = result_table_html(res)
        self.exports.value = (_download(parameters_csv(res), "parameters.csv", "text/csv")
                              + _download(parameters_json(res), "parameters.json", "application/json"))
        ok = bool(res[nlsq_name(_VAR, "success")])
        self.progress.bar_style = "success" if ok else "warning"
        self._advance(3, "done" if ok else "not converged")
        chi2 = float(res[nlsq_name(_VAR, "chi2_red")])
        flag_note = f"; {len(flags)} parameter(s) flagged (see the table)" if flags else ""
        self.status.value = _status(
            f"fit {'succeeded' if ok else 'did not succeed'} in {elapsed:.1f} s: χ²_red = {chi2:.4g}; "
            f"rms residual off the diagonal = {_offdiag_rms(resid.values):.3g}{flag_note}",
            _OK if ok and not flags else _WARN)

    def _update_fit_g2(self) -> None:
        if self._result is None or self._fitted_on is None:
            return
        k = self._fit_viewer.phi_index
        d = self._fitted_on
        tau, g2 = lag_average(d["c2"].values[k], d["t1"].values)
        m = self._result["c2_model"].transpose(*d["c2"].dims).values[k]
        self.fit_g2.value = g2_svg(tau, g2, lag_average(m, d["t1"].values)[1],
                                   title=f"g₂ data and fit, φ = {float(d['phi'][k]):g}°")


def _offdiag_rms(r: np.ndarray) -> float:
    """Root mean square of (phi, N, N) values off the diagonal t1 = t2 (which the fit leaves out)."""
    off = ~np.eye(r.shape[-1], dtype=bool)
    return float(np.sqrt(np.nanmean(r[:, off] ** 2)))


def explore(ds: xr.Dataset, model: str | None = None, **kwargs: Any) -> FitPanel:
    """The workbench (:class:`FitPanel`) for ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (one q or several: the panel has a q selector).
    model : str, optional
        Model to fit; default ``"laminar_flow"`` when ``ds.attrs`` has the gap ``L``,
        otherwise ``"static"``.
    **kwargs
        Passed to :class:`FitPanel`.
    """
    if model is None:
        model = "laminar_flow" if ds.attrs.get("L") is not None else "static"
    return FitPanel(ds, model, **kwargs)
