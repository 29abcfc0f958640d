"""Private: the catalogue of key figures (see imflow.kennzahlen)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import attrs

from imflow.enums import ClosureReason, GoalStatus, Lang, LifeArea
from imflow.kennzahlen._tally import Tally

__all__ = ["CATALOGUE", "Figure", "FigureKind", "FigureValue", "Group"]

FigureValue = int | float | None | Mapping[str, int]
"""A figure's value: a count, a ratio or share (``None`` when its denominator is 0),
or counts by key for a breakdown."""


@attrs.frozen(kw_only=True)
class Group:
    """What a figure is computed from: the tally of a group of units and its staffing.

    ``fte_centi`` sums the FTE (in hundredths) of the units whose FTE is given and
    positive; ``staffed_active`` counts the active cases of exactly those units.
    ``per_unit`` says that no two units of the group share a district (one provider,
    or one provider id across districts): a case transferred between providers then
    counts as active at each of them; otherwise (a district, the state) once, at the
    provider it is with at the end of the year.

    .. versionchanged:: 0.2.0
       ``per_unit`` and :meth:`of`.
    """

    tally: Tally
    fte_centi: int = 0
    staffed_active: int = 0
    per_unit: bool = False

    @classmethod
    def of(cls, units: Iterable[tuple[str, Tally, int | None]]) -> Group:
        """The group of *units*, each given as ``(district, tally, fte_centi)``."""
        parts = list(units)
        districts = [d for d, _, _ in parts]
        per_unit = len(set(districts)) == len(districts)
        staffed = [t for _, t, centi in parts if centi]
        return cls(
            tally=Tally.sum(t for _, t, _ in parts),
            fte_centi=sum(centi or 0 for _, _, centi in parts if centi),
            staffed_active=sum(t.cases_active + per_unit * t.cases_active_left for t in staffed),
            per_unit=per_unit,
        )

    @property
    def cases_active(self) -> int:
        """Active cases: once each, or at each provider they were with (``per_unit``)."""
        t = self.tally
        return t.cases_active + t.cases_active_left if self.per_unit else t.cases_active

    @property
    def persons(self) -> int:
        """Persons counselled, counted like :attr:`cases_active`."""
        t = self.tally
        return t.persons + t.persons_left if self.per_unit else t.persons


class FigureKind(enum.StrEnum):
    """How a figure's value reads."""

    COUNT = "count"
    SHARE = "share"
    RATIO = "ratio"
    MEDIAN = "median"
    BREAKDOWN = "breakdown"


def _no_keys(key: str, lang: Lang) -> str:
    return key


def _reason_label(key: str, lang: Lang) -> str:
    return ClosureReason(key).label(lang)


def _area_label(key: str, lang: Lang) -> str:
    return LifeArea(key).label(lang)


def _status_label(key: str, lang: Lang) -> str:
    return GoalStatus(key).label(lang)


def _area_status_label(key: str, lang: Lang) -> str:
    area, status = key.split("/")
    return f"{LifeArea(area).label(lang)}: {GoalStatus(status).label(lang)}"


@attrs.frozen(kw_only=True)
class Figure:
    """One key figure: id, names, unit, exact counting rule and edge cases.

    ``compute`` turns a :class:`Group` into the value; ``keys`` lists a breakdown's keys
    in report order, and :meth:`key_label` names them.
    """

    id: str
    name_de: str
    name_en: str
    unit_de: str
    unit_en: str
    kind: FigureKind
    rule_de: str
    rule_en: str
    edge_cases: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    compute: Callable[[Group], FigureValue] = attrs.field(eq=False, repr=False)
    label_key: Callable[[str, Lang], str] = attrs.field(default=_no_keys, eq=False, repr=False)

    def name(self, lang: Lang = "en") -> str:
        """The figure's name in *lang*."""
        return self.name_de if lang == "de" else self.name_en

    def unit(self, lang: Lang = "en") -> str:
        """The figure's unit in *lang*."""
        return self.unit_de if lang == "de" else self.unit_en

    def rule(self, lang: Lang = "en") -> str:
        """The counting rule in *lang*."""
        return self.rule_de if lang == "de" else self.rule_en

    def key_label(self, key: str, lang: Lang = "en") -> str:
        """The label of a breakdown key in *lang*."""
        return self.label_key(key, lang)


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _median(t: Tally) -> float | None:
    total = sum(n for _, n in t.lengths)
    if total == 0:
        return None
    lo, hi = (total - 1) // 2, total // 2  # 0-based positions of the middle value(s)
    seen = 0
    low: int | None = None
    for length, n in t.lengths:
        if low is None and seen + n > lo:
            low = length
        if seen + n > hi:
            assert low is not None
            return (low + length) / 2
        seen += n
    raise AssertionError("unreachable: the positions lie within the multiset")


