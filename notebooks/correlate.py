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
# # From detector frames to g2, C2 and a diffusion coefficient
#
# Part 1 correlates **measured** frames: the 100 speckle frames of the scikit-beam examples
# (BSD-3, `xpcsnb.datasets.real_frames()`, 256 × 256 px, 1.30 ms per frame) with their geometry →
# q rings → multi-tau g2 and two-time C2 → relaxation rates Γ(q) → D from Γ = D q².
# Part 2 checks the correlators on simulated frames whose g1 is known, and fits a two-time C2.
#
# For Brownian particles the intensity autocorrelation is (Siegert relation)
#
# $$g_2(q,\tau) = 1 + \beta\,|g_1(q,\tau)|^2 = 1 + \beta\,e^{-2\Gamma\tau},\qquad
#   \Gamma = D q^2,$$
#
# with β the speckle contrast. xpcsnb's `single_exponential` g2 family writes
# g2 = baseline + contrast·exp(−2Γτ); the homodyne two-time model writes
# C2 = offset + contrast · exp(−q² ∫D dt), so its fitted `D0` is **2 D**.

# %%
import tempfile
from pathlib import Path

import h5py
import matplotlib.pyplot as plt
import numpy as np

import xpcsnb
import xpcsnb.correlate as xc
from xpcsnb.datasets import real_frames
from xpcsnb.io.frames import open_frames

plt.rcParams["figure.dpi"] = 72  # speckle-noise images: keeps the saved notebook small

# %% [markdown]
# ## Part 1 — measured frames
# ### Geometry → q rings
# The frames carry their geometry in attrs (distance, pixel size, wavelength, beam centre).
# Eight q rings; pixels brighter than 20 counts on average (beam-stop edge, hot pixels) are masked.

# %%
frames_real = real_frames()
a = frames_real.attrs
geom_real = xc.Geometry(shape=frames_real.shape[1:], beam_center=tuple(a["beam_center"]), distance=a["distance"],
                        pixel_size=a["pixel_size"], wavelength=a["wavelength"])
mean_image = frames_real.mean("frame").values
part_real = xc.partition(geom_real.q_map(), np.linspace(0.0015, 0.0095, 9), mask=mean_image < 20)
print(frames_real.shape, "frames of", a["frame_time"] * 1e3, "ms; q =", np.round(part_real.q, 4), "1/Å")

# %% [markdown]
# ### Multi-tau g2 and the relaxation rates
# 100 frames span 0.13 s, only the start of the decay: the baseline is held at 1 (`fixed=`).
# Fits whose contrast or rate end on a bound are flagged (`g2_nlsq_success` False) and left out.

# %%
g2_real = xc.multitau(frames_real.values, part_real, frame_time=a["frame_time"], num_bufs=8, progress=False)
fit_real = g2_real.xpcs.fit_nlsq("single_exponential", fixed={"baseline": 1.0})
print(fit_real[["g2_nlsq_success", "g2_nlsq_chi2_red"]].to_pandas().round(3).T)
rates = xpcsnb.fit.fit_rates(fit_real, law="diffusive")
D_real, dD_real = float(rates["D"]), float(rates["D_stderr"])
print(f"Γ = D q²: D = {D_real:.3g} ± {dD_real:.2g} {rates['D'].attrs['units']} "
      f"= {D_real * 1e-20:.3g} m²/s from {rates.attrs['n_used']} rings")

# %% [markdown]
# ### Two-time C2 of one ring
# The same frames, correlated frame by frame for the ring at q ≈ 0.003 1/Å. The diagonal
# mean of C2 over |t1 − t2| = τ is a g2 and agrees with the multi-tau one. A two-time *fit* of
# these frames is not attempted: over 0.13 s C2 decays by only ~20 %, so its contrast and
# offset are not separable (Part 2 fits a two-time C2 where the decay is complete).

# %%
c2_real = xc.two_time(frames_real.values, part_real, frame_time=a["frame_time"], q=0.003, progress=False)
ring = int(np.argmin(abs(part_real.q - 0.003)))
diag = xc.g2_from_c2(c2_real)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
t_ms = c2_real.t1.values * 1e3
im = ax0.imshow(c2_real.c2.isel(phi=0).values, origin="lower", extent=(t_ms[0], t_ms[-1], t_ms[0], t_ms[-1]),
                vmin=1.4, vmax=2.0, cmap="viridis")
fig.colorbar(im, ax=ax0, label="C2(t1, t2) [dimensionless]")
ax0.set(xlabel="t2 [ms]", ylabel="t1 [ms]", title=f"measured C2, q = {float(c2_real.attrs['q']):.4f} 1/Å")
ax1.errorbar(g2_real.tau, g2_real.g2[ring], g2_real.g2_err[ring], fmt="o", ms=3, label="multi-tau g2")
ax1.plot(diag.tau, diag.g2.isel(roi=0), "-", label="mean of C2 over |t1 − t2| = τ")
ax1.set(xscale="log", xlabel="lag τ [s]", ylabel="g2 [dimensionless]", title="the two agree")
ax1.legend(fontsize=8);

