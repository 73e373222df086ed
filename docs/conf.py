"""Sphinx configuration: myst-nb pages and notebooks, numpydoc API reference, pydata theme.

Build with ``pip install -e ".[docs]"`` then ``sphinx-build -W -b html docs docs/_build``.
The tutorials in ``notebooks/`` (reached through the ``docs/notebooks`` link) are rendered
from their saved outputs, never executed here.
"""

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
    "sphinx_autosummary_accessors",
]
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


html_theme = "pydata_sphinx_theme"
html_title = f"xpcsnb {release}"
html_theme_options = {"navigation_with_keys": False}