def _by(counts: tuple[tuple[str, int], ...], keys: tuple[str, ...]) -> dict[str, int]:
    found = dict(counts)
    return {k: found.get(k, 0) for k in keys}


def _outcomes(t: Tally) -> dict[str, int]:
    found = {s.value: 0 for s in GoalStatus}
    for _, status, n in t.goal_outcomes:
        found[status] += n
    return found


_REASONS = tuple(r.value for r in ClosureReason)
_AREAS = tuple(a.value for a in LifeArea)
_STATUSES = tuple(s.value for s in GoalStatus)
_SETTLED = ("achieved", "partly_achieved", "not_achieved")

_ACTIVE_DE = (
    "Fall mit Eröffnung (case_opened, seq 1) bis 31.12.Y, der im Jahr geöffnet, "
    "abgeschlossen oder wieder aufgenommen wurde oder am 01.01.Y offen war"
)
_ACTIVE_EN = (
    "case with its opening (case_opened, seq 1) on or before 31.12.Y that was opened, "
    "closed or reopened in the year, or was open on 01.01.Y"
)
_MOVED_DE = (
    " Ein an einen anderen Träger übergebener Fall (case_transferred) zählt beim Träger "
    "bei jedem Träger, bei dem er im Jahr war (dem am 31.12.Y und jedem, den er im Jahr "
    "verlassen hat; am Tag der Übergabe bei beiden), im Kreis und im Land aber einmal."
)
_MOVED_EN = (
    " A case transferred to another provider (case_transferred) counts, per provider, at "
    "each provider it was with in the year (the one on 31.12.Y and every one it left in "
    "the year; on the day of the transfer at both), but once per district and state."
)

# where a figure counts per provider when a case moved (case_transferred); a district
# or the state counts each case and each event once
_AT_EVENT_DE = (
    " Beim Träger: bei dem Träger, bei dem der Fall war, als das Ereignis erfasst wurde "
    "(dem eröffnenden, nach einer Übergabe, case_transferred nach seq, dem übernehmenden)."
)
_AT_EVENT_EN = (
    " Per provider: at the provider the case was with when the event was recorded (the "
    "opening provider, after a transfer, case_transferred by seq, the receiving one)."
)
_AT_END_DE = (
    " Beim Träger: bei dem Träger, bei dem der Fall am 31.12.Y ist (to_provider der letzten "
    "Übergabe bis dahin, sonst der eröffnende)."
)
_AT_END_EN = (
    " Per provider: at the provider the case is with on 31.12.Y (the to_provider of its "
    "last transfer by then, else the opening provider)."
)

