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
# # xpcsnb quick start: two-time data → homodyne NLSQ fit → residuals
#
# This tutorial runs top to bottom on the embedded demo data. It shows the data model (a labelled
# `xarray.Dataset`), the homodyne models and the NLSQ engine behind `ds.xpcs.fit_nlsq`, and the
# honest result Dataset (value ± stderr, χ²_red, status) that round-trips through NetCDF.

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import xpcsnb

# %% [markdown]
# ## 1. A two-time Dataset
# `xpcsnb.simulate` evaluates a model on a time grid (t_k = k·dt from 0, the homodyne
# convention) and adds seeded, symmetric Gaussian noise; `sigma` is stored with the data.
# Every variable and coordinate carries its unit.

# %%
truth = dict(D0=1e4, alpha=-0.4, D_offset=100.0, gamma_dot_t0=5e-4, beta=0.3,
             gamma_dot_t_offset=2e-5, phi0=4.0)
ds = xpcsnb.simulate("laminar_flow", truth, t=0.1 * np.arange(150), phi=[0, 45, 90], q=0.0054, L=2e6,
                     contrast=[0.30, 0.28, 0.32], offset=1.0, noise=0.01, seed=0)
ds

# %%
fig = ds.xpcs.plot()

# %% [markdown]
# The constructor validates its input and never repairs it silently:

# %%
try:
    xpcsnb.twotime(np.ones((2, 4, 4)), t=[0.0, 0.1, 0.3, 0.4], phi=[0, 90], q=0.005)
except xpcsnb.TwoTimeError as err:
    print("TwoTimeError:", err)

# %% [markdown]
# ## 2. Fit the laminar-flow model
# Bounded trust-region least squares (scipy TRF) with the exact JAX Jacobian; the diagonal
# t1 = t2 is excluded, and for symmetric C2 only the upper triangle enters (each measured point
# once). The parameter bounds, starts and units all come from one registry.

# %%
xpcsnb.registry.MODELS["laminar_flow"][:3]

# %%
res = ds.xpcs.fit_nlsq("laminar_flow", return_model=True)
res.xpcs.report()

# %%
for name, value in truth.items():
    v = float(res.c2_nlsq_coefficients.sel(param=name))
    e = float(res.c2_nlsq_stderr.sel(param=name))
    print(f"{name:>20}: {v: .5g} ± {e:.2g}   truth {value: .5g}   z = {(v - value) / e:+.2f}")
assert bool(res.c2_nlsq_success)

# %% [markdown]
# ## 3. Residuals and the static model
# `ds.xpcs.model(name, params)` evaluates a model on the Dataset's own grid, so residual maps are
# one subtraction. The static model ignores shear and leaves a clear structure at φ = 0°.

# %%
from xpcsnb.plot.twotime import plot_fit

fig = plot_fit(ds, res, max_angles=2)

# %%
static = ds.xpcs.fit_nlsq("static")
print(f"laminar flow chi2_red = {float(res.c2_nlsq_chi2_red):.4f}, "
      f"static chi2_red = {float(static.c2_nlsq_chi2_red):.3f}")
resid = ds.xpcs.residuals("static", static)
resid.isel(phi=0).plot(size=3, robust=True);

# %% [markdown]
# ## 4. Save and reload
# Results are plain Datasets in xarray's `curvefit` naming (`c2_nlsq_coefficients(param)`,
# `c2_nlsq_chi2_red`, `c2_nlsq_success`, ...). `res.xpcs.save(path)` writes one to NetCDF atomically
# (never over an existing file unless `overwrite=True`); `xpcsnb.fit.load_nlsq` reads it back and
# refuses a file holding another kind of result.

# %%
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "fit.nc"
    res.xpcs.save(path)
    back = xpcsnb.fit.load_nlsq(path)
print(back.xpcs.report())

# %% [markdown]
# ## 5. Real measured data
# The embedded 350 × 350 matrix (BNL, BSD-3) has no geometry: times are in frames and q = 1, so
# `D0` below is q²·D in frame⁻⁽¹⁺ᵅ⁾. The bounds are set for that scale.

# %%
real = xpcsnb.datasets.load("bnl_two_time_350")
fit_real = real.xpcs.fit_nlsq("static", bounds={"D0": (1e-6, 10.0)}, initial={"D0": 0.01},
                              fixed={"D_offset": 0.0})
fit_real.xpcs.report()

# %%
c = real.c2.isel(phi=0).values
lag = np.arange(1, 120)
model = real.xpcs.model("static", fit_real).c2.isel(phi=0).values
plt.figure(figsize=(5, 3))
plt.plot(lag, [np.mean(np.diagonal(c, k)) for k in lag], ".", label="data (diagonal average)")
plt.plot(lag, [np.mean(np.diagonal(model, k)) for k in lag], "-", label="static model")
plt.xlabel("lag [frames]")
plt.ylabel("g2")
plt.legend();
