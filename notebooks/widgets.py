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
# # Interactive widgets: the C2 viewer and the workbench
#
# `xpcsnb.widgets` has two widgets that work in JupyterLab, Voila, VS Code and Colab:
#
# * **`C2View`** — a canvas view of C2(t1, t2) that reads like a figure: round ticks and
#   `t1 [s]`, `t2 [s]` on the axes, a colour bar with its label, ticks and rounded limits,
#   φ and q in the title. The matrix travels as uint8 and the colour table is applied in
#   the browser, so changing the colours needs no round trip. Type colour limits in the
#   header (or press *auto* for the 1–99 percentiles); **wheel** to zoom, **drag** to pan,
#   double-click for the full view: the kernel re-samples the visible window, so a 2000²
#   map, shown as block means at first (the note line says so), has full detail once
#   zoomed in. *PNG* downloads the view as a figure. The view shrinks with the window.
# * **`FitPanel`** (or `ds.xpcs.explore()` / `xpcsnb.widgets.explore(ds)`) — the
#   workbench: model, scaling, number of starts, q and φ selectors; tabs *Data* (viewer and
#   lag-averaged g₂), *Fit* (bounds / initial / fixed editor from the parameter registry,
#   per-angle contrast/offset rows, the flagged result table with its correlation matrix,
#   CSV/JSON downloads) and *Diagnostics* (data | model | weighted residual side by side,
#   g₂(τ) of data and fit) and *CMC* (a `CMCPanel` seeded from the NLSQ result, see
#   below). **Fit** runs in the background: the notebook stays usable,
#   **Cancel** discards the running fit, a double click runs one fit, and a result whose
#   settings were changed is marked "out of date".
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
# Zoom and colour limits also work from Python: `zoom(t1=..., t2=...)` [s] shows a window
# (re-sampled from the data), `set_limits` / `auto_limits` set the colour scale, and
# `save_png` writes the view as a figure.

# %%
viewer.zoom(t1=(2.0, 6.0), t2=(2.0, 6.0))
print("window (rows, columns):", viewer.window, "| shown", viewer.shape, "| limits", viewer.auto_limits())
viewer.reset_zoom()

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
# Edit a row and the panel checks it at once. An initial value outside its bounds, or a
# half-typed number, is flagged inline (the box turns red, the text stays as typed) and the
# Fit button is disabled until it is fixed:

# %%
panel.editor.rows["alpha"].initial.value = "3"
print("fit button disabled:", panel.fit_button.disabled, "| errors:", panel.editor.check())
panel.editor.rows["alpha"].initial.value = "1e"
print("kept as typed:", repr(panel.editor.rows["alpha"].initial.value), "|", panel.editor.check()["alpha"])
panel.editor.rows["alpha"].initial.value = "0"
print("fit button disabled:", panel.fit_button.disabled)

# %% [markdown]
# Clicking **Fit** in the page starts the fit in a worker process and returns at once; here
# we click from Python and wait for it (`panel.wait()`). The result is `panel.result` (the
# NLSQ result Dataset with `c2_model`); the *Fit* tab shows its table, in which parameters
# at a bound and relative errors above 100 % are flagged, with the correlation matrix
# (|r| > 0.95 marked) below it.

# %%
panel.fit_button.click()
print("returned at once; running:", panel.running)
res = panel.wait()
print(res.xpcs.report())

# %%
from xpcsnb.widgets.table import correlation_matrix, flag_parameters

print("flags:", flag_parameters(res) or "none")
print(correlation_matrix(res).round(2).to_pandas())

# %% [markdown]
# The *Fit* tab offers the parameter table as CSV, JSON and NetCDF downloads. From Python,
# `save_parameters` writes the NetCDF file atomically and refuses to replace an existing
# file unless `overwrite=True`; `load_parameters` reads it back:

# %%
import tempfile
from pathlib import Path

from xpcsnb.widgets.table import load_parameters, save_parameters

with tempfile.TemporaryDirectory() as folder:
    path = save_parameters(res, Path(folder) / "parameters.nc")
    table = load_parameters(path)
print(table[["coefficients", "stderr"]].drop_vars("unit").to_dataframe().round(4).head(3))
print("flagged:", {str(p): str(f) for p, f in zip(table["param"].values, table["flags"].values) if f})

# %%
truth = DEMO_TRUTH["laminar_flow"]
for name in ("D0", "alpha", "gamma_dot_t0", "beta", "phi0"):
    v = float(res["c2_nlsq_coefficients"].sel(param=name))
    e = float(res["c2_nlsq_stderr"].sel(param=name))
    print(f"{name:>14} = {v:.5g} ± {e:.2g}   (truth {truth[name]:g}, {abs(v - truth[name]) / e:.1f} σ)")
assert bool(res["c2_nlsq_success"])

# %% [markdown]
# The *Diagnostics* tab shows data, model and the weighted residual (data − model)/σ side
# by side for one angle (the three maps are linked), and g₂(τ) of data and fit below.

# %%
resid = panel.residual_view
off = ~np.eye(part.sizes["t1"], dtype=bool)
print(resid.title, f"| colour range ±{resid.vmax:.4g}; rms off the diagonal per angle:",
      np.sqrt(np.mean(((part["c2"] - res["c2_model"]) / part["sigma"]).values[:, off] ** 2, axis=1)).round(3))

# %% [markdown]
# Change a setting after a fit and the shown result is marked out of date until the next fit:

# %%
panel.editor.rows["D0"].upper.value = "5e4"
print("stale:", panel.stale, "|", panel.residual_view.title)

# %% [markdown]
# "Start from result" copies the fitted values into the `initial` column, e.g. before
# widening a bound or freeing a parameter and fitting again; "Reset" restores the
# registry defaults.