# %% [markdown]
# ## Part 2 — simulated frames with a known g1
# ### Detector geometry and a (q, φ) partition
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
# ### Simulated frames with a known g1
#
# Two speckle modes per pixel (contrast β = 1/2), D = 2·10⁴ Å²/s, one photon per pixel
# per frame on average, 0.1 s frames.

# %%
D, frame_time, beta = 2.0e4, 0.1, 0.5
frames = xc.simulate_frames(600, q_map, D=D, frame_time=frame_time, mean_count=1.0, n_modes=2, seed=0)
frames

# %% [markdown]
# ### Multi-tau g2
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
ax.set(xscale="log", xlabel="τ [s]", ylabel="g2 [dimensionless]", title="multi-tau g2 (dashed: exact expectation)")
ax.legend()
z = (g2.g2.values - expected) / g2.g2_err.values
print(f"{np.mean(np.abs(z) < 3):.1%} of the points lie within 3 error bars of the truth")

# %% [markdown]
# ### Two-time C2 of one q ring, fit-ready
#
# `two_time(..., q=...)` correlates the sectors of the ring nearest q and returns the
# two-time Dataset of the data model (`c2(phi, t1, t2)`, t from 0 in steps of dt), the
# one `ds.xpcs.fit_nlsq` takes.

# %%
c2 = xc.two_time(frames, part, q=0.0045, progress=False)
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for ax, phi in zip(axes, c2.phi.values):
    im = c2.c2.sel(phi=phi).plot(ax=ax, vmin=0.9, vmax=1.6, add_colorbar=False)
    ax.set(title=f"φ = {phi:.0f}°", xlabel="t2 [s]", ylabel="t1 [s]")
fig.colorbar(im, ax=axes, label="C2 [dimensionless]")
c2

# %% [markdown]
# ### g2 from C2 and age-resolved cuts
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
ax.set(xscale="log", xlabel="τ [s]", ylabel="g2 [dimensionless]", xlim=(0.1, 20))
ax.legend()

# %% [markdown]
# ### Streaming from an HDF5 file
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
# ### Fit of the two-time correlation
#
# The static homodyne model with normal diffusion (α = 0, no offset), contrast and offset
# per angle. The diagonal (shot-noise spike) never enters the residuals.

# %%
fit = c2.xpcs.fit_nlsq("static", fixed={"alpha": 0.0, "D_offset": 0.0})
print(fit.xpcs.report())
D0 = float(fit.c2_nlsq_coefficients.sel(param="D0"))
print(f"D0 = {D0:.4g} Å²/s, expected 2·D = {2 * D:.4g} Å²/s ({D0 / (2 * D) - 1:+.1%})")
assert abs(D0 / (2 * D) - 1) < 0.05

# %% [markdown]
# ## The physical result: D of the measured sample
# Left: measured multi-tau g2 of the rings that fitted, with the fitted
# g2 = 1 + contrast·exp(−2Γτ) over the data. Right: Γ(q) against q² with the line Γ = D q²
# (one D for all rings; error bars: fit standard errors).
#
# Honest reading: 100 frames cover 0.13 s while 1/Γ ≈ 1 s, so each Γ is known to ±40–60 % and
# the rates barely grow over this q range; D is determined to about ±25 % and the q² law is
# not tested by these data (a longer series is needed for that). Rings whose fit failed
# (the outer three) are left out.

# %%
from xpcsnb.fit.g2nlsq import g2_model_curves  # noqa: E402

ok = fit_real["g2_nlsq_success"].values
tau_grid = np.geomspace(float(g2_real.tau[0]), float(g2_real.tau[-1]), 100)
curves = g2_model_curves(fit_real, tau_grid)
gamma = fit_real["g2_nlsq_coefficients"].sel(param="gamma").values
gamma_err = fit_real["g2_nlsq_stderr"].sel(param="gamma").values
q = g2_real.q.values
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for i, r in enumerate(np.flatnonzero(ok)):
    ax0.errorbar(g2_real.tau, g2_real.g2[r], g2_real.g2_err[r], fmt="o", ms=3, color=f"C{i}",
                 label=f"q = {q[r]:.4f} 1/Å")
    ax0.plot(tau_grid, curves[r], "-", color=f"C{i}")
ax0.set(xscale="log", xlabel="lag τ [s]", ylabel="g2 [dimensionless]",
        title="measured g2 (points) and single-exponential fits (lines)")
ax0.legend(fontsize=8)
ax1.errorbar(q[ok] ** 2 * 1e6, gamma[ok], gamma_err[ok], fmt="o", label="Γ per ring")
qq = np.linspace(0, (q[ok] ** 2).max() * 1.1, 50)
ax1.plot(qq * 1e6, D_real * qq, "-", label=f"Γ = D q², D = {D_real:.3g} ± {dD_real:.2g} Å²/s")
ax1.set(xlabel="q² [10⁻⁶ Å⁻²]", ylabel="relaxation rate Γ [1/s]", title="Γ(q) of the measured frames")
ax1.legend(fontsize=8)
print(f"D = {D_real:.3g} ± {dD_real:.2g} Å²/s = {D_real * 1e-20:.3g} m²/s "
      f"(χ²_red of Γ = D q²: {float(rates['chi2_red']):.2f}, {rates.attrs['n_used']} rings)")
