"""Key figures (Kennzahlen) and the yearly report to the granting authority.

Every figure is computed from events only, never from a case's fields, for one calendar
year *Y*, per provider, aggregated to the district and to the state. :data:`CATALOGUE`
defines each figure with an id, German and English names, the exact counting rule and
its edge cases. The conventions all figures share:

- **Window.** A report for *Y* reads the events dated (``on``) on or before 31.12.Y, in
  ``seq`` order; later events do not exist for it. "In the year" means dated
  01.01.Y to 31.12.Y. Erasure keeps every field counted (types, dates, reasons, areas,
  minutes, household size), so an erased person's case counts as before.
- **Scope.** A case belongs to the district of its ``case_opened`` event. A case
  transferred between providers counts where each thing happened (an event at the
  provider the case was with when it was recorded, its state on 31 December at that
  day's provider), and as active at each provider it was with in the year but once per
  district and state; a provider's report includes the cases transferred to it.
- **Active in Y.** The case's opening (``case_opened`` at ``seq`` 1) is dated on or
  before 31.12.Y, and an opening, closure or reopening is dated in *Y*, or the case was
  open on 01.01.Y (more openings and reopenings than closures dated before 01.01.Y).
  For valid data: opened on or before 31.12.Y and not closed before 01.01.Y, where a
  reopening undoes a closure. Each case counts once.
- **Closed in Y.** The last opening/closure/reopening event is a closure dated in *Y*;
  its reason and date are the ones counted. A case closed and reopened within *Y*
  counts as reopened, not closed.

:func:`report` accepts events, an in-memory store, or an SQL store / connection; on SQL
the database aggregates per case and per goal and Python receives only compact rows,
with identical results. A :class:`Report` keeps mergeable statistics, so
:meth:`Report.merge` of the reports of several providers or districts equals the report
over their joint events. Every report carries plausibility findings (:data:`FINDINGS`),
which the outputs :func:`to_text`, :func:`to_csv` and :func:`to_json` show first.

>>> from datetime import date
>>> from imflow import Actor, Engine, FrozenClock, Role, commands as c
>>> engine = Engine(clock=FrozenClock.on(date(2026, 12, 31)))
>>> im = Actor("im-1", Role.MANAGER, provider="drk-wt", district="08337")
>>> case = engine.open(c.OpenCase(case_id="wt-1", person="p-1", district="08337",
...                               provider="drk-wt", household=5, on=date(2026, 3, 2)), by=im)
>>> case = engine.handle(case, c.RecordContact(on=date(2026, 3, 2), minutes=45), by=im)
>>> r = report(case.events, year=2026, staffing={("08337", "drk-wt"): "0.5"})
>>> figures = r.figures()
>>> figures["cases_active"], figures["persons_counselled"], figures["caseload_per_fte"]
(1, 5, 2.0)
>>> [f.code for f in r.findings], r.due
([], datetime.date(2027, 1, 31))

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from imflow.kennzahlen._catalogue import CATALOGUE, Figure, FigureKind, FigureValue, Group
from imflow.kennzahlen._findings import FINDING_CODES, FINDINGS, Finding
from imflow.kennzahlen._html import HEADLINE, to_html
from imflow.kennzahlen._output import (
    FORMAT,
    TREND_FORMAT,
    from_json,
    to_csv,
    to_json,
    to_text,
    trend_from_json,
    trend_to_json,
)
from imflow.kennzahlen._report import (
    SMALL_CELL,
    SUPPRESSED,
    EventSource,
    Report,
    Staffing,
    Unit,
    report,
)
from imflow.kennzahlen._summary import SUMMARY, to_summary
from imflow.kennzahlen._tally import Tally
from imflow.kennzahlen._trends import Trend, report_years
from imflow.kennzahlen._xlsx import NUMBER_FORMATS, to_xlsx

__all__ = [
    "CATALOGUE",
    "FINDINGS",
    "FINDING_CODES",
    "FORMAT",
    "HEADLINE",
    "NUMBER_FORMATS",
    "SMALL_CELL",
    "SUMMARY",
    "SUPPRESSED",
    "TREND_FORMAT",
    "EventSource",
    "Figure",
    "FigureKind",
    "FigureValue",
    "Finding",
    "Group",
    "Report",
    "Staffing",
    "Tally",
    "Trend",
    "Unit",
    "from_json",
    "report",
    "report_years",
    "to_csv",
    "to_html",
    "to_json",
    "to_summary",
    "to_text",
    "to_xlsx",
    "trend_from_json",
    "trend_to_json",
]
