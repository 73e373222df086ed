# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # From detector frames to g2, C2 and a fit
#
# This notebook simulates a speckle frame stack with a known field correlation
# g1(τ) = exp(−D q² τ), correlates it with the multi-tau and two-time correlators of
# `xpcsnb.correlate`, and fits the two-time correlation of one q ring with the homodyne
# static model. Everything is seeded, so it gives the same numbers on every run.
#
# Convention to keep in mind: the homodyne model writes C2 = offset + contrast · exp(−q² ∫D dt),
# so its fitted `D0` is **2 D** of the simulator (g1² = exp(−2 D q² τ)).

# %%
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np

import xpcsnb  # noqa: F401  (registers the ds.xpcs accessor)
import xpcsnb.correlate as xc
from xpcsnb.io.frames import open_frames

# %% [markdown]
# ## Detector geometry and a (q, φ) partition
#
# A 64 × 64 detector 2 m behind the sample at 12 keV; four q rings of three azimuthal
# sectors each. Labels are numbered q-major (`label = 1 + i_q·n_φ + i_φ`).

# %%
geom = xc.Geometry(shape=(64, 64), beam_center=(31.5, 31.5), distance=2.0, pixel_size=75e-6, energy=12.0)
q_map = geom.q_map()
part = xc.partition(q_map, np.linspace(0.003, 0.007, 5), phi_map=geom.phi_map(),
                    phi_edges=np.linspace(-180, 180, 4))
part.to_dataset()

# %% [markdown]
# ## Simulated frames with a known g1
#
# Two speckle modes per pixel (contrast β = 1/2), D = 2·10⁴ Å²/s, one photon per pixel
# per frame on average, 0.1 s frames.

# %%
D, frame_time, beta = 2.0e4, 0.1, 0.5
frames = xc.simulate_frames(600, q_map, D=D, frame_time=frame_time, mean_count=1.0, n_modes=2, seed=0)
frames

# %% [markdown]
# ## Multi-tau g2
#
# The scikit-beam ladder with 8 buffers and the symmetric normalisation. The error bars
# are the standard error of the pixel mean. The dashed lines are the exact expectation
# for these frames (including the averaging of the higher multi-tau levels).

# %%
g2 = xc.multitau(frames, part, num_bufs=8, normalization="symmetric", progress=False)
expected = xc.expected_g2(part, q_map, g2.lag.values, D=D, frame_time=frame_time, mean_count=1.0,
                          n_modes=2, level=g2.level.values)
fig, ax = plt.subplots(figsize=(6, 4))
for r in range(0, part.n_roi, 3):  # the φ ≈ −120° sector of each ring
    line = ax.errorbar(g2.tau, g2.g2[r], g2.g2_err[r], fmt="o", ms=3, label=f"q = {g2.q[r].item():.4f} 1/Å")
    ax.plot(g2.tau, expected[r], "--", color=line[0].get_color())
ax.set(xscale="log", xlabel="τ [s]", ylabel="g2", title="multi-tau g2")
ax.legend()
z = (g2.g2.values - expected) / g2.g2_err.values
print(f"{np.mean(np.abs(z) < 3):.1%} of the points lie within 3 error bars of the truth")

# %% [markdown]
# ## Two-time C2 of one q ring, fit-ready
#
# `two_time(..., q=...)` correlates the sectors of the ring nearest q and returns the
# two-time Dataset of the data model (`c2(phi, t1, t2)`, t from 0 in steps of dt), the
# one `ds.xpcs.fit_nlsq` takes.

# %%
c2 = xc.two_time(frames, part, q=0.0045, progress=False)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, phi in zip(axes, c2.phi.values):
    c2.c2.sel(phi=phi).plot(ax=ax, vmin=0.9, vmax=1.6, add_colorbar=False)
    ax.set_title(f"φ = {phi:.0f}°")
c2

# %% [markdown]
# ## g2 from C2 and age-resolved cuts
#
# The mean of C2 over each diagonal |t1 − t2| = τ, and the same within five age bins
# (age = (t1 + t2)/2). In a stationary sample all ages agree.

# %%
g2_c2 = xc.g2_from_c2(c2)
aged = xc.g2_age_resolved(c2, n_ages=5)
fig, ax = plt.subplots(figsize=(6, 4))
for a in aged.t_age.values:
    ax.plot(aged.tau, aged.g2.sel(t_age=a).mean("roi"), label=f"age {a:.0f} s")
ax.plot(g2_c2.tau, g2_c2.g2.mean("roi"), "k", lw=2, label="all ages")
ax.set(xscale="log", xlabel="τ [s]", ylabel="g2", xlim=(0.1, 20))
ax.legend()

# %% [markdown]
# ## Streaming from an HDF5 file
#
# Stacks larger than memory are opened lazily (h5py + dask) and streamed in chunks; the
# result is identical to the in-memory one.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "frames.h5"
    with h5py.File(path, "w") as f:
        f["/entry/data/data"] = frames.values
        f["/entry/instrument/detector_1/frame_time"] = frame_time
    lazy = open_frames(path, chunk_frames=64)
    streamed = xc.multitau(lazy, part, progress=False)
    assert np.array_equal(streamed.g2.values, g2.g2.values)
    del lazy
print("streamed == in memory:", True)

# %% [markdown]
# ## Fit of the two-time correlation
#
# The static homodyne model with normal diffusion (α = 0, no offset), contrast and offset
# per angle. The diagonal (shot-noise spike) never enters the residuals.

# %%
fit = c2.xpcs.fit_nlsq("static", fixed={"alpha": 0.0, "D_offset": 0.0})
print(fit.xpcs.report())
D0 = float(fit.c2_nlsq_coefficients.sel(param="D0"))
print(f"D0 = {D0:.4g} Å²/s, expected 2·D = {2 * D:.4g} Å²/s ({D0 / (2 * D) - 1:+.1%})")
assert abs(D0 / (2 * D) - 1) < 0.05
