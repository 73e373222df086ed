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
# # xpcsnb quick start: a measured two-time matrix → fit → residuals → report
#
# This tutorial runs top to bottom in well under a minute. It loads a **measured** two-time
# correlation matrix, fits the homodyne `static` model with the NLSQ engine behind
# `ds.xpcs.fit_nlsq`, looks at the residuals, saves the result and its text report, and repeats
# the fit on a simulated flowing sample (laminar flow) where the truth is known.
#
# The two-time correlation of a homodyne measurement is (He et al. 2024)
#
# $$C_2(t_1, t_2) = \text{offset} + \text{contrast}\cdot
#   \exp\!\Big(-q^2\!\int_{t_1}^{t_2}\! D(t)\,dt\Big)\cdot\operatorname{sinc}^4(\ldots),
#   \qquad D(t) = D_0\,t^{\alpha} + D_\text{offset},$$
#
# so the decay rate of $C_2$ along the lag at sample age $t$ is $q^2 D(t)$: an ageing sample
# ($\alpha < 0$) slows down. The sinc⁴ factor carries the shear rate $\dot\gamma(t)$ of a flowing
# sample (section 5); `static` omits it.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import xpcsnb
from xpcsnb.plot.twotime import plot_fit

plt.rcParams["figure.dpi"] = 72  # speckle-noise images: keeps the saved notebook small

# %% [markdown]
# ## 1. Real data: the BNL two-time matrix
# The 350 × 350 matrix of the BNL "automating XPCS analysis" example (BSD-3) comes without
# geometry or frame time. Honest units: **time in frames**, and **q is a placeholder** (q = 1 in
# arbitrary units), so a fitted D can only be stated as q²·D in 1/frame. The Dataset's attrs say so.

# %%
real = xpcsnb.datasets.load("bnl_two_time_350")
print({k: real.attrs[k] for k in ("time_units", "q_note", "dt_units", "q_units")})
real

# %%
fig = real.xpcs.plot()

# %% [markdown]
# The constructor validates its input and never repairs it silently:

# %%
try:
    xpcsnb.twotime(np.ones((2, 4, 4)), t=[0.0, 0.1, 0.3, 0.4], phi=[0, 90], q=0.005)
except xpcsnb.TwoTimeError as err:
    print("TwoTimeError:", err)

# %% [markdown]
# ## 2. Fit the static (ageing) model
# Bounded trust-region least squares with the exact JAX Jacobian; the diagonal t1 = t2 is
# excluded and only the upper triangle enters (each measured point once). With q = 1 and t in
# frames, D0 lives near 0.01–1, so the bounds are set for that scale; D_offset is held at 0.
# The report's units follow the data: `(1/q)²/frame^(1+alpha)` for D0.

# %%
res = real.xpcs.fit_nlsq("static", bounds={"D0": (1e-6, 10.0)}, initial={"D0": 0.01},
                         fixed={"D_offset": 0.0}, return_model=True)
res.xpcs.report()

# %% [markdown]
# ## 3. Residuals
# The matrix has no σ, so the fit is unweighted and the residual panel shows data − model
# (not a normalised residual); χ²_red is then in units of C2², not a goodness-of-fit number.

# %%
fig = plot_fit(real, res, figsize_per=4.0)

# %% [markdown]
# ## 4. Save the result and its report
# Results are plain Datasets (`c2_nlsq_coefficients(param)`, `c2_nlsq_stderr`, `c2_nlsq_success`,
# ... with a `unit` coordinate). `res.xpcs.save(path)` writes NetCDF atomically and never over an
# existing file unless `overwrite=True`; `xpcsnb.fit.load_nlsq` reads it back (kind-checked).

# %%
tmp = Path(tempfile.mkdtemp(prefix="xpcsnb-quickstart-"))
res.xpcs.save(tmp / "bnl_static_fit.nc")
text = str(res.xpcs.report())
(tmp / "bnl_static_fit.txt").write_text(text, encoding="utf-8")
back = xpcsnb.fit.load_nlsq(tmp / "bnl_static_fit.nc")
print(sorted(p.name for p in tmp.iterdir()))
print(text)
assert back["unit"].sel(param="D0") == "(1/q)²/frame^(1+alpha)"

