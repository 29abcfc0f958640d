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
from typing import Literal

__all__ = [
    "Channel",
    "ClosureReason",
    "ConsentStatus",
    "GoalStatus",
    "Lang",
    "LifeArea",
    "Phase",
    "Role",
]

Lang = Literal["de", "en"]
"""A label language: German (``"de"``) or English (``"en"``)."""


class _Labelled(enum.StrEnum):
    """A string enum whose members carry a German and an English label."""

    def label(self, lang: Lang = "en") -> str:
        """The member's human-readable label in *lang*."""
        de, en = _LABELS[type(self).__name__][self.value]
        return de if lang == "de" else en


class Phase(_Labelled):
    """The phases of the default workflow ``bw-integrationsmanagement``."""

    INTAKE = "intake"
    ASSESSMENT = "assessment"
    PLANNING = "planning"
    MONITORING = "monitoring"
    CLOSED = "closed"


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


_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "Phase": {
        "intake": ("Erstkontakt / Aufnahme", "Intake"),
        "assessment": ("Bedarfsermittlung (Clearing)", "Assessment"),
        "planning": ("Integrationsplanung", "Planning"),
        "monitoring": ("Begleitung und Monitoring", "Monitoring"),
        "closed": ("Abschluss", "Closed"),
    },
    "LifeArea": {
        "language": ("Sprache / Deutsch", "Language"),
        "school": ("Schule", "School"),
        "vocational_training": ("Ausbildung / Studium", "Vocational training and studies"),
        "work": ("Arbeit", "Work"),
        "housing": ("Wohnen", "Housing"),
        "health": ("Gesundheit", "Health"),
        "childcare": ("Kinder / Kinderbetreuung", "Children and childcare"),
        "participation": ("Gesellschaftliche Teilhabe", "Social participation"),
        "regular_services": ("Zugang zu Regeldiensten", "Access to regular services"),
        "other": ("Sonstiges", "Other"),
    },
    "GoalStatus": {
        "open": ("offen", "open"),
        "achieved": ("erreicht", "achieved"),
        "partly_achieved": ("teilweise erreicht", "partly achieved"),
        "not_achieved": ("nicht erreicht", "not achieved"),
        "dropped": ("aufgegeben", "dropped"),
    },
    "ClosureReason": {
        "goals_achieved": ("Ziele erreicht", "Goals achieved"),
        "period_expired": ("Beratungszeitraum abgelaufen", "Counselling period expired"),
        "moved_away": ("Wegzug / Kreiswechsel", "Moved away"),
        "handed_over": ("Übergabe an Regeldienste", "Handed over to regular services"),
        "no_contact": ("Kontaktabbruch", "Contact broken off"),
        "client_request": ("Auf Wunsch der Klientin / des Klienten", "At the client's request"),
        "other": ("Sonstiger Grund", "Other reason"),
    },
    "Role": {
        "manager": ("Integrationsmanager/in", "Integration manager"),
        "coordinator": ("Koordinationsstelle", "Coordination office"),
        "auditor": ("Prüfung (nur lesend)", "Auditor (read-only)"),
        "system": ("System", "System"),
    },
    "Channel": {
        "in_person": ("persönlich", "in person"),
        "phone": ("telefonisch", "by phone"),
        "video": ("per Video", "by video"),
        "written": ("schriftlich", "in writing"),
        "home_visit": ("Hausbesuch", "home visit"),
    },
    "ConsentStatus": {
        "missing": ("keine Einwilligung", "no consent"),
        "given": ("Einwilligung erteilt", "consent given"),
        "withdrawn": ("Einwilligung widerrufen", "consent withdrawn"),
    },
}
