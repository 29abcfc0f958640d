"""Commands: what a user asks the engine to do, one class per command type.

Each class's ``type`` tag is its snake_case name; all fields are keyword-only and every
command carries ``on``, the business date of the act. Field *types* are checked when a
command is built; field *values* (a negative duration, an empty goal id) are judged by
the engine and refused with the reason ``invalid_value``, together with every other
failing guard.

>>> from datetime import date
>>> cmd = AddGoal(goal_id="g1", area="language", description="B1 certificate",
...               target_date=date(2026, 6, 30), on=date(2025, 5, 2))
>>> cmd.type, cmd.area
('add_goal', <LifeArea.LANGUAGE: 'language'>)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from imflow._bounds import redacted
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea
from imflow.errors import Rejected
from imflow.reasons import Reason

if TYPE_CHECKING:
    from imflow.case import Case

__all__ = [
    "COMMAND_TYPES",
    "AddGoal",
    "AgreePlan",
    "CloseCase",
    "Command",
    "CommandBase",
    "Continuation",
    "CustomAction",
    "ExtendPeriod",
    "MigrateRuleSet",
    "OpenCase",
    "RecordConsent",
    "RecordContact",
    "RecordNeed",
    "ReopenCase",
    "ReviewPlan",
    "RevisePlan",
    "SetGoalStatus",
    "StartAssessment",
    "StartPlanning",
    "TransferCase",
    "WithdrawConsent",
]


_KIND = "imflow.kind"
E = TypeVar("E", bound=enum.Enum)


# Field metadata: the field's type is checked when the command is built. The checks of a
# class are compiled into one ``__attrs_post_init__`` (see _compile_checks): exact types
# pass at the cost of one comparison each; any other value gets the full check, which
# accepts subclasses (``bool`` for ``int``, a ``str`` enum for ``str``) and raises
# TypeError naming the field.
_DATE: Mapping[str, type] = MappingProxyType({_KIND: date})
_STR: Mapping[str, type] = MappingProxyType({_KIND: str})
_INT: Mapping[str, type] = MappingProxyType({_KIND: int})


def _check_field(name: str, kind: type, value: Any) -> None:
    # the messages name the field and the types, never the value (it may be personal)
    if kind is date:
        if type(value) is not date:
            got = "a datetime" if isinstance(value, datetime) else type(value).__name__
            raise TypeError(f"{name!r} must be a datetime.date, got {got}")
    elif not isinstance(value, kind):
        raise TypeError(f"{name!r} must be {kind.__name__}, got {type(value).__name__}")


class _NotAChoice(Rejected, ValueError):
    """A command field outside its vocabulary (an unknown closure reason, life area,
    goal status or channel): refused with ``invalid_value`` (domain.md § 8 "Anything
    else is ``invalid_value``") when the command is built, and a :class:`ValueError` as
    before 0.2.0. The message names the field and the choices, never the value."""

    def __init__(self, cls: type[enum.Enum], field: str, got: str) -> None:
        choices = ", ".join(str(m.value) for m in cls)
        reason = Reason.of("invalid_value", field=field, problem="not_a_choice", choices=choices)
        super().__init__((reason,))
        self._built_from = (cls, field, got)  # the kind of value, never the value
        self.args = (f"{field!r} must be a {cls.__name__} (one of {choices}), got another {got}",)

    def __reduce__(self) -> tuple[type[_NotAChoice], tuple[type[enum.Enum], str, str]]:
        return type(self), self._built_from


def _member(cls: type[E], field: str, value: Any) -> E:
    """*value* as a member of *cls*; the error names the field and the choices, not the value."""
    try:
        return cls(value)
    except ValueError:
        raise _NotAChoice(cls, field, type(value).__name__) from None


# Enum converters that return members as they are (an enum call costs about 0.4 µs).
def _channel(value: Any) -> Channel:
    return value if type(value) is Channel else _member(Channel, "channel", value)


def _life_area(value: Any) -> LifeArea:
    return value if type(value) is LifeArea else _member(LifeArea, "area", value)


def _goal_status(value: Any) -> GoalStatus:
    return value if type(value) is GoalStatus else _member(GoalStatus, "status", value)


def _closure_reason(value: Any) -> ClosureReason:
    return value if type(value) is ClosureReason else _member(ClosureReason, "reason", value)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if type(value) is tuple:
        return value
    if isinstance(value, str):
        raise TypeError("'members' must be a sequence of strings, got a single str")
    return tuple(value)


def _areas(value: Iterable[LifeArea | str]) -> tuple[LifeArea, ...]:
    if isinstance(value, str):
        raise TypeError("'topics' must be a sequence of life areas, got a single str")
    if type(value) is tuple:
        for v in value:
            if type(v) is not LifeArea:
                break
        else:
            return value  # already a tuple of members: nothing to convert
    return tuple(v if type(v) is LifeArea else _member(LifeArea, "topics", v) for v in value)


@attrs.frozen(kw_only=True)
class CommandBase:
    """Fields every command has: the business date ``on``."""

    type: ClassVar[str]
    on: date = attrs.field(metadata=_DATE)

    def __attrs_post_init__(self) -> None:
        """Replaced in each command class by its compiled type checks."""


@attrs.frozen(kw_only=True)
class Continuation:
    """The earlier case, in another district, that a new case continues.

    The earlier case lives in another district's store, so the host copies what the
    new case needs from it: its id and district, ``period_start``, the day its
    counselling period is counted from (its opening day, or its own ``period_start``
    if it continued a case in turn), and ``extended_months``, the months its period
    was extended by (including what it was credited with). Under a rule set with
    ``credit_prior_counselling`` the new case's period then ends where the earlier one
    would have, extensions included: ``last_day(period_start, months=36 +
    extended_months)``, and further extensions share the 12 months with the earlier
    ones. All of it is statistical, none of it personal.

    >>> from datetime import date
    >>> Continuation(case_id="s-17", district="08111", period_start=date(2024, 5, 2),
    ...              extended_months=3).extended_months
    3

    .. versionadded:: 0.2.0
    """

    case_id: str = attrs.field(metadata=_STR)
    district: str = attrs.field(metadata=_STR)
    period_start: date = attrs.field(metadata=_DATE)
    extended_months: int = attrs.field(default=0, metadata=_INT)

    def __attrs_post_init__(self) -> None:
        """Replaced by the compiled type checks (see :func:`_compile_checks`)."""

    @classmethod
    def of(cls, case: Case) -> Continuation:
        """The continuation of the earlier *case*, as the receiving district needs it."""
        return cls(
            case_id=case.case_id,
            district=case.district,
            period_start=case.counted_from,
            extended_months=case.credited_extension_months + case.extended_months,
        )


def _continuation(value: Continuation | None) -> Continuation | None:
    if value is None or type(value) is Continuation:
        return value
    raise TypeError(f"'continues' must be a Continuation or None, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class OpenCase(CommandBase):
    """Open a case at the first counselling contact.

    ``person`` is a pseudonymous reference; ``household`` counts the persons counselled
    together (1 for a single adult), ``members`` optionally lists pseudonymous references
    of the other household members. ``continues`` names the earlier case of a client
    who moved here from another district (see :class:`Continuation`).

    .. versionchanged:: 0.2.0
       ``continues``.
    """

    type: ClassVar[str] = "open_case"
    case_id: str = attrs.field(metadata=_STR)
    person: str = attrs.field(metadata=_STR, repr=redacted)
    district: str = attrs.field(metadata=_STR)
    provider: str = attrs.field(metadata=_STR)
    household: int = attrs.field(default=1, metadata=_INT)
    members: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple, repr=redacted)
    continues: Continuation | None = attrs.field(default=None, converter=_continuation)


@attrs.frozen(kw_only=True)
class RecordConsent(CommandBase):
    """Record the client's consent to data processing."""

    type: ClassVar[str] = "record_consent"


@attrs.frozen(kw_only=True)
class WithdrawConsent(CommandBase):
    """Record that the client withdrew consent to data processing."""

    type: ClassVar[str] = "withdraw_consent"


@attrs.frozen(kw_only=True)
class RecordContact(CommandBase):
    """Record a counselling contact: its length, channel and the life areas discussed."""

    type: ClassVar[str] = "record_contact"
    minutes: int = attrs.field(metadata=_INT)
    channel: Channel = attrs.field(default=Channel.IN_PERSON, converter=_channel)
    topics: tuple[LifeArea, ...] = attrs.field(default=(), converter=_areas)


@attrs.frozen(kw_only=True)
class StartAssessment(CommandBase):
    """Begin the needs assessment (intake → assessment)."""

    type: ClassVar[str] = "start_assessment"


@attrs.frozen(kw_only=True)
class RecordNeed(CommandBase):
    """Record a need in a life area."""

    type: ClassVar[str] = "record_need"
    area: LifeArea = attrs.field(converter=_life_area)
    note: str = attrs.field(default="", metadata=_STR, repr=redacted)


@attrs.frozen(kw_only=True)
class StartPlanning(CommandBase):
    """Begin integration planning (assessment → planning)."""

    type: ClassVar[str] = "start_planning"


@attrs.frozen(kw_only=True)
class AddGoal(CommandBase):
    """Add a goal agreement to the draft plan."""

    type: ClassVar[str] = "add_goal"
    goal_id: str = attrs.field(metadata=_STR)
    area: LifeArea = attrs.field(converter=_life_area)
    description: str = attrs.field(metadata=_STR, repr=redacted)
    target_date: date = attrs.field(metadata=_DATE)


@attrs.frozen(kw_only=True)
class AgreePlan(CommandBase):
    """Agree (sign) the draft plan with the client (planning → monitoring)."""

    type: ClassVar[str] = "agree_plan"


@attrs.frozen(kw_only=True)
class SetGoalStatus(CommandBase):
    """Set the status of a goal of the agreed plan."""

    type: ClassVar[str] = "set_goal_status"
    goal_id: str = attrs.field(metadata=_STR)
    status: GoalStatus = attrs.field(converter=_goal_status)


@attrs.frozen(kw_only=True)
class ReviewPlan(CommandBase):
    """Record a periodic review of the agreed plan."""

    type: ClassVar[str] = "review_plan"
    note: str = attrs.field(default="", metadata=_STR, repr=redacted)


@attrs.frozen(kw_only=True)
class RevisePlan(CommandBase):
    """Start a new plan version from the agreed one (monitoring → planning)."""

    type: ClassVar[str] = "revise_plan"


@attrs.frozen(kw_only=True)
class ExtendPeriod(CommandBase):
    """Extend the counselling period by whole months, with a written justification."""

    type: ClassVar[str] = "extend_period"
    months: int = attrs.field(metadata=_INT)
    justification: str = attrs.field(metadata=_STR, repr=redacted)


@attrs.frozen(kw_only=True)
class CloseCase(CommandBase):
    """Close the case with a reason (``other`` needs a note)."""

    type: ClassVar[str] = "close_case"
    reason: ClosureReason = attrs.field(converter=_closure_reason)
    note: str = attrs.field(default="", metadata=_STR, repr=redacted)


@attrs.frozen(kw_only=True)
class TransferCase(CommandBase):
    """Hand the case over to another provider of the same district (domain.md § 3).

    The case keeps its id, history and period; from ``on`` the managers of
    ``to_provider`` act on it and those of the old provider no longer. ``note`` is free
    text (personal data).

    .. versionadded:: 0.2.0
    """

    type: ClassVar[str] = "transfer_case"
    to_provider: str = attrs.field(metadata=_STR)
    note: str = attrs.field(default="", metadata=_STR, repr=redacted)


@attrs.frozen(kw_only=True)
class ReopenCase(CommandBase):
    """Reopen a closed case within its period (closed → assessment)."""

    type: ClassVar[str] = "reopen_case"


@attrs.frozen(kw_only=True)
class MigrateRuleSet(CommandBase):
    """Move an open case to a newer rule set; its period is recomputed."""

    type: ClassVar[str] = "migrate_rule_set"
    rule_set: str = attrs.field(metadata=_STR)


@attrs.frozen(kw_only=True)
class CustomAction(CommandBase):
    """A command that a custom workflow defines by name (for example ``pause_case``)."""

    type: ClassVar[str] = "custom_action"
    name: str = attrs.field(metadata=_STR)
    note: str = attrs.field(default="", metadata=_STR, repr=redacted)


Command = (
    OpenCase
    | RecordConsent
    | WithdrawConsent
    | RecordContact
    | StartAssessment
    | RecordNeed
    | StartPlanning
    | AddGoal
    | AgreePlan
    | SetGoalStatus
    | ReviewPlan
    | RevisePlan
    | ExtendPeriod
    | CloseCase
    | ReopenCase
    | MigrateRuleSet
    | CustomAction
    | TransferCase
)
"""Any command."""

COMMAND_TYPES: dict[str, type[Command]] = {
    cls.type: cls
    for cls in (
        OpenCase,
        RecordConsent,
        WithdrawConsent,
        RecordContact,
        StartAssessment,
        RecordNeed,
        StartPlanning,
        AddGoal,
        AgreePlan,
        SetGoalStatus,
        ReviewPlan,
        RevisePlan,
        ExtendPeriod,
        CloseCase,
        ReopenCase,
        MigrateRuleSet,
        CustomAction,
        TransferCase,
    )
}
"""Every command class by its ``type`` tag."""


def _compile_checks(cls: type[Any]) -> None:
    """Give *cls* one ``__attrs_post_init__`` that checks every typed field at once."""
    checked = [(f.name, f.metadata[_KIND]) for f in attrs.fields(cls) if _KIND in f.metadata]
    namespace: dict[str, Any] = {"_check_field": _check_field}
    tests, slow = [], []
    for i, (name, kind) in enumerate(checked):
        namespace[f"_k{i}"] = kind
        tests.append(f"type(self.{name}) is _k{i}")
        slow.append(f"    _check_field({name!r}, _k{i}, self.{name})\n")
    source = (
        "def __attrs_post_init__(self):\n"
        f"    if {' and '.join(tests) or 'True'}:\n"
        "        return\n" + "".join(slow)
    )
    exec(source, namespace)
    check = namespace["__attrs_post_init__"]
    check.__qualname__ = f"{cls.__qualname__}.__attrs_post_init__"
    check.__doc__ = "Check the types of the fields (compiled from the field declarations)."
    cls.__attrs_post_init__ = check


for _cls in (*COMMAND_TYPES.values(), Continuation):
    _compile_checks(_cls)
