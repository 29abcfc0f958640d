"""imflow side by side with transitions and python-statemachine, and the other benchmarks.

``python benchmarks/run.py`` (not part of the test suite) measures, in one run:

- opening a case; one command with its guards, its event and one registered hook; a
  full trajectory of 15 commands after the opening; memory per live case
  (``tracemalloc``) — for imflow, for transitions with a machine per case, for
  transitions with one shared machine and ``add_model``, and for python-statemachine
  (one machine instance per case, its only way);
- a simulated cohort: complete four-year trajectories per second, in memory;
- the store, key-figure report, sweep, trust-boundary, report-output and outbox figures
  of ``bench_store.py``, ``bench_report.py``, ``bench_sweep.py``, ``bench_trust.py``,
  ``bench_outputs.py`` and ``bench_outbox.py`` (deliveries per second with 1, 2 and 3
  runners on one PostgreSQL), through their ``run(reporter)``.

The peers are built the way a competent user of each library would build them from
the same definition: the phases and transitions of ``bw_integrationsmanagement()``, its
named guards as conditions on a model object that holds the case data, an action per
command that updates the model and appends an event record, and one hook called after
every transition. imflow does more per command than the peers (the common guards on
phase, permission, dates and period; field checks; a new immutable case): the figures
compare what each library does for the same program, not equal work.

Timings are the best of several ``timeit`` repeats (the garbage collector paused while
timing, as ``timeit`` does). structlog is configured as a production host would: a
filtering bound logger at WARNING, ``cache_logger_on_first_use=True``.

Options: ``--quick`` (fewer repetitions, a 100,000-event report), ``--only NAME``
(``peers``, ``simulation``, ``store``, ``report``, ``sweep``, ``trust``, ``crypto``,
``embed``, ``outputs``, ``outbox``; repeatable).
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import logging
import os
import platform
import sys
import time
import timeit
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import structlog
from _common import Reporter, show
from statemachine import State, StateMachine
from transitions import Machine

from imflow import Actor, Case, Engine, FrozenClock, Hooks, Role, bw_integrationsmanagement
from imflow import commands as c
from imflow.simulation import SimulationParams, simulate

WORKFLOW = bw_integrationsmanagement()
PHASES = [p.name for p in WORKFLOW.phases]
OPENED = date(2025, 3, 3)
PERIOD_END = date(2028, 3, 2)
TODAY = date(2026, 6, 30)
MANAGER = Actor("im-1", Role.MANAGER, provider="drk-wt", district="08337")


def configure_logging() -> None:
    """What a production host does: structured logs, WARNING and above, cached loggers."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


# -- the peers' model: what a competent user keeps per case ------------------------------


