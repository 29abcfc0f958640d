"""A small Sphinx extension for imflow's docs.

- ``workflow-diagram``: draws a workflow with :meth:`imflow.Workflow.to_dot` at build
  time and renders it with Graphviz (``dot -Tsvg``, the Debian package ``graphviz``)
  into an SVG inlined in the page: no JavaScript, no network, nothing loaded when the
  page is read (intranets and offline copies show the same drawing). Every phase is
  drawn alike (a definition has no "current" phase), top to bottom so that it fits the
  page width.
- Cross-references to re-exported names (``imflow.Engine``, ``imflow.Rejected``) resolve
  to the place where the reference documents them (``imflow.engine.Engine``).
"""

from __future__ import annotations

import html
import importlib
import re
import shutil
import subprocess
from typing import Any, ClassVar

from docutils import nodes
from docutils.nodes import Element, Node
from docutils.parsers.rst import directives
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util.docutils import SphinxDirective


def dot_source(lang: str, *, internal: bool = False, workflow: str = "") -> str:
    """The Graphviz text of a workflow, top to bottom."""
    from imflow import Workflow, bw_integrationsmanagement

    wf: Workflow = bw_integrationsmanagement()
    if workflow:
        module_name, _, attr = workflow.partition(":")
        wf = getattr(importlib.import_module(module_name), attr)()
    return wf.to_dot(lang="de" if lang == "de" else "en", internal=internal, direction="TB")


def render_svg(dot: str) -> str:
    """*dot* as an SVG element to inline in HTML, scaled down to the page width."""
    dot_program = shutil.which("dot")
    if dot_program is None:
        raise RuntimeError(
            "the docs draw diagrams with Graphviz: install it (Debian: apt-get install graphviz)"
        )
    done = subprocess.run(
        [dot_program, "-Tsvg"], input=dot, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"dot -Tsvg failed: {done.stderr.strip()}")
    svg = done.stdout[done.stdout.index("<svg") :]
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)
    return svg.replace(
        "<svg ", '<svg class="imflow-diagram" style="max-width:100%;height:auto" role="img" ', 1
    )


