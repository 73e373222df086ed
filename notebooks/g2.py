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
# # One-time g2 on real data: per-bin fits, absorbers compared, frames → g2 → Γ(q) → D
#
# The most common XPCS analysis: fit g2(τ) in every q bin with a (stretched) exponential, then
# the relaxation rate Γ(q) against q. This tutorial runs on **measured** data shipped with
# xpcsnb:
#
# * g2 curves of SiO2 nanoparticles in suspension at three absorber settings (attenuation
#   Abs < Abs6 < Abs12, so fewer photons and noisier curves) and of egg yolk
#   (DenoisingXpcs experimental sets, MIT; the q of the 7 bins was **not recorded**, so we fit
#   per bin and compare across files);
# * 100 raw speckle frames (scikit-beam examples, BSD-3) with their geometry, correlated here
#   with `xpcsnb.correlate.multitau`.
#
# The g2 models are registered like the two-time ones (`kind == "g2"`), and fits run on the same
# NLSQ engine (`solve`, `Status`), with results named `g2_nlsq_*`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import xpcsnb
from xpcsnb import correlate as xc
from xpcsnb.datasets import real_frames, real_g2, real_g2_names

print([(n, xpcsnb.get_model(n).kind) for n in xpcsnb.models.model_names()])

# %% [markdown]
# ## 1. A measured g2 set in the g2 schema
# `g2(roi, tau)` with `g2_err`, lag times in s; the attrs say where it comes from and that q is
# unknown.

# %%
sio2 = real_g2("sio2_abs")
print(sio2.attrs["title"], "|", sio2.attrs["q_note"])
sio2

# %% [markdown]
# ## 2. Every bin from defaults
# `g2.xpcs.fit_nlsq("stretched_exponential")` fits each ROI independently from data-driven
# starts (Γ from the half-decay time, contrast from the first points, baseline from the tail).
# Points with a non-finite g2 or `g2_err <= 0` are excluded and counted (`g2_nlsq_n_excluded`).
# A fit whose stderr is not finite, or whose estimate sits on a bound, is never a success.

# %%
res = sio2.xpcs.fit_nlsq("stretched_exponential")
table = res["g2_nlsq_coefficients"].to_pandas()
table["gamma_err"] = res["g2_nlsq_stderr"].sel(param="gamma").values
table["chi2_red"] = res["g2_nlsq_chi2_red"].values
table["status"] = [res["g2_nlsq_status"].attrs["meaning"].split(", ")[s] for s in res["g2_nlsq_status"].values]
table

# %%
fig = sio2.xpcs.plot(res)

# %% [markdown]
# The fastest bin barely decays before the noise floor and the slowest has not reached its
# baseline: the status column says so instead of reporting numbers without meaning.
#
# ## 3. Absorbers compared
# The same sample with more attenuation: the rates of a bin should agree within their errors,
# while the errors grow with the absorber.

# %%
fits = {n: real_g2(n).xpcs.fit_nlsq("stretched_exponential") for n in ("sio2_abs", "sio2_abs6", "sio2_abs12")}
fig, ax = plt.subplots(figsize=(6, 4))
for k, (name, r) in enumerate(fits.items()):
    ok = r["g2_nlsq_success"].values
    g = r["g2_nlsq_coefficients"].sel(param="gamma").values
    e = r["g2_nlsq_stderr"].sel(param="gamma").values
    x = r["roi"].values + 0.1 * (k - 1)
    ax.errorbar(x[ok], g[ok], e[ok], fmt="o", label=name, capsize=3)
ax.set(yscale="log", xlabel="q bin (increasing q; q values not recorded)", ylabel="Γ [1/s]",
       title="SiO2: stretched-exponential rate per bin and absorber")
ax.legend()
for name, r in fits.items():
    print(f"{name:11s} successes {int(r['g2_nlsq_success'].sum())}/7, median stretch "
          f"{np.nanmedian(r['g2_nlsq_coefficients'].sel(param='stretch').where(r['g2_nlsq_success'])):.2f}")