_FIGURES = (
    Figure(
        id="cases_active",
        name_de="Aktive Fälle im Berichtsjahr",
        name_en="Cases active in the year",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            f"Zahl der Fälle: {_ACTIVE_DE}. Offen am 01.01.Y heißt: mehr Eröffnungen und "
            "Wiederaufnahmen als Abschlüsse sind vor dem 01.01.Y datiert. Jeder Fall zählt "
            "einmal, auch wenn er mehrmals abgeschlossen und wieder aufgenommen wurde." + _MOVED_DE
        ),
        rule_en=(
            f"Number of cases: {_ACTIVE_EN}. Open on 01.01.Y means more openings and "
            "reopenings than closures are dated before 01.01.Y. A case counts once, however "
            "often it was closed and reopened. Equivalently: opened on or before 31.12.Y and "
            "not (finally) closed before 01.01.Y." + _MOVED_EN
        ),
        edge_cases=(
            "A case open on 31 December counts in that year and in the next.",
            "A case closed on 1 January counts as active in that year.",
            "A case closed in an earlier year and reopened in the year counts.",
            "An erased person's case counts like any other: erasure keeps types and dates.",
            "Transferred from A to B in the year: 1 at A, 1 at B, 1 in the district.",
            "A case opened here continuing one from another district is new here.",
        ),
        compute=lambda g: g.cases_active,
    ),
    Figure(
        id="cases_opened",
        name_de="Neu aufgenommene Fälle",
        name_en="Cases opened",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Fälle, deren Eröffnung (case_opened) im Jahr datiert ist. Beim Träger: beim "
            "eröffnenden Träger (case_opened.provider)."
        ),
        rule_en=(
            "Cases whose opening (case_opened) is dated in the year. Per provider: at the "
            "opening provider (case_opened.provider)."
        ),
        edge_cases=("A reopening is not an opening (see cases_reopened).",),
        compute=lambda g: g.tally.cases_opened,
    ),
    Figure(
        id="cases_reopened",
        name_de="Wieder aufgenommene Fälle",
        name_en="Cases reopened",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Aktive Fälle mit mindestens einer Wiederaufnahme (case_reopened) im Jahr. Beim "
            "Träger: bei dem Träger, bei dem der Fall bei seiner ersten Wiederaufnahme im Jahr "
            "war (je Fall einmal, auch im Kreis und im Land)."
        ),
        rule_en=(
            "Active cases with at least one reopening (case_reopened) dated in the year. Per "
            "provider: at the provider the case was with at its first reopening in the year "
            "(once per case, in a district and the state too)."
        ),
        edge_cases=("A case reopened twice in the year counts once.",),
        compute=lambda g: g.tally.cases_reopened,
    ),
    Figure(
        id="cases_closed",
        name_de="Abgeschlossene Fälle",
        name_en="Cases closed",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Fälle, die am 31.12.Y abgeschlossen sind (das letzte Eröffnungs-, Abschluss- oder "
            "Wiederaufnahme-Ereignis ist ein Abschluss) und deren letzter Abschluss im Jahr "
            "datiert ist." + _AT_END_DE
        ),
        rule_en=(
            "Cases closed on 31.12.Y (the last opening, closure or reopening event is a "
            "closure) whose last closure is dated in the year." + _AT_END_EN
        ),
        edge_cases=(
            "Closed and reopened in the same year and open on 31 December: not closed.",
            "Closed twice in the year: counts once, with the last closure.",
            "Closed in the year and reopened the next year: stays closed in this year's report.",
        ),
        compute=lambda g: sum(n for _, n in g.tally.closed_by_reason),
    ),
    Figure(
        id="cases_closed_by_reason",
        name_de="Abgeschlossene Fälle nach Abschlussgrund",
        name_en="Cases closed by reason",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.BREAKDOWN,
        rule_de="Wie cases_closed, aufgeteilt nach dem Grund des letzten Abschlusses.",
        rule_en="As cases_closed, split by the reason of the last closure.",
        keys=_REASONS,
        compute=lambda g: _by(g.tally.closed_by_reason, _REASONS),
        label_key=_reason_label,
    ),
    Figure(
        id="cases_open_at_year_end",
        name_de="Am 31.12. laufende Fälle",
        name_en="Cases open on 31 December",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Aktive Fälle, deren letztes Eröffnungs-/Abschlussereignis kein Abschluss ist."
            + _AT_END_DE
        ),
        rule_en="Active cases whose last opening/closure event is not a closure." + _AT_END_EN,
        edge_cases=("cases_active = cases_closed + cases_open_at_year_end for valid data.",),
        compute=lambda g: g.tally.cases_open_at_year_end,
    ),
    Figure(
        id="transferred_out",
        name_de="An andere Träger übergebene Fälle",
        name_en="Cases transferred out (to another provider)",
        unit_de="Übergaben",
        unit_en="transfers",
        kind=FigureKind.COUNT,
        rule_de=(
            "Übergaben (case_transferred) im Jahr, beim abgebenden Träger (from_provider) "
            "gezählt. Im Kreis und im Land ist jede Übergabe einmal abgegeben und einmal "
            "übernommen."
        ),
        rule_en=(
            "Transfers (case_transferred) dated in the year, counted at the provider handing "
            "over (from_provider). In a district and the state, every transfer is out once and "
            "in once."
        ),
        edge_cases=(
            "Transferred to B and back to A in the year: 1 out and 1 in at each provider.",
            "A case closed as moved_away to another district is a closure, not a transfer.",
        ),
        compute=lambda g: g.tally.transferred_out,
    ),
    Figure(
        id="transferred_in",
        name_de="Von anderen Trägern übernommene Fälle",
        name_en="Cases transferred in (from another provider)",
        unit_de="Übergaben",
        unit_en="transfers",
        kind=FigureKind.COUNT,
        rule_de="Übergaben (case_transferred) im Jahr, beim übernehmenden Träger (to_provider).",
        rule_en="Transfers (case_transferred) dated in the year, at the receiving provider "
        "(to_provider).",
        edge_cases=("A transfer in is not an opening (cases_opened).",),
        compute=lambda g: g.tally.transferred_in,
    ),
    Figure(
        id="cases_continued",
        name_de="Fortgeführte Fälle aus anderen Kreisen",
        name_en="Cases continued from another district",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Im Jahr eröffnete Fälle (wie cases_opened), deren Eröffnung einen früheren Fall "
            "eines anderen Kreises fortführt (case_opened.continues); sie zählen auch in "
            "cases_opened."
        ),
        rule_en=(
            "Cases opened in the year (as cases_opened) whose opening continues an earlier "
            "case of another district (case_opened.continues); they count in cases_opened too."
        ),
        compute=lambda g: g.tally.cases_continued,
    ),
    Figure(
        id="persons_counselled",
        name_de="Beratene Personen (mit Haushaltsangehörigen)",
        name_en="Persons counselled (household members included)",
        unit_de="Personen",
        unit_en="persons",
        kind=FigureKind.COUNT,
        rule_de=(
            "Summe der Haushaltsgröße (case_opened.household) über die aktiven Fälle, gezählt "
            "wie cases_active: ein übergebener Fall bei jedem seiner Träger des Jahres, im "
            "Kreis und im Land einmal. Personen werden je Fall gezählt (die Referenzen sind "
            "pseudonym und werden nicht abgeglichen)."
        ),
        rule_en=(
            "Sum of the household size (case_opened.household) over the active cases, counted "
            "like cases_active: a transferred case at each of its providers of the year, once "
            "per district and state. Persons are counted per case (references are pseudonyms "
            "and are not matched)."
        ),
        edge_cases=(
            "A household of five counts five persons in one case.",
            "An erased person's household size is kept and counted.",
            "Transferred within the district: counted once in the district.",
            "Moved to another district (closed moved_away there, opened here with continues): "
            "counted once in each district, so twice in the state's sum; cases_continued "
            "tells how many such cases were opened.",
        ),
        compute=lambda g: g.persons,
    ),
    Figure(
        id="plans_agreed",
        name_de="Vereinbarte Integrationspläne",
        name_en="Integration plans agreed",
        unit_de="Pläne",
        unit_en="plans",
        kind=FigureKind.COUNT,
        rule_de=(
            "Zahl der Planvereinbarungen (plan_agreed) im Jahr in aktiven Fällen; jede "
            "vereinbarte Planversion zählt, auch eine Fortschreibung." + _AT_EVENT_DE
        ),
        rule_en=(
            "Number of plan agreements (plan_agreed) dated in the year in active cases; every "
            "agreed plan version counts, a revision too." + _AT_EVENT_EN
        ),
        compute=lambda g: g.tally.plans_agreed,
    ),
    Figure(
        id="plan_on_time_share",
        name_de="Anteil Fälle mit Integrationsplan innerhalb von 3 Monaten",
        name_en="Share of cases with a plan agreed within 3 months of opening",
        unit_de="%",
        unit_en="%",
        kind=FigureKind.SHARE,
        rule_de=(
            "Kohorte: Fälle mit Pflicht zum Integrationsplan (Regelwerk der Eröffnung), deren "
            "Planfrist im Jahr endet; Frist = letzter Tag einer Frist von plan_due_months "
            "Monaten ab der Eröffnung nach §§ 187 Abs. 2, 188 Abs. 2 und 3 BGB "
            "(imflow.period.last_day, wie bei allen Fristen: Eröffnung 31.01. → Frist 30.04.). "
            "Zähler: erste Planvereinbarung bis zur Frist. Nicht in der Kohorte: Fälle, die "
            "bis zur Frist ohne Plan abgeschlossen wurden. Beim Träger: bei dem Träger, bei dem "
            "der Fall am Ende des Fristtages ist (bei einer Übergabe an dem Tag beim "
            "übernehmenden)."
        ),
        rule_en=(
            "Cohort: cases under a rule set with mandatory plans (the one they were opened "
            "under) whose plan deadline falls in the year; deadline = the last day of a period "
            "of RuleSet.plan_due_months months that begins on the opening day, by §§ 187 (2), "
            "188 (2), (3) BGB (imflow.period.last_day, as every deadline: opened 31 January, "
            "due 30 April). Numerator: the first plan agreement is dated on or before the "
            "deadline. Cases closed on or before the deadline without a plan are left out of "
            "the cohort. Per provider: at the provider the case is with at the end of the "
            "deadline day (after a transfer that day, the receiving one)."
        ),
        edge_cases=(
            "A case opened in November counts in the next year, when its deadline falls.",
            "A reopened case is judged once, by its first opening and first plan.",
            "Cases under vwv-2018 (plans voluntary) are not in the cohort.",
            "Opened 31 January: due 30 April; opened 30 November 2023: due 29 February 2024; "
            "a plan agreed on that day is on time.",
        ),
        compute=lambda g: _ratio(g.tally.plan_on_time, g.tally.plan_due),
    ),
    Figure(
        id="goals_agreed",
        name_de="Vereinbarte Ziele",
        name_en="Goals agreed",
        unit_de="Ziele",
        unit_en="goals",
        kind=FigureKind.COUNT,
        rule_de=(
            "Ziele aktiver Fälle, die im Jahr zum ersten Mal vereinbart wurden: das Datum "
            "der ersten Planvereinbarung nach dem goal_added des Ziels liegt im Jahr. Beim "
            "Träger: bei dem Träger, bei dem der Fall bei dieser Planvereinbarung war."
        ),
        rule_en=(
            "Goals of active cases first agreed in the year: the earliest plan_agreed after the "
            "goal's goal_added is dated in the year. Goals carried into a revised plan do not "
            "count again; draft goals never agreed do not count. Per provider: at the provider "
            "the case was with at that plan agreement."
        ),
        compute=lambda g: sum(n for _, n in g.tally.goals_agreed),
    ),
    Figure(
        id="goals_agreed_by_area",
        name_de="Vereinbarte Ziele nach Handlungsfeld",
        name_en="Goals agreed by life area",
        unit_de="Ziele",
        unit_en="goals",
        kind=FigureKind.BREAKDOWN,
        rule_de="Wie goals_agreed, nach dem Handlungsfeld des Ziels.",
        rule_en="As goals_agreed, by the goal's life area.",
        keys=_AREAS,
        compute=lambda g: _by(g.tally.goals_agreed, _AREAS),
        label_key=_area_label,
    ),
    Figure(
        id="goal_outcomes",
        name_de="Ziele nach Ergebnis",
        name_en="Goals by outcome",
        unit_de="Ziele",
        unit_en="goals",
        kind=FigureKind.BREAKDOWN,
        rule_de=(
            "Ziele aktiver Fälle, vereinbart bis 31.12.Y, nach dem Status am 31.12.Y (letztes "
            "goal_status_set): ein abschließender Status zählt im Jahr seines Ereignisses; "
            "„offen“ zählt jedes Jahr, in dem der Fall aktiv ist. Beim Träger: ein "
            "abschließender Status bei dem Träger, bei dem der Fall war, als er gesetzt wurde, "
            "„offen“ bei dem Träger am 31.12.Y."
        ),
        rule_en=(
            "Goals of active cases agreed by 31.12.Y, by their status on 31.12.Y (the last "
            "goal_status_set): a final status counts in the year of its event only; 'open' "
            "counts in every year the case is active. Per provider: a final status at the "
            "provider the case was with when it was set, 'open' at the provider on 31.12.Y."
        ),
        edge_cases=(
            "A goal achieved in the year counts as achieved once, in that year.",
            "Goals left open when a case closes count as open in the year of closure.",
        ),
        keys=_STATUSES,
        compute=lambda g: _outcomes(g.tally),
        label_key=_status_label,
    ),
    Figure(
        id="goal_outcomes_by_area",
        name_de="Ziele nach Handlungsfeld und Ergebnis",
        name_en="Goals by life area and outcome",
        unit_de="Ziele",
        unit_en="goals",
        kind=FigureKind.BREAKDOWN,
        rule_de="Wie goal_outcomes, nach Handlungsfeld/Status (nur Paare mit Zielen).",
        rule_en="As goal_outcomes, by life area/status (only pairs with goals).",
        compute=lambda g: {f"{a}/{s}": n for a, s, n in g.tally.goal_outcomes},
        label_key=_area_status_label,
    ),
    Figure(
        id="goals_achieved_share",
        name_de="Zielerreichungsquote",
        name_en="Share of settled goals achieved",
        unit_de="%",
        unit_en="%",
        kind=FigureKind.SHARE,
        rule_de=(
            "Erreichte Ziele geteilt durch erreichte, teilweise und nicht erreichte Ziele "
            "(goal_outcomes des Jahres); aufgegebene Ziele zählen nicht."
        ),
        rule_en=(
            "Goals achieved divided by goals achieved, partly achieved and not achieved "
            "(goal_outcomes of the year); dropped goals are left out."
        ),
        compute=lambda g: _ratio(
            _outcomes(g.tally)["achieved"], sum(_outcomes(g.tally)[s] for s in _SETTLED)
        ),
    ),
    Figure(
        id="extensions_granted",
        name_de="Gewährte Verlängerungen",
        name_en="Extensions granted",
        unit_de="Verlängerungen",
        unit_en="extensions",
        kind=FigureKind.COUNT,
        rule_de="Zahl der Verlängerungen (period_extended) im Jahr in aktiven Fällen."
        + _AT_EVENT_DE,
        rule_en="Number of extensions (period_extended) dated in the year in active cases."
        + _AT_EVENT_EN,
        edge_cases=("Two extensions of one case count twice.",),
        compute=lambda g: g.tally.extensions,
    ),
    Figure(
        id="extension_months",
        name_de="Verlängerungsmonate",
        name_en="Months of extension granted",
        unit_de="Monate",
        unit_en="months",
        kind=FigureKind.COUNT,
        rule_de="Summe der Monate der im Jahr gewährten Verlängerungen (wie extensions_granted).",
        rule_en="Sum of the months of the extensions granted in the year (as extensions_granted).",
        compute=lambda g: g.tally.extension_months,
    ),
    Figure(
        id="contacts",
        name_de="Beratungskontakte",
        name_en="Counselling contacts",
        unit_de="Kontakte",
        unit_en="contacts",
        kind=FigureKind.COUNT,
        rule_de="Kontakte (contact_recorded) im Jahr in aktiven Fällen." + _AT_EVENT_DE,
        rule_en="Contacts (contact_recorded) dated in the year in active cases." + _AT_EVENT_EN,
        edge_cases=("Contacts before a plan exists count (everyday questions come first).",),
        compute=lambda g: g.tally.contacts,
    ),
    Figure(
        id="contact_minutes",
        name_de="Beratungsminuten",
        name_en="Minutes of counselling",
        unit_de="Minuten",
        unit_en="minutes",
        kind=FigureKind.COUNT,
        rule_de="Summe der Minuten der Kontakte im Jahr in aktiven Fällen (wie contacts).",
        rule_en="Sum of the minutes of the contacts dated in the year in active cases (as "
        "contacts).",
        compute=lambda g: g.tally.contact_minutes,
    ),
    Figure(
        id="contacts_per_active_case",
        name_de="Kontakte je aktivem Fall",
        name_en="Contacts per active case",
        unit_de="Kontakte je Fall",
        unit_en="contacts per case",
        kind=FigureKind.RATIO,
        rule_de="contacts geteilt durch cases_active.",
        rule_en="contacts divided by cases_active.",
        compute=lambda g: _ratio(g.tally.contacts, g.cases_active),
    ),
    Figure(
        id="minutes_per_active_case",
        name_de="Beratungsminuten je aktivem Fall",
        name_en="Minutes per active case",
        unit_de="Minuten je Fall",
        unit_en="minutes per case",
        kind=FigureKind.RATIO,
        rule_de="contact_minutes geteilt durch cases_active.",
        rule_en="contact_minutes divided by cases_active.",
        compute=lambda g: _ratio(g.tally.contact_minutes, g.cases_active),
    ),
    Figure(
        id="median_length_days",
        name_de="Median der Falldauer abgeschlossener Fälle",
        name_en="Median length of closed cases",
        unit_de="Tage",
        unit_en="days",
        kind=FigureKind.MEDIAN,
        rule_de=(
            "Median über die im Jahr abgeschlossenen Fälle (cases_closed) von letztem "
            "Abschlussdatum − Eröffnungsdatum in Tagen; bei gerader Zahl das Mittel der "
            "beiden mittleren Werte."
        ),
        rule_en=(
            "Median over the cases closed in the year (cases_closed) of last closure date − "
            "opening date in days; for an even number the mean of the two middle values."
        ),
        edge_cases=(
            "A reopened case is measured from its first opening to its last closure, "
            "interruptions included (the counselling period runs on).",
            "Opened and closed on the same day: 0 days.",
        ),
        compute=lambda g: _median(g.tally),
    ),
    Figure(
        id="fte",
        name_de="Vollzeitäquivalente Integrationsmanagement",
        name_en="Full-time equivalents of integration management",
        unit_de="VZÄ",
        unit_en="FTE",
        kind=FigureKind.RATIO,
        rule_de=(
            "Summe der VZÄ der Träger aus den Organisationsdaten (nicht aus Ereignissen); "
            "Träger ohne Angabe zählen nicht."
        ),
        rule_en=(
            "Sum of the providers' FTE from the organisation data passed in (events carry no "
            "staffing); providers without FTE are left out."
        ),
        compute=lambda g: g.fte_centi / 100 if g.fte_centi else None,
    ),
    Figure(
        id="caseload_per_fte",
        name_de="Aktive Fälle je Vollzeitäquivalent",
        name_en="Caseload per full-time equivalent",
        unit_de="Fälle je VZÄ",
        unit_en="cases per FTE",
        kind=FigureKind.RATIO,
        rule_de=(
            "Aktive Fälle der Träger mit VZÄ-Angabe geteilt durch deren VZÄ; Träger mit aktiven "
            "Fällen ohne VZÄ werden als Prüfhinweis fte_missing gemeldet. Beim Träger zählen "
            "seine aktiven Fälle wie cases_active (auch ein im Jahr abgegebener Fall); im Kreis "
            "und im Land zählt jeder aktive Fall einmal, wenn der Träger, bei dem er am 31.12.Y "
            "ist, eine VZÄ-Angabe hat."
        ),
        rule_en=(
            "Active cases of the providers with FTE given, divided by their FTE; providers with "
            "active cases but no FTE are reported as the finding fte_missing. Per provider, its "
            "active cases count as in cases_active (a case it handed over in the year too); in "
            "a district and the state each active case counts once, if the provider it is with "
            "on 31.12.Y has FTE given."
        ),
        compute=lambda g: _ratio(g.staffed_active * 100, g.fte_centi),
    ),
    Figure(
        id="open_past_period",
        name_de="Offene Fälle nach Ende des Beratungszeitraums (muss 0 sein)",
        name_en="Open cases past their period (must be 0)",
        unit_de="Fälle",
        unit_en="cases",
        kind=FigureKind.COUNT,
        rule_de=(
            "Am 31.12.Y offene Fälle, deren Beratungszeitraum (letztes period_end aus "
            "Eröffnung, Verlängerung oder Regelwerkswechsel) vor dem 31.12.Y endete." + _AT_END_DE
        ),
        rule_en=(
            "Cases open on 31.12.Y whose counselling period (the last period_end set by the "
            "opening, an extension or a rule-set migration) ended before 31.12.Y." + _AT_END_EN
        ),
        edge_cases=("An extended period counts with its new end.", "Unlimited periods never."),
        compute=lambda g: g.tally.open_past_period,
    ),
)

CATALOGUE: Mapping[str, Figure] = MappingProxyType({f.id: f for f in _FIGURES})
"""Every key figure by id, in report order."""
