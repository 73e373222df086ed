"""Demo data: deterministic synthetic two-time sets, real measured C2, g2 curves and frames.

``load("static")`` / ``load("laminar_flow")``
    Synthetic 3-angle two-time Datasets computed by the homodyne models with 1 %
    seeded noise (t_k = k·dt, dt = 0.1 s, N = 200). The true parameters are in
    ``DEMO_TRUTH`` and in the Dataset attrs.
``load("bnl_two_time_350")``
    The measured 350 × 350 two-time matrix of the BNL "automating XPCS analysis"
    example (BSD-3-Clause, licence file shipped next to it as
    ``LICENSE-two_time_350``). It carries no geometry: times are in frames
    (``dt = 1``, unit "frame", ``attrs["dt_units"] = "frame"``) and ``q = 1`` is a placeholder
    (``attrs["q_units"] = "arbitrary"``), so a fitted ``D0`` is ``q²·D`` in 1/frame^(1+α) and
    fit results report it as ``(1/q)²/frame^(1+alpha)``; the stored diagonal (shot-noise spike) is replaced by the neighbour mean
    (recorded in attrs; the fits exclude the diagonal anyway).
``real_g2(name)``
    Measured one-time g2 curves (7 q bins each) from the DenoisingXpcs experimental
    sets (Tosson et al., Univ. Siegen; MIT, ``LICENSE-denoising-xpcs``): SiO2
    nanoparticles in suspension at three absorber settings (``"sio2_abs"``,
    ``"sio2_abs6"``, ``"sio2_abs12"``; Abs = attenuation) and egg yolk
    (``"eggyolk_abs18"``). The q of the bins is not recorded: the Datasets have no
    ``q`` coordinate (``attrs["q_note"]`` says so); fit per bin and compare across files.
``real_frames()``
    100 measured speckle frames (256 × 256, uint16) of the scikit-beam examples
    (BSD-3-Clause, ``LICENSE-img_stack5301_5401``) and their geometry (frame time
    1.30068 ms, distance 2.23 m, pixel 108 µm, λ = 1.546 Å, beam centre (x, y) = (143, 123) px: row 123, column 143,
    where the speckle ring of the mean image is sharpest).
"""

from __future__ import annotations

from importlib.resources import files
from types import MappingProxyType

import numpy as np
import xarray as xr

__all__ = ["load", "names", "DEMO_TRUTH", "data_path", "real_g2", "real_g2_names", "real_frames", "FRAMES_GEOMETRY"]

#: True physics parameters of the synthetic demo sets.
DEMO_TRUTH = MappingProxyType({
    "static": MappingProxyType({"D0": 1.0e4, "alpha": -0.4, "D_offset": 100.0}),
    "laminar_flow": MappingProxyType({
        "D0": 1.0e4, "alpha": -0.4, "D_offset": 100.0,
        "gamma_dot_t0": 5e-4, "beta": 0.3, "gamma_dot_t_offset": 2e-5, "phi0": 4.0,
    }),
})

_DEMO_GRID = {"n": 200, "dt": 0.1, "phi": (0.0, 45.0, 90.0), "q": 0.0054, "L": 2e6,
              "contrast": (0.30, 0.28, 0.32), "offset": (1.0, 1.001, 0.999), "noise": 0.01, "seed": 2026}


def names() -> tuple[str, ...]:
    """Names accepted by :func:`load`."""
    return ("static", "laminar_flow", "bnl_two_time_350")


def data_path(filename: str) -> str:
    """Path of a file shipped in ``xpcsnb/datasets/data``."""
    return str(files(__name__) / "data" / filename)


def load(name: str) -> xr.Dataset:
    """Load a demo two-time Dataset by name (see the module doc)."""
    from ..core.diagonal import correct_diagonal
    from ..core.twotime import twotime
    from ..forward import simulate

    if name in DEMO_TRUTH:
        g = _DEMO_GRID
        ds = simulate(name, dict(DEMO_TRUTH[name]), g["dt"] * np.arange(g["n"]), phi=list(g["phi"]), q=g["q"],
                      L=g["L"], contrast=list(g["contrast"]), offset=list(g["offset"]), noise=g["noise"],
                      seed=g["seed"])
        ds.attrs["title"] = f"xpcsnb synthetic demo: {name}"
        return ds
    if name == "bnl_two_time_350":
        raw = np.load(data_path("two_time_350.npy"))
        c2 = correct_diagonal(raw)
        ds = twotime(c2, t=np.arange(raw.shape[0], dtype=float), phi=0.0, q=1.0, attrs={
            "title": "measured two-time correlation (BNL automating_XPCS_analysis_pub example)",
            "licence": "BSD-3-Clause, Brookhaven National Laboratory (LICENSE-two_time_350)",
            "time_units": "frame (no frame time is known; dt = 1 frame)",
            "q_note": "unknown; q = 1 so that a fitted D0 is q²·D in 1/frame",
            "diagonal": "replaced by the neighbour mean (xpcsnb.io.correct_diagonal)",
        })
        ds["t1"].attrs["units"] = ds["t2"].attrs["units"] = "frame"
        ds["t1"].attrs["long_name"], ds["t2"].attrs["long_name"] = "frame index t1", "frame index t2"
        ds.attrs.update(dt_units="frame", q_units="arbitrary")  # a fit reports D0 in (1/q)²/frame^(1+α)
        return ds
    raise ValueError(f"unknown demo dataset {name!r}; choose from {names()}")


