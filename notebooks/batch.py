# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Batch processing: a folder of raw files → result files and fits, in-process or on a Dask cluster
#
# At a beamline a temperature series is a folder of raw frame files. `xpcsnb.batch` takes every
# file through the same steps (the command line `xpcsnb batch` does the same):
#
# 1. frames → multi-tau g2 of every q-map bin and the two-time C2 of every q ring → one APS
#    8-ID-I result file `<stem>_results.hdf` (pyXPCSViewer opens it);
# 2. C2 of every q → NLSQ fit → `<stem>_fit.nc`;
# 3. a summary table; a file that fails is reported and the batch goes on; a rerun skips what is
#    done (an interrupted batch resumes); with `client=` every file is one Dask task.
#
# The physics of this example: Brownian particles in a liquid whose viscosity falls with
# temperature. The two-time correlation of each q ring is
#
# $$C_2(t_1, t_2) = \text{offset} + \text{contrast}\cdot e^{-q^2 D_0 |t_2 - t_1|},\qquad D_0 = 2D$$
#
# (the `static` model with α = 0 and D_offset = 0: $|g_1|^2 = e^{-2Dq^2\tau}$), and the
# diffusion coefficient follows an Arrhenius law $D(T) = D_\infty\,e^{-E_a/(RT)}$, whose
# activation energy $E_a$ is the result of the series. No measured series of raw files is
# shipped with xpcsnb, so the frames are simulated (speckle with a known D per temperature) and
# written as small HDF5 files to a temporary folder, removed at the end.

# %%
import shutil
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster

import xpcsnb
import xpcsnb.correlate as xc
from xpcsnb.cli import main as xpcsnb_cli
from xpcsnb.pipeline import format_summary

plt.rcParams["figure.dpi"] = 72  # keeps the saved notebook small

# %% [markdown]
# ## 1. A folder of raw files
# A 64 × 64 px detector (75 µm pixels, 1 m, 12 keV), three q rings, 64 frames of 20 ms per
# temperature, in the HDF5 layout `xpcsnb.open_frames` reads (`/entry/data/data` and the frame
# period). The file at 304 K is broken: the acquisition stopped before the frames were written.

# %%
work = Path(tempfile.mkdtemp(prefix="xpcsnb-batch-"))
raw = work / "raw"
raw.mkdir()
geom = xc.Geometry((64, 64), (31.5, 31.5), 1.0, 75e-6, energy=12.0)
q_map = geom.q_map()
partition = xc.partition(q_map, np.linspace(0.45, 0.9, 4) * q_map.max())
T = np.array([288.0, 296.0, 304.0, 312.0, 320.0])          # K
Ea_true, R = 20e3, 8.314                                    # J/mol, J/(mol K)
D_true = 2e4 * np.exp(-Ea_true / R * (1 / T - 1 / 296.0))  # Å²/s
frame_time = 0.02


def write_raw(path, frames=None):
    """One raw file: the frames (or none, as a crashed acquisition leaves it) and the frame period."""
    with h5py.File(path, "w") as f:
        if frames is not None:
            f.create_dataset("/entry/data/data", data=frames, chunks=(16, 64, 64))
        f["/entry/instrument/detector_1/frame_time"] = frame_time


def frames_at(k):
    return xc.simulate_frames(64, q_map, D=D_true[k], frame_time=frame_time, mean_count=4.0, seed=k).values


for k, temp in enumerate(T):
    write_raw(raw / f"T{temp:.0f}K.h5", None if temp == 304 else frames_at(k))
print("q rings:", np.round(partition.q, 4), "1/Å, pixels per ring:", partition.npix)
print(sorted(p.name for p in raw.iterdir()))

# %% [markdown]
# ## 2. The configuration
# One TOML file holds every setting; its keys are the keyword arguments of the steps.
# `xpcsnb fit --print-config` writes every key with its default (called here through the command
# line's entry point):

# %%
xpcsnb_cli(["fit", "--print-config"])

# %% [markdown]
# Our analysis changes four keys: the two-time C2 is needed for the fit, and the model is plain
# diffusion (α and D_offset held at 0). An unknown key or section is an error that lists the
# valid ones.

# %%
config = work / "analysis.toml"
config.write_text("""
[correlate]
two_time = true

[fit]
model = "static"
fixed = { alpha = 0.0, D_offset = 0.0 }
""")
try:
    xpcsnb.batch(str(raw / "*.h5"), qmap=partition, config={"fit": {"modle": "static"}}, output=work / "x")
except ValueError as err:
    print(f"{type(err).__name__}: {err}")

# %% [markdown]
# ## 3. In this process
# `qmap=` takes a q-map file (APS / pySimpleMask) or, as here, a partition.

# %%
summary = xpcsnb.batch(str(raw / "*.h5"), qmap=partition, config=config, output=work / "local", progress=False)
print(format_summary(summary))

# %% [markdown]
# The broken file is reported with its error; every other file has its result and fit files.
# The first file of a process takes longest: it compiles the JAX kernels once.
#
# ## 4. On a Dask cluster
# The same call with `client=`: each file is one task on a worker process. Here a
# `LocalCluster` of two single-threaded workers on this machine; section 7 shows the same on a
# PBS or Slurm facility.

# %%
cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=40)
client = Client(cluster)
summary_dask = xpcsnb.batch(str(raw / "*.h5"), qmap=partition, config=config, output=work / "cluster",
                            client=client, progress=False)
print(format_summary(summary_dask))

# %% [markdown]
# The cluster's results equal the in-process ones:

