"""``batch``: a folder of raw files → one APS result file (and fit) per file, resumable, Dask optional.

Per raw file ``<stem>.h5`` the output folder gets ``<stem>_results.hdf``
(:func:`~xpcsnb.pipeline.run.correlate_file`) and, when the configuration asks for the
two-time C2, ``<stem>_fit.nc`` (:func:`~xpcsnb.pipeline.run.fit_file`, every q). A file
whose outputs exist is skipped (a rerun resumes an interrupted batch); with
``overwrite=True`` it is redone. A file that fails is reported in the summary and the
batch goes on. With ``client=`` (a :class:`dask.distributed.Client`) every file is one
Dask task (``client.submit``), so a failed or lost task loses only its own file;
without, the files run one after the other in this process.
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

from .config import load_config

__all__ = ["batch", "expand_files", "format_summary", "outputs_for", "process_file"]

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


def outputs_for(raw: Path, output: Path, fit: bool) -> dict[str, Path]:
    """The output paths of one raw file: ``results`` (and ``fit`` when fitting)."""
    out = {"results": output / f"{raw.stem}_results.hdf"}
    if fit:
        out["fit"] = output / f"{raw.stem}_fit.nc"
    return out


def process_file(raw: str, qmap: Any, config: dict, output: str, overwrite: bool, progress: bool) -> dict[str, Any]:
    """Correlate (and fit) one raw file; never raises: a failure is returned as its row.

    Returns a summary row: ``file``, ``status`` (done/skipped/failed), ``error``,
    ``results``, ``fit``, ``n_bad_frames``, ``seconds``.
    """
    from .run import correlate_file, fit_file, read_exclusions

    t0 = time.perf_counter()
    rawp = Path(raw)
    outs = outputs_for(rawp, Path(output), bool(config["correlate"]["two_time"]))
    row: dict[str, Any] = {"file": str(rawp), "status": "done", "error": "", "results": str(outs["results"]),
                           "fit": str(outs.get("fit", "")), "n_bad_frames": -1, "seconds": 0.0}
    try:
        if all(p.exists() for p in outs.values()) and not overwrite:
            row["status"] = "skipped"
        else:
            if overwrite or not outs["results"].exists():
                correlate_file(rawp, qmap=qmap, output=outs["results"], config=config, overwrite=overwrite,
                               progress=progress)
            if "fit" in outs:
                fit_file(outs["results"], output=outs["fit"], config=config, overwrite=overwrite, progress=progress)
        row["n_bad_frames"] = int(np.size(read_exclusions(outs["results"]).get("bad_frames", [])))
    except Exception as exc:  # a failed file is reported, the batch goes on
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["seconds"] = time.perf_counter() - t0
    return row


def _summary(rows: list[dict[str, Any]], attrs: dict[str, Any]) -> xr.Dataset:
    keys = ("status", "error", "results", "fit", "n_bad_frames", "seconds")
    data = {k: ("file", np.array([r[k] for r in rows], dtype=object if k in ("status", "error", "results", "fit")
                                 else None)) for k in keys}
    ds = xr.Dataset(data, coords={"file": [r["file"] for r in rows]}, attrs=attrs)
    ds["seconds"].attrs["units"] = "s"
    ds.attrs["failed"] = [r["file"] for r in rows if r["status"] == "failed"]
    return ds


def batch(files: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *, qmap: Any, config: Any = None,
          output: str | os.PathLike[str], client: Any = None, overwrite: bool = False,
          progress: bool = True) -> xr.Dataset:
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

    Returns
    -------
    xarray.Dataset
        The summary along ``file``: ``status`` (done/skipped/failed), ``error``,
        ``results`` and ``fit`` paths, ``n_bad_frames``, ``seconds``; ``attrs["failed"]``
        lists the failed files. Print it with :func:`format_summary`.
    """
    from tqdm.auto import tqdm

    from .run import resolve_qmap

    raws = expand_files(files)
    cfg = load_config(config)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"the output must be a folder, but {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    part = resolve_qmap(qmap)  # read once; shipped to the workers as an object
    stems = [p.stem for p in raws]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise ValueError(f"raw files share the name(s) {dup}: their outputs would collide in {out}; "
                         "run them into separate output folders")
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(raws), desc="files", unit="file", disable=not progress)
    try:
        if client is None:
            for p in raws:
                rows.append(process_file(str(p), part, cfg, str(out), overwrite, progress))
                bar.update(1)
        else:
            from distributed import as_completed

            futures = {client.submit(process_file, str(p), part, cfg, str(out), overwrite, False, pure=False,
                                     key=f"xpcsnb-batch-{p.stem}-{time.time_ns()}"): p for p in raws}
            for fut in as_completed(futures):
                try:
                    rows.append(fut.result())
                except Exception as exc:  # the task itself was lost (worker killed): report it
                    rows.append({"file": str(futures[fut]), "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                                 "results": "", "fit": "", "n_bad_frames": -1, "seconds": 0.0})
                bar.update(1)
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
