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


class _DiagramMachine(GraphMachine):
    state_cls = _LabelledState
    transition_cls = _LabelledTransition


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
) -> str:
    """Draw the graph as Mermaid or Graphviz (DOT) source text.

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
        transitions=[_transition(e, label=True) for e in edges],
        initial=initial,
        auto_transitions=False,
        graph_engine=engine,
        show_conditions=True,
        title=title,
    )
    graph = machine.get_graph()
    if engine == "mermaid":
        return _yaml_front_matter(str(graph.draw(None)))
    return str(graph.source)


def _yaml_front_matter(text: str) -> str:
    """transitions writes a bare title line; Mermaid's front matter is YAML (``title: …``)."""
    head, sep, rest = text.partition("\n---\n")
    if text.startswith("---\n") and sep and ":" not in head[4:]:
        return f"---\ntitle: {head[4:].strip()}\n---\n{rest}"
    return text


def _transition(edge: Edge, *, label: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"trigger": edge.command, "source": edge.source, "dest": edge.target}
    if edge.guards:
        spec["conditions"] = list(edge.guards)
    if label:
        spec["label"] = edge.label or edge.command
    return spec
