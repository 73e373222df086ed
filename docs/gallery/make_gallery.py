"""Draw the gallery figures of the README and the docs from the measured data that xpcsnb ships.

Run from the repository root: ``python docs/gallery/make_gallery.py``. It writes three small
PNGs to ``docs/_static/gallery/`` (overwriting them) using only the public API:

* ``bnl_twotime_fit.png``: the measured BNL two-time matrix, the static-model fit and the
  weighted residual (time in frames, q unknown, as the data are);
* ``frames_twotime_g2.png``: 100 measured speckle frames → the two-time C2 of one q ring,
  and its multi-tau g2 with a single-exponential fit and the diagonal mean of C2;
* ``sio2_g2_fits.png``: measured g2 curves of a SiO2 suspension (7 q bins) with
  stretched-exponential fits and residuals.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import xpcsnb  # noqa: E402
import xpcsnb.correlate as xc  # noqa: E402
from xpcsnb import datasets  # noqa: E402
from xpcsnb.plot.g2 import model_curves, plot_g2  # noqa: E402
from xpcsnb.plot.twotime import plot_fit  # noqa: E402

plt.rcParams["figure.dpi"] = 80  # small files, still legible on a slide
OUT = Path(__file__).resolve().parents[1] / "_static" / "gallery"


def _save(fig, name: str) -> Path:
    """Save ``fig`` as a palette PNG (256 colours: detector noise compresses badly in RGBA)."""
    from PIL import Image

    path = OUT / name
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3])
    plt.close(fig)
    rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def bnl_twotime_fit() -> Path:
    """The measured two-time matrix with the static-model fit (the demo's settings)."""
    ds = datasets.load("bnl_two_time_350")
    res = xpcsnb.fit_nlsq(ds, "static", bounds={"D0": (1e-6, 10.0)}, initial={"D0": 0.01},
                          fixed={"D_offset": 0.0}, return_model=True)
    fig = plot_fit(ds, res, figsize_per=3.6)
    fig.suptitle("Measured two-time C2 (BNL, 350 frames): static model, D(t) = D0·t^α (time in frames)")
    return _save(fig, "bnl_twotime_fit.png")


def frames_twotime_g2() -> Path:
    """Measured frames → two-time C2 of one q ring and its multi-tau g2 with a fit."""
    frames = datasets.real_frames()
    a = frames.attrs
    geom = xc.Geometry(shape=frames.shape[1:], beam_center=tuple(a["beam_center"]), distance=a["distance"],
                       pixel_size=a["pixel_size"], wavelength=a["wavelength"])
    part = xc.partition(geom.q_map(), np.linspace(0.0015, 0.0095, 9), mask=frames.mean("frame").values < 20)
    g2 = xc.multitau(frames.values, part, frame_time=a["frame_time"], num_bufs=8, progress=False)
    fit = xpcsnb.fit_g2_nlsq(g2, "single_exponential", fixed={"baseline": 1.0})
    c2 = xc.two_time(frames.values, part, frame_time=a["frame_time"], q=0.003, progress=False)
    ring = int(np.argmin(abs(part.q - 0.003)))
    diag = xc.g2_from_c2(c2)
    tau = np.geomspace(float(g2.tau[0]), float(g2.tau[-1]), 200)
    curve = model_curves(fit, tau, g2.roi.values)[ring]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    t_ms = c2.t1.values * 1e3
    im = ax0.imshow(c2.c2.isel(phi=0).values, origin="lower", extent=(t_ms[0], t_ms[-1], t_ms[0], t_ms[-1]),
                    vmin=1.4, vmax=2.0, cmap="viridis")
    fig.colorbar(im, ax=ax0, label="C2(t1, t2) [dimensionless]")
    ax0.set(xlabel="t2 [ms]", ylabel="t1 [ms]", title=f"measured C2 from 100 frames, q = {float(c2.attrs['q']):.4f} 1/Å")
    ax1.errorbar(g2.tau, g2.g2[ring], g2.g2_err[ring], fmt="o", ms=3, label="multi-tau g2 ± error")
    ax1.plot(diag.tau, diag.g2.isel(roi=0), "-", lw=1, label="mean of C2 over |t1 − t2| = τ")
    gamma = float(fit["g2_nlsq_coefficients"].isel(roi=ring).sel(param="gamma"))
    ax1.plot(tau, curve, "k--", label=f"single-exponential fit, Γ = {gamma:.3g} 1/s")
    ax1.set(xscale="log", xlabel="lag τ [s]", ylabel="g2(τ) [dimensionless]", title="g2 of the same ring, with its fit")
    ax1.legend(fontsize=8)
    return _save(fig, "frames_twotime_g2.png")


def sio2_g2_fits() -> Path:
    """Measured g2 curves of a SiO2 suspension with stretched-exponential fits."""
    g2 = datasets.real_g2("sio2_abs")
    fit = xpcsnb.fit_g2_nlsq(g2, "stretched_exponential")
    fig = plot_g2(g2, fit, layout="overlay", figsize_per=4.0)
    fig.suptitle("Measured g2 of a SiO2 suspension (7 q bins): stretched-exponential fits")
    return _save(fig, "sio2_g2_fits.png")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (bnl_twotime_fit, frames_twotime_g2, sio2_g2_fits):
        path = make()
        print(f"{path.relative_to(OUT.parents[2])}: {path.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
