"""Work that must not block the kernel: one function call in a spawned worker process.

:class:`BackgroundJob` runs ``fn(*args, **kwargs)`` (a module-level, picklable function:
``fit_cmc``, ``fit_nlsq``, ...) in a worker process started with the "spawn" method
(JAX is not fork-safe). The kernel stays free: a daemon thread of this process waits
for the worker's messages and calls the job's callbacks.

* **Progress.** Inside the worker every ``tqdm.auto`` bar the function opens (the CMC
  shard bar and one bar per running chain, the NLSQ bar over starts) is reported to
  this process as a ``Bar`` (label, count, total); ``on_progress`` receives the
  live bars after each change (at most every ``min_interval`` seconds, and always the
  last state). This relies on the engines opening their bars with
  ``from tqdm.auto import tqdm`` at call time, as :mod:`xpcsnb.fit.cmc.executors` and
  :func:`xpcsnb.fit.nlsq.fit_nlsq` do.
* **Cancel really stops.** The worker leads its own process group (``os.setsid``), so
  :meth:`BackgroundJob.cancel` ends it *and* every process it started (the CMC shard
  workers) with SIGTERM, then SIGKILL after ``grace`` seconds.
* **No double runs.** :meth:`BackgroundJob.start` returns False while a run is going.
* **Warnings** raised in the worker are collected and returned with the result
  (:attr:`BackgroundJob.warnings`), never printed to the kernel's stderr.

A dashboard uses it like this::

    job = BackgroundJob(on_progress=show_bars, on_done=show_result)
    button.on_click(lambda _: job.start(fit_cmc, ds, "static", nlsq=res, progress=True))
    cancel.on_click(lambda _: job.cancel())

``on_done(job)`` is called once per run from the watcher thread, with ``job.state`` one
of ``"done"``, ``"failed"`` (``job.error`` says why) or ``"cancelled"``.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import queue as queue_mod
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Bar", "BackgroundJob", "JobStates"]

#: The states of a job: before its first run, running, and how the last run ended.
JobStates = ("idle", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class Bar:
    """One progress bar of the worker: ``label`` (the tqdm description), ``n`` of ``total`` (None if unknown)."""

    key: int
    label: str
    n: int
    total: int | None
    closed: bool = False

    @property
    def fraction(self) -> float:
        """Done fraction in [0, 1] (0 when the total is unknown)."""
        return min(1.0, self.n / self.total) if self.total else 0.0


# --------------------------------------------------------------------------- worker side
def _reporting_tqdm(out: Any) -> type:
    """A tqdm class that writes nothing and sends ``("bar", key, label, n, total, closed)`` to ``out``."""
    from tqdm.std import tqdm as std_tqdm

    class ReportingTqdm(std_tqdm):  # type: ignore[misc, valid-type]
        _count = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["file"] = io.StringIO()
            kwargs["mininterval"] = 0.0
            kwargs["miniters"] = 1
            kwargs.pop("position", None)
            ReportingTqdm._count += 1
            self._key = ReportingTqdm._count
            super().__init__(*args, **kwargs)
            self._send()

        def _send(self, closed: bool = False) -> None:
            if getattr(self, "disable", True):
                return
            total = None if self.total is None else int(self.total)
            out.put(("bar", self._key, str(self.desc or "").rstrip(": "), int(self.n), total, closed))

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            self._send()
            return shown

        def reset(self, total: float | None = None) -> None:
            super().reset(total)
            self._send()

        def set_description(self, desc: str | None = None, refresh: bool | None = True) -> None:
            super().set_description(desc, refresh)
            self._send()

        def close(self) -> None:
            if not getattr(self, "disable", True) and not getattr(self, "_sent_closed", False):
                self._sent_closed = True
                self._send(closed=True)
            super().close()

    return ReportingTqdm


def _worker_main(out: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    """Entry point of the worker process: own process group, tqdm reporting, run, send the outcome."""
    if hasattr(os, "setsid"):
        with contextlib.suppress(OSError):
            os.setsid()
    import tqdm.auto
    import tqdm.autonotebook

    cls = _reporting_tqdm(out)
    tqdm.auto.tqdm = cls
    tqdm.autonotebook.tqdm = cls
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported to the kernel
            out.put(("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc(), _messages(caught)))
            return
    try:
        out.put(("done", value, _messages(caught)))
    except Exception as exc:  # the result cannot be pickled
        out.put(("failed", f"the result cannot be sent back to the kernel: {type(exc).__name__}: {exc}",
                 traceback.format_exc(), _messages(caught)))


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    seen: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.append(text)
    return seen


# --------------------------------------------------------------------------- kernel side
class BackgroundJob:
    """Run one function call at a time in a spawned process, with live bars and a real Cancel.

    Parameters
    ----------
    on_progress : callable, optional
        ``on_progress(bars)`` with the list of open :class:`Bar` s, called from the
        watcher thread after changes (throttled to ``min_interval``).
    on_done : callable, optional
        ``on_done(job)`` when a run ends (done, failed or cancelled), from the watcher thread.
    min_interval : float
        Smallest time between two ``on_progress`` calls [s].
    grace : float
        Time the worker gets to stop after SIGTERM before SIGKILL [s].

    Attributes
    ----------
    state : str
        One of ``JobStates``: ``"idle"``, ``"running"``, ``"done"``, ``"failed"``, ``"cancelled"``.
    result : object
        The function's return value after a run that ended ``"done"`` (else None).
    error, traceback : str
        Message and worker traceback of a failed run ("" otherwise).
    warnings : list of str
        Warnings raised in the worker during the last run.
    bars : dict
        ``{key: Bar}`` of the last run (closed bars included).
    elapsed : float
        Wall time of the last (or current) run [s].
    """

    def __init__(self, *, on_progress: Callable[[list[Bar]], None] | None = None,
                 on_done: Callable[["BackgroundJob"], None] | None = None, min_interval: float = 0.1,
                 grace: float = 2.0) -> None:
        if not (min_interval >= 0 and grace >= 0):
            raise ValueError(f"min_interval and grace must be >= 0 s, got {min_interval}, {grace}")
        self.on_progress = on_progress
        self.on_done = on_done
        self.min_interval = float(min_interval)
        self.grace = float(grace)
        self.state = "idle"
        self.result: Any = None
        self.error = ""
        self.traceback = ""
        self.warnings: list[str] = []
        self.bars: dict[int, Bar] = {}
        self.elapsed = 0.0
        self._lock = threading.RLock()  # on_done may start the next run
        self._proc: Any = None
        self._watcher: threading.Thread | None = None
        self._cancelled = threading.Event()
        self._finished = threading.Event()
        self._finished.set()
        self._t0 = 0.0

    # ------------------------------------------------------------------ public
    @property
    def running(self) -> bool:
        """Whether a run is going (started and not yet ended)."""
        return not self._finished.is_set()

    @property
    def pid(self) -> int | None:
        """Process id of the current (or last) worker, None before the first run."""
        return None if self._proc is None else self._proc.pid

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """Start ``fn(*args, **kwargs)`` in a new worker process; False (and nothing started) while running.

        ``fn`` and the arguments are pickled to the worker: ``fn`` must be a module-level
        function, the arguments picklable (Datasets, result Datasets, registry names).
        """
        if not callable(fn):
            raise TypeError(f"fn must be a callable, got {type(fn).__name__}")
        with self._lock:
            if self.running:
                return False
            self._finished.clear()
            self._cancelled.clear()
            self.state, self.result, self.error, self.traceback = "running", None, "", ""
            self.warnings, self.bars = [], {}
            self._t0 = time.perf_counter()
            ctx = multiprocessing.get_context("spawn")
            out = ctx.Queue()
            proc = ctx.Process(target=_worker_main, args=(out, fn, args, kwargs), daemon=False,
                               name="xpcsnb-background")
            try:
                proc.start()
            except BaseException as exc:
                self._end("failed", error=f"the worker process could not start: {type(exc).__name__}: {exc}")
                raise
            self._proc = proc
            self._watcher = threading.Thread(target=self._watch, args=(proc, out), daemon=True,
                                             name="xpcsnb-background-watcher")
            self._watcher.start()
        return True

    def cancel(self) -> bool:
        """Stop the running worker and every process it started; False when nothing runs.

        Returns at once; the state becomes ``"cancelled"`` when the worker is gone
        (:meth:`wait` waits for that).
        """
        with self._lock:
            if not self.running or self._proc is None:
                return False
            self._cancelled.set()
            _signal_group(self._proc, signal.SIGTERM)
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the current run ends; True if it ended, False on timeout."""
        return self._finished.wait(timeout)

    # ------------------------------------------------------------------ internals
    def _watch(self, proc: Any, out: Any) -> None:
        last_call = 0.0
        pending = False
        killed_at: float | None = None
        outcome: tuple | None = None
        while outcome is None:
            try:
                msg = out.get(timeout=0.05)
            except queue_mod.Empty:
                msg = None
            except (EOFError, OSError):  # the queue broke with the worker
                msg = None
            if msg is not None and msg[0] == "bar":
                _, key, label, n, total, closed = msg
                self.bars[key] = Bar(key, label, n, total, closed)
                pending = True
            elif msg is not None:
                outcome = msg
            if self._cancelled.is_set():
                if killed_at is None:
                    killed_at = time.perf_counter()
                elif time.perf_counter() - killed_at > self.grace and proc.is_alive():
                    _signal_group(proc, signal.SIGKILL)
                if not proc.is_alive():
                    outcome = ("cancelled",)
            elif msg is None and not proc.is_alive():
                # the worker may have put its outcome just before exiting: drain once more
                try:
                    msg = out.get(timeout=0.5)
                except (queue_mod.Empty, EOFError, OSError):
                    msg = None
                if msg is not None and msg[0] != "bar":
                    outcome = msg
                elif msg is None:
                    outcome = ("failed", f"the worker process ended without a result (exit code {proc.exitcode}); "
                                         "it may have run out of memory or been killed", "", [])
            now = time.perf_counter()
            if pending and self.on_progress is not None and now - last_call >= self.min_interval:
                pending, last_call = False, now
                self._call(self.on_progress, self.open_bars())
        proc.join(timeout=self.grace + 5)
        if proc.is_alive():
            _signal_group(proc, signal.SIGKILL)
            proc.join(timeout=5)
        with contextlib.suppress(Exception):
            out.close()
            out.cancel_join_thread()
        if self._cancelled.is_set():
            _signal_group(proc, signal.SIGKILL)  # stragglers of the group (shard workers)
            outcome = ("cancelled",)
        if self.on_progress is not None:
            self._call(self.on_progress, self.open_bars())
        if outcome[0] == "done":
            self._end("done", result=outcome[1], warnings_=outcome[2])
        elif outcome[0] == "failed":
            self._end("failed", error=outcome[1], tb=outcome[2], warnings_=outcome[3])
        else:
            self._end("cancelled", error="cancelled")

    def open_bars(self) -> list[Bar]:
        """The bars of the current run that are still open, oldest first."""
        return [b for _, b in sorted(self.bars.items()) if not b.closed]

    def _end(self, state: str, *, result: Any = None, error: str = "", tb: str = "",
             warnings_: list[str] | None = None) -> None:
        self.state, self.result, self.error, self.traceback = state, result, error, tb
        self.warnings = list(warnings_ or [])
        self.elapsed = time.perf_counter() - self._t0
        self._finished.set()
        if self.on_done is not None:
            self._call(self.on_done, self)

    @staticmethod
    def _call(fn: Callable[..., Any], arg: Any) -> None:
        try:
            fn(arg)
        except Exception:  # a callback error must not kill the watcher (and leave the job running)
            traceback.print_exc()


def _signal_group(proc: Any, sig: int) -> None:
    """Send ``sig`` to the worker's process group (the worker and its children), else to the worker."""
    pid = proc.pid
    if pid is None:
        return
    if hasattr(os, "killpg"):
        try:
            leads = os.getpgid(pid) == pid  # the worker leads its own group (os.setsid ran)
        except ProcessLookupError:  # the worker is gone; its group (shard workers) may live on
            leads = True
        except OSError:
            leads = False
        if leads:
            with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
                os.killpg(pid, sig)
            return
    with contextlib.suppress(ProcessLookupError, OSError):
        os.kill(pid, sig)
