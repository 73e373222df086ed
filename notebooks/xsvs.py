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
# # XSVS: speckle visibility from an exposure series
#
# X-ray speckle visibility spectroscopy measures the speckle contrast β as a function of
# the exposure time T; the dynamics follow from how β drops with T. This notebook runs the
# whole analysis on a simulated series with known truth:
#
# 1. geometry → q partition (the same partition module the correlators use),
# 2. simulated frames (gamma speckle + Poisson counting) for 8 exposure times,
# 3. photon histograms and contrast per (T, q): maximum-likelihood negative binomial, plus
#    the exact-ratio, variance and (biased) low-count estimators,
# 4. β(T) fits per q and jointly with Γ = D q²,
# 5. figures, a NetCDF round trip of the one result Dataset, and the physical result D.
#
# **Why simulated frames?** XSVS needs the same speckle recorded at *several exposure times*
# with many frames each. The real stack shipped with xpcsnb (`xpcsnb.datasets.real_frames()`,
# 100 frames at one frame time of 1.3 ms, ~0.7 counts per pixel) has a single exposure and too
# few frames for a contrast-vs-exposure curve, so this tutorial uses a simulated series whose
# truth is known. With a measured series, only the `frames` Dataset below changes.
#
# The contrast of an exposure T averages the intensity fluctuations over the exposure:
#
# $$\beta(T) = \beta_0\,\frac{2}{T}\int_0^T\Big(1-\frac{\tau}{T}\Big)\,|g_1(\tau)|^2\,d\tau,
#   \qquad g_1(\tau) = e^{-\Gamma\tau},\quad \Gamma = D q^2,$$
#
# so β is the static contrast β0 for T ≪ 1/Γ and falls as 1/(ΓT) for T ≫ 1/Γ.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from xpcsnb import xsvs
from xpcsnb.io import load_xsvs, save_xsvs
from xpcsnb.correlate import Geometry, partition
from xpcsnb.plot.xsvs import plot_contrast, plot_histograms, plot_mean_count_trace

# %% [markdown]
# ## Geometry and q partition
# Rings in q with two azimuthal sectors, and a detector mask (True = pixel used) hiding a
# beam-stop shadow.

# %%
geo = Geometry(shape=(96, 96), beam_center=(48.3, 47.6), distance=5.0, pixel_size=75e-6, energy=10.0)
q_map = geo.q_map()
mask = np.ones(geo.shape, bool)
mask[40:56, 40:] = False  # beam-stop arm
part = partition(q_map, np.linspace(6e-4, 3.6e-3, 6), phi_map=geo.phi_map(), phi_edges=[-180, 0, 180], mask=mask)
print(part.n_roi, "ROIs; q =", np.round(part.q, 5), "1/Å; pixels:", part.npix)

# %% [markdown]
# ## Simulated exposure series
# Diffusive dynamics Γ(q) = D q², static contrast β0 = 0.25 and a constant flux, so the
# mean count grows with T. The exposure times are carried by the data (`exposure`
# coordinate, seconds); they are never guessed.

# %%
D_true = 2.0e7  # (1/s)·Å²
rate_true = D_true * part.q**2
exposure = np.geomspace(1e-4, 3e-2, 8)
flux = 200.0  # photons / s / pixel
frames = xsvs.simulate_series(part, exposure, n_frames=40, beta0=0.25, rate=rate_true,
                              mean_count=flux * exposure, drift=0.1, seed=2024)
frames

# %% [markdown]
# ## Photon statistics and contrast
# One call histograms every frame (vectorised over frames and ROIs), averages P(K) over
# frames with its standard error of the mean, and fits the negative-binomial contrast by
# maximum likelihood over all (pixel, frame) counts.

# %%
vis = xsvs.visibility(frames, part, mask=mask, progress=True)
vis[["beta", "beta_err", "beta_ratio", "beta_variance", "mean_count"]].isel(roi=0).to_dataframe()

# %% [markdown]
# The ML contrast agrees with the exact-ratio and moment estimators within their errors,
# and with the simulated truth:

# %%
truth = xr.DataArray(xsvs.contrast_exponential(exposure[:, None], 0.25, rate_true[None, :]),
                     dims=("exposure", "roi"), coords={"exposure": vis.exposure, "roi": vis.roi})
z = (vis.beta - truth) / vis.beta_err
print("ML vs truth: max |z| =", float(abs(z).max()))
for name in ("beta_ratio", "beta_variance"):
    zz = (vis[name] - vis.beta) / np.hypot(vis[f"{name}_err"], vis.beta_err)
    print(f"{name} vs ML: max |z| = {float(abs(zz).max()):.2f}")
assert float(abs(z).max()) < 4

# %% [markdown]
# ## Contrast vs exposure time → Γ(q)
# Per-q fits of β(T) = β0 (2/T)∫₀ᵀ(1 − τ/T)e^{−2Γτ}dτ, and one joint fit with Γ = D q².

# %%
res = xsvs.fit_dynamics(vis, model="exponential")
joint = xsvs.fit_dynamics(vis, joint=True)
table = xr.Dataset({"rate_true": ("roi", rate_true), "rate_fit": res.rate, "rate_err": res.rate_err,
                    "rate_joint": joint.rate}).to_dataframe()
table

# %%
D_fit = joint.beta_nlsq_coefficients.sel(param="D").item()
D_err = joint.beta_nlsq_stderr.sel(param="D").item()
print(f"D = {D_fit:.4g} ± {D_err:.2g} (1/s)·Å²  (true {D_true:.4g}); chi2_red = {joint.beta_nlsq_chi2_red.item():.2f}")
assert abs(D_fit - D_true) < 4 * D_err

# %% [markdown]
# ## Figures
# P(K) per exposure with the fitted negative binomial (lines) and Poisson (dotted), β(T)
# with the fitted model, and the per-frame mean count (drift and beam-damage check).

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
plot_histograms(res, roi=1, ax=axes[0])
plot_contrast(res, rois=[1, 3, 5, 7, 9], ax=axes[1])
plot_mean_count_trace(res, roi=1, ax=axes[2])
fig.tight_layout()

# %% [markdown]
# Interactive versions (HoloViews, bokeh):

# %%
import holoviews as hv

from xpcsnb.plot.xsvs import hv_contrast, hv_histograms

hv.extension("bokeh")
hv_contrast(res) + hv_histograms(res)

# %% [markdown]
# ## One Dataset, saved and read back
# Histograms, estimators, fits, mask (with its polarity) and provenance live in one
# Dataset, written as NetCDF (h5netcdf); an existing file is never overwritten unless
# `overwrite=True`.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = save_xsvs(res, Path(tmp) / "xsvs_results.nc")
    back = load_xsvs(path)
print("result kind stored in the file:", back.attrs.pop("xpcsnb_kind", None))
xr.testing.assert_identical(back, res)  # everything else: values, coordinates, attrs
print("round trip identical;", res.attrs["mask_polarity"])
res

# %% [markdown]
# ## The physical result: Γ(q) = D q²
# The per-q relaxation rates from the β(T) fits fall on one line through the origin against q²:
# diffusion, with the slope D from the joint fit.

# %%
q2 = part.q**2
fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
ax.errorbar(q2 * 1e6, res.rate, res.rate_err, fmt="o", label="per-q fits of β(T)")
grid = np.linspace(0, q2.max() * 1.05, 50)
ax.plot(grid * 1e6, D_fit * grid, "-", label=f"joint fit Γ = D q², D = {D_fit:.3g} ± {D_err:.1g} Å²/s")
ax.plot(grid * 1e6, D_true * grid, ":", color="0.4", label=f"simulated D = {D_true:.3g} Å²/s")
ax.set(xlabel="q² [10⁻⁶ Å⁻²]", ylabel="relaxation rate Γ [1/s]", title="XSVS: Γ(q) from contrast vs exposure")
ax.legend(fontsize=8);