class CaseModel:
    """The case data and the workflow's named guards, as methods a peer library calls.

    Conditions and actions receive the trigger's keyword arguments.
    """

    def __init__(
        self, case_id: str, person: str, district: str, provider: str, household: int, on: date
    ) -> None:
        self.state = "intake"
        self.case_id = case_id
        self.person = person
        self.district = district
        self.provider = provider
        self.household = household
        self.opened_on = on
        self.period_end = PERIOD_END
        self.consent = "missing"
        self.needs: list[tuple[str, date]] = []
        self.goals: dict[str, list[Any]] = {}
        self.plan_version = 0
        self.plan_agreed = False
        self.reviews: list[date] = []
        self.contacts: list[tuple[date, int, str]] = []
        self.extended_months = 0
        self.closure: tuple[str, date] | None = None
        self.events: list[tuple[str, date | None]] = [("case_opened", on)]

    # guards (the workflow's names)
    def consent_given(self, **kw: Any) -> bool:
        return self.consent == "given"

    def has_needs(self, **kw: Any) -> bool:
        return bool(self.needs)

    def has_goals(self, **kw: Any) -> bool:
        return bool(self.goals)

    def goal_within_period(self, **kw: Any) -> bool:
        target: date = kw["target_date"]
        return target <= self.period_end and kw["goal_id"] not in self.goals

    def extension_allowed(self, **kw: Any) -> bool:
        return bool(kw.get("justification")) and self.extended_months + kw["months"] <= 12

    def closure_reason_holds(self, **kw: Any) -> bool:
        if kw["reason"] == "goals_achieved":
            statuses = [g[2] for g in self.goals.values()]
            return bool(statuses) and "open" not in statuses and "achieved" in statuses
        if kw["reason"] == "period_expired":
            return bool(kw["on"] > self.period_end)
        return True

    def reopen_allowed(self, **kw: Any) -> bool:
        return self.closure is not None and self.closure[0] not in (
            "goals_achieved",
            "period_expired",
        )

    def rule_set_newer(self, **kw: Any) -> bool:
        return True

    # actions: update the data, append the event record
    def record(self, name: str, **kw: Any) -> None:
        if name == "record_consent":
            self.consent = "given"
        elif name == "withdraw_consent":
            self.consent = "withdrawn"
        elif name == "record_contact":
            self.contacts.append((kw["on"], kw["minutes"], kw.get("channel", "in_person")))
        elif name == "record_need":
            self.needs.append((kw["area"], kw["on"]))
        elif name in ("start_planning", "revise_plan"):
            self.plan_version += 1
            self.plan_agreed = False
        elif name == "add_goal":
            self.goals[kw["goal_id"]] = [kw["area"], kw["target_date"], "open"]
        elif name == "agree_plan":
            self.plan_agreed = True
        elif name == "set_goal_status":
            self.goals[kw["goal_id"]][2] = kw["status"]
        elif name == "review_plan":
            self.reviews.append(kw["on"])
        elif name == "extend_period":
            self.extended_months += kw["months"]
        elif name == "close_case":
            self.closure = (kw["reason"], kw["on"])
        elif name == "reopen_case":
            self.closure = None
        self.events.append((name, kw.get("on")))


def _action(name: str) -> Callable[..., None]:
    def action(self: CaseModel, **kw: Any) -> None:
        self.record(name, **kw)

    action.__name__ = f"on_{name}"
    return action


for _cmd in WORKFLOW.commands:  # on_record_consent, on_start_assessment, …
    setattr(CaseModel, f"on_{_cmd.name}", _action(_cmd.name))


