"""Reasons: why a command is refused, with a stable code and messages in two languages.

Guards never answer just ``False``; they return reasons. The same reasons drive
:class:`imflow.Rejected` and :meth:`imflow.Engine.allowed`, so a user interface can
explain what is possible next.

>>> r = Reason.of("extension_limit_exceeded", requested=6, remaining=3)
>>> r.code
'extension_limit_exceeded'
>>> r.message("en")
'The extension exceeds the limit: 6 months requested, 3 months left.'

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from imflow.enums import Lang

__all__ = ["CATALOGUE", "Reason"]

CATALOGUE: Mapping[str, tuple[str, str]] = {
    # guards that hold for every command
    "invalid_in_phase": (
        "Der Befehl {command} ist in der Phase {phase} nicht zulässig.",
        "The command {command} is not allowed in phase {phase}.",
    ),
    "case_closed": (
        "Der Fall ist abgeschlossen.",
        "The case is closed.",
    ),
    "date_out_of_order": (
        "Das Datum {on} liegt vor dem letzten Ereignis des Falls ({latest}).",
        "The date {on} is earlier than the case's latest event ({latest}).",
    ),
    "date_in_future": (
        "Das Datum {on} liegt in der Zukunft (heute: {today}).",
        "The date {on} is in the future (today: {today}).",
    ),
    "period_ended": (
        "Der Beratungszeitraum endete am {period_end}; nur noch der Abschluss ist möglich.",
        "The counselling period ended on {period_end}; only closing is still possible.",
    ),
    "forbidden": (
        "Diese Rolle ({role}) darf {command} für diesen Fall nicht ausführen.",
        "This actor ({role}) may not perform {command} on this case.",
    ),
    "consent_missing": (
        "Die Einwilligung in die Datenverarbeitung fehlt oder wurde widerrufen.",
        "Consent to data processing is missing or was withdrawn.",
    ),
    "unknown_command": (
        "Der Befehl {command} ist in diesem Ablauf nicht definiert.",
        "The command {command} is not defined in this workflow.",
    ),
    "invalid_value": (
        "Ungültiger Wert für {field}: {problem}.",
        "Invalid value for {field}: {problem}.",
    ),
    "policy_error": (
        "Die Prüfregel {policy} ist fehlgeschlagen; der Befehl wurde nicht ausgeführt.",
        "The policy {policy} failed; the command was not applied.",
    ),
    # command-specific guards
    "unknown_district": (
        "{district} ist kein Stadt- oder Landkreis in Baden-Württemberg.",
        "{district} is not a district (Stadt- or Landkreis) of Baden-Württemberg.",
    ),
    "no_rule_set": (
        "Am {on} war kein Regelwerk in Kraft.",
        "No rule set was in force on {on}.",
    ),
    "no_needs": (
        "Es ist noch kein Bedarf erfasst.",
        "No need has been recorded yet.",
    ),
    "target_after_period_end": (
        "Das Zieldatum {target_date} liegt nach dem Ende des Beratungszeitraums ({period_end}).",
        "The target date {target_date} is after the end of the counselling period ({period_end}).",
    ),
    "duplicate_goal": (
        "Das Ziel {goal_id} ist im Integrationsplan bereits vorhanden.",
        "The goal {goal_id} already exists in the integration plan.",
    ),
    "no_goals": (
        "Der Integrationsplan enthält keine Zielvereinbarung.",
        "The integration plan has no goal agreement.",
    ),
    "unknown_goal": (
        "Das Ziel {goal_id} ist im vereinbarten Integrationsplan nicht enthalten.",
        "The goal {goal_id} is not part of the agreed integration plan.",
    ),
    "justification_missing": (
        "Eine Verlängerung braucht eine schriftliche Begründung.",
        "An extension needs a written justification.",
    ),
    "extension_limit_exceeded": (
        "Die Verlängerung überschreitet die Höchstdauer: {requested} Monate beantragt, "
        "{remaining} Monate möglich.",
        "The extension exceeds the limit: {requested} months requested, {remaining} months left.",
    ),
    "no_period_limit": (
        "Unter dem Regelwerk {rule_set} ist der Beratungszeitraum nicht befristet.",
        "The counselling period is not limited under rule set {rule_set}.",
    ),
    "goals_not_achieved": (
        "Abschluss wegen Zielerreichung nur, wenn alle Ziele abgeschlossen sind und "
        "mindestens eines erreicht ist.",
        "Closing as goals achieved needs every goal settled and at least one achieved.",
    ),
    "period_not_ended": (
        "Der Beratungszeitraum läuft noch bis {period_end}.",
        "The counselling period runs until {period_end}.",
    ),
    "note_missing": (
        "Der Abschlussgrund „Sonstiges“ braucht eine Erläuterung.",
        "The closure reason 'other' needs a note.",
    ),
    "reason_not_allowed": (
        "Der Abschlussgrund {reason} ist unter dem Regelwerk {rule_set} nicht vorgesehen.",
        "The closure reason {reason} is not provided for under rule set {rule_set}.",
    ),
    "unknown_rule_set": (
        "Das Regelwerk {rule_set} ist nicht bekannt.",
        "The rule set {rule_set} is not known.",
    ),
    "rule_set_not_newer": (
        "Das Regelwerk {rule_set} ist nicht neuer als das bisherige ({current}).",
        "The rule set {rule_set} is not newer than the current one ({current}).",
    ),
    "rule_set_not_in_force": (
        "Das Regelwerk {rule_set} tritt erst am {effective_from} in Kraft.",
        "The rule set {rule_set} comes into force only on {effective_from}.",
    ),
    "unknown_provider": (
        "{provider} ist kein anderer Träger im Kreis {district}, an den der Fall "
        "übergeben werden kann.",
        "{provider} is not another provider in district {district} the case can be transferred to.",
    ),
    "reopen_not_allowed": (
        "Ein Fall, der mit „{reason}“ abgeschlossen wurde, kann nicht wieder geöffnet werden.",
        "A case closed with '{reason}' cannot be reopened.",
    ),
}
"""Every built-in reason code with its German and English message template."""


@attrs.frozen
class Reason:
    """One reason a command is refused.

    ``code`` is stable and machine-readable; the messages are for people.
    Hosts may create reasons with codes of their own (for policy hooks).
    """

    code: str
    message_de: str
    message_en: str

    @classmethod
    def of(cls, code: str, /, **params: Any) -> Reason:
        """Build a reason from the :data:`CATALOGUE` template for *code*.

        >>> Reason.of("no_goals").message_de
        'Der Integrationsplan enthält keine Zielvereinbarung.'
        """
        de, en = CATALOGUE[code]
        return cls(code, de.format(**params), en.format(**params))

    def message(self, lang: Lang = "en") -> str:
        """The message in *lang*."""
        return self.message_de if lang == "de" else self.message_en

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"
