"""Sphinx configuration for the b2b-async documentation."""

from __future__ import annotations

from b2b_async import __version__

project = "b2b-async"
author = "b2b-async contributors"
copyright = "2026, b2b-async contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_attr_annotations = True

html_theme = "furo"
html_title = f"b2b-async {release}"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
nitpicky = False
