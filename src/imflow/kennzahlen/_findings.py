"""Private: plausibility findings, their codes and messages (see imflow.kennzahlen)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import attrs

from imflow.i18n import Lang, Messages

__all__ = ["FINDINGS", "FINDING_CODES", "Finding", "merge_findings"]

FINDING_CODES = (
    "opening_missing",
    "closure_before_opening",
    "events_out_of_order",
    "contact_after_closure",
    "goal_status_before_plan",
    "open_past_period",
    "consent_missing_in_monitoring",
    "persons_exceed_household",
    "unknown_rule_set",
    "fte_missing",
)
"""Every finding code, in report order; its message is ``finding.<code>``."""

_ORDER = {code: i for i, code in enumerate(FINDING_CODES)}


class _FindingMessages(Mapping[str, tuple[str, str]]):
    """The finding codes in report order, each with its German and English message,
    read from the message catalogue when asked for."""

    def __getitem__(self, code: str) -> tuple[str, str]:
        if code not in _ORDER:
            raise KeyError(code)
        m = Messages.default()
        return m.say(f"finding.{code}", "de"), m.say(f"finding.{code}", "en")

    def __contains__(self, code: object) -> bool:
        return code in _ORDER

    def __iter__(self) -> Iterator[str]:
        return iter(FINDING_CODES)

    def __len__(self) -> int:
        return len(FINDING_CODES)

    def __repr__(self) -> str:
        return f"<FINDINGS: {', '.join(FINDING_CODES)}>"


FINDINGS: Mapping[str, tuple[str, str]] = _FindingMessages()
"""Every finding code, in report order, with its German and English message (from the
message catalogue, ``finding.<code>``; :meth:`Finding.message` takes ``messages=`` for a
host's own words).

.. versionchanged:: 0.2.0 the messages live in the catalogue.
"""


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

    def message(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """What the finding means, in *lang* (``finding.<code>`` of *messages*)."""
        return (messages or Messages.default()).say(f"finding.{self.code}", lang)


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