class HookCounter:
    """The one registered hook: counts what it is told (as cheap as a hook can be)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1

    def after_transition(self, *args: Any, **kwargs: Any) -> None:  # python-statemachine
        self.calls += 1


HOOK = HookCounter()


def new_model(case_id: str) -> CaseModel:
    return CaseModel(case_id, "p-1", "08337", "drk-wt", 4, OPENED)


# -- transitions ----------------------------------------------------------------------


def transitions_spec(*, bare: bool = False) -> list[dict[str, Any]]:
    """The workflow's transitions as transitions' dictionaries (``dest=None``: internal)."""
    spec = []
    for cmd in WORKFLOW.commands:
        for source in cmd.sources:
            t: dict[str, Any] = {"trigger": cmd.name, "source": source, "dest": cmd.target}
            if not bare:
                if cmd.guards:
                    t["conditions"] = list(cmd.guards)
                t["after"] = f"on_{cmd.name}"
            spec.append(t)
    return spec


SPEC = transitions_spec()
BARE_SPEC = transitions_spec(bare=True)


def transitions_machine(model: object, *, bare: bool = False) -> Machine:
    return Machine(
        model=model,
        states=PHASES,
        transitions=BARE_SPEC if bare else SPEC,
        initial="intake",
        auto_transitions=False,
        after_state_change=None if bare else [HOOK],
    )


def shared_machine(*, bare: bool = False) -> Machine:
    return transitions_machine(None, bare=bare)


# -- python-statemachine ----------------------------------------------------------------


def _statemachine_class() -> type[StateMachine]:
    states = {name: State(initial=name == "intake") for name in PHASES}
    namespace: dict[str, Any] = dict(states)
    for cmd in WORKFLOW.commands:
        found: Any = None
        for source in cmd.sources:
            origin = states[source]
            cond = list(cmd.guards) or None
            if cmd.target is None:
                t = origin.to.itself(internal=True, cond=cond)  # type: ignore[no-untyped-call]
            else:
                t = origin.to(states[cmd.target], cond=cond)
            found = t if found is None else found | t
        namespace[cmd.name] = found
    return type("CaseFlow", (StateMachine,), namespace)


CaseFlow = _statemachine_class()


def statemachine_case(case_id: str) -> StateMachine:
    return CaseFlow(model=new_model(case_id), listeners=[HOOK])


# -- the commands, the same for everybody --------------------------------------------------

Step = tuple[str, dict[str, Any]]

TRAJECTORY: list[Step] = [
    ("record_consent", {"on": OPENED}),
    ("record_contact", {"on": OPENED, "minutes": 45, "channel": "in_person"}),
    ("start_assessment", {"on": date(2025, 3, 10)}),
    ("record_need", {"on": date(2025, 3, 10), "area": "language", "note": "A1"}),
    ("record_need", {"on": date(2025, 3, 10), "area": "work", "note": ""}),
    ("start_planning", {"on": date(2025, 4, 1)}),
    ("add_goal", {"on": date(2025, 4, 14), "goal_id": "g1", "area": "language",
                  "description": "B1", "target_date": date(2026, 3, 31)}),
    ("add_goal", {"on": date(2025, 4, 14), "goal_id": "g2", "area": "work",
                  "description": "Job", "target_date": date(2026, 3, 31)}),
    ("agree_plan", {"on": date(2025, 4, 14)}),
    ("record_contact", {"on": date(2025, 6, 2), "minutes": 30, "channel": "phone"}),
    ("review_plan", {"on": date(2025, 10, 14), "note": ""}),
    ("set_goal_status", {"on": date(2026, 3, 31), "goal_id": "g1", "status": "achieved"}),
    ("set_goal_status", {"on": date(2026, 3, 31), "goal_id": "g2", "status": "partly_achieved"}),
    ("review_plan", {"on": date(2026, 3, 31), "note": ""}),
    ("close_case", {"on": date(2026, 3, 31), "reason": "goals_achieved", "note": ""}),
]  # fmt: skip


def imflow_command(name: str, kw: dict[str, Any]) -> c.Command:
    cls = c.COMMAND_TYPES[name]
    return cls(**kw)


IMFLOW_TRAJECTORY = [imflow_command(name, kw) for name, kw in TRAJECTORY]
OPEN = c.OpenCase(
    case_id="wt-1", person="p-1", district="08337", provider="drk-wt", household=4, on=OPENED
)
# the command benchmark: a plan revised and agreed again (agree_plan has two named guards)
PAIR: list[Step] = [
    ("revise_plan", {"on": date(2025, 5, 5)}),
    ("agree_plan", {"on": date(2025, 5, 5)}),
]


def imflow_engine(*, hook: bool = True) -> Engine:
    hooks: Hooks | None = None
    if hook:
        hooks = Hooks()
        hooks.subscribe(HOOK)
    return Engine(clock=FrozenClock.on(TODAY), hooks=hooks)


def imflow_monitoring_case(engine: Engine) -> Case:
    case = engine.open(OPEN, by=MANAGER)
    for cmd in IMFLOW_TRAJECTORY[:9]:
        case = engine.handle(case, cmd, by=MANAGER)
    assert case.phase == "monitoring"
    return case


def peer_to_monitoring(fire: Callable[[str, dict[str, Any]], object]) -> None:
    for name, kw in TRAJECTORY[:9]:
        fire(name, kw)


def check_peer(trajectory: Callable[[], Any], model_of: Callable[[Any], Any] = lambda m: m) -> None:
    """The peer ran every action and called the hook once per command of the trajectory."""
    before = HOOK.calls
    model = model_of(trajectory())
    assert HOOK.calls - before == len(TRAJECTORY), HOOK.calls - before
    assert model.state == "closed", model.state
    assert len(model.events) == 1 + len(TRAJECTORY), model.events
    assert model.closure == ("goals_achieved", date(2026, 3, 31))


# -- measuring ---------------------------------------------------------------------------


class Bench:
    def __init__(self, quick: bool) -> None:
        self.repeat = 3 if quick else 7
        self.scale = 0.3 if quick else 1.0

    def per_op(self, fn: Callable[[], object], number: int, ops_per_call: int = 1) -> float:
        """Microseconds per operation: the best of ``repeat`` timeit runs."""
        number = max(1, int(number * self.scale))
        best = min(timeit.Timer(fn).repeat(repeat=self.repeat, number=number))
        return best / number / ops_per_call * 1e6


def bytes_per_case(make: Callable[[int], object], n: int = 5000) -> float:
    """Memory that *n* live cases hold, per case (tracemalloc, after a full collection)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = [make(i) for i in range(n)]
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del keep
    return grown / n


