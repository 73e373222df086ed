"""``FitPanel``: the workbench — look at C2, set up and run a fit without blocking the kernel, read the result.

Layout: a header; a control bar (model, scaling, ``n_starts``, q and φ selectors; Fit,
Cancel, Start from result, Reset; progress and status) that stays visible; four tabs:

``Data``
    the C2 viewer (:class:`~xpcsnb.widgets.c2view.C2View`) and the lag-averaged g2(τ);
``Fit``
    the parameter editor (:class:`~xpcsnb.widgets.editor.ParameterEditor`, per-angle
    contrast/offset rows with bounds and fixing) and the result table
    (:func:`~xpcsnb.widgets.table.result_table_html`: parameters at a bound and relative
    errors > 100 % flagged, collapsible correlation matrix with |r| > 0.95 marked) and
    CSV/JSON/NetCDF downloads of the parameters;
``Diagnostics``
    data | model | residual (weighted by ``sigma`` when the data have it) side by side,
    on one angle (linked), and g2(τ) of data and model.
``CMC``
    after an NLSQ fit, :meth:`FitPanel.setup_cmc` (or its button) puts a
    :class:`~xpcsnb.widgets.cmcpanel.CMCPanel` seeded from that result here.

The fit (:func:`xpcsnb.fit.nlsq.fit_nlsq`) runs in a worker process
(:class:`~xpcsnb.widgets.background.BackgroundJob`): the kernel stays responsive (other
cells and widget events run during the fit) and the bar follows the solver's starts. A
click while a fit runs is ignored (one fit at a time). **Cancel** stops the worker
process for real. After an edit, Reset, or a change of model/scaling/starts/q/φ the shown
result is marked "out of date" (:attr:`FitPanel.stale`). :meth:`FitPanel.wait` waits for
the fit and its display (scripts and tests: ``panel.fit_button.click(); panel.wait()``).
:meth:`FitPanel.show_result` shows a result fitted elsewhere (e.g. read with
:func:`~xpcsnb.fit.result.load_nlsq`) as if the panel had fitted it.
Each fit starts a fresh process, so it pays the import and compile time (a few seconds).
"""

from __future__ import annotations

import base64
import html
import tempfile
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import traitlets
import xarray as xr

from ..core.twotime import q_value, validate_twotime
from ..fit.nlsq import fit_nlsq
from ..fit.result import nlsq_name, nlsq_var
from ..models import get_model, model_names
from .background import Bar, BackgroundJob
from .c2view import C2View
from .cuts import g2_svg, lag_average, with_download
from .editor import ParameterEditor
from .table import flag_parameters, parameters_csv, parameters_json, result_table_html, save_parameters

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


