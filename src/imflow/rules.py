"""Rule sets: the programme's parameters by effective date, as data.

A case is pinned to the rule set in force on its opening date. Durations, limits,
review intervals, warning windows, closure reasons and permissions live here, not in
``if`` statements in the engine.

>>> from datetime import date
>>> rule_set_in_force(date(2024, 5, 1)).id
'vwv-2023'
>>> RULE_SETS["vwv-2018"].plan_mandatory
False
>>> [rs.credit_prior_counselling for rs in RULE_SETS.values()]
[False, True, True]

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from types import MappingProxyType

import attrs

from imflow.enums import ClosureReason, Lang, Role

__all__ = ["ALL_COMMANDS", "RULE_SETS", "RuleSet", "rule_set_in_force"]

ALL_COMMANDS = "*"
"""In :attr:`RuleSet.permissions`: the role may issue every command."""


def _frozen_permissions(
    value: Mapping[Role, Iterable[str]],
) -> Mapping[Role, frozenset[str]]:
    return MappingProxyType({Role(role): frozenset(cmds) for role, cmds in value.items()})


def _frozen_reasons(value: Iterable[ClosureReason | str]) -> frozenset[ClosureReason]:
    return frozenset(ClosureReason(v) for v in value)


_DEFAULT_PERMISSIONS: Mapping[Role, frozenset[str]] = _frozen_permissions(
    {
        Role.MANAGER: {ALL_COMMANDS},
        Role.COORDINATOR: set(),
        Role.AUDITOR: set(),
        Role.SYSTEM: {"close_case", "migrate_rule_set"},
    }
)


@attrs.frozen(eq=True, hash=False)
class RuleSet:
    """The parameters of one rule set.

    ``period_months`` is ``None`` where the counselling period is not limited.
    ``review_interval_months`` spaces the reviews of an agreed plan; ``info_days`` and
    ``warning_days`` are the deadline warning windows, replaced by windows counted in
    calendar months where ``info_months`` / ``warning_months`` are set; a plan is due
    within ``plan_due_months`` of opening and consent within ``consent_due_days``.
    Every month-based date is :func:`imflow.period.last_day` of its start.
    ``credit_prior_counselling`` makes a case that continues one from another district
    (:class:`~imflow.commands.Continuation`) end where the earlier one would have.
    ``permissions`` maps each role to the command types it may issue
    (:data:`ALL_COMMANDS` for every one); managers are further limited to their own
    provider's cases by the engine. ``retention_years`` is the Löschfrist: a closed
    case's personal content is erased at the end of that many calendar years after the
    year of its closure (see :mod:`imflow.retention`; a district may set its own).

    .. versionchanged:: 0.2.0
       ``retention_years``.
    """

    id: str
    effective_from: date
    label_de: str
    label_en: str
    plan_mandatory: bool = True
    period_months: int | None = 36
    extension_max_months: int = 12
    review_interval_months: int = 6
    info_days: int = 90
    warning_days: int = 30
    plan_due_months: int = 3
    consent_due_days: int = 28
    info_months: int | None = None
    warning_months: int | None = None
    credit_prior_counselling: bool = True
    retention_years: int = 3
    closure_reasons: frozenset[ClosureReason] = attrs.field(
        default=frozenset(ClosureReason), converter=_frozen_reasons
    )
    permissions: Mapping[Role, frozenset[str]] = attrs.field(
        default=_DEFAULT_PERMISSIONS, converter=_frozen_permissions
    )

    def label(self, lang: Lang = "en") -> str:
        """The rule set's name in *lang*."""
        return self.label_de if lang == "de" else self.label_en

    def may(self, role: Role, command: str) -> bool:
        """Whether *role* may issue *command* under this rule set.

        >>> RULE_SETS["vwv-2023"].may(Role.AUDITOR, "add_goal")
        False
        """
        allowed = self.permissions.get(role, frozenset())
        return command in allowed or ALL_COMMANDS in allowed


RULE_SETS: Mapping[str, RuleSet] = MappingProxyType(
    {
        rs.id: rs
        for rs in (
            RuleSet(
                id="vwv-2018",
                effective_from=date(2018, 1, 1),
                label_de="VwV Integrationsmanagement 2018 (Plan freiwillig, unbefristet)",
                label_en="VwV Integrationsmanagement 2018 (plan voluntary, no limit)",
                plan_mandatory=False,
                period_months=None,
                extension_max_months=0,
                credit_prior_counselling=False,
                closure_reasons=frozenset(ClosureReason) - {ClosureReason.PERIOD_EXPIRED},
            ),
            RuleSet(
                id="vwv-2023",
                effective_from=date(2023, 6, 6),
                label_de="VwV Integrationsmanagement vom 06.06.2023 (Case Management, 3 + 1 Jahre)",
                label_en="VwV Integrationsmanagement of 6 June 2023 (case management, 3 + 1 years)",
            ),
            RuleSet(
                id="system-2025",
                effective_from=date(2025, 1, 1),
                label_de="Systemwechsel 2025 (Förderung über die 44 Stadt- und Landkreise)",
                label_en="System change 2025 (funding through the 44 districts)",
            ),
        )
    }
)
"""The rule sets that ship with imflow, by id."""


def rule_set_in_force(on: date, rule_sets: Iterable[RuleSet] | None = None) -> RuleSet | None:
    """The rule set with the latest effective date on or before *on*, if any.

    >>> rule_set_in_force(date(2017, 12, 31)) is None
    True
    """
    candidates = RULE_SETS.values() if rule_sets is None else rule_sets
    best: RuleSet | None = None
    for rs in candidates:
        if rs.effective_from <= on and (best is None or rs.effective_from > best.effective_from):
            best = rs
    return best
