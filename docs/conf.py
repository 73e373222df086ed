"""Sphinx configuration: myst-nb pages and notebooks, numpydoc API reference, pydata theme.

Build with ``pip install -e ".[docs]"`` then ``sphinx-build -W --keep-going -n -b html docs docs/_build``.
The tutorials in ``notebooks/`` (reached through the ``docs/notebooks`` link) are rendered
from their saved outputs, never executed here.
"""

import sys
from pathlib import Path

import sphinx_autosummary_accessors

import xpcsnb

project = "xpcsnb"
author = "The xpcsnb developers"
copyright = "The xpcsnb developers"
version = release = xpcsnb.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx_autosummary_accessors",
    "pyresolve",  # docs/_ext: a reference to where an object is defined links to where it is documented
]
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
exclude_patterns = ["_build", "jupyter_execute", "**.ipynb_checkpoints", "notebooks/*.py"]

# notebooks: shown with the outputs committed with them
nb_execution_mode = "off"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# API reference
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# cross-references: every one must resolve (`sphinx-build -n -W`, tests/test_docs.py)
nitpicky = True
numpydoc_xref_param_type = True
#: words of numpydoc type descriptions that are grammar or array dimensions, not types
numpydoc_xref_ignore = {
    "optional", "default", "of", "or", "shape", "length", "same", "as", "to", "them", "each", "per",
    "matplotlib", "jax", "arrays", "scalar", "result", "NLSQ", "int32", "float64",
    # array dimensions: "DataArray (frame, y, x)", "shape (E, R)"
    "N", "H", "W", "E", "R", "n", "p", "x", "y", "frame", "roi", "dims", "exposure", "exposure_model",
    "n_tau", "n_roi", "n_phi", "n_q", "n_frame", "n_rows", "n_age",
}
numpydoc_xref_aliases = {
    "Dataset": "xarray.Dataset", "DataArray": "xarray.DataArray", "DataTree": "xarray.DataTree",
    "path": ":term:`path <python:path-like object>`", "Path": "pathlib.Path",
    "path-like": ":term:`path-like <python:path-like object>`", "dtype": "numpy.dtype",
    "dask.distributed.Client": "distributed.Client",
    "mapping": ":term:`python:mapping`",
    "Axes": "matplotlib.axes.Axes", "Figure": "matplotlib.figure.Figure",
}
# intersphinx reads inventories shipped in docs/_inv (the build runs offline; regenerate them
# with docs/_inv/make_inventories.py after citing a new external name)
intersphinx_mapping = {
    name: (url, str(Path(__file__).parent / "_inv" / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/", "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/", "xarray": "https://docs.xarray.dev/en/stable/",
        "pandas": "https://pandas.pydata.org/docs/", "matplotlib": "https://matplotlib.org/stable/",
        "distributed": "https://distributed.dask.org/en/stable/",
    }.items()
}
#: classes of libraries that publish no inventory of their API (base classes of the widgets)
nitpick_ignore = [
    ("py:class", "ipywidgets.widgets.widget_box.VBox"),
    ("py:class", "ipywidgets.widgets.widget_box.HBox"),
    ("py:class", "anywidget.widget.AnyWidget"),
    # numpydoc links an attribute whose value has a docstring: the registered g2 models' Attributes
    # section names ``alternatives``, whose value is a private start-generator function
    ("py:obj", "alternatives"),
]
nitpick_ignore_regex = [("py:.*", r"ipywidgets\.\w+")]


html_theme = "pydata_sphinx_theme"
html_title = f"xpcsnb {release}"
html_theme_options = {"navigation_with_keys": False}
# HoloViews outputs carry their own JSON mime types next to the HTML/JavaScript that the
# site renders; myst-nb reports every mime type it cannot render, so those reports are off
suppress_warnings = ["mystnb.unknown_mime_type"]
