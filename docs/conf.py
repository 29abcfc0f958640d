"""Sphinx configuration: MyST Markdown, the furo theme, autodoc of the public API.

The build is offline and so is the result: no intersphinx inventories are fetched, the
workflow diagrams are drawn from the library at build time with Graphviz and inlined as
SVG (see ``_ext/imflow_docs.py``), and no page loads a script or a stylesheet from the
network (``tests/test_docs_offline.py`` checks the built HTML).
"""

from __future__ import annotations

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

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
python_use_unqualified_type_names = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True
# Signatures name the unions and callables by their aliases (``command: Command``), not
# by the ~20 classes they stand for; the aliases link to their own entries.
autodoc_type_aliases = {
    "Command": "imflow.commands.Command",
    "Event": "imflow.events.Event",
    "Clock": "imflow.clock.Clock",
    "Policy": "imflow.engine.Policy",
    "Guard": "imflow.guards.Guard",
    "Hook": "imflow.hooks.Hook",
    "Processor": "imflow.logging.Processor",
    "Backoff": "imflow.outbox.Backoff",
    "Upcaster": "imflow.serialization.Upcaster",
    "Progress": "imflow.simulation.Progress",
    "Lang": "imflow.i18n.Lang",
}
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
