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
# # A flowing, ageing sample: two-time C2 → laminar-flow fit → CMC → D(t) and γ̇(t)
#
# A sample under shear (a colloid in a capillary, a gel being sheared) decorrelates faster
# along the flow than across it, and its dynamics may also change with age. The homodyne
# **laminar-flow** model (He et al. 2024, PNAS 121, e2401162121) describes both:
#
# $$C_2(\phi, t_1, t_2) = \text{offset}_\phi + \text{contrast}_\phi\,
#   \exp\!\Big(-q^2\!\int_{t_1}^{t_2}\! D(t)\,dt\Big)\,
#   \operatorname{sinc}^4\!\Big(\frac{qL\cos(\phi_0-\phi)}{2\pi}\int_{t_1}^{t_2}\!\dot\gamma(t)\,dt\Big)$$
#
# with $D(t) = D_0 t^{\alpha} + D_\text{offset}$ (diffusion; α ≠ 0 is ageing) and
# $\dot\gamma(t) = \dot\gamma_0 t^{\beta} + \dot\gamma_\text{offset}$ (shear rate), L the gap
# and φ0 the flow direction; sinc(x) = sin(x)/x enters C2 to the fourth power (sinc² in g1,
# and g1 is squared). Conventions: the model page of the docs. The shear term vanishes at
# φ − φ0 = 90° and is strongest along the flow.
#
# There are no public measured two-time data of a sheared sample, so this tutorial simulates
# one with known truth (the measured, quiescent BNL matrix is fitted in the quickstart):
#
# 1. simulate C2 at three angles and look at the anisotropy,
# 2. fit by NLSQ (the bounded trust region, exact JAX Jacobians) and read the report,
# 3. D(t) and γ̇(t) with their delta-method bands (`res.xpcs.rates()`),
# 4. Consensus Monte Carlo seeded by the NLSQ fit, with its convergence checks,
# 5. the physical result: the posterior bands of D(t) and γ̇(t) against the truth.

# %%
import matplotlib.pyplot as plt
import numpy as np

import xpcsnb

# %% [markdown]
# ## 1. A sheared, ageing sample
# 3 angles (along, at 45° to and across the flow) × 60 frames of 0.1 s, q = 0.0054 Å⁻¹, a
# 0.2 mm gap (L = 2·10⁶ Å), 1 % noise. σ is stored with the data, so every fit below is weighted.

# %%
truth = dict(D0=1e4, alpha=-0.4, D_offset=100.0, gamma_dot_t0=5e-4, beta=0.3,
             gamma_dot_t_offset=0.0, phi0=4.0)
flow = xpcsnb.simulate("laminar_flow", truth, t=0.1 * np.arange(60), phi=[0, 45, 90], q=0.0054, L=2e6,
                       contrast=[0.30, 0.28, 0.32], offset=1.0, noise=0.01, seed=2)
flow

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for ax, phi in zip(axes, flow.phi.values):
    im = ax.imshow(flow.c2.sel(phi=phi), origin="lower", extent=[0, 6, 0, 6], vmin=1.0, vmax=1.32)
    ax.set(xlabel="t2 [s]", ylabel="t1 [s]", title=f"C2, φ = {phi:g}°")
fig.colorbar(im, ax=axes, label="C2 [dimensionless]", shrink=0.9);

# %% [markdown]
# Along the flow (φ = 0°) the ridge is narrowest: the shear term decorrelates the speckle on
# top of diffusion; across the flow (90°, near φ0 + 90°) only diffusion is left. The ridge
# widens with age (α < 0: the dynamics slow down).
#
# ## 2. NLSQ
# The registry's defaults are the start (no `initial=`); the screened starts include the
# mirror φ0 → −φ0 that the data cannot tell apart from the angles alone. Over 6 s the three
# shear-law parameters γ̇0, β and γ̇_offset are nearly degenerate (correlations > 0.99 when all
# are free), so the constant part of the shear rate is fixed at 0 — the sample is sheared by a
# rate that follows a power law of its age.

# %%
res = flow.xpcs.fit_nlsq("laminar_flow", fixed={"gamma_dot_t_offset": 0.0})
print(res.xpcs.report())

