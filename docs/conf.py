"""Sphinx configuration: MyST Markdown, the furo theme, autodoc of the public API.

The build is offline: no intersphinx inventories are fetched, and the workflow diagram
is drawn from the library at build time (see ``_ext/imflow_docs.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))

import imflow  # noqa: E402

project = "imflow"
author = "imflow developers"
copyright = "imflow developers, MIT licence"
release = version = imflow.__version__
language = "en"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "imflow_docs",
]
HAVE_MERMAID = importlib.util.find_spec("sphinxcontrib.mermaid") is not None
if HAVE_MERMAID:
    # renders in the reader's browser; building needs neither network nor programs
    extensions.append("sphinxcontrib.mermaid")

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True
# Every cross-reference to imflow must resolve (see _ext/imflow_docs.py); names from
# the standard library and third-party packages are not looked up: the build is offline.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"^(?!imflow\b).*"),
    (r"py:.*", r"imflow(\.\w+)*\._\w+.*"),  # private helpers, e.g. an enum's base class
    (r"py:.*", r"imflow(\.\w+)*\.[A-Z]\d?"),  # type variables (E, E2, …)
    (r"py:class", r"imflow\.simulation\.Store"),  # a structural type used in a signature only
]

html_theme = "furo"
html_title = f"imflow {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"