# %% [markdown]
# ## 5. A simulated flowing sample: the laminar-flow model
# `xpcsnb.simulate` evaluates a model on a time grid (t in s, q in 1/Å, gap L in Å) and adds seeded
# noise; σ is stored with the data, so this fit is weighted. Shear enters through
# $\dot\gamma(t) = \dot\gamma_0 t^{\beta} + \dot\gamma_\text{offset}$ and the flow angle φ0:
# the decay is faster at φ − φ0 = 0° than at 90°.

# %%
truth = dict(D0=1e4, alpha=-0.4, D_offset=100.0, gamma_dot_t0=5e-4, beta=0.3,
             gamma_dot_t_offset=2e-5, phi0=4.0)
flow = xpcsnb.simulate("laminar_flow", truth, t=0.1 * np.arange(120), phi=[0, 45, 90], q=0.0054, L=2e6,
                       contrast=[0.30, 0.28, 0.32], offset=1.0, noise=0.01, seed=0)
fit = flow.xpcs.fit_nlsq("laminar_flow", return_model=True)
for name, value in truth.items():
    v = float(fit.c2_nlsq_coefficients.sel(param=name))
    e = float(fit.c2_nlsq_stderr.sel(param=name))
    u = str(fit.unit.sel(param=name).values)
    print(f"{name:>20}: {v: .5g} ± {e:.2g} {u:<15} truth {value: .5g}   z = {(v - value) / e:+.2f}")
print(f"chi2_red = {float(fit.c2_nlsq_chi2_red):.3f} (weighted by the stored sigma)")

# %%
fig = plot_fit(flow, fit, max_angles=2)

# %% [markdown]
# ## 6. The physical result
# For the measured sample: $q^2 D(t) = q^2 D_0\, t^{\alpha}$ (t in frames). The 1/e lag time of
# $C_2 - \text{offset}$ at age t is $\tau(t) = 1/(q^2 D(t))$ frames; α < 0 means the dynamics
# slow down as the sample ages. Left: C2 along the lag at two ages (data: matrix rows t1 = age ± 20
# frames, averaged) with the fitted model; right: τ(t) with its 1σ band from the fit covariance.

# %%
d0, alpha = (float(res.c2_nlsq_coefficients.sel(param=p)) for p in ("D0", "alpha"))
cov = res.c2_nlsq_covariance.sel(cov_i=["D0", "alpha"], cov_j=["D0", "alpha"]).values
age = np.arange(10.0, 341.0)
tau = 1.0 / (d0 * age**alpha)
grad = np.stack([-tau / d0, -tau * np.log(age)], axis=1)  # d tau / d (D0, alpha)
tau_err = np.sqrt(np.einsum("ni,ij,nj->n", grad, cov, grad))
for t in (50, 300):
    k = int(np.argmin(abs(age - t)))
    print(f"age {t:3d} frames: q²D = {1 / tau[k]:.3g} 1/frame, 1/e lag τ = {tau[k]:.1f} ± {tau_err[k]:.1f} frames")
print(f"alpha = {alpha:.2f} ± {float(res.c2_nlsq_stderr.sel(param='alpha')):.2f}: the sample ages (slows down)")

fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
c, m = real.c2.isel(phi=0).values, res.c2_model.isel(phi=0).values
lag = np.arange(1, 80)
for i, t1 in enumerate((50, 250)):
    rows = np.arange(t1 - 20, t1 + 21)  # ages t1 ± 20 frames, averaged to beat the speckle noise
    a.plot(lag, c[rows[:, None], rows[:, None] + lag].mean(0), "o", ms=3, color=f"C{i}",
           label=f"data, ages {t1} ± 20 frames")
    a.plot(lag, m[rows[:, None], rows[:, None] + lag].mean(0), "-", color=f"C{i}", label=f"static model, age {t1}")
a.set(xlabel="lag t2 − t1 [frames]", ylabel="C2 [dimensionless]", title="BNL matrix: C2 along the lag")
a.legend(fontsize=8)
b.plot(age, tau, "k-", label="fit: 1/(q²D0 t^α)")
b.fill_between(age, tau - tau_err, tau + tau_err, color="0.7", label="±1σ")
b.set(xlabel="sample age t [frames]", ylabel="1/e lag time τ [frames]", title="ageing: relaxation time vs age")
b.legend(fontsize=8);
