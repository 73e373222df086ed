"""The fits of one result file: NLSQ of every q (:func:`fit_file`) and CMC from it (:func:`cmc_file`).

Which fit runs follows the ``[fit]`` model's kind: a two-time model fits the two-time
C2 of every q (:func:`xpcsnb.fit.fit_nlsq`; ``q_mode = "independent"`` one fit per q,
``"joint"`` one fit with the physics shared over q); a g2 model fits the multi-tau g2
of every ROI (:func:`xpcsnb.fit.g2nlsq.fit_g2_nlsq`). The Bayesian step samples every q
with :func:`xpcsnb.fit.fit_cmc`, seeded by that q's NLSQ fit (scaling, bounds, fixed
and the reparametrisation come from it) and with the ``[cmc]`` priors. Its file holds
one DataTree: a joint fit's tree as :func:`xpcsnb.fit.cmc.save_cmc` writes it, or, per q,
the tree of each q as the child ``q_<k>`` of a root whose coordinate ``q`` [1/Å] lists
them (:func:`load_cmc_by_q` reads either).

With ``client=`` every q is one Dask task; the worker reads its q from the file itself,
so only the file path and the configuration travel through the scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .config import load_config, priors_of
from .run import check_target

__all__ = ["CMC_BY_Q_KIND", "cmc_file", "fit_file", "is_g2_model", "load_cmc_by_q", "result_q_values"]

#: ``xpcsnb_kind`` of a per-q CMC file (one fit_cmc tree per q).
CMC_BY_Q_KIND = "cmc_by_q"


def is_g2_model(config: Mapping[str, Any]) -> bool:
    """Whether the ``[fit]`` model of a validated configuration is a g2 (one-time) model."""
    from ..models import get_model

    return get_model(config["fit"]["model"]).kind == "g2"


def _fit_kwargs(fit: Mapping[str, Any], g2: bool = False) -> dict[str, Any]:
    keys = ("initial", "fixed", "n_starts", "seed", "max_nfev") + (() if g2 else ("scaling",))
    kw = {k: fit[k] for k in keys if fit[k] not in (None, {})}
    if fit["bounds"]:
        kw["bounds"] = {k: tuple(v) for k, v in fit["bounds"].items()}
    if fit["free"] and not g2:
        kw["free"] = list(fit["free"])
    return kw


def _fit_q(path: str, q: float | str, fit: Mapping[str, Any]) -> xr.Dataset:
    """The NLSQ fit of the two-time data at ``q`` (``"all"``: jointly over every q) of a result file."""
    from ..fit.nlsq import fit_nlsq
    from ..io.aps8idi import open_twotime

    ds = open_twotime(path, q=q, diagonal=fit["diagonal"])
    return fit_nlsq(ds, fit["model"], q_mode="joint", **_fit_kwargs(fit))


def result_q_values(path: str | os.PathLike[str]) -> np.ndarray:
    """The q values [1/Å] at which a result file holds two-time data (sorted, unique)."""
    from ..io.aps8idi import open_aps

    ds = open_aps(path)
    if "c2_q" not in ds.coords:
        raise ValueError(f"{path} holds no two-time data (correlate with two_time = true / --two-time) "
                         "to fit a two-time model")
    return np.unique(ds["c2_q"].values)


def fit_file(results: str | os.PathLike[str], *, output: str | os.PathLike[str], config: Any = None,
             client: Any = None, overwrite: bool = False, progress: bool = True) -> xr.Dataset:
    """Fit every q (and φ) of a result file by NLSQ; write the result.

    Parameters
    ----------
    results : path
        APS result file (:func:`~xpcsnb.pipeline.run.correlate_file`; with ``two_time``
        for a two-time model).
    output : path
        NetCDF file of the NLSQ result (:func:`xpcsnb.fit.load_nlsq` reads it): per-q
        fits stacked along ``q`` (:func:`xpcsnb.fit.result.concat_q`), a joint fit, or
        the g2 fits over ``roi``; never replaced unless ``overwrite``.
    config : path, mapping or None
        Analysis configuration; its ``[fit]`` section is used.
    client : dask.distributed.Client, optional
        Fit each q as a Dask task on this client (two-time model, independent q), or
        the g2 ROIs in groups of Dask tasks (g2 model); default in-process.
    overwrite : bool
        Replace an existing ``output``.
    progress : bool
        Progress bar over q.
    """
    from tqdm.auto import tqdm

    from ..fit.result import concat_q, save_nlsq

    cfg = load_config(config)
    fit = cfg["fit"]
    target = Path(output)
    check_target(target, overwrite)
    path = str(results)
    if is_g2_model(cfg):
        from ..fit.g2nlsq import fit_g2_nlsq
        from ..io.aps8idi import open_g2

        res = fit_g2_nlsq(open_g2(path), fit["model"], q_mode=fit["q_mode"], rate_law=fit["rate_law"],
                          client=client, **_fit_kwargs(fit, g2=True))
    elif fit["q_mode"] == "joint":
        result_q_values(path)  # a clear error when the file has no two-time data
        res = _fit_q(path, "all", fit)
    else:
        qs = result_q_values(path)
        if client is None:
            parts = [_fit_q(path, float(q), fit) for q in tqdm(qs, desc="fit q", disable=not progress, leave=False)]
        else:
            parts = client.gather([client.submit(_fit_q, path, float(q), fit, pure=False) for q in qs])
        res = parts[0] if qs.size == 1 else concat_q(parts, qs)
    res.attrs.update({"source": path, "model": fit["model"]})
    save_nlsq(res, target, overwrite=overwrite)
    return res


def _cmc_q(path: str, q: float | str, nlsq: xr.Dataset, cfg: Mapping[str, Any], progress: bool) -> xr.DataTree:
    """The CMC fit of the two-time data at ``q`` (``"all"``: jointly) of a result file, seeded by ``nlsq``."""
    from ..fit.cmc import fit_cmc
    from ..fit.cmc.shards import POINTS_PER_SHARD
    from ..io.aps8idi import open_twotime

    c = cfg["cmc"]
    ds = open_twotime(path, q=q, diagonal=cfg["fit"]["diagonal"])
    kw = {k: c[k] for k in ("prior_width", "n_shards", "shard_by", "num_warmup", "num_samples", "num_chains",
                            "dense_mass", "target_accept", "max_tree_depth", "combine", "seed", "parallel")}
    kw["points_per_shard"] = POINTS_PER_SHARD if c["points_per_shard"] is None else c["points_per_shard"]
    return fit_cmc(ds, cfg["fit"]["model"], nlsq=nlsq, priors=priors_of(cfg), progress=progress, warn=False, **kw)


def cmc_file(results: str | os.PathLike[str], *, nlsq: str | os.PathLike[str] | xr.Dataset,
             output: str | os.PathLike[str], config: Any = None, client: Any = None, overwrite: bool = False,
             progress: bool = True) -> xr.DataTree:
    """Sample every q of a result file by CMC (:func:`xpcsnb.fit.fit_cmc`), seeded by its NLSQ fit.

    Parameters
    ----------
    results : path
        APS result file with two-time data.
    nlsq : path or xarray.Dataset
        The NLSQ result of :func:`fit_file` for the same file and configuration.
    output : path
        NetCDF file of the CMC result (module doc; :func:`load_cmc_by_q`); never
        replaced unless ``overwrite``.
    config : path, mapping or None
        Analysis configuration: ``[fit]`` (model, q_mode, diagonal) and ``[cmc]``.
    client : dask.distributed.Client, optional
        Sample each q as one Dask task (``parallel`` shards are then run in the task).
    overwrite : bool
        Replace an existing ``output``.
    progress : bool
        Progress bars of the sampler (in-process only).

    Returns
    -------
    xarray.DataTree
        What was written.
    """
    from ..fit.cmc import save_cmc
    from ..fit.result import load_nlsq
    from ..io.results import save_result

    cfg = load_config(config)
    if is_g2_model(cfg):
        raise ValueError(f"the CMC step fits two-time models; {cfg['fit']['model']!r} is a g2 model")
    target = Path(output)
    check_target(target, overwrite)
    path = str(results)
    res = nlsq if isinstance(nlsq, xr.Dataset) else load_nlsq(nlsq)
    if cfg["fit"]["q_mode"] == "joint":
        tree = _cmc_q(path, "all", res, cfg, progress)
        tree.attrs["source"] = path
        save_cmc(tree, target, overwrite=overwrite)
        return tree
    qs = result_q_values(path)
    seeds = [res.sel(q=q, method="nearest") if "q" in res.dims else res for q in qs]
    if client is None:
        trees = [_cmc_q(path, float(q), s, cfg, progress) for q, s in zip(qs, seeds)]
    else:
        serial = {**cfg, "cmc": {**cfg["cmc"], "parallel": False}}  # a Dask worker may not spawn processes
        trees = client.gather([client.submit(_cmc_q, path, float(q), s, serial, False, pure=False)
                               for q, s in zip(qs, seeds)])
    root = xr.Dataset(coords={"q": ("q", qs, {"units": "1/Å"})},
                      attrs={"source": path, "model": cfg["fit"]["model"], "children": "q_<k> = the fit at q[k]"})
    out = xr.DataTree(dataset=root, children={f"q_{k}": t for k, t in enumerate(trees)})
    save_result(out, target, kind=CMC_BY_Q_KIND, overwrite=overwrite)
    return out


def load_cmc_by_q(path: str | os.PathLike[str]) -> dict[float, xr.DataTree]:
    """The CMC fits of a :func:`cmc_file` output by q [1/Å] (a joint fit: one entry, key ``nan``)."""
    from ..fit.cmc import load_cmc
    from ..io.results import KIND_ATTR, load_result

    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")
    with xr.open_datatree(path, engine="h5netcdf") as t:
        kind = t.attrs.get(KIND_ATTR)
    if kind == "cmc":
        return {float("nan"): load_cmc(path)}
    tree = load_result(path, kind=CMC_BY_Q_KIND, tree=True)
    return {float(q): tree[f"q_{k}"].copy() for k, q in enumerate(tree["q"].values)}
