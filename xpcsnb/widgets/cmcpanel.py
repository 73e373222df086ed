"""``CMCPanel``: priors, sampler settings, a CMC run that never blocks the kernel, and its diagnostics.

Layout (top to bottom): a header; the :class:`~xpcsnb.widgets.priors.PriorEditor`
(seeded from the NLSQ result when one is given); the sampler settings; Run / Cancel;
the status line; one progress bar per open tqdm bar of the run (the shard bar and one
per running chain); the :class:`~xpcsnb.widgets.diagnostics.Diagnostics` of the result.

:func:`xpcsnb.fit.cmc.fit_cmc` runs in a worker process
(:class:`~xpcsnb.widgets.background.BackgroundJob`): the kernel stays free while it
runs; Cancel ends the worker and its shard processes; Run is disabled while a run goes
and a second start is ignored. Editing a prior or a setting after a run marks the shown
result "out of date" (:attr:`CMCPanel.stale`) until the next run.
"""

from __future__ import annotations

import asyncio
import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import traitlets
import xarray as xr

from ..core.twotime import validate_twotime
from ..fit.cmc.api import fit_cmc
from ..fit.priors import NLSQ_PRIOR_WIDTH
from ..models import get_model
from ..models.base import Model
from .background import Bar, BackgroundJob
from .diagnostics import Diagnostics
from .priors import PriorEditor

__all__ = ["CMCPanel"]

_OK, _WARN, _ERR, _MUTED = "#1a7f37", "#9a6700", "#cf222e", "#57606a"


