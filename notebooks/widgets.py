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
# # Interactive widgets: the C2 viewer and the fit panel
#
# `xpcsnb.widgets` has two widgets that work in JupyterLab, Voila, VS Code and Colab:
#
# * **`C2View`** — a canvas view of C2(t1, t2). The matrix travels as uint8 (clipped to the
#   1–99 percentiles off the diagonal) and the colour table is applied in the browser, so
#   changing the colours needs no round trip. Hover the image for t1, t2 and C2; pick the
#   angle and the colour table in the header. Matrices above 1024² are shown as block
#   means (the widget says so).
# * **`FitPanel`** (or `xpcsnb.widgets.explore(ds)`) — the viewer, a bounds / initial /
#   fixed editor generated from the parameter registry (each row is checked as you type),
#   a **Fit** button running `fit_nlsq`, the result table and the residual view
#   (data − model).
#
# In a static rendering of this notebook the widgets need a live kernel; every value they
# show is also available from Python, as the cells below do.

# %%
import numpy as np

from xpcsnb.datasets import DEMO_TRUTH, load
from xpcsnb.widgets import C2View, FitPanel, explore

ds = load("laminar_flow")  # synthetic demo: 3 angles × 200² frames, known parameters
ds

# %% [markdown]
# ## The C2 viewer

# %%
viewer = C2View(ds)
viewer

# %% [markdown]
# Everything the browser draws is in the widget's traits: the shape, the colour limits
# (1st and 99th percentiles off the diagonal, over all angles) and the angle shown.
# Setting a trait from Python updates the page.

# %%
viewer.phi_index = 1  # show φ = 45°
viewer.colormap = "magma"  # recoloured in the browser
print(f"shape {viewer.shape}, vmin = {viewer.vmin:.4f}, vmax = {viewer.vmax:.4f}, angles {viewer.phi} deg")

# %% [markdown]
# Large matrices are averaged in blocks on the Python side before they are sent; here a
# forced `max_size=64` shows what the note line says.

# %%
small = C2View(ds, max_size=64, title="downsampled view")
print(small.note)
small

# %% [markdown]
# ## The fit panel
#
# The panel fits the model named in `model` (default `"laminar_flow"`; `explore(ds)` picks
# `laminar_flow` when the Dataset has the gap `L`, `static` otherwise). To keep this
# notebook fast on a laptop CPU it works on the first 60 frames of the demo; the full
# 200² set works the same way and takes longer.

# %%
part = ds.isel(t1=slice(0, 60), t2=slice(0, 60))
panel = explore(part)
panel

# %% [markdown]
# Edit a row and the panel checks it at once. An initial value outside its bounds is
# flagged inline and the Fit button is disabled until it is fixed:

# %%
panel.editor.rows["alpha"].initial.value = 3.0
print("fit button disabled:", panel.fit_button.disabled, "| errors:", panel.editor.check())
panel.editor.rows["alpha"].initial.value = 0.0
print("fit button disabled:", panel.fit_button.disabled)

# %% [markdown]
# Clicking **Fit** in the page runs the fit; here we click from Python. The result is
# `panel.result` (the NLSQ result Dataset with `c2_model` and `c2_residual`), the table
# below the panel is its report (`res.xpcs.report()`), and the residual view appears next to the data.

# %%
panel.fit_button.click()
res = panel.result
print(res.xpcs.report())

# %%
truth = DEMO_TRUTH["laminar_flow"]
for name in ("D0", "alpha", "gamma_dot_t0", "beta", "phi0"):
    v = float(res["c2_nlsq_coefficients"].sel(param=name))
    e = float(res["c2_nlsq_stderr"].sel(param=name))
    print(f"{name:>14} = {v:.5g} ± {e:.2g}   (truth {truth[name]:g}, {abs(v - truth[name]) / e:.1f} σ)")
assert bool(res["c2_nlsq_success"])

# %% [markdown]
# The residual view shows data − model for the angle picked in the data view (the two are
# linked):

# %%
resid = panel.residual_view
off = ~np.eye(part.sizes["t1"], dtype=bool)
print(f"residual colour range ±{resid.vmax:.4f}; rms off the diagonal per angle:",
      np.sqrt(np.mean(((part["c2"] - res["c2_model"]).values[:, off]) ** 2, axis=1)).round(4))

# %% [markdown]
# "Start from result" copies the fitted values into the `initial` column, e.g. before
# widening a bound or freeing a parameter and fitting again; "Reset" restores the
# registry defaults.