def measure_peers(bench: Bench) -> dict[str, dict[str, float]]:
    """µs per op and bytes per case, by library."""
    results: dict[str, dict[str, float]] = {}

    # imflow: commands are built inside the timings, as a host builds one per request ------
    engine = imflow_engine()

    def imflow_open() -> object:
        return engine.open(
            c.OpenCase(
                case_id="wt-1",
                person="p-1",
                district="08337",
                provider="drk-wt",
                household=4,
                on=OPENED,
            ),
            by=MANAGER,
        )

    monitoring = imflow_monitoring_case(engine)
    (_, revise_kw), (_, agree_kw) = PAIR
    planning = engine.handle(monitoring, c.RevisePlan(**revise_kw), by=MANAGER)

    def imflow_pair() -> object:
        engine.handle(monitoring, c.RevisePlan(**revise_kw), by=MANAGER)
        return engine.handle(planning, c.AgreePlan(**agree_kw), by=MANAGER)

    kinds = c.COMMAND_TYPES

    def imflow_lived(i: int) -> Case:
        case = engine.open(
            c.OpenCase(
                case_id=f"wt-{i}",
                person="p-1",
                district="08337",
                provider="drk-wt",
                household=4,
                on=OPENED,
            ),
            by=MANAGER,
        )
        for name, kw in TRAJECTORY:
            case = engine.handle(case, kinds[name](**kw), by=MANAGER)
        return case

    def imflow_trajectory() -> Case:
        return imflow_lived(1)

    before = HOOK.calls
    lived = imflow_trajectory()
    assert lived.phase == "closed" and lived.version == 1 + len(TRAJECTORY)
    assert HOOK.calls - before == 1 + len(TRAJECTORY)  # the opening's event too

    results["imflow"] = {
        "open": bench.per_op(imflow_open, 20000),
        "command": bench.per_op(imflow_pair, 10000, ops_per_call=2),
        "trajectory": bench.per_op(imflow_trajectory, 2000),
        "mem_open": bytes_per_case(
            lambda i: engine.open(
                c.OpenCase(
                    case_id=f"wt-{i}",
                    person="p-1",
                    district="08337",
                    provider="drk-wt",
                    household=4,
                    on=OPENED,
                ),
                by=MANAGER,
            )
        ),
        "mem_lived": bytes_per_case(imflow_lived, 2000),
    }

    # the plain model, without any machine: the data every library keeps anyway -----------
    results["(case data alone)"] = {
        "mem_open": bytes_per_case(lambda i: new_model(f"wt-{i}")),
    }

    # transitions, a machine per case ------------------------------------------------------
    def tr_open() -> object:
        model = new_model("wt-1")
        transitions_machine(model)
        return model

    def tr_trajectory() -> object:
        model: Any = new_model("wt-1")
        transitions_machine(model)
        for name, kw in TRAJECTORY:
            getattr(model, name)(**kw)
        return model

    check_peer(tr_trajectory)
    pc_model: Any = new_model("wt-1")
    transitions_machine(pc_model)
    peer_to_monitoring(lambda n, kw: getattr(pc_model, n)(**kw))

    def tr_pair() -> object:
        pc_model.revise_plan(**PAIR[0][1])
        return pc_model.agree_plan(**PAIR[1][1])

    def tr_lived(i: int) -> object:
        return tr_trajectory()

    results["transitions (machine per case)"] = {
        "open": bench.per_op(tr_open, 1000),
        "command": bench.per_op(tr_pair, 10000, ops_per_call=2),
        "trajectory": bench.per_op(tr_trajectory, 500),
        "mem_open": bytes_per_case(lambda i: tr_open(), 1000),
        "mem_lived": bytes_per_case(tr_lived, 1000),
    }
    assert pc_model.state == "monitoring"

    # transitions, one shared machine and add_model --------------------------------------------
    shared = shared_machine()

    def sh_open() -> object:
        model = new_model("wt-1")
        shared.add_model(model)
        return model

    # opening cost grows with the models already added: time 5,000 openings from zero
    fresh = shared_machine()
    models = [new_model(f"wt-{i}") for i in range(5000)]
    started = time.perf_counter()
    for model in models:
        fresh.add_model(model)
    open_5000 = (time.perf_counter() - started) / 5000 * 1e6
    sh_model: Any = new_model("wt-1")
    shared.add_model(sh_model)
    peer_to_monitoring(lambda n, kw: getattr(sh_model, n)(**kw))

    def sh_pair() -> object:
        sh_model.revise_plan(**PAIR[0][1])
        return sh_model.agree_plan(**PAIR[1][1])

    def sh_trajectory() -> object:
        model: Any = new_model("wt-1")
        shared.add_model(model)
        for name, kw in TRAJECTORY:
            getattr(model, name)(**kw)
        shared.remove_model(model)  # keep the machine's model list from growing
        return model

    check_peer(sh_trajectory)
    bare = shared_machine(bare=True)
    bare_model: Any = new_model("wt-1")
    bare.add_model(bare_model)
    peer_to_monitoring(lambda n, kw: getattr(bare_model, n)(**kw))

    def bare_pair() -> object:
        bare_model.revise_plan()
        return bare_model.agree_plan()

    def sh_lived(i: int) -> object:
        model: Any = new_model(f"wt-{i}")
        lived_machine.add_model(model)
        for name, kw in TRAJECTORY:
            getattr(model, name)(**kw)
        return model

    lived_machine = shared_machine()
    results["transitions (shared machine)"] = {
        "open": open_5000,
        "command": bench.per_op(sh_pair, 10000, ops_per_call=2),
        "bare": bench.per_op(bare_pair, 20000, ops_per_call=2),
        "trajectory": bench.per_op(sh_trajectory, 1000),
        "mem_open": bytes_per_case(lambda i: sh_open(), 3000),
        "mem_lived": bytes_per_case(sh_lived, 2000),
    }
    del fresh, models

    # python-statemachine ---------------------------------------------------------------
    def psm_open() -> object:
        return statemachine_case("wt-1")

    def psm_trajectory() -> object:
        machine = statemachine_case("wt-1")
        for name, kw in TRAJECTORY:
            machine.send(name, **kw)
        return machine

    check_peer(psm_trajectory, lambda m: m.model)
    psm_machine = statemachine_case("wt-1")
    peer_to_monitoring(lambda n, kw: psm_machine.send(n, **kw))

    def psm_pair() -> object:
        psm_machine.send("revise_plan", **PAIR[0][1])
        return psm_machine.send("agree_plan", **PAIR[1][1])

    results["python-statemachine"] = {
        "open": bench.per_op(psm_open, 500),
        "command": bench.per_op(psm_pair, 2000, ops_per_call=2),
        "trajectory": bench.per_op(psm_trajectory, 100),
        "mem_open": bytes_per_case(lambda i: psm_open(), 500),
        "mem_lived": bytes_per_case(lambda i: psm_trajectory(), 200),
    }
    return results


