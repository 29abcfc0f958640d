"""Private: plausibility findings, their codes and messages (see imflow.kennzahlen)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import attrs

from imflow.enums import Lang

__all__ = ["FINDINGS", "Finding", "merge_findings"]

FINDINGS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "opening_missing": (
            "Ereignisse ohne Fallöffnung (kein case_opened als erstes Ereignis bis 31.12.)",
            "Events without an opening (no case_opened as the first event by 31 December)",
        ),
        "closure_before_opening": (
            "Abschluss vor der Eröffnung datiert",
            "Closure dated before the opening",
        ),
        "events_out_of_order": (
            "Ereignisse mit rückläufigem Datum (Reihenfolge und Datum widersprechen sich)",
            "Events out of order (dated before the event recorded just before it)",
        ),
        "contact_after_closure": (
            "Kontakt nach Abschluss des Falls erfasst",
            "Contact recorded after the case was closed",
        ),
        "goal_status_before_plan": (
            "Zielstatus gesetzt, bevor der Integrationsplan mit dem Ziel vereinbart war",
            "Goal status set before the plan with that goal was agreed",
        ),
        "open_past_period": (
            "Am 31.12. offen, obwohl der Beratungszeitraum abgelaufen ist",
            "Open on 31 December although the counselling period has ended",
        ),
        "consent_missing_in_monitoring": (
            "In Begleitung und Monitoring ohne gültige Einwilligung (Stand 31.12.)",
            "In monitoring without valid consent (as of 31 December)",
        ),
        "persons_exceed_household": (
            "Mehr Personen erfasst als der Haushalt Mitglieder hat",
            "More persons recorded than the household has members",
        ),
        "unknown_rule_set": (
            "Regelwerk des Falls unbekannt; Frist für den Integrationsplan nicht bestimmbar",
            "The case's rule set is unknown; the plan deadline cannot be determined",
        ),
        "fte_missing": (
            "Träger mit aktiven Fällen ohne Angabe der Vollzeitäquivalente (VZÄ)",
            "Providers with active cases but no full-time equivalents (FTE) given",
        ),
    }
)
"""Every finding code, in report order, with its German and English message."""

_ORDER = {code: i for i, code in enumerate(FINDINGS)}


def _sorted_unique(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(value)))


@attrs.frozen(kw_only=True)
class Finding:
    """One plausibility finding: a stable code and what it affects.

    ``case_ids`` are case ids only (never personal data); ``units`` name providers as
    ``"district/provider"`` where a finding concerns organisation data.

    >>> f = Finding(code="closure_before_opening", case_ids=["c-2", "c-1"])
    >>> f.case_ids, f.message("de")
    (('c-1', 'c-2'), 'Abschluss vor der Eröffnung datiert')
    """

    code: str = attrs.field(validator=attrs.validators.in_(FINDINGS))
    case_ids: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)
    units: tuple[str, ...] = attrs.field(default=(), converter=_sorted_unique)

    @property
    def count(self) -> int:
        """How many cases (or, for organisation findings, providers) are affected."""
        return len(self.case_ids) or len(self.units)

    def message(self, lang: Lang = "en") -> str:
        """What the finding means, in *lang*."""
        de, en = FINDINGS[self.code]
        return de if lang == "de" else en


def merge_findings(*groups: Iterable[Finding]) -> tuple[Finding, ...]:
    """The union of findings: one per code with the affected ids joined, in report order."""
    cases: dict[str, set[str]] = {}
    units: dict[str, set[str]] = {}
    for group in groups:
        for f in group:
            cases.setdefault(f.code, set()).update(f.case_ids)
            units.setdefault(f.code, set()).update(f.units)
    return tuple(
        Finding(code=code, case_ids=cases[code], units=units[code])
        for code in sorted(cases, key=_ORDER.__getitem__)
        if cases[code] or units[code]
    )
