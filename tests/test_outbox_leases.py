"""Outbox leases, the outbox's figures and requeueing, and the sweep's report (#18).

The racing processes live in ``tests/test_servers.py``; here each rule is shown on
every store (memory, a SQLite file, PostgreSQL) step by step, with a dead runner
played by a lease that nobody releases.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imflow
from imflow import Case, Engine, FrozenClock, Hooks, Runner
from imflow.errors import StoreError
from imflow.events import Event
from imflow.outbox import requeue, status
from imflow.store import MemoryStore, SQLiteStore, Store
from tests.crashes import more
from tests.stores import StoreMaker, far_future_engine, open_case, store_new

SHORT = timedelta(seconds=0.3)


def counting_hooks(seen: list[tuple[str, int]], *, fail: Collection[tuple[str, int]] = ()) -> Hooks:
    """A hook that records each event it gets, and raises on those of *fail*."""
    hooks = Hooks()

    @hooks.on()
    def record(event: Event, case: Case) -> None:
        if (event.case_id, event.seq) in fail:
            raise ConnectionError("down")
        seen.append((event.case_id, event.seq))

    return hooks


def stored(store: Store, case_id: str, extra: int = 2) -> Case:
    case = more(store.engine, open_case(store.engine, case_id, person=f"p-{case_id}"), extra)
    store_new(store, case)
    return case


def test_a_case_leased_by_a_dead_runner_waits_for_its_lease_then_is_taken_over(
    stores: StoreMaker,
) -> None:
    store = stores()
    stored(store, "a")
    stored(store, "b")
    outbox: Any = store.outbox
    # held for as long as the first pass may take on a loaded machine, then shortened:
    # a lease of 0.3 s from the start could run out before that pass began
    assert outbox.claim({"a"}, owner="dead-runner", seconds=600) == {"a"}
    seen: list[tuple[str, int]] = []
    runner = Runner(store, counting_hooks(seen), lease=timedelta(seconds=30))
    runner.run_once()
    assert {c for c, _ in seen} == {"b"}  # "a" is another runner's
    assert status(store).leased == 3
    assert outbox.renew("a", owner="dead-runner", seconds=SHORT.total_seconds())
    time.sleep(SHORT.total_seconds() + 0.1)  # the dead runner's lease runs out
    runner.run_once()
    assert [s for c, s in seen if c == "a"] == [1, 2, 3]  # taken over, in order
    assert status(store).pending == status(store).leased == 0  # the pass let go


def test_a_case_a_pass_went_by_held_elsewhere_stays_out_of_that_pass(
    stores: StoreMaker,
) -> None:
    store = stores()
    x = open_case(store.engine, "x", person="p-x")
    store_new(store, x)  # outbox: x1, y1, x2
    store_new(store, open_case(store.engine, "y", person="p-y"))
    store_new(store, more(store.engine, x, 1), since=1)
    outbox: Any = store.outbox
    outbox.claim({"x"}, owner="other", seconds=30)
    seen: list[tuple[str, int]] = []
    hooks = Hooks()

    @hooks.on()
    def record(event: Event, case: Case) -> None:
        seen.append((event.case_id, event.seq))
        if event.case_id == "y":
            outbox.release(owner="other")  # the other runner lets go meanwhile

    runner = Runner(store, hooks, batch_size=1)
    runner.run_once()
    assert seen == [("y", 1)]  # not x2 before x1
    runner.run_once()
    assert seen == [("y", 1), ("x", 1), ("x", 2)]


def test_a_live_lease_is_not_taken_and_a_lost_one_is_not_renewed(stores: StoreMaker) -> None:
    store = stores()
    stored(store, "a")
    outbox: Any = store.outbox
    assert outbox.claim({"a"}, owner="one", seconds=30) == {"a"}
    assert outbox.claim({"a"}, owner="two", seconds=30) == set()
    assert outbox.renew("a", owner="two", seconds=30) is False
    assert outbox.renew("a", owner="one", seconds=30) is True
    outbox.release(owner="one")
    assert outbox.claim({"a"}, owner="two", seconds=30) == {"a"}
    assert outbox.renew("a", owner="one", seconds=30) is False


def test_runners_in_threads_on_one_sqlite_file_deliver_each_event_once_in_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.db"
    writer = SQLiteStore(path, engine=far_future_engine(), encrypt=False)
    for i in range(8):
        stored(writer, f"c{i}", extra=4)
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()
    hooks = Hooks()

    @hooks.on()
    def record(event: Event, case: Case) -> None:
        with lock:
            seen.append((event.case_id, event.seq))

    def work() -> None:
        with SQLiteStore(path, engine=far_future_engine(), encrypt=False) as mine:
            runner = Runner(mine, hooks, batch_size=3)
            for _ in range(20):
                runner.run_once(limit=4)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Runner(writer, hooks).run_once()  # whatever is left
    assert sorted(seen) == sorted({(f"c{i}", s) for i in range(8) for s in range(1, 6)})
    for i in range(8):
        assert [s for c, s in seen if c == f"c{i}"] == [1, 2, 3, 4, 5]
    writer.close()


def test_lease_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lease"):
        Runner(MemoryStore(), Hooks(), lease=timedelta(0))


# -- figures and requeueing -------------------------------------------------------------


def test_status_counts_pending_dead_and_per_hook_and_requeue_brings_letters_back(
    stores: StoreMaker,
) -> None:
    store = stores()
    stored(store, "a")  # seq 1..3
    stored(store, "b")
    seen: list[tuple[str, int]] = []
    hooks = counting_hooks(seen, fail={("a", 2)})
    runner = Runner(store, hooks, max_attempts=1)
    runner.run_once()
    figures = status(store, hooks=hooks)
    assert (figures.pending, figures.leased, figures.dead) == (2, 0, 1)  # a2 dead, a3 behind it
    (hook,) = figures.hooks
    assert (hook.pending, hook.retrying, hook.dead) == (2, 0, 1)
    assert hook.oldest_age is not None and figures.oldest_age is not None
    blind = status(store)  # without the hooks: a hook is known by its failures
    assert [(h.hook, h.pending, h.dead) for h in blind.hooks] == [(hook.hook, None, 1)]
    assert requeue(store, hook=hook.hook, events=[("a", 3)]) == 0  # a3 is not dead
    assert requeue(store, hook="no.such.hook") == 0
    assert requeue(store, hook=hook.hook, events=[("a", 2)]) == 1
    again = status(store, hooks=hooks)
    assert (again.dead, again.hooks[0].retrying) == (0, 1)
    Runner(store, counting_hooks(seen), max_attempts=1).run_once()
    assert [s for c, s in seen if c == "a"] == [1, 2, 3]
    assert status(store, hooks=hooks).as_dict() == {
        "pending": 0,
        "leased": 0,
        "dead": 0,
        "oldest_age_seconds": None,
        "hooks": [
            {
                "hook": hook.hook,
                "pending": 0,
                "retrying": 0,
                "dead": 0,
                "oldest_age_seconds": None,
            }
        ],
    }


@settings(max_examples=15, deadline=None)
@given(failing=st.sets(st.tuples(st.sampled_from("xyz"), st.integers(1, 3)), max_size=5))
def test_the_dead_letters_counted_are_the_first_failure_of_each_case(
    failing: set[tuple[str, int]],
) -> None:
    store = MemoryStore(engine=far_future_engine())
    for case_id in "xyz":
        stored(store, case_id)
    hooks = counting_hooks([], fail=failing)
    Runner(store, hooks, max_attempts=1).run_once()
    first = {k: min(s for c, s in failing if c == k) for k, _ in failing}
    figures = status(store, hooks=hooks)
    assert figures.dead == len(first) == len(store.outbox.dead_letters())
    # the dead letter and every later event of its case (3 events each) wait
    assert figures.pending == sum(4 - s for s in first.values())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imflow", "--lang", "en", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_shows_the_outbox_and_requeues_dead_letters(sql_stores: StoreMaker) -> None:
    store = sql_stores()
    stored(store, "a")
    seen: list[tuple[str, int]] = []
    hooks = counting_hooks(seen, fail={("a", 1)})
    Runner(store, hooks, max_attempts=1).run_once()
    name = status(store).hooks[0].hook
    db = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    where = [] if sql_stores.kind == "sqlite" else ["--schema", sql_stores.schema]
    text = run_cli("outbox", "status", "--db", db, *where)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("3 events pending, 0 of them leased, 1 dead letters")
    assert f"{name}: ? pending, 0 waiting for a retry, 1 dead" in text.stdout
    shown = run_cli("outbox", "status", "--db", db, *where, "--format", "json")
    figures = json.loads(shown.stdout)
    assert (figures["pending"], figures["dead"], figures["hooks"][0]["hook"]) == (3, 1, name)
    refused = run_cli("outbox", "requeue", "--db", db, *where, "--hook", name)
    assert refused.returncode == 2 and "--all or --event" in refused.stderr
    bad = run_cli("outbox", "requeue", "--db", db, *where, "--hook", name, "--event", "a")
    assert bad.returncode == 2 and "CASE:SEQ" in bad.stderr
    done = run_cli("outbox", "requeue", "--db", db, *where, "--hook", name, "--event", "a:1")
    assert done.returncode == 0 and done.stdout.startswith("1 dead letters"), done.stderr
    assert status(store).dead == 0
    Runner(store, counting_hooks(seen), max_attempts=1).run_once()
    assert seen == [("a", 1), ("a", 2), ("a", 3)]


def test_the_cli_refuses_a_missing_database_without_creating_it(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.db"
    result = run_cli("outbox", "status", "--db", str(missing))
    assert result.returncode == 2 and "cannot be read" in result.stderr
    assert not missing.exists()


# -- the sweep's report -----------------------------------------------------------------

SWEEP_ON = date(2028, 6, 1)


def due_store() -> MemoryStore:
    store = MemoryStore(engine=far_future_engine())
    for i in range(4):
        case = open_case(store.engine, f"d{i}", on=date(2025, 2, 1), person=f"p{i}")
        store.append(case.case_id, case.events, expected_version=0)
    return store


class Stale:
    """A server that listed the due cases before another server swept them."""

    def __init__(self, store: MemoryStore, fail: str | None = None) -> None:
        self.store = store
        self.due = list(store.due_cases(SWEEP_ON))
        self.fail = fail

    def due_cases(self, on: date) -> list[Case]:
        return self.due

    def append(self, case_id: str, events: Any, **options: Any) -> object:
        if case_id == self.fail:
            raise StoreError("the database refused a statement")
        return self.store.append(case_id, events, **options)


def test_a_sweep_that_lost_every_race_reports_them_lost_not_closed() -> None:
    store = due_store()
    late = Stale(store)
    first = imflow.sweep(store, on=SWEEP_ON, engine=store.engine)
    assert first.counts() == {"closed": 4, "refused": 0, "lost": 0, "errors": 0}
    second = imflow.sweep(late, on=SWEEP_ON, engine=store.engine)  # same closures: replayed
    assert second.counts() == {"closed": 0, "refused": 0, "lost": 4, "errors": 0}
    assert second.lost == ("d0", "d1", "d2", "d3")


def test_a_sweep_after_a_writer_loses_by_conflict_and_goes_on_after_an_error() -> None:
    store = due_store()
    late = Stale(store, fail="d3")
    case = store.load("d0")
    new = more(store.engine, case, 1)
    store.append("d0", new.events[case.version :], expected_version=case.version)
    report = imflow.sweep(late, on=SWEEP_ON, engine=store.engine)
    assert report.lost == ("d0",)
    assert report.closed_ids == ("d1", "d2")
    assert report.errors == (("d3", "StoreError"),)


def test_sweep_on_the_command_line_prints_what_it_lost(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    with SQLiteStore(db, engine=Engine(clock=FrozenClock.on(date(2025, 2, 1)))) as store:
        for i in range(2):
            case = open_case(store.engine, f"d{i}", on=date(2025, 2, 1), person=f"p{i}")
            store.append(case.case_id, case.events, expected_version=0)
    result = run_cli("sweep", "--db", str(db), "--on", SWEEP_ON.isoformat())
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 cases closed")
    assert "changed by another run" not in result.stdout


def test_the_outbox_view_never_shows_what_a_failing_hook_said(sql_stores: StoreMaker) -> None:
    """A hook's error may quote the person (here it does, on purpose): the operational
    view shows counts only, in the API, the text and the JSON, and no file holds it."""
    marker = "p-MARKER-outbox-4711"
    store = sql_stores()
    case = more(store.engine, open_case(store.engine, "m", person=marker), 1)
    store_new(store, case)
    hooks = Hooks()

    @hooks.on()
    def leaky(event: Event, case: Case) -> None:
        raise RuntimeError(f"partner refused {marker}")

    Runner(store, hooks, max_attempts=1).run_once()
    figures = status(store)
    assert figures.dead == 1 and marker not in repr(figures) + json.dumps(figures.as_dict())
    db = str(sql_stores.path) if sql_stores.kind == "sqlite" else str(sql_stores.dsn)
    where = [] if sql_stores.kind == "sqlite" else ["--schema", sql_stores.schema]
    for fmt in ("text", "json"):
        shown = run_cli("outbox", "status", "--db", db, *where, "--format", fmt)
        assert shown.returncode == 0, shown.stderr
        assert marker not in shown.stdout + shown.stderr
    if sql_stores.kind == "sqlite":
        store.close()
        for path in sql_stores.path.parent.glob(sql_stores.path.name + "*"):
            assert marker.encode() not in path.read_bytes(), path.name
