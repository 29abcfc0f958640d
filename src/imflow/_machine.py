"""Private: the one module that imports ``transitions``.

A workflow definition is compiled into one ``transitions`` machine, once, and shared
by every case: no case object is ever bound to it with ``add_model``. The engine's
dispatch table is read back from that machine's events, and its diagram support draws
the graph. Nothing here is public; :mod:`imflow.workflow` is the typed facade.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
from transitions import Machine, State
from transitions.extensions.diagrams import GraphMachine, TransitionGraphSupport

__all__: list[str] = []


@attrs.frozen
class Edge:
    """One command allowed in one phase; ``target`` is ``None`` for a command that stays."""

    command: str
    source: str
    target: str | None
    guards: tuple[str, ...] = ()
    label: str = ""


class _LabelledState(State):
    def __init__(self, *args: Any, label: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label


class _LabelledTransition(TransitionGraphSupport):
    def __init__(self, *args: Any, label: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.label = label


def _static_styles() -> dict[str, Any]:
    """transitions' styles with no "active" or "previous" state: a definition has no
    current state, so the initial phase must not look like one (red, doubled)."""
    base: dict[str, Any] = GraphMachine.style_attributes
    styles: dict[str, dict[str, Any]] = {part: dict(kinds) for part, kinds in base.items()}
    for part in ("node", "graph", "edge"):
        default = styles[part].get("default", {})
        for kind in ("active", "previous"):
            if kind in styles[part]:
                styles[part][kind] = dict(default)
    return styles


class _DiagramMachine(GraphMachine):
    state_cls = _LabelledState
    transition_cls = _LabelledTransition
    style_attributes = _static_styles()


class _DiagramModel:
    """A private, throw-away model: ``transitions`` draws only machines that have one."""


def compile_table(
    phases: Sequence[str], initial: str, edges: Iterable[Edge]
) -> dict[str, dict[str, str | None]]:
    """Compile the graph into one shared machine and read the dispatch table back.

    Returns ``{command: {source phase: target phase or None}}``.
    """
    machine = Machine(
        model=None,
        states=list(phases),
        transitions=[_transition(e) for e in edges],
        initial=initial,
        auto_transitions=False,
        send_event=False,
    )
    table: dict[str, dict[str, str | None]] = {}
    for name, event in machine.events.items():
        by_source = table.setdefault(name, {})
        for source, transitions in event.transitions.items():
            by_source[source] = transitions[0].dest
    return table


def draw(
    *,
    title: str,
    phases: Sequence[str],
    labels: Mapping[str, str],
    initial: str,
    edges: Iterable[Edge],
    engine: Literal["mermaid", "graphviz"],
    direction: Literal["LR", "TB"] = "LR",
) -> str:
    """Draw the graph as Mermaid or Graphviz (DOT) source text, left to right (``"LR"``)
    or top to bottom (``"TB"``: narrower, for a page).

    transitions falls back to Mermaid when the ``graphviz`` package is missing; a DOT
    request must not silently return Mermaid, so that case raises :class:`ImportError`.
    """
    if engine == "graphviz":
        try:
            import graphviz  # noqa: F401
        except ImportError:
            raise ImportError(
                "Workflow.to_dot() needs the graphviz package: pip install 'imflow[diagrams]'"
            ) from None
    machine = _DiagramMachine(
        model=_DiagramModel(),
        states=[{"name": p, "label": labels.get(p, p)} for p in phases],
        transitions=[_transition(e, label=True, wrap=engine == "graphviz") for e in edges],
        initial=initial,
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=engine == "mermaid",  # DOT: on a second line of the label
        title=title,
    )
    graph = machine.get_graph()
    if engine == "mermaid":
        text = _without_classes(str(graph.draw(None)))
        text = text.replace("\n  direction LR\n", f"\n  direction {direction}\n", 1)
        return _yaml_front_matter(text)
    graph.graph_attr.update(rankdir=direction, fontname="sans-serif", nodesep="0.15")
    graph.graph_attr.update(ranksep="0.35", newrank="true")
    graph.node_attr.update(fontname="sans-serif", fontsize="12")
    graph.edge_attr.update(fontname="sans-serif", fontsize="10")
    graph.node("__start", "", shape="point", width="0.15")
    graph.edge("__start", initial)
    return str(graph.source)


def _without_classes(text: str) -> str:
    """Mermaid without transitions' state classes (every state is drawn alike)."""
    kept = [
        line for line in text.splitlines() if not line.lstrip().startswith(("classDef ", "Class "))
    ]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def _yaml_front_matter(text: str) -> str:
    """transitions writes a bare title line; Mermaid's front matter is YAML (``title: …``)."""
    head, sep, rest = text.partition("\n---\n")
    if text.startswith("---\n") and sep and ":" not in head[4:]:
        return f"---\ntitle: {head[4:].strip()}\n---\n{rest}"
    return text


def _transition(edge: Edge, *, label: bool = False, wrap: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"trigger": edge.command, "source": edge.source, "dest": edge.target}
    if edge.guards:
        spec["conditions"] = list(edge.guards)
    if label:
        spec["label"] = edge.label or edge.command
        if wrap and edge.guards:
            spec["label"] += "\\n[" + " & ".join(edge.guards) + "]"  # DOT's line break
    return spec