#: Files of :func:`real_g2`: name -> (file, sample, absorber setting).
_REAL_G2 = MappingProxyType({
    "sio2_abs": ("m011_SiO2_Abs.csv", "SiO2 nanoparticles in suspension", "Abs"),
    "sio2_abs6": ("m014_SiO2_Abs6.csv", "SiO2 nanoparticles in suspension", "Abs6"),
    "sio2_abs12": ("m016_SiO2_Abs12.csv", "SiO2 nanoparticles in suspension", "Abs12"),
    "eggyolk_abs18": ("m035_eggyolk_egg3_cap5_bottom_Abs18.csv", "egg yolk (egg 3, capillary 5, bottom)", "Abs18"),
})


def real_g2_names() -> tuple[str, ...]:
    """Names accepted by :func:`real_g2`."""
    return tuple(_REAL_G2)


def real_g2(name: str) -> xr.Dataset:
    """A measured g2 set (7 q bins) as a g2 Dataset (``xpcsnb.g2`` schema, no ``q``).

    The CSV layout (DenoisingXpcs ``siegen`` loader): row 0 the lag times τ [s], rows
    1–14 alternate g2 and its standard error for 7 q bins; the last column is padding
    (dropped). ``roi`` 0–6 are the bins in file order (increasing q).

    Parameters
    ----------
    name : str
        One of :func:`real_g2_names`.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    from ..core.g2 import g2 as make_g2

    if name not in _REAL_G2:
        raise ValueError(f"unknown real g2 set {name!r}; choose from {real_g2_names()}")
    filename, sample, absorber = _REAL_G2[name]
    table = np.loadtxt(data_path(filename), delimiter=",")[:, :-1]
    tau, values, err = table[0], table[1::2], table[2::2]
    return make_g2(values, tau=tau, g2_err=err, attrs={
        "title": f"measured g2: {sample}, absorber {absorber}",
        "sample": sample, "absorber": absorber, "source_file": filename,
        "licence": "MIT, Copyright (c) 2022 Amir Tosson (LICENSE-denoising-xpcs)",
        "origin": "github.com/amirtosson/DenoisingXpcsNew, ExpDatasets/ (commit 3907337)",
        "q_note": "the q of the 7 bins is not recorded (roi 0-6 in increasing q); no q coordinate",
    })


#: Geometry of the :func:`real_frames` stack (scikit-beam-examples timecorr_example.py).
FRAMES_GEOMETRY = MappingProxyType({
    "frame_time": 0.00130068, "distance": 2.23, "pixel_size": 0.0135 * 8 * 1e-3, "wavelength": 1.546,
    "beam_center": (143.0, 123.0), "shape": (256, 256),
})


def real_frames() -> xr.DataArray:
    """100 measured speckle frames (frame, y, x) [counts], uint16, with their geometry in attrs.

    Frames 5301–5401 of an NSLS-II speckle series (scikit-beam-examples, BSD-3-Clause):
    256 × 256 px, about 0.67 counts per pixel. ``attrs``: ``frame_time`` [s],
    ``distance`` [m], ``pixel_size`` [m], ``wavelength`` [Å], ``beam_center`` (x, y) [px]
    — the arguments of :class:`xpcsnb.correlate.Geometry`.
    """
    import io
    import zipfile

    with zipfile.ZipFile(data_path("img_stack5301_5401.npy.zip")) as zf:
        member = next(n for n in zf.namelist() if n.endswith(".npy"))
        frames = np.load(io.BytesIO(zf.read(member)))
    g = FRAMES_GEOMETRY
    return xr.DataArray(frames, dims=("frame", "y", "x"), name="frames", attrs={
        "units": "counts", "frame_time": g["frame_time"], "frame_time_units": "s", "distance": g["distance"],
        "distance_units": "m", "pixel_size": g["pixel_size"], "pixel_size_units": "m",
        "wavelength": g["wavelength"], "wavelength_units": "Å", "beam_center": list(g["beam_center"]),
        "beam_center_units": "px (x, y)",
        "licence": "BSD-3-Clause, Brookhaven Science Associates (LICENSE-img_stack5301_5401)",
        "origin": "github.com/scikit-beam/scikit-beam-examples demos/img_stack5301_5401.npy.zip (frames 5301-5401)",
    })