# %% [markdown]
# Γ grows by a factor of ~40 from the first to the sixth bin (for diffusion, Γ ∝ q², the bins
# would span a factor ~6.5 in q). Abs and Abs6 agree within their errors bin by bin; at Abs12
# the photon-starved curves fit in fewer bins and with errors several times larger, and the
# failed bins are flagged rather than plotted. The egg yolk is three orders of magnitude slower
# (lags up to 33 s), with a compressed decay (stretch > 1) in the first bins:

# %%
egg = real_g2("eggyolk_abs18")
egg_res = egg.xpcs.fit_nlsq("stretched_exponential")
print(egg.attrs["title"])
print(egg_res[["g2_nlsq_success"]].to_pandas().T)
print(egg_res["g2_nlsq_coefficients"].sel(param=["gamma", "stretch"]).to_pandas().round(3))

# %% [markdown]
# ## 4. From frames: correlate → g2 → fit → Γ(q) → D
# The frames carry their geometry (frame time 1.30 ms, 2.23 m, 108 µm pixels, λ = 1.546 Å).
# Rings of q, hot pixels (mean > 20 counts/frame) masked, multi-tau correlation.

# %%
frames = real_frames()
a = frames.attrs
geom = xc.Geometry(shape=frames.shape[1:], beam_center=tuple(a["beam_center"]), distance=a["distance"],
                   pixel_size=a["pixel_size"], wavelength=a["wavelength"])
mean = frames.mean("frame").values
part = xc.partition(geom.q_map(), np.linspace(0.0015, 0.0095, 9), mask=mean < 20)
g2f = xc.multitau(frames.values, part, frame_time=a["frame_time"], num_bufs=8, progress=False)
print(frames.shape, "frames →", dict(g2f.sizes), "q =", np.round(g2f["q"].values, 4), "1/Å")

# %% [markdown]
# 100 frames span 0.13 s: only the beginning of the decay is in the window, so the baseline
# cannot be fitted — hold it at 1 (`fixed=`). Fits whose contrast or rate end on a bound are
# flagged and left out of Γ(q).

# %%
res_f = g2f.xpcs.fit_nlsq("single_exponential", fixed={"baseline": 1.0})
fig = g2f.xpcs.plot(res_f)
print(res_f[["g2_nlsq_success", "g2_nlsq_chi2_red"]].to_pandas().round(3))

# %%
rates = xpcsnb.fit.fit_rates(res_f, law="diffusive")
print(f"Γ = D q²: D = {float(rates['D']):.3g} ± {float(rates['D_stderr']):.2g} {rates['D'].attrs['units']} "
      f"= {float(rates['D']) * 1e-20:.3g} m²/s from {rates.attrs['n_used']} bins "
      f"(χ²_red {float(rates['chi2_red']):.2f})")
from xpcsnb.plot.g2 import plot_rates  # noqa: E402

ax = plot_rates(rates)

# %% [markdown]
# The same in one joint fit: Γ_r = D·q_r² shared by every ROI, contrast per ROI.

# %%
joint = g2f.isel(roi=res_f["g2_nlsq_success"].values).xpcs.fit_nlsq(
    "single_exponential", rate_law="diffusive", fixed={"baseline": 1.0})
D, dD = joint["g2_nlsq_law_coefficients"].sel(law_param="D"), joint["g2_nlsq_law_stderr"].sel(law_param="D")
print(f"joint fit: D = {float(D):.3g} ± {float(dD):.2g} {str(D['law_unit'].values)}, "
      f"success {bool(joint['g2_nlsq_success'].all())}")

# %% [markdown]
# With a 0.13 s window the rates are determined to tens of percent and D to about ±25 %; the
# three outer rings (contrast above 1 with this sparse, per-pixel normalised data) are flagged
# and left out. A longer series, or an APS multitau file, fits the same way.
