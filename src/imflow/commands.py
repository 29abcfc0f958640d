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

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar

import attrs

from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea

__all__ = [
    "COMMAND_TYPES",
    "AddGoal",
    "AgreePlan",
    "CloseCase",
    "Command",
    "CommandBase",
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
    "WithdrawConsent",
]


def _is_date(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not date:
        kind = "a datetime" if isinstance(value, datetime) else type(value).__name__
        raise TypeError(f"{attribute.name!r} must be a datetime.date, got {kind}: {value!r}")


_str = attrs.validators.instance_of(str)
_int = attrs.validators.instance_of(int)


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise TypeError(f"expected a sequence of strings, got the string {value!r}")
    return tuple(value)


def _areas(value: Iterable[LifeArea | str]) -> tuple[LifeArea, ...]:
    if isinstance(value, str):
        raise TypeError(f"expected a sequence of life areas, got the string {value!r}")
    return tuple(LifeArea(v) for v in value)


@attrs.frozen(kw_only=True)
class CommandBase:
    """Fields every command has: the business date ``on``."""

    type: ClassVar[str]
    on: date = attrs.field(validator=_is_date)


@attrs.frozen(kw_only=True)
class OpenCase(CommandBase):
    """Open a case at the first counselling contact.

    ``person`` is a pseudonymous reference; ``household`` counts the persons counselled
    together (1 for a single adult), ``members`` optionally lists pseudonymous references
    of the other household members.
    """

    type: ClassVar[str] = "open_case"
    case_id: str = attrs.field(validator=_str)
    person: str = attrs.field(validator=_str)
    district: str = attrs.field(validator=_str)
    provider: str = attrs.field(validator=_str)
    household: int = attrs.field(default=1, validator=_int)
    members: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)


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
    minutes: int = attrs.field(validator=_int)
    channel: Channel = attrs.field(default=Channel.IN_PERSON, converter=Channel)
    topics: tuple[LifeArea, ...] = attrs.field(default=(), converter=_areas)


@attrs.frozen(kw_only=True)
class StartAssessment(CommandBase):
    """Begin the needs assessment (intake → assessment)."""

    type: ClassVar[str] = "start_assessment"


@attrs.frozen(kw_only=True)
class RecordNeed(CommandBase):
    """Record a need in a life area."""

    type: ClassVar[str] = "record_need"
    area: LifeArea = attrs.field(converter=LifeArea)
    note: str = attrs.field(default="", validator=_str)


@attrs.frozen(kw_only=True)
class StartPlanning(CommandBase):
    """Begin integration planning (assessment → planning)."""

    type: ClassVar[str] = "start_planning"


@attrs.frozen(kw_only=True)
class AddGoal(CommandBase):
    """Add a goal agreement to the draft plan."""

    type: ClassVar[str] = "add_goal"
    goal_id: str = attrs.field(validator=_str)
    area: LifeArea = attrs.field(converter=LifeArea)
    description: str = attrs.field(validator=_str)
    target_date: date = attrs.field(validator=_is_date)


@attrs.frozen(kw_only=True)
class AgreePlan(CommandBase):
    """Agree (sign) the draft plan with the client (planning → monitoring)."""

    type: ClassVar[str] = "agree_plan"


@attrs.frozen(kw_only=True)
class SetGoalStatus(CommandBase):
    """Set the status of a goal of the agreed plan."""

    type: ClassVar[str] = "set_goal_status"
    goal_id: str = attrs.field(validator=_str)
    status: GoalStatus = attrs.field(converter=GoalStatus)


@attrs.frozen(kw_only=True)
class ReviewPlan(CommandBase):
    """Record a periodic review of the agreed plan."""

    type: ClassVar[str] = "review_plan"
    note: str = attrs.field(default="", validator=_str)


@attrs.frozen(kw_only=True)
class RevisePlan(CommandBase):
    """Start a new plan version from the agreed one (monitoring → planning)."""

    type: ClassVar[str] = "revise_plan"


@attrs.frozen(kw_only=True)
class ExtendPeriod(CommandBase):
    """Extend the counselling period by whole months, with a written justification."""

    type: ClassVar[str] = "extend_period"
    months: int = attrs.field(validator=_int)
    justification: str = attrs.field(validator=_str)


@attrs.frozen(kw_only=True)
class CloseCase(CommandBase):
    """Close the case with a reason (``other`` needs a note)."""

    type: ClassVar[str] = "close_case"
    reason: ClosureReason = attrs.field(converter=ClosureReason)
    note: str = attrs.field(default="", validator=_str)


@attrs.frozen(kw_only=True)
class ReopenCase(CommandBase):
    """Reopen a closed case within its period (closed → assessment)."""

    type: ClassVar[str] = "reopen_case"


@attrs.frozen(kw_only=True)
class MigrateRuleSet(CommandBase):
    """Move an open case to a newer rule set; its period is recomputed."""

    type: ClassVar[str] = "migrate_rule_set"
    rule_set: str = attrs.field(validator=_str)


@attrs.frozen(kw_only=True)
class CustomAction(CommandBase):
    """A command that a custom workflow defines by name (for example ``pause_case``)."""

    type: ClassVar[str] = "custom_action"
    name: str = attrs.field(validator=_str)
    note: str = attrs.field(default="", validator=_str)


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
    )
}
"""Every command class by its ``type`` tag."""
