"""Events: the facts the engine records, one class per accepted command.

Every event carries the case id, its position ``seq`` in the case's stream (1-based),
the business date ``on``, the engine clock's ``recorded_at`` and the ``actor``. A case
is the fold of its events (:meth:`imflow.Engine.replay`); key figures, audit trail and
simulation read events, never mutable state.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

import attrs

from imflow._bounds import redacted
from imflow.actors import Actor
from imflow.commands import Continuation
from imflow.enums import Channel, ClosureReason, GoalStatus, LifeArea

__all__ = [
    "EVENT_TYPES",
    "AssessmentStarted",
    "CaseClosed",
    "CaseOpened",
    "CaseReopened",
    "CaseTransferred",
    "ConsentRecorded",
    "ConsentWithdrawn",
    "ContactRecorded",
    "CustomActionTaken",
    "Event",
    "EventBase",
    "GoalAdded",
    "GoalStatusSet",
    "NeedRecorded",
    "PeriodExtended",
    "PersonErased",
    "PlanAgreed",
    "PlanReviewed",
    "PlanRevised",
    "PlanningStarted",
    "RuleSetMigrated",
]


@attrs.frozen(kw_only=True)
class EventBase:
    """Fields every event has."""

    type: ClassVar[str]
    case_id: str
    seq: int
    on: date
    recorded_at: datetime
    actor: Actor


@attrs.frozen(kw_only=True)
class CaseOpened(EventBase):
    """A case was opened at the first counselling contact; its period starts ``on``.

    ``continues`` names the earlier case in another district, if any; ``counted_from``
    is set when its counselling time was credited (the rule set's
    ``credit_prior_counselling``): the period is then counted from that day, and the
    earlier case's ``extended_months`` count against the extension limit.

    .. versionchanged:: 0.2.0
       ``continues`` and ``counted_from``.
    """

    type: ClassVar[str] = "case_opened"
    person: str = attrs.field(repr=redacted)  # personal fields never show in repr()
    household: int
    members: tuple[str, ...] = attrs.field(repr=redacted)
    district: str
    provider: str
    rule_set: str
    workflow: str
    workflow_hash: str
    period_end: date | None
    continues: Continuation | None = None
    counted_from: date | None = None


@attrs.frozen(kw_only=True)
class ConsentRecorded(EventBase):
    """The client consented to data processing."""

    type: ClassVar[str] = "consent_recorded"


@attrs.frozen(kw_only=True)
class ConsentWithdrawn(EventBase):
    """The client withdrew consent to data processing."""

    type: ClassVar[str] = "consent_withdrawn"


@attrs.frozen(kw_only=True)
class ContactRecorded(EventBase):
    """A counselling contact took place (possible in every open phase)."""

    type: ClassVar[str] = "contact_recorded"
    minutes: int
    channel: Channel
    topics: tuple[LifeArea, ...]


@attrs.frozen(kw_only=True)
class AssessmentStarted(EventBase):
    """The needs assessment (Clearing) began."""

    type: ClassVar[str] = "assessment_started"


@attrs.frozen(kw_only=True)
class NeedRecorded(EventBase):
    """A need in a life area was recorded."""

    type: ClassVar[str] = "need_recorded"
    area: LifeArea
    note: str = attrs.field(repr=redacted)


@attrs.frozen(kw_only=True)
class PlanningStarted(EventBase):
    """Integration planning began: a first draft plan exists."""

    type: ClassVar[str] = "planning_started"


@attrs.frozen(kw_only=True)
class GoalAdded(EventBase):
    """A goal agreement was added to the draft plan."""

    type: ClassVar[str] = "goal_added"
    goal_id: str
    area: LifeArea
    description: str = attrs.field(repr=redacted)
    target_date: date


@attrs.frozen(kw_only=True)
class PlanAgreed(EventBase):
    """The draft plan was agreed (signed) with the client."""

    type: ClassVar[str] = "plan_agreed"
    plan_version: int


@attrs.frozen(kw_only=True)
class GoalStatusSet(EventBase):
    """The status of a goal of the agreed plan changed."""

    type: ClassVar[str] = "goal_status_set"
    goal_id: str
    status: GoalStatus


@attrs.frozen(kw_only=True)
class PlanReviewed(EventBase):
    """The agreed plan was reviewed."""

    type: ClassVar[str] = "plan_reviewed"
    note: str = attrs.field(repr=redacted)


@attrs.frozen(kw_only=True)
class PlanRevised(EventBase):
    """A new plan version was started from the agreed one."""

    type: ClassVar[str] = "plan_revised"
    plan_version: int


@attrs.frozen(kw_only=True)
class PeriodExtended(EventBase):
    """The counselling period was extended; ``period_end`` is the new last day."""

    type: ClassVar[str] = "period_extended"
    months: int
    justification: str = attrs.field(repr=redacted)
    period_end: date


@attrs.frozen(kw_only=True)
class CaseClosed(EventBase):
    """The case was closed with a reason."""

    type: ClassVar[str] = "case_closed"
    reason: ClosureReason
    note: str = attrs.field(repr=redacted)


@attrs.frozen(kw_only=True)
class CaseTransferred(EventBase):
    """The case moved from one provider of its district to another (``note`` is free
    text, personal data).

    .. versionadded:: 0.2.0
    """

    type: ClassVar[str] = "case_transferred"
    from_provider: str
    to_provider: str
    note: str = attrs.field(repr=redacted)


@attrs.frozen(kw_only=True)
class CaseReopened(EventBase):
    """A closed case was reopened within its period."""

    type: ClassVar[str] = "case_reopened"


@attrs.frozen(kw_only=True)
class RuleSetMigrated(EventBase):
    """The case moved to another rule set; ``period_end`` is recomputed."""

    type: ClassVar[str] = "rule_set_migrated"
    rule_set: str
    period_end: date | None


@attrs.frozen(kw_only=True)
class CustomActionTaken(EventBase):
    """A command that a custom workflow added (for example ``pause_case``) was applied."""

    type: ClassVar[str] = "custom_action_taken"
    name: str
    note: str = attrs.field(repr=redacted)


@attrs.frozen(kw_only=True)
class PersonErased(EventBase):
    """The person's personal content was erased from the case (DSGVO Art. 17).

    Earlier events keep their statistical skeleton; their personal fields hold
    :data:`imflow.erasure.TOMBSTONE`.
    """

    type: ClassVar[str] = "person_erased"


Event = (
    CaseOpened
    | ConsentRecorded
    | ConsentWithdrawn
    | ContactRecorded
    | AssessmentStarted
    | NeedRecorded
    | PlanningStarted
    | GoalAdded
    | PlanAgreed
    | GoalStatusSet
    | PlanReviewed
    | PlanRevised
    | PeriodExtended
    | CaseClosed
    | CaseReopened
    | RuleSetMigrated
    | CustomActionTaken
    | PersonErased
    | CaseTransferred
)
"""Any event."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        CaseOpened,
        ConsentRecorded,
        ConsentWithdrawn,
        ContactRecorded,
        AssessmentStarted,
        NeedRecorded,
        PlanningStarted,
        GoalAdded,
        PlanAgreed,
        GoalStatusSet,
        PlanReviewed,
        PlanRevised,
        PeriodExtended,
        CaseClosed,
        CaseReopened,
        RuleSetMigrated,
        CustomActionTaken,
        PersonErased,
        CaseTransferred,
    )
}
"""Every event class by its ``type`` tag."""