def measure_simulation(bench: Bench, jobs: int = 1) -> dict[str, float]:
    """Complete four-year trajectories per second: cases open in the first year of a
    five-year window, so every one runs to its end (a closure or the period's end);
    in *jobs* processes (the counts come back, not the cases)."""
    n = int(20000 * bench.scale)
    params = SimulationParams(opening_window=0.2)
    start, until = date(2025, 1, 1), date(2029, 12, 31)
    simulate(500, seed=1, start=start, until=until, params=params)  # warm up
    best = float("inf")
    events = 0
    for _ in range(max(2, bench.repeat // 2)):
        started = time.perf_counter()
        cohort = simulate(
            n, seed=7, start=start, until=until, params=params, keep_cases=False, jobs=jobs
        )
        best = min(best, time.perf_counter() - started)
        events = cohort.events
        assert cohort.open_cases == 0
    return {
        "cases_per_s": n / best,
        "commands_per_case": events / n,
        "n": n,
        "us_per_case": best / n * 1e6,
    }


def measure_history(bench: Bench) -> dict[str, float]:
    """µs per command on a case of 100 and of 3,000 events (each command on the case
    the previous one returned, as a host does), and the fold of the store's rows."""
    from datetime import timedelta

    from imflow.engine import trusted_fold

    engine = Engine(clock=FrozenClock(datetime(2040, 1, 1, 12, tzinfo=UTC)))
    case = engine.open(
        c.OpenCase(case_id="h-1", person="p-1", district="08337", provider="drk-wt", on=OPENED),
        by=MANAGER,
    )
    out: dict[str, float] = {}
    for size in (100, 3000):
        while case.version < size:
            on = OPENED + timedelta(days=case.version // 10)
            case = engine.handle(case, c.RecordContact(on=on, minutes=30), by=MANAGER)
        on = OPENED + timedelta(days=case.version // 10 + 1)
        commands = [c.RecordContact(on=on, minutes=30 + k % 60) for k in range(300)]
        best = float("inf")
        for _ in range(bench.repeat):
            handled = case
            started = time.perf_counter()
            for command in commands:
                handled = engine.handle(handled, command, by=MANAGER)
            best = min(best, (time.perf_counter() - started) / len(commands))
        out[f"handle_{size}"] = best * 1e6
    events = case.events[:200]
    fold = min(timeit.repeat(lambda: trusted_fold(engine, None, events), number=20, repeat=5))
    out["fold_us_per_event"] = fold / 20 / len(events) * 1e6
    replay = min(timeit.repeat(lambda: engine.replay(events), number=3, repeat=3))
    out["replay_us_per_event"] = replay / 3 / len(events) * 1e6
    return out


# -- printing -------------------------------------------------------------------------------


def machine_info() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count()
    return (
        f"{cpu}, {cores} cores; Python {platform.python_version()} ({platform.system()}); "
        f"{datetime.now().date().isoformat()}"
    )


def versions() -> str:
    from importlib.metadata import version

    names = ("imflow", "transitions", "python-statemachine", "attrs", "structlog")
    return ", ".join(f"{n} {version(n)}" for n in names)


def print_peers(results: dict[str, dict[str, float]]) -> list[tuple[str, bool, str]]:
    libs = [
        "imflow",
        "transitions (machine per case)",
        "transitions (shared machine)",
        "python-statemachine",
    ]
    base = results["imflow"]
    rows = [
        ("open a case", "open", "µs"),
        ("one command: guards + event + 1 hook", "command", "µs"),
        ("bare trigger, no conditions/callbacks", "bare", "µs"),
        ("trajectory: open + 15 commands", "trajectory", "µs"),
        ("memory per opened case", "mem_open", "B"),
        ("memory per case after the trajectory", "mem_lived", "B"),
    ]
    width, col = 40, 25
    heads = ["imflow", "transitions/case", "transitions/shared", "python-statemachine"]
    print(f"{'':{width}}" + "".join(f"{head:>{col}}" for head in heads))
    for label, key, unit in rows:
        cells = []
        for lib in libs:
            value = results[lib].get(key)
            if value is None:
                cells.append(f"{'—':>{col}}")
                continue
            ratio = "" if lib == "imflow" or key not in base else f" ({value / base[key]:.1f}×)"
            number = f"{value:,.0f}" if unit == "B" else f"{value:,.2f}"
            cells.append(f"{number + ' ' + unit + ratio:>{col}}")
        print(f"{label:<{width}}" + "".join(cells))
    data = results["(case data alone)"]["mem_open"]
    print(f"{'(a peer case model alone, no machine)':<{width}}{data:>{col - 2},.0f} B")
    print()
    pc = results["transitions (machine per case)"]
    sh = results["transitions (shared machine)"]
    psm = results["python-statemachine"]
    return [
        (
            "opening ≥ 30× faster than transitions with a machine per case",
            pc["open"] / base["open"] >= 30,
            f"{pc['open'] / base['open']:.1f}×",
        ),
        (
            "< 1 KiB engine overhead per live case (no per-case machine: the whole opened"
            " case is counted)",
            base["mem_open"] < 1024,
            f"{base['mem_open']:,.0f} B",
        ),
        (
            "command within 1.5× of a bare transitions trigger on a shared machine",
            base["command"] <= 1.5 * sh["bare"],
            f"{base['command'] / sh['bare']:.2f}×",
        ),
        (
            "command ≥ 10× faster than python-statemachine",
            psm["command"] / base["command"] >= 10,
            f"{psm['command'] / base['command']:.1f}×",
        ),
    ]


def run_module(name: str, quick: bool) -> None:
    """Run ``benchmarks/<name>.py``'s ``run(reporter)``, printing each figure."""
    if quick and name == "bench_report":
        os.environ.setdefault("IMFLOW_BENCH_REPORT_EVENTS", "100000")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        print(f"  ({name}.py is not available: {exc})")
        return

    runner: Callable[[Reporter], None] = module.run
    try:
        runner(functools.partial(show, indent="  "))
    except Exception as exc:  # a failing neighbour must not hide the other figures
        print(f"  ({name} failed: {type(exc).__name__}: {exc})")
    configure_logging()  # the modules configure structlog for themselves


PARTS = [
    "peers", "simulation", "store", "report", "sweep", "trust", "crypto", "embed", "outputs",
    "aio", "outbox",
]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only these parts (repeatable)",
    )
    args = parser.parse_args(argv)
    parts = set(args.only or PARTS)
    configure_logging()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    bench = Bench(args.quick)
    print(f"machine: {machine_info()}")
    print(f"versions: {versions()}")
    print("structlog: filtering bound logger at WARNING, cache_logger_on_first_use=True\n")
    checks: list[tuple[str, bool, str]] = []
    if "peers" in parts:
        print("== imflow and its peers (best of timeit repeats; ratio = peer / imflow)")
        checks += print_peers(measure_peers(bench))
    if "simulation" in parts:
        sim = measure_simulation(bench)
        print("== cohort simulation, in memory, one core")
        print(
            f"  {sim['n']:,.0f} complete four-year trajectories: {sim['cases_per_s']:,.0f} cases/s"
            f" ({sim['us_per_case']:.0f} µs per case, {sim['commands_per_case']:.1f} commands"
            " per case)"
        )
        jobs = os.cpu_count() or 1
        if jobs > 1:
            par = measure_simulation(bench, jobs=jobs)
            print(
                f"  jobs={jobs}: {par['cases_per_s']:,.0f} cases/s"
                f" ({par['cases_per_s'] / sim['cases_per_s']:.2f}× jobs=1)"
            )
        hist = measure_history(bench)
        print(
            f"  handle on a case of 100 / 3,000 events: {hist['handle_100']:.2f} /"
            f" {hist['handle_3000']:.2f} µs per command"
        )
        print(
            f"  200 events: trusted fold {hist['fold_us_per_event']:.2f} µs per event,"
            f" validating replay {hist['replay_us_per_event']:.2f} µs per event\n"
        )
        checks.append(
            (
                "simulation ≥ 5,000 four-year trajectories per second",
                sim["cases_per_s"] >= 5000,
                f"{sim['cases_per_s']:,.0f}/s",
            )
        )
    for part, module in (
        ("store", "bench_store"),
        ("report", "bench_report"),
        ("sweep", "bench_sweep"),
        ("trust", "bench_trust"),
        ("crypto", "bench_crypto"),
        ("embed", "bench_embed"),
        ("outputs", "bench_outputs"),
        ("aio", "bench_aio"),
        ("outbox", "bench_outbox"),
    ):
        if part in parts:
            print(f"== {module}.py")
            run_module(module, args.quick)
            print()
    if checks:
        print("== targets")
        for label, met, value in checks:
            print(f"  [{'met' if met else 'NOT MET'}] {label}: {value}")


if __name__ == "__main__":
    main()