# %%
free = [n for n in truth if n != "gamma_dot_t_offset"]
for name in free:
    value = truth[name]
    v, e = (float(res[k].sel(param=name)) for k in ("c2_nlsq_coefficients", "c2_nlsq_stderr"))
    print(f"{name:>19}: {v: .5g} ± {e:.2g}   truth {value: .5g}   z = {(v - value) / e:+.2f}")

# %% [markdown]
# ## 3. Rates as derived quantities
# D0, α and D_offset trade off (so do γ̇0 and β), but D(t) and γ̇(t) over the
# measured ages are well determined: `res.xpcs.rates()` propagates the full covariance.

# %%
rates = res.xpcs.rates()
rates

# %% [markdown]
# ## 4. Consensus Monte Carlo
# `nlsq=res` seeds the priors (truncated normals 5 stderr wide at the NLSQ values), the
# parametrisation and the chains' starts; the fixed γ̇_offset stays fixed. Two shards, two
# chains each, in this process (about half a minute on two cores).

# %%
post = flow.xpcs.fit_cmc("laminar_flow", nlsq=res, seed=1, n_shards=2, num_warmup=600, num_samples=600,
                         parallel=False)
summary = xpcsnb.cmc_summary(post)
summary.loc[free]

# %%
found = xpcsnb.cmc_warnings(post)
print(found or "converged: every shard passed R-hat ≤ 1.01, ESS ≥ 400, no divergences, E-BFMI ≥ 0.3")
for name in free:
    value = truth[name]
    z = (summary.loc[name, "mean"] - value) / summary.loc[name, "sd"]
    print(f"{name:>19}: posterior {summary.loc[name, 'mean']: .5g} ± {summary.loc[name, 'sd']:.2g}   "
          f"NLSQ ± {float(res.c2_nlsq_stderr.sel(param=name)):.2g}   (mean − truth)/sd = {z:+.2f}")
    assert abs(z) < 4

# %% [markdown]
# ## 5. The physical result: D(t) and γ̇(t)
# Each posterior draw gives a curve; the band holds 90 % of them at every age. The NLSQ ±1σ
# band (delta method) is drawn over it, the truth dashed.

# %%
t = rates.t.values[1:]  # t > 0: D(t) of α < 0 diverges at t = 0
draws = {n: post["posterior"][n].values.ravel() for n in free}
D = draws["D0"][:, None] * t ** draws["alpha"][:, None] + draws["D_offset"][:, None]
G = draws["gamma_dot_t0"][:, None] * t ** draws["beta"][:, None]  # γ̇_offset fixed at 0
true_D = truth["D0"] * t ** truth["alpha"] + truth["D_offset"]
true_G = truth["gamma_dot_t0"] * t ** truth["beta"] + truth["gamma_dot_t_offset"]

fig, axes = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for ax, curves, name, true, unit, label in (
        (axes[0], D, "D", true_D, "Å²/s", "diffusion D(t)"),
        (axes[1], G, "gamma_dot_t", true_G, "s⁻¹", "shear rate γ̇(t)")):
    lo, mid, hi = np.percentile(curves, [5, 50, 95], axis=0)
    ax.fill_between(t, lo, hi, color="C0", alpha=0.3, label="CMC 90 % band")
    ax.plot(t, mid, "C0-", label="CMC median")
    nl, ne = rates[name].values[1:], rates[f"{name}_stderr"].values[1:]
    ax.plot(t, nl - ne, "C1:", t, nl + ne, "C1:")
    ax.plot([], [], "C1:", label="NLSQ ±1σ")
    ax.plot(t, true, "k--", label="truth")
    ax.set(xscale="log", xlabel="sample age t [s]", ylabel=f"{label} [{unit}]", title=label)
    ax.legend(fontsize=8)
k = int(np.argmin(abs(t - 3.0)))
print(f"at t = {t[k]:.2f} s: D = {np.median(D[:, k]):.4g} Å²/s (truth {true_D[k]:.4g}), "
      f"γ̇ = {np.median(G[:, k]):.3g} s⁻¹ (truth {true_G[k]:.3g})")
