"""Sphinx configuration: myst-nb pages and notebooks, numpydoc API, pydata theme.

Build with ``pip install sphinx myst-nb pydata-sphinx-theme numpydoc sphinx-autosummary-accessors``
then ``sphinx-build -b html docs docs/_build``.
"""

project = "xpcsnb"
author = "The xpcsnb developers"
extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autosummary",
    "sphinx_autosummary_accessors",
]
nb_execution_mode = "cache"
html_theme = "pydata_sphinx_theme"
exclude_patterns = ["_build"]
numpydoc_show_class_members = False