class WorkflowDiagram(SphinxDirective):
    """``workflow-diagram``: the default workflow (or ``:workflow: module:factory``)."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {
        "lang": lambda arg: directives.choice(arg, ("de", "en")),
        "internal": directives.flag,
        "workflow": directives.unchanged,
        "caption": directives.unchanged,
    }

    def run(self) -> list[Node]:
        dot = dot_source(
            self.options.get("lang", "en"),
            internal="internal" in self.options,
            workflow=self.options.get("workflow", ""),
        )
        caption = self.options.get("caption", "")
        svg = render_svg(dot)
        if caption:
            svg = svg.replace('role="img" ', f'role="img" aria-label="{html.escape(caption)}" ', 1)
        node: Element = nodes.raw("", svg, format="html")
        figure = nodes.figure("", node, classes=["imflow-diagram"])
        if caption:
            figure += nodes.caption(caption, caption)
        return [figure]


class Exports(SphinxDirective):
    """``imflow-exports``: a table of the names ``imflow`` exports, linked to their pages."""

    has_content = False

    def run(self) -> list[Node]:
        import inspect

        import imflow

        table = nodes.table(classes=["imflow-exports"])
        group = nodes.tgroup(cols=2)
        table += group
        group += nodes.colspec(colwidth=30)
        group += nodes.colspec(colwidth=70)
        body = nodes.tbody()
        for name in imflow.__all__:
            obj = getattr(imflow, name)
            ref = pending_xref(
                "",
                nodes.literal(name, f"imflow.{name}"),
                refdomain="py",
                reftype="obj",
                reftarget=f"imflow.{name}",
                refexplicit=True,
                refwarn=True,
            )
            ref["refdoc"] = self.env.docname
            summary = ""
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
                summary = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
                summary = " ".join(summary.split())
            row = nodes.row()
            row += nodes.entry("", nodes.paragraph("", "", ref))
            row += nodes.entry("", nodes.paragraph(summary, summary))
            body += row
        group += body
        return [table]


def _para(text: str, *, strong: str = "") -> nodes.paragraph:
    para = nodes.paragraph()
    if strong:
        para += nodes.strong(strong, strong)
        para += nodes.Text(" ")
    para += nodes.Text(text)
    return para


class KennzahlenCatalogue(SphinxDirective):
    """``kennzahlen-catalogue``: every key figure of :data:`imflow.kennzahlen.CATALOGUE`
    (or, with ``:findings:``, every plausibility finding), drawn from the code."""

    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"findings": directives.flag}

    def run(self) -> list[Node]:
        from imflow.kennzahlen import CATALOGUE, FINDINGS

        deflist = nodes.definition_list()
        if "findings" in self.options:
            for code, (de, en) in FINDINGS.items():
                item = nodes.definition_list_item()
                item += nodes.term("", "", nodes.literal(code, code))
                body = nodes.definition()
                body += _para(en)
                body += _para(de, strong="DE:")
                item += body
                deflist += item
            return [deflist]
        for figure in CATALOGUE.values():
            item = nodes.definition_list_item()
            term = nodes.term()
            term += nodes.literal(figure.id, figure.id)
            term += nodes.Text(f" — {figure.name('en')} ")
            term += nodes.emphasis(figure.name("de"), f"({figure.name('de')})")
            item += term
            body = nodes.definition()
            unit = figure.unit("en")
            kind = f"{figure.kind}, unit: {unit}" if unit else str(figure.kind)
            body += _para(kind, strong="Kind:")
            body += _para(figure.rule("en"), strong="Rule:")
            body += _para(figure.rule("de"), strong="Regel:")
            for title, lang in (("Edge cases:", "en"), ("Grenzfälle:", "de")):
                edges = figure.edges(lang)
                if not edges:
                    continue
                body += _para("", strong=title)
                cases = nodes.bullet_list()
                for case in edges:
                    entry = nodes.list_item()
                    entry += nodes.paragraph(case, case)
                    cases += entry
                body += cases
            item += body
            deflist += item
        return [deflist]


_documented: dict[int, str] = {}


def _lookup(dotted: str) -> Any:
    """The object a dotted name refers to, or ``None``."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _canonical(env: BuildEnvironment, target: str) -> str | None:
    """The documented name of the object *target* names, if the reference has one."""
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    if not _documented:
        for name in objects:
            obj = _lookup(name)
            if obj is not None and not isinstance(obj, str | int | float | bool):
                _documented.setdefault(id(obj), name)
    parts = target.split(".")
    for cut in range(len(parts), 1, -1):
        obj = _lookup(".".join(parts[:cut]))
        if obj is None:
            continue
        name = _documented.get(id(obj))
        if name is not None:
            full = ".".join([name, *parts[cut:]])
            return full if full in objects else None
    return None