def _status(text: str, colour: str) -> str:
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def _main_loop_dispatcher() -> Callable[[Callable[[], None]], None]:
    """Run callbacks on the kernel's event loop when there is one (widgets are made in its thread), else at once."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return lambda fn: fn()
    return lambda fn: loop.call_soon_threadsafe(fn)


class CMCPanel(widgets.VBox):
    """Dashboard to set priors and run a CMC fit in the background, with live progress and diagnostics.

    Parameters
    ----------
    ds : xarray.Dataset
        Two-time Dataset (single or multi q) as :func:`xpcsnb.fit.cmc.fit_cmc` takes it.
    model : str or Model
        Registered model name or Model object.
    nlsq : xarray.Dataset, optional
        NLSQ result of the same model and data: seeds the priors, the sampler's
        parametrisation and the scaling/bounds/fixed (see ``fit_cmc``).
    num_warmup, num_samples, num_chains, n_shards, seed, parallel, target_accept
        Start values of the settings (``n_shards=0``: the default count).
    width : float
        Width of NLSQ-seeded priors in standard errors.
    **fit_options
        Further keywords of ``fit_cmc`` passed unchanged (``scaling``, ``bounds``,
        ``fixed``, ``shard_by``, ``n_workers``, ...).

    Attributes
    ----------
    editor : PriorEditor
    result : xarray.DataTree or None
        The last finished run's result (kept, marked stale, while a new run goes).
    error : str
        Why the last run failed or was cancelled ("" otherwise).
    stale : bool
        True when priors or settings changed after the shown result (trait).
    running : bool
        True while a run goes (trait).
    data : xarray.Dataset
        The Dataset a run samples (read-only).
    nlsq : xarray.Dataset or None
        The NLSQ result that seeds the run (read-only).
    job : BackgroundJob
    diagnostics : Diagnostics or None
    run_button, cancel_button : ipywidgets.Button
    """

    stale = traitlets.Bool(False)
    running = traitlets.Bool(False)

    def __init__(self, ds: xr.Dataset, model: str | Model, *, nlsq: xr.Dataset | None = None,
                 num_warmup: int = 400, num_samples: int = 800, num_chains: int = 2, n_shards: int = 0,
                 seed: int = 0, parallel: bool = True, target_accept: float = 0.8,
                 width: float = NLSQ_PRIOR_WIDTH, **fit_options: Any) -> None:
        validate_twotime(ds)
        self.model = get_model(model)
        bad = sorted(set(fit_options) & {"priors", "progress", "warn", "nlsq", "prior_width"})
        if bad:
            raise ValueError(f"{bad} are set by the panel (priors by its editor, progress live); do not pass them")
        self._ds = ds
        self._nlsq = nlsq
        self._fit_options = dict(fit_options)
        self._width = width
        self.result: xr.DataTree | None = None
        self.error = ""
        self.diagnostics: Diagnostics | None = None
        self.editor = PriorEditor(self.model, nlsq, bounds=fit_options.get("bounds"), width=width,
                                  scaling=fit_options.get("scaling") or "individual")
        n_rows = ds.sizes["phi"] * (ds.sizes["q"] if "q" in ds["c2"].dims else 1)
        self.header = widgets.HTML(
            f"<b>xpcsnb CMC panel</b> — model <code>{html.escape(self.model.name)}</code>, {n_rows} row(s) × "
            f"{ds.sizes['t1']}² frames; priors "
            + ("seeded from the NLSQ result" if nlsq is not None else "from the registry (no NLSQ result given)"))

        def box(cls: type, value: Any, description: str, tip: str, css: str, **kw: Any) -> widgets.Widget:
            w = cls(value=value, description=description, tooltip=tip,
                    style={"description_width": "initial"}, layout=widgets.Layout(width="auto"), **kw)
            w.add_class(f"xpcsnb-cmc-{css}")
            w.observe(self._on_setting, names="value")
            return w

        self.num_warmup = box(widgets.IntText, num_warmup, "warm-up", "NUTS warm-up iterations per chain", "warmup")
        self.num_samples = box(widgets.IntText, num_samples, "draws", "kept draws per chain", "draws")
        self.num_chains = box(widgets.IntText, num_chains, "chains", "chains per shard (≥ 2)", "chains")
        self.n_shards = box(widgets.IntText, n_shards, "shards (0 = auto)", "number of shards", "shards")
        self.seed = box(widgets.IntText, seed, "seed", "random seed", "seed")
        self.target_accept = box(widgets.FloatText, target_accept, "target accept", "in (0, 1)", "target-accept")
        self.parallel = box(widgets.Checkbox, parallel, "shards in processes", "spawned worker per shard batch",
                            "parallel", indent=False)
        settings = widgets.HBox([self.num_warmup, self.num_samples, self.num_chains, self.n_shards, self.seed,
                                 self.target_accept, self.parallel],
                                layout=widgets.Layout(flex_flow="row wrap", width="100%"))

        self.run_button = widgets.Button(description="Run CMC", button_style="primary", icon="play",
                                         tooltip="run fit_cmc in a worker process (the kernel stays free)")
        self.run_button.add_class("xpcsnb-cmc-run")
        self.cancel_button = widgets.Button(description="Cancel", button_style="danger", icon="stop",
                                            disabled=True, tooltip="stop the run and its shard processes")
        self.cancel_button.add_class("xpcsnb-cmc-cancel")
        self.status = widgets.HTML(_status("idle", _MUTED))
        self.status.add_class("xpcsnb-cmc-status")
        self.stale_mark = widgets.HTML("")
        self.stale_mark.add_class("xpcsnb-cmc-stale")
        self.bars = widgets.VBox([], layout=widgets.Layout(width="100%"))
        self.bars.add_class("xpcsnb-cmc-progress")
        self.result_box = widgets.VBox([], layout=widgets.Layout(width="100%"))

        self.job = BackgroundJob(on_progress=self._on_progress, on_done=self._on_done)
        self._dispatch: Callable[[Callable[[], None]], None] = lambda fn: fn()
        self._finished = threading.Event()
        self._finished.set()
        self._finish_lock = threading.Lock()
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.editor.observe(self._on_setting, names="version")
        self.editor.observe(self._on_valid, names="valid")
        super().__init__([self.header, self.editor, settings,
                          widgets.HBox([self.run_button, self.cancel_button, self.status],
                                       layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
                          self.bars, self.stale_mark, self.result_box], layout=widgets.Layout(width="100%"))
        self.add_class("xpcsnb-cmc-panel")

    # ------------------------------------------------------------------ public
    @property
    def data(self) -> xr.Dataset:
        """The Dataset a run samples."""
        return self._ds

    @property
    def nlsq(self) -> xr.Dataset | None:
        """The NLSQ result that seeds the priors and the sampler (None without one)."""
        return self._nlsq

    def options(self) -> dict[str, Any]:
        """The keywords of ``fit_cmc`` for the current priors and settings.

        Raises
        ------
        ValueError
            Naming the invalid prior rows or settings.
        """
        problems = []
        for name, w, lo in (("warm-up", self.num_warmup, 0), ("draws", self.num_samples, 4),
                            ("chains", self.num_chains, 2), ("shards", self.n_shards, 0)):
            if w.value < lo:
                problems.append(f"{name} must be >= {lo}, got {w.value}")
        if not 0 < self.target_accept.value < 1:
            problems.append(f"target accept must be in (0, 1), got {self.target_accept.value}")
        if problems:
            raise ValueError("; ".join(problems))
        opts = dict(self._fit_options)
        opts.update(nlsq=self._nlsq, priors=self.editor.priors, prior_width=self._width,
                    num_warmup=int(self.num_warmup.value), num_samples=int(self.num_samples.value),
                    num_chains=int(self.num_chains.value), n_shards=int(self.n_shards.value) or None,
                    seed=int(self.seed.value), parallel=bool(self.parallel.value),
                    target_accept=float(self.target_accept.value), progress=True, warn=False)
        return opts

    def run(self) -> bool:
        """Start a CMC run in the background; False when one is already running or the settings are invalid."""
        if self.job.running:
            return False
        try:
            opts = self.options()
        except ValueError as exc:
            self.error = str(exc)
            self.status.value = _status(str(exc), _ERR)
            return False
        model = self.model.name if _registered(self.model) else self.model
        self._dispatch = _main_loop_dispatcher()
        self._finished.clear()
        self.error = ""
        self.running = True  # before the start: a worker that fails at once may end the run during it
        self.run_button.disabled = True
        self.run_button.description = "Running…"
        self.cancel_button.disabled = False
        self.status.value = _status("starting the worker process (JAX import and compile: allow 10–60 s) …", _WARN)
        if self.result is not None:
            self.stale = True
            self._mark()
        if not self.job.start(fit_cmc, self._ds, model, **opts):
            self._finished.set()
            return False
        return True

    def cancel(self) -> bool:
        """Stop the running fit (the worker and its shard processes); False when nothing runs."""
        if not self.job.cancel():
            return False
        self.cancel_button.disabled = True
        self.status.value = _status("cancelling …", _WARN)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run has ended and the panel shows its outcome; False on timeout.

        (For scripts and tests: in a notebook, the kernel is free while the run goes.)
        """
        if not self.job.wait(timeout):
            return False
        self._finish()
        return True

    # ------------------------------------------------------------------ internals
    def _on_progress(self, bars: list[Bar]) -> None:
        have = list(self.bars.children)
        while len(have) < len(bars):
            w = widgets.FloatProgress(value=0, min=0, max=1, style={"description_width": "initial"},
                                      layout=widgets.Layout(width="auto", min_width="360px"))
            have.append(w)
        for w, b in zip(have, bars):
            w.description = f"{b.label}: {b.n}/{b.total if b.total is not None else '?'}"
            w.value = b.fraction
        self.bars.children = tuple(have[:len(bars)])
        if self.job.running and bars and not self.cancel_button.disabled:
            shard = next((b for b in bars if "shard" in b.label.lower() and "chain" not in b.label), None)
            what = f"{shard.n}/{shard.total} shards done" if shard is not None else "sampling"
            self.status.value = _status(f"running: {what}; the kernel is free", _WARN)

    def _on_done(self, _job: BackgroundJob) -> None:
        self._dispatch(self._finish)

    def _finish(self) -> None:
        with self._finish_lock:
            if self._finished.is_set() or self.job.running:
                return
            job = self.job
            if job.state == "done":
                self.result = job.result
                self.stale = False
                try:
                    self.diagnostics = Diagnostics(job.result, nlsq=self._nlsq, priors=None)
                    self.result_box.children = (self.diagnostics,)
                except Exception as exc:  # the result is kept; only its view failed
                    self.result_box.children = (widgets.HTML(_status(f"diagnostics view failed: {exc}", _ERR)),)
                ok = bool(job.result.attrs.get("converged", 0))
                self.status.value = _status(
                    f"CMC finished in {job.elapsed:.1f} s: " + ("converged" if ok else
                                                               "NOT converged, see the warnings below"),
                    _OK if ok else _WARN)
            elif job.state == "cancelled":
                self.error = "cancelled"
                self.status.value = _status(f"cancelled after {job.elapsed:.1f} s; the worker processes are stopped",
                                            _WARN)
            else:
                self.error = job.error
                self.status.value = _status(f"CMC failed: {job.error}", _ERR)
            self.bars.children = ()
            self.run_button.disabled = not self.editor.valid
            self.run_button.description = "Run CMC"
            self.cancel_button.disabled = True
            self.running = False
            self._mark()
            self._finished.set()

    def _on_setting(self, _change: Any) -> None:
        if self.result is not None and not self.stale:
            self.stale = True
            self._mark()

    def _on_valid(self, _change: Any) -> None:
        if not self.job.running:
            self.run_button.disabled = not self.editor.valid
        if not self.editor.valid:
            self.status.value = _status("fix the highlighted priors to run", _ERR)
        elif not self.job.running:
            self.status.value = _status("ready", _MUTED)

    def _mark(self) -> None:
        self.stale_mark.value = (_status("⚠ out of date: the priors or settings changed after this result "
                                         "(or a new run is going); run again to update it", _WARN)
                                 if self.stale and self.result is not None else "")


def _registered(model: Model) -> bool:
    try:
        return get_model(model.name) is model
    except Exception:
        return False
