"""``batch``: a folder of raw files → one APS result file (and fits) per file, resumable, Dask optional.

Per raw file ``<stem>.h5`` the output folder gets ``<stem>_results.hdf``
(:func:`~xpcsnb.pipeline.run.correlate_file`), ``<stem>_fit.nc`` when there is something
to fit (:func:`~xpcsnb.pipeline.fits.fit_file`: a g2 model, or a two-time model with
``two_time``) and ``<stem>_cmc.nc`` with ``[cmc] run``
(:func:`~xpcsnb.pipeline.fits.cmc_file`). A step whose output exists is skipped (a rerun
resumes an interrupted batch); with ``overwrite=True`` it is redone. A file that fails
is reported in the summary and the batch goes on. With ``client=`` (a
:class:`dask.distributed.Client`) every file is one Dask task (``client.submit``) that
reads its raw file (and the q-map, given as a file path) and writes its outputs on the
worker, so only paths and the configuration travel through the scheduler; a failed
task, or a worker that dies, loses only its own file (:func:`_on_cluster`). Without a client the files run one
after the other in this process.
"""

from __future__ import annotations

import glob
import os
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .compile_cache import CompileCachePlugin, enable_compile_cache
from .config import ConfigError, load_config

__all__ = ["batch", "expand_files", "format_summary", "outputs_for", "process_file", "steps"]

_STATUSES = ("done", "skipped", "failed")