# %%
worst = 0.0
for name in sorted(p.name for p in (work / "local").glob("*_fit.nc")):
    a, b = xpcsnb.fit.load_nlsq(work / "local" / name), xpcsnb.fit.load_nlsq(work / "cluster" / name)
    worst = max(worst, float(np.max(np.abs(a["c2_nlsq_coefficients"] / b["c2_nlsq_coefficients"] - 1))))
print(f"largest relative difference of any fitted parameter, in-process vs cluster: {worst:.1e}")
assert worst < 1e-9

# %% [markdown]
# ## 5. Resuming
# The acquisition of 304 K is repeated (the file is rewritten) and the same batch runs again:
# the files whose outputs exist are skipped, only the missing one is processed. (`overwrite=True`
# would redo everything.)

# %%
write_raw(raw / "T304K.h5", frames_at(int(np.flatnonzero(T == 304)[0])))
rerun = xpcsnb.batch(str(raw / "*.h5"), qmap=partition, config=config, output=work / "cluster", client=client,
                     progress=False)
print(format_summary(rerun))
print(sorted(p.name for p in (work / "cluster").iterdir()))

# %% [markdown]
# ## 6. The physical result: D(T) and the activation energy
# Each fit file holds D0 of every q ring (`xpcsnb.fit.load_nlsq`); D = D0/2. A single ring's
# stderr assumes independent C2 points, which the pixels of a two-time map are not (C2 has no σ
# here, so the fit is unweighted and its stderr optimistic); the spread of the three rings is the
# honest error, so D(T) is their mean ± standard error of the mean. The consistency of the rings
# also checks the q² scaling. The Arrhenius fit of ln D against 1/T gives $E_a$.

# %%
D_ring, D_mean, D_sem = [], [], []
for temp in T:
    fit = xpcsnb.fit.load_nlsq(work / "cluster" / f"T{temp:.0f}K_fit.nc")
    assert bool(fit["c2_nlsq_success"].all())
    d = fit["c2_nlsq_coefficients"].sel(param="D0").values / 2
    D_ring.append(d)
    D_mean.append(d.mean())
    D_sem.append(d.std(ddof=1) / np.sqrt(d.size))
D_ring, D_mean, D_sem = np.array(D_ring), np.array(D_mean), np.array(D_sem)
x, y, w = 1 / T, np.log(D_mean), D_mean / D_sem  # weights 1/σ(ln D)
(slope, intercept), cov = np.polyfit(x, y, 1, w=w, cov="unscaled")
Ea, Ea_err = -slope * R / 1e3, np.sqrt(cov[0, 0]) * R / 1e3
for temp, d, e, dt in zip(T, D_mean, D_sem, D_true):
    print(f"T = {temp:.0f} K: D = {d:7.0f} ± {e:5.0f} Å²/s (truth {dt:7.0f})")
print(f"Arrhenius: E_a = {Ea:.1f} ± {Ea_err:.1f} kJ/mol (truth {Ea_true / 1e3:.1f})")

fig, (a0, a1) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
for j in range(D_ring.shape[1]):
    a0.plot(T, D_ring[:, j], "o", ms=4, mfc="none", label=f"ring q = {partition.q[j]:.4f} 1/Å")
a0.errorbar(T, D_mean, D_sem, fmt="ks", capsize=3, label="mean of the rings ± s.e.m.")
a0.plot(T, D_true, "k--", lw=1, label="truth")
a0.set(xlabel="temperature T [K]", ylabel="D [Å²/s]", title="diffusion coefficient per file")
a0.legend(fontsize=8)
xx = np.linspace(x.min(), x.max(), 50)
a1.errorbar(1e3 * x, y, 1 / w, fmt="ks", capsize=3, label="batch result")
a1.plot(1e3 * xx, intercept + slope * xx, "C3-", label=f"Arrhenius fit: $E_a$ = {Ea:.1f} ± {Ea_err:.1f} kJ/mol")
a1.set(xlabel="1000 / T [1/K]", ylabel="ln(D / (Å²/s))", title="Arrhenius plot")
a1.legend(fontsize=8);

# %% [markdown]
# ## 7. On a PBS or Slurm facility
# The batch itself does not change: only the client does. With
# [dask-jobqueue](https://jobqueue.dask.org) the workers are batch jobs (not executed here):
#
# ```python
# from dask_jobqueue import SLURMCluster   # or PBSCluster
# from distributed import Client
#
# cluster = SLURMCluster(cores=1, processes=1, memory="16GB", walltime="02:00:00",
#                        account="myproject", queue="normal",
#                        job_script_prologue=["source /path/to/venv/bin/activate"])
# cluster.scale(jobs=16)                   # 16 workers, one file each at a time
# client = Client(cluster)
# summary = xpcsnb.batch("/data/run42/*.h5", qmap="/data/run42/qmap.h5",
#                        config="analysis.toml", output="/scratch/run42/", client=client)
# ```
#
# or, from the command line, with a scheduler on the login node and workers submitted as jobs
# running `dask worker tcp://LOGIN-NODE:8786 --nthreads 1`:
#
# ```
# xpcsnb batch "/data/run42/*.h5" --qmap qmap.h5 --config analysis.toml -o /scratch/run42/ \
#        --scheduler tcp://LOGIN-NODE:8786
# ```
#
# The workers need the same Python environment and must see the raw files and the output folder
# (a shared file system); give each one thread, the correlators and fits use the cores of their
# process. A lost worker loses only its file: it is listed as failed and a rerun redoes it.
#
# ## Clean up
# Close the cluster and remove the temporary folder.

# %%
client.close()
cluster.close()
shutil.rmtree(work)
print("removed", work.name, "; cluster closed:", cluster.status.name)
