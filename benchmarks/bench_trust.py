"""What the trust boundary costs: the re-check of every appended event (#11).

Every store's ``append`` asks :meth:`imflow.Engine.admit`, which rebuilds each event's
command and decides it again; loading folds the store's own rows without that re-check.
For one contact recorded on a case in monitoring (the event a host appends most), it
reports:

- the engine deciding the command (``Engine.decide``), the work ``handle`` does anyway;
- ``Engine.admit`` of the event it produced (the re-check), and the trusted fold the
  stores use on load, for comparison;
- a whole ``MemoryStore.append`` and a ``SQLiteStore.append`` (with ``synchronous=NORMAL``
  so the disk does not dominate), each including its re-check;
- ``Engine.replay`` of a 30-event history (the validating door for outside histories)
  against the trusted fold of the same events.

Run it alone (``python benchmarks/bench_trust.py``) or through ``benchmarks/run.py``
(``--only trust``), which calls :func:`run`.
"""

from __future__ import annotations

import tempfile
import timeit
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from _common import Reporter, quiet, show

from imflow import Actor, Case, Engine, FrozenClock, Role
from imflow import commands as c
from imflow.engine import trusted_fold
from imflow.store import MemoryStore, SQLiteStore

__all__ = ["main", "run"]

CLOCK = datetime(2026, 1, 5, 12, tzinfo=UTC)
OPENED = date(2025, 3, 3)
IM = Actor("im-1", Role.MANAGER, provider="drk", district="08337")


def _monitoring(engine: Engine, case_id: str) -> Case:
    case = engine.open(
        c.OpenCase(case_id=case_id, person="p-1", district="08337", provider="drk", on=OPENED),
        by=IM,
    )
    for command in (
        c.RecordConsent(on=OPENED),
        c.StartAssessment(on=OPENED),
        c.RecordNeed(on=OPENED, area="work", note="looks for a job"),
        c.StartPlanning(on=OPENED),
        c.AddGoal(goal_id="g1", area="work", description="a job", target_date=OPENED, on=OPENED),
        c.AgreePlan(on=OPENED),
    ):
        case = engine.handle(case, command, by=IM)
    return case


def _best(fn: Callable[[], object], number: int) -> float:
    """The best of five repeats, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def run(report: Reporter) -> None:
    """Measure the re-check and hand every figure to *report*."""
    quiet()
    engine = Engine(clock=FrozenClock(CLOCK))
    case = _monitoring(engine, "b-1")
    contact = c.RecordContact(on=OPENED, minutes=30, topics=["work"])
    (event,) = engine.decide(case, contact, by=IM)
    decide = _best(lambda: engine.decide(case, contact, by=IM), 20000)
    admit = _best(lambda: engine.admit(case, (event,)), 20000)
    fold = _best(lambda: trusted_fold(engine, case, (event,)), 20000)
    report("Engine.decide: one contact (what handle does anyway)", decide, "µs")
    report("Engine.admit: the re-check of its event on append", admit, "µs")
    report("trusted fold of the same event (what load does)", fold, "µs")
    report("re-check over decide", admit / decide, "×")

    memory = MemoryStore(engine=engine)
    n = 3000
    cases = [_monitoring(engine, f"m-{i}") for i in range(n)]
    for made in cases:
        memory.append(made.case_id, made.events, expected_version=0)
    events = [engine.decide(made, contact, by=IM) for made in cases]
    pairs = iter(zip(cases, events, strict=True))

    def memory_append() -> None:
        made, batch = next(pairs)
        memory.append(made.case_id, batch, expected_version=made.version)

    per_append = min(timeit.repeat(memory_append, number=n // 6, repeat=5)) / (n // 6) * 1e6
    report("MemoryStore.append of one event, re-check included", per_append, "µs")

    with tempfile.TemporaryDirectory(prefix="imflow-bench-trust-") as tmp:
        sqlite = SQLiteStore(Path(tmp) / "trust.db", engine=engine, synchronous="NORMAL")
        base = _monitoring(engine, "s-1")
        sqlite.append("s-1", base.events, expected_version=0)
        current = [base]

        def sqlite_append() -> None:
            made = current[0]
            new = engine.handle(made, contact, by=IM)
            sqlite.append("s-1", new.events[made.version :], expected_version=made.version)
            current[0] = new

        report(
            "SQLiteStore.append of one event (handle + append, NORMAL sync)",
            _best(sqlite_append, 300),
            "µs",
        )
        sqlite.close()

    long = case
    for i in range(23):
        long = engine.handle(long, c.RecordContact(on=OPENED, minutes=10 + i), by=IM)
    history = long.events
    report(
        f"Engine.replay of {len(history)} events (validating)",
        _best(lambda: engine.replay(history), 500),
        "µs",
    )
    report(
        f"trusted fold of the same {len(history)} events",
        _best(lambda: trusted_fold(engine, None, history), 500),
        "µs",
    )


def main() -> None:
    run(show)


if __name__ == "__main__":
    main()