def _download(content: str | bytes, name: str, mime: str) -> str:
    data = base64.b64encode(content.encode() if isinstance(content, str) else content).decode()
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
    viewer : C2View
        The data (Data tab).
    fit_viewer, model_view, residual_view : C2View or None
        Data, model and residual of the fitted angles side by side (Diagnostics tab,
        one angle for all three); None before the first result.
    cmc_panel : CMCPanel or None
        The panel :meth:`setup_cmc` put in the CMC tab.
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
        self._pending: xr.Dataset | None = None
        self._displayed = threading.Event()
        self._displayed.set()
        self.job = BackgroundJob(on_progress=self._on_bars, on_done=self._on_done)
        self.error = ""
        self.ignored_clicks = 0
        super().__init__(**kwargs)

        allowed = [m for m in model_names() if get_model(m).kind == "twotime"
                   and (not get_model(m).needs_L or ds.attrs.get("L") is not None)]
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
        q_opts = [(f"q = {float(q):.4g} Å⁻¹", k) for k, q in enumerate(np.atleast_1d(ds["q"].values))] \
            if "q" in ds["c2"].dims else [("q = " + f"{q_value(ds):.4g} Å⁻¹", 0)]
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
        self.fit_viewer: C2View | None = None
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
        self.cmc_button = widgets.Button(description="Set up CMC from this fit", disabled=True, icon="cogs",
                                         tooltip="a CMCPanel seeded from the NLSQ result (priors, scaling)")
        self.cmc_button.add_class("xpcsnb-cmc-setup")
        self.cmc_button.on_click(lambda _: self.setup_cmc())
        self.cmc_panel: Any = None
        self._cmc_box = widgets.VBox([widgets.HTML("Fit with NLSQ first; the CMC panel starts from its result "
                                                  "(priors, parametrisation, scaling)."), self.cmc_button])
        self.tabs = widgets.Tab([data_tab, fit_tab, diag_tab, self._cmc_box], layout=widgets.Layout(width="100%"))
        for k, name in enumerate(("Data", "Fit", "Diagnostics", "CMC")):
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
        """Start a fit with the panel's settings in a worker process; a call while one runs is ignored.

        Parameters
        ----------
        wait : bool
            Block until the fit is over and shown; return its result (None when it
            raised or was cancelled).
        """
        with self._lock:
            if self.running or self.job.running:
                self.ignored_clicks += 1
                return None
            self.error = ""
            try:
                options = self.editor.fit_options()
            except ValueError as exc:
                self._fail(str(exc), stage="invalid settings")
                return None
            data = self.fit_data
            kwargs = dict(self._fit_kwargs, n_starts=self.n_starts.value or None)
            self._pending = data
            self._displayed.clear()
            self._busy(True)
            if not self.job.start(fit_nlsq, data, self.model, **options, **kwargs, return_model=True,
                                  progress=True):
                self.ignored_clicks += 1
                self._displayed.set()
                return None
        if wait:
            return self.wait()
        return None

    @property
    def fit_data(self) -> xr.Dataset:
        """The Dataset a fit starts on: the selected q (a ``q`` attribute) and the selected angles."""
        return self._data().isel(phi=list(self.phi_select.value))

    def show_result(self, res: xr.Dataset) -> None:
        """Show an NLSQ result of :attr:`fit_data` as if the panel had fitted it (table, maps, CMC seed).

        Parameters
        ----------
        res : xarray.Dataset
            A :func:`~xpcsnb.fit.nlsq.fit_nlsq` result of the selected model on
            :attr:`fit_data`, made with ``return_model=True``.

        Raises
        ------
        XpcsError
            If ``res`` is not an NLSQ result.
        ValueError
            If ``res`` has no ``c2_model``, is of another model, or was fitted on other
            angles, or while a fit runs.
        """
        nlsq_var(res)
        if "c2_model" not in res:
            raise ValueError("the result has no c2_model: fit with return_model=True")
        if res.attrs.get("model") != self.model:
            raise ValueError(f"the result is a {res.attrs.get('model')!r} fit but the panel's model is "
                             f"{self.model!r}; select that model first")
        data = self.fit_data
        if res.sizes.get("phi") != data.sizes["phi"] or not np.allclose(res["phi"].values, data["phi"].values):
            raise ValueError(f"the result was fitted on the angles {list(np.asarray(res['phi'].values))} but the "
                             f"panel selects {list(data['phi'].values)}; select those angles first")
        if self.running:
            raise ValueError("a fit is running: wait for it or cancel it first")
        self._show(res, data, float(res.attrs.get("elapsed_s", 0.0)))
        self._busy(False)

    def setup_cmc(self) -> Any:
        """A :class:`~xpcsnb.widgets.cmcpanel.CMCPanel` on the fitted data, seeded from the shown NLSQ result.

        Raises
        ------
        ValueError
            Before a successful NLSQ fit.
        """
        if self._result is None or self._fitted_on is None:
            raise ValueError("fit with NLSQ first: the CMC panel is seeded from its result")
        from .cmcpanel import CMCPanel

        self.cmc_panel = CMCPanel(self._fitted_on, self.model, nlsq=self._result)
        self._cmc_box.children = [self._cmc_box.children[0], self.cmc_button, self.cmc_panel]
        return self.cmc_panel

    def wait(self, timeout: float | None = None) -> xr.Dataset | None:
        """Wait for the running fit (if any) to end and be shown; return :attr:`result`.

        Raises
        ------
        TimeoutError
            When the fit is still running after ``timeout`` seconds.
        """
        if not self._displayed.wait(timeout):
            raise TimeoutError(f"the fit is still running after {timeout} s")
        return self._result

    def cancel(self) -> None:
        """Stop the running fit: its worker process is ended (the panel says when it is gone)."""
        if self.job.cancel():
            self.cancel_button.disabled = True
            self.fit_button.description = "stopping…"
            self.status.value = _status("cancelling: stopping the worker process …", _WARN)

    # ------------------------------------------------------------------ worker
    def _on_bars(self, bars: list[Bar]) -> None:
        for bar in bars:
            if bar.total:
                self.progress.max, self.progress.value = bar.total + 1, min(bar.n + 1, bar.total + 1)
                self.progress.description = f"start {min(bar.n + 1, bar.total)}/{bar.total}"

    def _on_done(self, job: BackgroundJob) -> None:
        try:
            if job.state == "cancelled":
                self.progress.bar_style = "warning"
                self._advance(self.progress.max, "cancelled")
                self.status.value = _status("cancelled: the worker process was stopped; no result", _WARN)
                self.error = "cancelled"
            elif job.state == "failed":
                self._fail(job.error, stage="fit raised")
            else:
                self._advance(self.progress.max - 1, "updating views")
                self._show(job.result, self._pending, job.elapsed)
                if job.warnings:
                    self.status.value += _status(" | warnings: " + "; ".join(job.warnings), _WARN)
        except Exception as exc:  # keep the panel usable even if drawing fails
            self._fail(f"{type(exc).__name__}: {exc}", stage="display failed")
        finally:
            self._busy(False)
            self._displayed.set()

    # ------------------------------------------------------------------ internals
    def _data(self) -> xr.Dataset:
        ds = self._full
        if "q" in ds["c2"].dims:
            k = self.q_select.value if hasattr(self, "q_select") else 0
            q = float(ds["q"].values[k])
            ds = ds.isel(q=k).drop_vars("q").assign_attrs(q=q)
        return ds

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
                             f"{d.sizes['t1']}² frames, q = {q_value(d):.4g} Å⁻¹")

    def _update_data_g2(self) -> None:
        d = self._data()
        k = self.viewer.phi_index
        tau, g2 = lag_average(d["c2"].values[k], d["t1"].values)
        self.data_g2.value = with_download(g2_svg(tau, g2, title=f"lag-averaged g₂, φ = {float(d['phi'][k]):g}°",
                                                  time_unit=str(d["t1"].attrs.get("units", "s"))), "g2_data.svg")

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
        self.fit_button.disabled = self.running or not self.editor.valid
        if not self.editor.valid:
            self.status.value = _status("fix the parameters highlighted in red to fit", _ERR)
        elif self.progress.description == "idle":
            self.status.value = ""

    def _advance(self, step: int, what: str) -> None:
        self.progress.value = step
        self.progress.description = what if len(what) < 14 else what[:13] + "…"

    def _busy(self, on: bool) -> None:
        self.running = on
        self.fit_button.disabled = on or not self.editor.valid
        self.fit_button.description = "Fitting…" if on else "Fit"
        self.cancel_button.disabled = not on
        self.reset_button.disabled = on
        if on:
            self.use_result_button.disabled = True
            self.progress.bar_style = "info"
            self.progress.max = 3
            self._advance(1, "fitting")
            self.status.value = _status(f"fitting {self.model} in the background (a worker process imports and "
                                        "compiles it: allow ~10–30 s); the notebook stays usable …", _WARN)
        else:
            self.use_result_button.disabled = self._result is None
        self.cmc_button.disabled = on or self._result is None

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
            self.fit_viewer = C2View(data, title="C2 data (fitted angles)", size=size)
            for v in (self.model_view, self.residual_view):
                widgets.link((self.fit_viewer, "phi_index"), (v, "phi_index"))
            self.fit_viewer.observe(lambda _: self._update_fit_g2(), names="phi_index")
            for v in (self.fit_viewer, self.model_view, self.residual_view):  # side by side when wide enough
                v.layout = widgets.Layout(flex="1 1 300px", max_width=f"{size + 200}px")
            self._views.children = (self.fit_viewer, self.model_view, self.residual_view)
        else:
            self.fit_viewer.set_data(data, title="C2 data (fitted angles)")  # type: ignore[union-attr]
            self.model_view.set_data(model_map, title="model")  # type: ignore[union-attr]
            self.residual_view.set_data(resid, symmetric=True, title=rtitle)
        self._update_fit_g2()
        flags = flag_parameters(res)
        self.editor.highlight([n for n in flags if n in self.editor.rows])
        self.result_html.value = result_table_html(res)
        self.exports.value = (_download(parameters_csv(res), "parameters.csv", "text/csv")
                              + _download(parameters_json(res), "parameters.json", "application/json")
                              + _download(_netcdf_bytes(res), "parameters.nc", "application/x-netcdf"))
        ok = bool(res[nlsq_name(_VAR, "success")])
        self.progress.bar_style = "success" if ok else "warning"
        self._advance(self.progress.max, "done" if ok else "not converged")
        chi2 = float(res[nlsq_name(_VAR, "chi2_red")])
        flag_note = f"; {len(flags)} parameter(s) flagged (see the table)" if flags else ""
        self.status.value = _status(
            f"fit {'succeeded' if ok else 'did not succeed'} in {elapsed:.1f} s: χ²_red = {chi2:.4g}; "
            f"rms residual off the diagonal = {_offdiag_rms(resid.values):.3g}{flag_note}",
            _OK if ok and not flags else _WARN)

    def _update_fit_g2(self) -> None:
        if self._result is None or self._fitted_on is None:
            return
        k = self.fit_viewer.phi_index  # type: ignore[union-attr]
        d = self._fitted_on
        tau, g2 = lag_average(d["c2"].values[k], d["t1"].values)
        m = self._result["c2_model"].transpose(*d["c2"].dims).values[k]
        self.fit_g2.value = with_download(g2_svg(tau, g2, lag_average(m, d["t1"].values)[1],
                                                 time_unit=str(d["t1"].attrs.get("units", "s")),
                                                 title=f"g₂ data and fit, φ = {float(d['phi'][k]):g}°"), "g2_fit.svg")


def _netcdf_bytes(res: xr.Dataset) -> bytes:
    """The file :func:`~xpcsnb.widgets.table.save_parameters` writes, as bytes (for a download link)."""
    with tempfile.TemporaryDirectory() as folder:
        return save_parameters(res, Path(folder) / "parameters.nc").read_bytes()


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