def expand_files(files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The raw files of ``files``: a glob pattern, one path, or a list of either (sorted, unique)."""
    items = [files] if isinstance(files, str | os.PathLike) else list(files)
    out: list[Path] = []
    for item in items:
        text = str(item)
        hits = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not hits:
            raise FileNotFoundError(f"no file matches {text!r}")
        out += [Path(h) for h in hits]
    missing = [str(p) for p in out if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no such raw file(s): {missing[:5]}")
    seen: dict[Path, None] = {}
    for p in out:
        seen.setdefault(p.resolve(), None)
    return list(seen)


def outputs_for(raw: Path, output: Path, config: dict[str, Any]) -> dict[str, Path]:
    """The output paths of one raw file: ``results``, and ``fit`` / ``cmc`` when the
    configuration asks for those steps (:func:`steps`)."""
    out = {"results": output / f"{raw.stem}_results.hdf"}
    for step in steps(config)[1:]:
        out[step] = output / f"{raw.stem}_{step}.nc"
    return out


def steps(config: dict[str, Any]) -> tuple[str, ...]:
    """The steps a validated configuration asks for: ``results`` (always), ``fit`` (a g2
    model, or a two-time model with ``two_time``), ``cmc`` (``[cmc] run``)."""
    from .fits import is_g2_model

    g2 = is_g2_model(config)
    two_time = bool(config["correlate"]["two_time"])
    if config["cmc"]["run"] and not two_time:
        raise ConfigError("[cmc] run = true samples the two-time data: set [correlate] two_time = true")
    return ("results",) + (("fit",) if g2 or two_time else ()) + (("cmc",) if config["cmc"]["run"] else ())


def process_file(raw: str, qmap: Any, config: dict, output: str, overwrite: bool, progress: bool) -> dict[str, Any]:
    """Correlate (and fit) one raw file; never raises: a failure is returned as its row.

    A step whose output exists is skipped unless ``overwrite`` (a rerun does only the
    missing steps). Returns a summary row: ``file``, ``status`` (done/skipped/failed),
    ``error``, ``results``, ``fit``, ``cmc``, ``n_bad_frames``, ``seconds``.
    """
    from .fits import cmc_file, fit_file
    from .run import correlate_file, read_exclusions

    t0 = time.perf_counter()
    rawp = Path(raw)
    row = _row(rawp, Path(output), config)
    try:
        outs = outputs_for(rawp, Path(output), config)
        if all(p.exists() for p in outs.values()) and not overwrite:
            row["status"] = "skipped"
        else:
            if overwrite or not outs["results"].exists():
                correlate_file(rawp, qmap=qmap, output=outs["results"], config=config, overwrite=overwrite,
                               progress=progress)
            if "fit" in outs and (overwrite or not outs["fit"].exists()):
                fit_file(outs["results"], output=outs["fit"], config=config, overwrite=overwrite, progress=progress)
            if "cmc" in outs and (overwrite or not outs["cmc"].exists()):
                cmc_file(outs["results"], nlsq=outs["fit"], output=outs["cmc"], config=config, overwrite=overwrite,
                         progress=progress)
        row["n_bad_frames"] = int(np.size(read_exclusions(outs["results"]).get("bad_frames", [])))
    except Exception as exc:  # a failed file is reported, the batch goes on
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["seconds"] = time.perf_counter() - t0
    return row


def _row(raw: Path, output: Path, config: dict[str, Any], error: str = "") -> dict[str, Any]:
    outs = outputs_for(raw, output, config)
    return {"file": str(raw), "status": "failed" if error else "done", "error": error,
            **{k: str(outs.get(k, "")) for k in ("results", "fit", "cmc")}, "n_bad_frames": -1, "seconds": 0.0}


def _on_cluster(client: Any, raws: list[Path], qmap: Any, cfg: dict, out: Path, overwrite: bool,
                bar: Any) -> list[dict[str, Any]]:
    """Every file as one Dask task; files whose worker died are retried once, one at a time.

    A worker that dies (killed, out of memory, a crash in a compiled library) takes
    every task it held with it; the scheduler gives up on a task after
    ``distributed.scheduler.allowed-failures`` such deaths (``KilledWorker``), which can
    hit an innocent file queued on the same worker as the one that crashes. Each file
    lost that way is therefore run once more, alone: a file that kills its worker again
    is reported failed, the others complete.
    """
    from distributed import as_completed

    def submit(p: Path):
        return client.submit(process_file, str(p), qmap, cfg, str(out), overwrite, False, pure=False,
                             key=f"xpcsnb-batch-{p.stem}-{time.time_ns()}")

    rows: list[dict[str, Any]] = []
    lost: list[Path] = []
    futures = {submit(p): p for p in raws}
    for fut in as_completed(futures, loop=client.loop):  # not default_client(): the client given
        try:
            rows.append(fut.result())
            bar.update(1)
        except Exception:  # the task itself was lost (its worker died): retried below
            lost.append(futures[fut])
    for p in lost:
        try:
            rows.append(submit(p).result())
        except Exception as exc:
            rows.append(_row(p, out, cfg, f"{type(exc).__name__}: {exc} (its worker died twice; the file was "
                                          "run alone the second time)"))
        bar.update(1)
    return rows


def _summary(rows: list[dict[str, Any]], attrs: dict[str, Any]) -> xr.Dataset:
    keys = ("status", "error", "results", "fit", "cmc", "n_bad_frames", "seconds")
    data = {k: ("file", np.array([r[k] for r in rows], dtype=object if k in ("status", "error", "results", "fit", "cmc")
                                 else None)) for k in keys}
    ds = xr.Dataset(data, coords={"file": [r["file"] for r in rows]}, attrs=attrs)
    ds["seconds"].attrs["units"] = "s"
    ds.attrs["failed"] = [r["file"] for r in rows if r["status"] == "failed"]
    return ds


def batch(files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, qmap: Any, config: Any = None,
          output: str | os.PathLike[str], client: Any = None, overwrite: bool = False,
          progress: bool = True, compile_cache: bool | str | os.PathLike[str] = True) -> xr.Dataset:
    """Correlate (and fit) many raw files; a resumable batch, on one machine or a Dask cluster.

    Parameters
    ----------
    files : str, path or sequence
        Raw frame files (HDF5 or Rigaku ``.bin``): a glob pattern (``"data/*.h5"``), a
        path, or a list of them.
    qmap : path or Partition
        The q-map of every file (APS/pySimpleMask q-map file, or a partition).
    config : path, mapping or None
        Analysis configuration (``xpcsnb.pipeline.config``; TOML file or mapping).
    output : path
        Output folder (created if missing).
    client : dask.distributed.Client, optional
        Run each file as one Dask task on this client; default in-process.
    overwrite : bool
        Redo files whose outputs exist (default: skip them — resumable).
    progress : bool
        Progress bars over files (and over frames and q inside a file when in-process).
    compile_cache : bool or path
        Persistent JAX compilation cache (``xpcsnb.pipeline.compile_cache``) in this
        process, or on every worker with ``client``: True (default) its default folder,
        a path that folder, False leaves JAX's configuration alone.

    Returns
    -------
    xarray.Dataset
        The summary along ``file``: ``status`` (done/skipped/failed), ``error``,
        ``results``, ``fit`` and ``cmc`` paths ("" for a step not asked for),
        ``n_bad_frames``, ``seconds`` [s]; ``attrs["failed"]``
        lists the failed files. Print it with :func:`format_summary`.
    """
    from tqdm.auto import tqdm

    from .run import resolve_qmap

    if not isinstance(compile_cache, bool | str | os.PathLike):
        raise TypeError(f"compile_cache must be True, False or a folder path, got {type(compile_cache).__name__}")
    raws = expand_files(files)
    cfg = load_config(config)
    steps(cfg)  # a configuration asking for impossible steps fails here, not once per file
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"the output must be a folder, but {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    part = resolve_qmap(qmap)  # read once here: a bad q-map fails before any file
    stems = [p.stem for p in raws]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ValueError(f"raw files share the name(s) {dup}: their outputs would collide in {out}; "
                         "run them into separate output folders")
    cache = None if compile_cache is True else compile_cache
    if compile_cache is not False:
        if client is None:
            enable_compile_cache(cache)
        else:
            client.register_plugin(CompileCachePlugin(cache))
    bar = tqdm(total=len(raws), desc="files", unit="file", disable=not progress)
    try:
        if client is None:
            rows = []
            for p in raws:
                rows.append(process_file(str(p), part, cfg, str(out), overwrite, progress))
                bar.update(1)
        else:
            # the workers read the q-map file themselves; a Partition object travels with every task
            # (not scattered: scattered data dies with the workers holding it, and its tasks with it)
            shared = str(Path(qmap).resolve()) if isinstance(qmap, str | os.PathLike) else part
            serial = {**cfg, "cmc": {**cfg["cmc"], "parallel": False}}  # a Dask worker may not spawn processes
            rows = _on_cluster(client, raws, shared, serial, out, overwrite, bar)
    finally:
        bar.close()
    order = {str(p): k for k, p in enumerate(raws)}
    rows.sort(key=lambda r: order[r["file"]])
    return _summary(rows, {"output": str(out), "n_files": len(raws),
                           "scheduler": "in-process" if client is None else str(getattr(client, "scheduler", client))})


def format_summary(summary: xr.Dataset) -> str:
    """The batch summary as a text table (one line per file)."""
    lines = [f"{'file':40s} {'status':8s} {'bad frames':>10s} {'time [s]':>9s}  error"]
    for k in range(summary.sizes["file"]):
        name = Path(str(summary["file"].values[k])).name
        nb = int(summary["n_bad_frames"].values[k])
        lines.append(f"{name:40s} {summary['status'].values[k]:8s} {nb if nb >= 0 else '-':>10} "
                     f"{float(summary['seconds'].values[k]):9.2f}  {summary['error'].values[k]}")
    counts = {s: int(np.sum(summary["status"].values == s)) for s in _STATUSES}
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)