def resolve_reexports(
    app: Sphinx, env: BuildEnvironment, node: pending_xref, contnode: Element
) -> Element | None:
    """``missing-reference``: retry ``imflow.X`` at the name the reference uses."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target.startswith("imflow."):
        return None
    name = _canonical(env, target)
    if name is None or name == target:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
    )


def _attr_doc(fullname: str) -> list[str]:
    """The doc comment of a re-exported module attribute, from the module defining it."""
    import sys

    from sphinx.errors import PycodeError
    from sphinx.pycode import ModuleAnalyzer

    modname, _, name = fullname.rpartition(".")
    module = sys.modules.get(modname)
    if module is None or not hasattr(module, name):
        return []
    value = getattr(module, name)
    for candidate in sorted(m for m in sys.modules if m.startswith(f"{modname}.")):
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except PycodeError:
            continue
        if ("", name) in docs and getattr(sys.modules[candidate], name, None) is value:
            return list(docs[("", name)])
    return []


def fill_reexported_docs(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """``autodoc-process-docstring``: data re-exported by a package keeps its doc comment,
    and a long value is not printed in the signature line."""
    if what != "data" or not name.startswith("imflow."):
        return
    if not any(line.strip() for line in lines):
        lines[:] = _attr_doc(name)
    if len(repr(obj)) > 80 and not any("hide-value" in line for line in lines):
        lines.extend(["", ":meta hide-value:"])


def _spelled_unions() -> list[tuple[str, str]]:
    """``OpenCase | RecordConsent | …`` as autodoc spells out ``c.Command``, and the alias."""
    import typing

    from imflow import commands, events

    found = []
    for module, name in ((commands, "Command"), (events, "Event")):
        members = typing.get_args(getattr(module, name))
        spelled = " | ".join(f"~{cls.__module__}.{cls.__qualname__}" for cls in members)
        found.append((spelled, f"~{module.__name__}.{name}"))
    return found


_ALIAS_REF = re.compile(r"TypeAliasForwardRef\('([\w.]+)'\)")
_PRIVATE_DEFAULT = re.compile(r"= (_[A-Z][A-Z0-9_]*)\b")


def public_defaults(
    app: Sphinx,
    what: str,
    name: str,
    obj: Any,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    """``autodoc-process-signature``: a default that is a private module constant
    (``timezone = _BERLIN``) shows its value (``ZoneInfo('Europe/Berlin')``) instead, and
    a type alias inside another type shows as its short name (``Sequence[Policy]``)."""
    for union, alias in _spelled_unions():
        if signature and union in signature:
            signature = signature.replace(union, alias)
        if return_annotation and union in return_annotation:
            return_annotation = return_annotation.replace(union, alias)
    if signature and "TypeAliasForwardRef(" in signature:
        signature = _ALIAS_REF.sub(lambda m: m.group(1).rpartition(".")[2], signature)
    if return_annotation and "TypeAliasForwardRef(" in return_annotation:
        return_annotation = _ALIAS_REF.sub(
            lambda m: m.group(1).rpartition(".")[2], return_annotation
        )
    if not signature or "= _" not in signature:
        return signature, return_annotation
    module = importlib.import_module(getattr(obj, "__module__", None) or name.split(".")[0])

    def value(match: re.Match[str]) -> str:
        constant = getattr(module, match.group(1), None)
        if constant is None:
            return match.group(0)
        shown = str(constant) if type(constant).__name__ == "ZoneInfo" else repr(constant)
        if type(constant).__name__ == "ZoneInfo":
            shown = f"ZoneInfo({shown!r})"
        return f"= {shown}"

    return _PRIVATE_DEFAULT.sub(value, signature), return_annotation


def check_reference_complete(app: Sphinx, env: BuildEnvironment) -> None:
    """``env-check-consistency``: the reference documents every public module of imflow
    and every name in its ``__all__``, and no private module."""
    import pkgutil

    from sphinx.util import logging

    import imflow

    log = logging.getLogger("imflow_docs")
    objects = env.get_domain("py").objects  # type: ignore[attr-defined]
    public = ["imflow"] + [
        info.name
        for info in pkgutil.walk_packages(imflow.__path__, "imflow.")
        if not any(part.startswith("_") for part in info.name.split("."))
        # the Django app's modules (apps, models, admin, migrations) import only in a
        # configured Django project: docs/how-to/django.md shows them
        and not info.name.startswith("imflow.contrib.django.")
    ]
    for modname in public:
        if modname == "imflow":
            continue  # the package's names are listed by ``imflow-exports``
        if modname not in objects:
            log.warning("public module %s is missing from docs/reference/*.md", modname)
            continue
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            if f"{modname}.{name}" not in objects:
                log.warning("%s.%s (in __all__) is missing from docs/reference/*.md", modname, name)
    for name, entry in objects.items():
        if entry.objtype == "module" and any(p.startswith("_") for p in name.split(".")):
            log.warning("private module %s must not be in the reference", name)


def _reset(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    _documented.clear()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("workflow-diagram", WorkflowDiagram)
    app.add_directive("imflow-exports", Exports)
    app.add_directive("kennzahlen-catalogue", KennzahlenCatalogue)
    app.connect("missing-reference", resolve_reexports)
    app.connect("autodoc-process-docstring", fill_reexported_docs)
    app.connect("autodoc-process-signature", public_defaults)
    app.connect("env-before-read-docs", _reset)
    app.connect("env-check-consistency", check_reference_complete)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
