"""Workflow definitions: phases, commands, guards, labels, and the checks that keep them sane.

The default workflow is :func:`bw_integrationsmanagement`. A district variant is built
from it with :meth:`Workflow.extend` or from a declarative TOML / JSON document with
:meth:`Workflow.from_toml` / :meth:`Workflow.from_mapping`. Every definition is checked
when it is built; :class:`imflow.InvalidWorkflow` lists every problem at once.

>>> wf = bw_integrationsmanagement()
>>> wf.id, len(wf.phases), wf.initial
('bw-integrationsmanagement', 5, 'intake')
>>> wf.command("agree_plan").guards
('consent_given', 'has_goals')

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

import attrs

from imflow import _machine
from imflow._workflow_doc import MalformedWorkflow, check_shape, parse_problem
from imflow.commands import COMMAND_TYPES
from imflow.enums import CustomPhase, Lang, Phase
from imflow.errors import InvalidWorkflow
from imflow.guards import BUILTIN_GUARDS, Guard

__all__ = ["CommandDef", "PhaseDef", "Workflow", "bw_integrationsmanagement"]

EVENT_COMMAND: Mapping[str, str] = {
    "consent_recorded": "record_consent",
    "consent_withdrawn": "withdraw_consent",
    "contact_recorded": "record_contact",
    "assessment_started": "start_assessment",
    "need_recorded": "record_need",
    "planning_started": "start_planning",
    "goal_added": "add_goal",
    "plan_agreed": "agree_plan",
    "goal_status_set": "set_goal_status",
    "plan_reviewed": "review_plan",
    "plan_revised": "revise_plan",
    "period_extended": "extend_period",
    "case_closed": "close_case",
    "case_reopened": "reopen_case",
    "rule_set_migrated": "migrate_rule_set",
    "case_transferred": "transfer_case",
}
"""Which workflow command each built-in event records; its phase change comes from the
workflow definition (private to imflow, not part of ``__all__``)."""

Direction = Literal["LR", "TB"]
"""How a diagram runs: left to right or top to bottom (private alias)."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Commands with a dedicated command class; any other name runs as a CustomAction.
_BUILTIN_COMMANDS = frozenset(COMMAND_TYPES) - {"open_case", "custom_action"}


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class PhaseDef:
    """A phase of a workflow. A ``final`` phase is one a closed case is in."""

    name: str
    label_de: str = ""
    label_en: str = ""
    final: bool = False

    def label(self, lang: Lang = "en") -> str:
        """The phase's label in *lang* (its name if none was given)."""
        return (self.label_de if lang == "de" else self.label_en) or self.name


@attrs.frozen
class CommandDef:
    """Where a command is allowed, where it leads and which named guards it must pass.

    ``target`` is ``None`` for a command that keeps the phase. ``after_period`` allows
    the command after the last day of the counselling period; ``needs_consent`` refuses
    it while consent to data processing is withdrawn.
    """

    name: str
    sources: tuple[str, ...] = attrs.field(converter=_names)
    target: str | None = None
    guards: tuple[str, ...] = attrs.field(default=(), converter=_names)
    after_period: bool = False
    needs_consent: bool = True
    label_de: str = ""
    label_en: str = ""

    def label(self, lang: Lang = "en") -> str:
        """The command's label in *lang* (its name if none was given)."""
        return (self.label_de if lang == "de" else self.label_en) or self.name


@attrs.frozen
class CompiledCommand:
    """A command ready for dispatch: guard names resolved to functions."""

    name: str
    sources: frozenset[str]
    target: str | None
    guards: tuple[Guard, ...]
    after_period: bool
    needs_consent: bool


def _phase_value(name: str) -> Phase | CustomPhase:
    """The :class:`Phase` member for a default phase name, else a :class:`CustomPhase`."""
    try:
        return Phase(name)
    except ValueError:
        return CustomPhase(name)


@attrs.frozen(eq=False)
class Compiled:
    """The dispatch tables of a checked workflow (private to the engine)."""

    commands: Mapping[str, CompiledCommand]
    final: frozenset[str]
    initial: str
    event_targets: Mapping[str, str]
    """The phase each built-in event type leads to, for those that change the phase."""


