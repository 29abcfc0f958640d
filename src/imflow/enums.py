"""The vocabularies of the programme, as string enums with German and English labels.

Values are the stable snake_case codes of the domain reference; labels are for people.

>>> Phase.MONITORING == "monitoring"
True
>>> Phase.MONITORING.label("de")
'Begleitung und Monitoring'
>>> LifeArea("language").label("en")
'Language'

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import enum
import functools
import re

from imflow.i18n import Lang as Lang  # re-exported: imflow.enums.Lang predates imflow.i18n
from imflow.i18n import Messages

__all__ = [
    "Channel",
    "ClosureReason",
    "ConsentStatus",
    "CustomPhase",
    "GoalStatus",
    "LifeArea",
    "Phase",
    "Role",
]


@functools.cache
def _kind(cls: type) -> str:
    """``ClosureReason`` → ``closure_reason``: the key prefix of a vocabulary's labels."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class _Labelled(enum.StrEnum):
    """A string enum whose members have labels in the message catalogue
    (``<kind>.<value>``, e.g. ``closure_reason.moved_away``)."""

    def label(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The member's human-readable label in *lang* (a host's *messages* may
        reword it or add a language)."""
        return (messages or Messages.default()).say(f"{_kind(type(self))}.{self.value}", lang)


class Phase(_Labelled):
    """The phases of the default workflow ``bw-integrationsmanagement``."""

    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLANNING = "planning"
    MONITORING = "monitoring"
    CLOSED = "closed"


class CustomPhase(str):
    """A phase that a district variant adds (``"paused"``): not one of :class:`Phase`,
    but a string with a :meth:`label` just like it, so ``case.phase.label("de")`` works
    for every case.

    Its label comes from the message catalogue (``phase.<name>``: a host adds it with
    :meth:`imflow.i18n.Messages.with_overrides`) and is the name itself without one;
    the variant's own labels are ``workflow.phase(case.phase).label(lang)``.

    >>> paused = CustomPhase("paused")
    >>> paused == "paused", paused.label("de")
    (True, 'paused')

    .. versionadded:: 0.2.0
    """

    __slots__ = ()

    def label(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The phase's label in *lang* (its name when the catalogue has none)."""
        return (messages or Messages.default()).label("phase", str(self), lang)


class LifeArea(_Labelled):
    """The life areas (Handlungsfelder) that needs, goals and contacts refer to."""

    LANGUAGE = "language"
    SCHOOL = "school"
    VOCATIONAL_TRAINING = "vocational_training"
    WORK = "work"
    HOUSING = "housing"
    HEALTH = "health"
    CHILDCARE = "childcare"
    PARTICIPATION = "participation"
    REGULAR_SERVICES = "regular_services"
    OTHER = "other"


class GoalStatus(_Labelled):
    """The status of one goal agreement; every status but ``open`` is final."""

    OPEN = "open"
    ACHIEVED = "achieved"
    PARTLY_ACHIEVED = "partly_achieved"
    NOT_ACHIEVED = "not_achieved"
    DROPPED = "dropped"

    @property
    def final(self) -> bool:
        """Whether the goal is settled (anything but ``open``)."""
        return self is not GoalStatus.OPEN


class ClosureReason(_Labelled):
    """Why a case was closed."""

    GOALS_ACHIEVED = "goals_achieved"
    PERIOD_EXPIRED = "period_expired"
    MOVED_AWAY = "moved_away"
    HANDED_OVER = "handed_over"
    NO_CONTACT = "no_contact"
    CLIENT_REQUEST = "client_request"
    OTHER = "other"


class Role(_Labelled):
    """What an actor may do (see :class:`imflow.RuleSet` for the permissions)."""

    MANAGER = "manager"
    COORDINATOR = "coordinator"
    AUDITOR = "auditor"
    SYSTEM = "system"


class Channel(_Labelled):
    """How a counselling contact took place."""

    IN_PERSON = "in_person"
    PHONE = "phone"
    VIDEO = "video"
    WRITTEN = "written"
    HOME_VISIT = "home_visit"


class ConsentStatus(_Labelled):
    """The client's consent to data processing (DSGVO)."""

    MISSING = "missing"
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