def _phase_defs(value: Iterable[PhaseDef]) -> tuple[PhaseDef, ...]:
    return tuple(value)


def _command_defs(value: Iterable[CommandDef]) -> tuple[CommandDef, ...]:
    return tuple(value)


def _guard_map(value: Mapping[str, Guard]) -> Mapping[str, Guard]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Workflow:
    """A checked workflow definition.

    ``guards`` maps names to host-supplied guard functions, in addition to
    :data:`imflow.guards.BUILTIN_GUARDS`.
    """

    id: str
    phases: tuple[PhaseDef, ...] = attrs.field(converter=_phase_defs)
    commands: tuple[CommandDef, ...] = attrs.field(converter=_command_defs)
    initial: str = "intake"
    guards: Mapping[str, Guard] = attrs.field(
        factory=dict, converter=_guard_map, eq=False, repr=False
    )
    compiled: Compiled = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "compiled", _compile(self))

    # -- look-ups ---------------------------------------------------------------

    def phase(self, name: str) -> PhaseDef:
        """The phase called *name*."""
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def command(self, name: str) -> CommandDef:
        """The command called *name*."""
        for c in self.commands:
            if c.name == name:
                return c
        raise KeyError(name)

    def is_final(self, phase: str) -> bool:
        """Whether *phase* is a final (closed) phase."""
        return phase in self.compiled.final

    @functools.cached_property
    def hash(self) -> str:
        """A content hash of the definition; cases record it to detect changed definitions.

        Guard functions enter by name only.
        """
        doc = json.dumps(self.to_mapping(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    # -- building variants -------------------------------------------------------

    def extend(
        self,
        *,
        id: str | None = None,
        phases: Iterable[PhaseDef] = (),
        commands: Iterable[CommandDef] = (),
        guards: Mapping[str, Guard] | None = None,
        allow_in: Mapping[str, Iterable[str]] | None = None,
        add_guards: Mapping[str, Iterable[str]] | None = None,
        labels: Mapping[str, tuple[str, str]] | None = None,
    ) -> Workflow:
        """A variant of this workflow.

        *phases* and *commands* are added, or replace the ones of the same name;
        *allow_in* opens existing commands in more phases, *add_guards* attaches more
        named guards to existing commands, *guards* registers guard functions and
        *labels* renames phases or commands as ``{name: (german, english)}``.

        >>> wf = bw_integrationsmanagement().extend(
        ...     id="paused-variant",
        ...     phases=[PhaseDef("paused", "Ruhend", "Paused")],
        ...     commands=[CommandDef("pause_case", ["monitoring"], "paused"),
        ...               CommandDef("resume_case", ["paused"], "monitoring")],
        ...     allow_in={"close_case": ["paused"]},
        ... )
        >>> sorted(wf.command("close_case").sources)
        ['assessment', 'intake', 'monitoring', 'paused', 'planning']
        """
        phase_list = _merge_by_name(self.phases, phases)
        command_list = _merge_by_name(self.commands, commands)
        for name, extra in (allow_in or {}).items():
            command_list = _update(
                command_list,
                name,
                lambda c, x=tuple(extra): attrs.evolve(
                    c, sources=c.sources + tuple(p for p in x if p not in c.sources)
                ),
            )
        for name, extra in (add_guards or {}).items():
            command_list = _update(
                command_list,
                name,
                lambda c, x=tuple(extra): attrs.evolve(
                    c, guards=c.guards + tuple(g for g in x if g not in c.guards)
                ),
            )
        for name, (de, en) in (labels or {}).items():
            if any(p.name == name for p in phase_list):
                phase_list = [
                    attrs.evolve(p, label_de=de, label_en=en) if p.name == name else p
                    for p in phase_list
                ]
            else:
                command_list = _update(
                    command_list,
                    name,
                    lambda c, d=de, e=en: attrs.evolve(c, label_de=d, label_en=e),
                )
        return Workflow(
            id=id or self.id,
            phases=phase_list,
            commands=command_list,
            initial=self.initial,
            guards={**self.guards, **(guards or {})},
        )

    @classmethod
    def from_mapping(
        cls, doc: Mapping[str, Any], *, guards: Mapping[str, Guard] | None = None
    ) -> Workflow:
        """Build a workflow from a declarative document (parsed TOML or JSON).

        With ``extends = "bw-integrationsmanagement"`` the document describes a variant of
        the default workflow (keys ``phases``, ``commands``, ``allow_in``, ``add_guards``,
        ``labels``); without it, a complete definition (``phases``, ``commands``,
        ``initial``). Guard names refer to :data:`~imflow.guards.BUILTIN_GUARDS` and
        *guards*.
        """
        check_shape(doc)  # a value of the wrong kind is named here, not a TypeError below
        problems: list[str] = []
        try:
            phases = [PhaseDef(**p) for p in doc.get("phases", [])]
            commands = [CommandDef(**c) for c in doc.get("commands", [])]
            labels = {
                k: (v.get("de", ""), v.get("en", "")) for k, v in doc.get("labels", {}).items()
            }
        except (TypeError, AttributeError) as exc:
            raise InvalidWorkflow([f"malformed document: {exc}"]) from exc
        base = doc.get("extends")
        if base is not None:
            if base != "bw-integrationsmanagement":
                problems.append(f"unknown base workflow {base!r}")
                raise InvalidWorkflow(problems)
            return bw_integrationsmanagement().extend(
                id=doc.get("id"),
                phases=phases,
                commands=commands,
                guards=guards,
                allow_in=doc.get("allow_in"),
                add_guards=doc.get("add_guards"),
                labels=labels,
            )
        if "id" not in doc:
            raise InvalidWorkflow(["a complete definition needs an 'id'"])
        wf_labels = dict(labels)
        made = cls(
            id=doc["id"],
            phases=phases,
            commands=commands,
            initial=doc.get("initial", "intake"),
            guards=guards or {},
        )
        return made.extend(labels=wf_labels) if wf_labels else made

    @classmethod
    def from_toml(cls, text: str, *, guards: Mapping[str, Guard] | None = None) -> Workflow:
        """Build a workflow from a TOML document (see :meth:`from_mapping`)."""
        try:
            doc = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise MalformedWorkflow([parse_problem(exc, "TOML")]) from None
        return cls.from_mapping(doc, guards=guards)

    @classmethod
    def from_json(cls, text: str, *, guards: Mapping[str, Guard] | None = None) -> Workflow:
        """Build a workflow from a JSON document (see :meth:`from_mapping`)."""
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits
            raise MalformedWorkflow([parse_problem(exc, "JSON")]) from None
        if not isinstance(doc, dict):
            raise MalformedWorkflow(["a workflow document must be a JSON object"])
        return cls.from_mapping(doc, guards=guards)

    def to_mapping(self) -> dict[str, Any]:
        """The complete declarative document of this workflow (JSON- and TOML-ready)."""
        return {
            "id": self.id,
            "initial": self.initial,
            "phases": [attrs.asdict(p) for p in self.phases],
            "commands": [
                {
                    k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in attrs.asdict(c).items()
                    if v is not None
                }
                for c in self.commands
            ],
        }

    # -- diagrams -------------------------------------------------------------------

    def to_mermaid(
        self, *, lang: Lang = "en", internal: bool = False, direction: Direction = "LR"
    ) -> str:
        """A Mermaid state diagram with guards on the edges.

        Commands that keep the phase are drawn only with ``internal=True``; *direction*
        is ``"LR"`` (left to right) or ``"TB"`` (top to bottom, narrower). Every phase
        is drawn alike: a definition has no current phase.

        .. versionchanged:: 0.2.0
           *direction*; no "active" styling of the initial phase.
        """
        return self._draw("mermaid", lang, internal, direction)

    def to_dot(
        self, *, lang: Lang = "en", internal: bool = False, direction: Direction = "LR"
    ) -> str:
        """A Graphviz (DOT) diagram, guards on a second line of each edge label; needs
        the ``graphviz`` package (``imflow[diagrams]``). Render it with ``dot -Tsvg``.

        .. versionchanged:: 0.2.0
           *direction*; a start marker; no "active" styling of the initial phase.
        """
        return self._draw("graphviz", lang, internal, direction)

    def _draw(
        self,
        engine: Literal["mermaid", "graphviz"],
        lang: Lang,
        internal: bool,
        direction: Direction = "LR",
    ) -> str:
        if direction not in ("LR", "TB"):
            raise ValueError(f"direction must be 'LR' or 'TB', not {direction!r}")
        edges = [
            _machine.Edge(c.name, source, c.target, c.guards, c.label(lang))
            for c in self.commands
            if internal or c.target is not None
            for source in c.sources
        ]
        return _machine.draw(
            title=self.id,
            phases=[p.name for p in self.phases],
            labels={p.name: p.label(lang) for p in self.phases},
            initial=self.initial,
            edges=edges,
            engine=engine,
            direction=direction,
        )


def _merge_by_name(old: Iterable[Any], new: Iterable[Any]) -> list[Any]:
    merged = {item.name: item for item in old}
    for item in new:
        merged[item.name] = item
    return list(merged.values())


def _update(commands: list[CommandDef], name: str, change: Any) -> list[CommandDef]:
    if not any(c.name == name for c in commands):
        # leave a placeholder so the build-time check names the unknown command
        return [*commands, CommandDef(name, (), guards=("<unknown command>",))]
    return [change(c) if c.name == name else c for c in commands]


def _check(wf: Workflow) -> list[str]:
    problems: list[str] = []
    names = [p.name for p in wf.phases]
    known = set(names)
    final = {p.name for p in wf.phases if p.final}
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"phase {dup!r} is defined twice")
    for n in names:
        if not _NAME.match(n):
            problems.append(f"phase name {n!r} is not snake_case")
    if wf.initial not in known:
        problems.append(f"initial phase {wf.initial!r} is not a phase")
    elif wf.initial in final:
        problems.append(f"initial phase {wf.initial!r} must not be final")
    if not final:
        problems.append("no final phase: a case could never be closed")
    cmd_names = [c.name for c in wf.commands]
    for dup in sorted({n for n in cmd_names if cmd_names.count(n) > 1}):
        problems.append(f"command {dup!r} is defined twice")
    registry = {**BUILTIN_GUARDS, **wf.guards}
    for c in wf.commands:
        if c.guards == ("<unknown command>",):
            problems.append(f"unknown command {c.name!r}")
            continue
        if c.name in ("open_case", "custom_action") or not _NAME.match(c.name):
            problems.append(f"{c.name!r} cannot be a workflow command name")
        if not c.sources:
            problems.append(f"command {c.name!r} is allowed in no phase")
        for s in c.sources:
            if s not in known:
                problems.append(f"command {c.name!r} starts from unknown phase {s!r}")
        if c.target is not None and c.target not in known:
            problems.append(f"command {c.name!r} leads to unknown phase {c.target!r}")
        if c.target in final and c.name != "close_case":
            problems.append(f"only close_case may lead into the final phase {c.target!r}")
        if c.name == "close_case" and c.target not in final:
            problems.append("close_case must lead into a final phase")
        for g in c.guards:
            if g not in registry:
                problems.append(f"command {c.name!r} uses unknown guard {g!r}")
    # the graph checks look at the edges between known phases only
    successors: dict[str, set[str]] = {n: set() for n in names}
    for c in wf.commands:
        for s in c.sources:
            if s in known and c.target in known:
                successors[s].add(c.target)
    if wf.initial not in known:
        return problems
    reachable = _closure({wf.initial}, successors)
    for n in names:
        if n not in reachable:
            problems.append(f"phase {n!r} is unreachable from {wf.initial!r}")
    if not final:
        return problems
    predecessors: dict[str, set[str]] = {n: set() for n in names}
    for s, targets in successors.items():
        for t in targets:
            predecessors[t].add(s)
    closable = _closure(final, predecessors)
    for n in names:
        if n not in closable:
            problems.append(f"phase {n!r} has no way to a final phase")
    return problems


def _closure(start: set[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _compile(wf: Workflow) -> Compiled:
    problems = _check(wf)
    if problems:
        raise InvalidWorkflow(problems)
    registry = {**BUILTIN_GUARDS, **wf.guards}
    edges = [_machine.Edge(c.name, s, c.target, c.guards) for c in wf.commands for s in c.sources]
    table = _machine.compile_table([p.name for p in wf.phases], wf.initial, edges)
    commands = {}
    for c in wf.commands:
        by_source = table[c.name]
        commands[c.name] = CompiledCommand(
            name=c.name,
            sources=frozenset(_phase_value(s) for s in by_source),
            target=None if c.target is None else _phase_value(c.target),
            guards=tuple(registry[g] for g in c.guards),
            after_period=c.after_period,
            needs_consent=c.needs_consent,
        )
    event_targets = {
        event_type: target
        for event_type, command in EVENT_COMMAND.items()
        if command in commands and (target := commands[command].target) is not None
    }
    return Compiled(
        commands=MappingProxyType(commands),
        event_targets=MappingProxyType(event_targets),
        final=frozenset(_phase_value(p.name) for p in wf.phases if p.final),
        initial=_phase_value(wf.initial),
    )


_OPEN = ("intake", "assessment", "planning", "monitoring")


_EARLIER_DEFAULT_HASHES = frozenset({"bde08f47e7404c8d"})
"""Content hashes of earlier definitions of :func:`bw_integrationsmanagement` (up to
0.2.0 ``withdraw_consent`` was allowed after the period): the engine on the default
workflow still folds the cases opened under them."""


@functools.cache
def bw_integrationsmanagement() -> Workflow:
    """The default workflow of Baden-Württemberg's Integrationsmanagement (VwV 2023)."""
    c = CommandDef
    return Workflow(
        id="bw-integrationsmanagement",
        initial="intake",
        phases=[
            PhaseDef(p.value, p.label("de"), p.label("en"), final=p is Phase.CLOSED) for p in Phase
        ],
        commands=[
            c(
                "record_consent",
                _OPEN,
                needs_consent=False,
                label_de="Einwilligung erfassen",
                label_en="Record consent",
            ),
            c(
                "withdraw_consent",
                _OPEN,
                label_de="Einwilligung widerrufen",
                label_en="Withdraw consent",
            ),
            c(
                "record_contact",
                _OPEN,
                label_de="Kontakt erfassen",
                label_en="Record contact",
            ),
            c(
                "start_assessment",
                ["intake"],
                "assessment",
                ["consent_given"],
                label_de="Bedarfsermittlung beginnen",
                label_en="Start assessment",
            ),
            c(
                "record_need",
                ["assessment", "planning", "monitoring"],
                label_de="Bedarf erfassen",
                label_en="Record need",
            ),
            c(
                "start_planning",
                ["assessment"],
                "planning",
                ["has_needs"],
                label_de="Integrationsplanung beginnen",
                label_en="Start planning",
            ),
            c(
                "add_goal",
                ["planning"],
                guards=["goal_within_period"],
                label_de="Ziel vereinbaren",
                label_en="Add goal",
            ),
            c(
                "agree_plan",
                ["planning"],
                "monitoring",
                ["consent_given", "has_goals"],
                label_de="Integrationsplan vereinbaren",
                label_en="Agree plan",
            ),
            c(
                "set_goal_status",
                ["monitoring"],
                label_de="Zielstatus setzen",
                label_en="Set goal status",
            ),
            c("review_plan", ["monitoring"], label_de="Plan überprüfen", label_en="Review plan"),
            c(
                "revise_plan",
                ["monitoring"],
                "planning",
                label_de="Plan fortschreiben",
                label_en="Revise plan",
            ),
            c(
                "extend_period",
                ["monitoring"],
                guards=["extension_allowed"],
                label_de="Beratungszeitraum verlängern",
                label_en="Extend period",
            ),
            c(
                "close_case",
                _OPEN,
                "closed",
                ["closure_reason_holds"],
                after_period=True,
                needs_consent=False,
                label_de="Fall abschließen",
                label_en="Close case",
            ),
            c(
                "reopen_case",
                ["closed"],
                "assessment",
                ["reopen_allowed"],
                label_de="Fall wieder aufnehmen",
                label_en="Reopen case",
            ),
            c(
                "transfer_case",
                _OPEN,
                needs_consent=False,
                label_de="Fall an anderen Träger übergeben",
                label_en="Transfer case to another provider",
            ),
            c(
                "migrate_rule_set",
                _OPEN,
                guards=["rule_set_newer"],
                label_de="Regelwerk wechseln",
                label_en="Migrate rule set",
            ),
        ],
    )
