"""Private: the logic both SQL stores share; each backend supplies its SQL and its driver.

The append path is one transaction: a conditional ``UPDATE`` (or ``INSERT``) of the
case row that doubles as the optimistic-concurrency check, then batched inserts of the
events, their outbox rows, the person index and the idempotency key. The new case is
folded *before* the transaction, from a cached copy of the case at the expected
version when there is one, so the transaction holds the write lock only for the writes.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import date, datetime
from itertools import compress, repeat
from types import TracebackType
from typing import Any, ClassVar, Self

import cattrs

from imflow._construct import constructor
from imflow._decode import CONTACTS_FROM_EVENTS, Decoder, without_history
from imflow._json import compact, loads
from imflow._keys import KeyStore, Purge
from imflow.actors import SYSTEM, Actor
from imflow.case import Case, Contact
from imflow.chain import Chain, Pending
from imflow.engine import Engine, trusted_fold
from imflow.erasure import TOMBSTONE, Erasure
from imflow.errors import (
    CaseNotFound,
    ConcurrencyConflict,
    InvalidHistory,
    StoreError,
)
from imflow.events import CaseTransferred, ContactRecorded, Event, PersonErased
from imflow.logging import get_logger
from imflow.serialization import _default_converter, to_document
from imflow.store._base import (
    ERASED_FINGERPRINT,
    AppendResult,
    CaseCache,
    Delivery,
    HookStatus,
    OutboxEntry,
    OutboxStatus,
    age_of,
    batch_tenant,
    check_batch,
    check_erasure,
    check_key,
    closed_on,
    conflict,
    erasure_event,
    fingerprint,
    persons_of,
    replay_of,
    tenant,
    valid_id,
)
from imflow.store._cipher import Sealer, generation_of, open_error
from imflow.store._leases import hook_pending_sql
from imflow.store._reseal import Encryption
from imflow.store._schema import Backend, Migration, current_version, verdict
from imflow.store._schema import run as run_migrations
from imflow.store._session import ConnectionSource, Session, UnitOfWork
from imflow.store._summary import FactsMemo, facts_of_load, split_facts, write_summary
from imflow.store._summary import fill as fill_summary

__all__: list[str] = []

Row = tuple[Any, ...]
Params = Mapping[str, Any]

_ERASURE_RETRIES = 5
_new_contact = constructor(Contact)


def _may_be_sealed(raw: Any) -> bool:
    """Whether a stored document may hold a sealed field (``{"c": ...}``) to open."""
    return not isinstance(raw, str) or '"c":' in raw


def _contacts_of(events: Chain[Event], types: Sequence[str]) -> Chain[Contact]:
    """The contacts of a case whose events are *events* (of those *types*), each read
    from its ``contact_recorded`` event when first used (that event decoded once, by
    *events*): the contacts a fold of the events would have made."""

    def contact(index: int) -> Contact:
        event = events[index]
        if not isinstance(event, ContactRecorded):
            raise InvalidHistory("a stored event is not of its row's type")
        return _new_contact(event.on, event.minutes, event.channel, event.topics)

    # the indexes of the contact rows, and a Pending for each, made in C (tuple.__new__
    # builds the named tuple without its Python __new__)
    at = compress(range(len(types)), map("contact_recorded".__eq__, types))
    fields = zip(repeat(contact), at, repeat(""), repeat(0))
    pending: list[Any] = list(map(tuple.__new__, repeat(Pending), fields))
    return Chain._lazy(pending, len(pending))


def _same_columns(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Whether an append leaves every column of the case row but its version as it was."""
    return all(before[k] == after[k] for k in _CASE_COLUMNS)


_CASE_COLUMNS = ("provider", "phase", "rule_set", "period_end", "closed_on")

CASE_ROW_WRITES = (
    "insert_case",
    "update_case",
    "update_case_snapshot",
    "update_version",
    "update_version_snapshot",
)
"""The statements an append writes the case row with (its optimistic-concurrency check)."""


class _Stale(Exception):
    """The conditional write of the case row found another version."""


def sanitized(exc: BaseException, backend: str) -> StoreError:
    """A :class:`StoreError` for a driver's exception, without its parameters or detail text.

    Raise it *outside* the ``except`` block, so the driver's exception is not even kept
    as the new one's context.
    """
    code = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    detail = f", code {code}" if isinstance(code, str) else ""
    return StoreError(f"the {backend} database refused a statement ({type(exc).__name__}{detail})")


class SqlStore:
    """Base of :class:`SQLiteStore` and :class:`PostgresStore` (not public)."""

    SQL: ClassVar[Mapping[str, str]]
    MIGRATIONS: ClassVar[Sequence[Migration]]
    DIALECT: ClassVar[Backend]
    integrity_errors: tuple[type[Exception], ...] = ()
    backend: ClassVar[str] = "SQL"
    LOAD_ORDERED: ClassVar[bool] = True  # whether the "load" statement orders its rows
    schema: str | None = None
    _source: ConnectionSource

    def __init__(
        self,
        *,
        engine: Engine | None,
        snapshot_every: int,
        cache_size: int,
        converter: cattrs.Converter | None,
        key_store: KeyStore | None = None,
        owns_key_store: bool = False,
        purge_timeout: float = 5.0,
    ) -> None:
        if snapshot_every < 0:
            raise ValueError("snapshot_every must be 0 (never) or positive")
        self.engine = engine or Engine()
        self.snapshot_every = snapshot_every
        self._conv = converter or _default_converter()
        self._decoder = Decoder(self._conv)
        self._cache = CaseCache(cache_size)
        # the committed cases this store made (loaded or appended) that someone still
        # holds, by id: an append at such a case's version re-decides against it instead
        # of loading it again (see _base); weak, so it holds no case anybody dropped
        self._issued: weakref.WeakValueDictionary[str, Case] = weakref.WeakValueDictionary()
        self._close_lock = threading.Lock()
        # the session of the running operation (or unit of work), per thread and task
        self._bound: ContextVar[Session | None] = ContextVar(f"imflow_{id(self)}", default=None)
        self._log = get_logger()
        self._outbox = SqlOutbox(self)
        self._closed = False
        self.key_store = key_store
        self._owns_keys = owns_key_store
        self._sealer = None if key_store is None else Sealer(key_store, cache_size=cache_size)
        self.purge_timeout = purge_timeout
        # the report-facts rows the latest loads read with their case rows, for the
        # next append of each case at that version (see FactsMemo, _facts_taken)
        self._facts = FactsMemo()

    # -- what a backend supplies -----------------------------------------------------------

    def _rows(self, key: str, params: Params) -> list[Row]:
        raise NotImplementedError

    def _exec(self, key: str, params: Params) -> int:
        raise NotImplementedError

    def _exec_many(self, key: str, rows: Sequence[Params]) -> None:
        raise NotImplementedError

    def _query(self, sql: str, params: Params) -> list[Row]:
        raise NotImplementedError

    def _transaction(self) -> contextlib.AbstractContextManager[None]:
        raise NotImplementedError

    def _param(self, name: str) -> str:
        raise NotImplementedError

    def _day(self, day: date | None) -> Any:
        return day

    def _moment(self, moment: datetime) -> Any:
        return moment

    def _moment_in(self, raw: Any) -> datetime:
        assert isinstance(raw, datetime)
        return raw

    def _day_in(self, raw: Any) -> date:
        return date.fromisoformat(raw) if isinstance(raw, str) else raw

    def _doc(self, raw: Any) -> Any:
        return loads(raw) if isinstance(raw, str | bytes) else raw

    # -- sessions: where the statements run (see imflow.store._session) ------------------

    @contextlib.contextmanager
    def _session(self) -> Iterator[Session]:
        """The bound session, or one borrowed from the source for this operation."""
        bound = self._bound.get()
        if bound is not None:
            yield bound
            return
        self._check_open()
        with self._source.session() as session:
            token = self._bound.set(session)
            try:
                yield session
            finally:
                self._bound.reset(token)

    @contextlib.contextmanager
    def _binding(self, session: Session) -> Iterator[Session]:
        """Run the block's operations in *session* (a unit of work's)."""
        self._check_open()
        if self._bound.get() is session:
            yield session
            return
        token = self._bound.set(session)
        try:
            yield session
        finally:
            self._bound.reset(token)

    def _now(self) -> Any:
        """The connection of the running operation."""
        session = self._bound.get()
        if session is None:  # pragma: no cover - every operation opens a session first
            raise RuntimeError("a store statement ran outside a session")
        return session.conn

    def _cached(self, case_id: str) -> Case | None:
        session = self._bound.get()
        if session is not None and session.joined:
            mine = session.pending.get(case_id)
            if mine is not None:
                return mine
        return self._cache.get(case_id)

    def _remember(self, case: Case) -> None:
        """Cache *case*, once it is committed: never what a host may still roll back."""
        session = self._bound.get()
        if session is None or not session.joined:
            self._committed(case)
            return
        session.pending[case.case_id] = case
        if session.on_commit is not None:
            session.on_commit(lambda: self._committed(case))

    def _committed(self, case: Case) -> None:
        """*case* is what the database holds at its version: cache it, know it as issued."""
        self._cache.put(case)
        self._issued[case.case_id] = case

    def _forget(self, case_id: str) -> None:
        session = self._bound.get()
        if session is not None:
            session.pending.pop(case_id, None)
            session.facts.pop(case_id, None)
        self._facts.drop(case_id)
        self._cache.drop(case_id)
        self._issued.pop(case_id, None)

    def _host_transaction(self, conn: Any) -> contextlib.AbstractContextManager[bool]:
        """Join the transaction open on *conn*, or open one (``True``) and commit it."""
        raise NotImplementedError

    def _check_host_connection(self, conn: Any) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def unit_of_work(self, conn: Any) -> Iterator[UnitOfWork]:
        """The store's operations on the host's connection *conn*, in the host's transaction.

        If a transaction is open on *conn*, the unit of work joins it: the host's commit
        or rollback decides for imflow's rows too. Otherwise it opens one, commits it when
        the block ends and rolls it back when the block raises. Each operation inside is
        a savepoint, so a refused append (a conflict, a reused key) leaves the host's
        transaction usable. Nothing written is cached before it committed.

        .. versionadded:: 0.2.0
        """
        self._check_open()
        self._check_host_connection(conn)
        session = Session(conn, joined=True)
        with self._host_transaction(conn) as began:
            yield UnitOfWork(self, session)
        if began:  # committed just now: what it wrote is the truth
            for case in session.pending.values():
                self._committed(case)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        """A DB-API connection for read-only queries such as the key figures.

        .. versionadded:: 0.2.0
        """
        self._check_open()
        bound = self._bound.get()
        if bound is not None:
            yield bound.conn
            return
        with self._source.reading() as conn:
            yield conn

    # -- schema ----------------------------------------------------------------------------

    def _open_schema(self, *, migrate: bool) -> None:
        """Check the schema read-only; migrate it only where *migrate* allows."""
        with self._session() as session:
            current = current_version(self.DIALECT, session.conn)
            latest = self.MIGRATIONS[-1][0]
            if migrate and (current or 0) < latest:
                current = run_migrations(self.DIALECT, session.conn, self.MIGRATIONS)
                fill_summary(session.conn, self.DIALECT)
                self._facts.clear()  # the fill wrote facts rows without a new version
            verdict(self.DIALECT, self.MIGRATIONS, self.schema, current)

    @property
    def schema_version(self) -> int:
        """The version of the store's database schema (its latest applied migration)."""
        with self._session():
            rows = self._rows("migration_version", {})
        return int(rows[0][0])

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        case_id: str,
        events: Iterable[Event],
        *,
        expected_version: int,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append *events* in one transaction if the case is at *expected_version*.

        Raises :class:`~imflow.ConcurrencyConflict` and writes nothing when another
        writer got there first. Re-sending an *idempotency_key* returns the stored
        result (``replayed=True``) without a second write.
        """
        batch = tuple(events)
        check_key(idempotency_key)
        with self._session():
            if idempotency_key is not None:
                stored = self._recall(idempotency_key, batch_tenant(batch), case_id, batch, None)
                if stored is not None:
                    return stored
            check_batch(case_id, batch, expected_version)
            try:
                base = self._base(case_id, expected_version)
            except ConcurrencyConflict:
                # another writer got there since the recall above, maybe with this request
                return self._after_failed_write(case_id, batch, expected_version, idempotency_key)
            new = self.engine.admit(base, batch)
            failed: Exception | None = None
            try:
                with self._transaction():
                    self._write_append(base, new, batch, expected_version, idempotency_key)
            except _Stale:
                return self._after_failed_write(case_id, batch, expected_version, idempotency_key)
            except self.integrity_errors as exc:
                failed = exc
            if failed is not None:
                return self._after_failed_write(
                    case_id, batch, expected_version, idempotency_key, failed
                )
            self._remember(new)
            return AppendResult(case_id, new.version, batch)

    def _after_failed_write(
        self,
        case_id: str,
        batch: tuple[Event, ...],
        expected: int,
        key: str | None,
        error: Exception | None = None,
    ) -> AppendResult:
        """A concurrent writer won: the stored result of the same key, or a conflict."""
        if key is not None:
            stored = self._recall(key, batch_tenant(batch), case_id, batch, None)
            if stored is not None:
                return stored
        actual = self._version(case_id)
        self._forget(case_id)
        if actual != expected or error is None:
            raise conflict(case_id, expected, actual)
        raise sanitized(error, self.backend)

    def _base(self, case_id: str, expected: int) -> Case | None:
        """The case at *expected* to re-decide the batch against (``None``: a new case).

        Without loading it when this store made that very case itself: cached, pending
        in the unit of work, or issued (the case a :meth:`load` or an append of this
        store produced and somebody still holds, typically the host's loaded case). A
        case at a version never changes, and the conditional ``UPDATE`` of the write
        refuses the batch if the row is no longer at *expected*; a case the caller built
        or altered is never among them, so the caller cannot widen what is admitted.
        """
        if expected == 0:
            return None  # the insert of the case row finds out whether it exists
        cached = self._cached(case_id)
        if cached is not None and cached.version == expected:
            return cached
        issued = self._issued.get(case_id)
        if issued is not None and issued.version == expected:
            return issued
        try:
            case = self._load(case_id)
        except CaseNotFound:
            raise conflict(case_id, expected, 0) from None
        if case.version != expected:
            raise conflict(case_id, expected, case.version)
        return case

    def _case_row(self, case: Case) -> dict[str, Any]:
        opened, day = case.opened, self._day  # one look at the first event, not three
        transfers = case.transfers  # the provider as Case.provider has it
        return {
            "case_id": case.case_id,
            "district": opened.district,
            "provider": transfers[-1].to_provider if transfers else opened.provider,
            "phase": str(case.phase),
            "rule_set": case.rule_set,
            "opened_on": day(opened.on),
            "period_end": day(case.period_end),
            "closed_on": day(closed_on(case)),
            "version": len(case.events),
        }

    def _generation(self, case: Case) -> int:
        """The generation of the case keys *case*'s next personal content is sealed with."""
        return generation_of(case.events) if self._sealer is not None else 0

    def _event_rows(
        self, case: Case, batch: Sequence[Event], generation: int | None = None
    ) -> list[dict[str, Any]]:
        district, provider, conv = case.district, case.provider, self._conv
        if generation is None:
            generation = self._generation(case)
        moves = [e for e in batch if isinstance(e, CaseTransferred)]
        if moves:  # each row names the provider the case was with after its event
            provider = moves[0].from_provider
        rows = []
        for e in batch:
            if moves and isinstance(e, CaseTransferred):
                provider = e.to_provider
            doc = to_document(e, converter=conv)
            payload = self._sealed(doc, e.case_id, f"e{e.seq}", generation)
            rows.append(
                {
                    "case_id": e.case_id,
                    "seq": e.seq,
                    "type": e.type,
                    "on_date": self._day(e.on),
                    "recorded_at": self._moment(e.recorded_at),
                    "district": district,
                    "provider": provider,
                    "schema_version": doc["schema_version"],
                    "payload": payload,
                }
            )
        return rows

    def _sealed(self, doc: dict[str, Any], case_id: str, place: str, generation: int) -> str:
        """*doc* as the JSON text the store writes, its personal fields sealed."""
        if self._sealer is not None:
            self._sealer.seal(doc, case_id, place, generation)
        return compact(doc)

    def _snapshot(self, case: Case, generation: int | None = None) -> str:
        """The case without its events and contacts: they are the rows before it (see
        :meth:`_load`), so the snapshot grows with the plan, not with the history, and
        writing it never decodes (nor encodes) an event."""
        doc = to_document(without_history(case), converter=self._conv)
        del doc["events"]
        doc.pop("contacts", None)
        doc[CONTACTS_FROM_EVENTS] = True
        if self._sealer is not None:
            place = f"s{case.version}"
            if generation is None:
                generation = self._generation(case)
            self._sealer.seal(doc, case.case_id, place, generation, together=True)
        return compact(doc)

    def _snapshot_due(self, before: int, after: int) -> bool:
        every = self.snapshot_every
        return every > 0 and after // every > before // every

    def _write_append(
        self,
        base: Case | None,
        new: Case,
        batch: Sequence[Event],
        expected: int,
        key: str | None,
    ) -> None:
        row = self._case_row(new)
        row["expected"] = expected
        snapshot = self._snapshot_due(expected, new.version)
        generation = self._generation(new)  # one look for the latest erasure per append
        row["snapshot"] = self._snapshot(new, generation) if snapshot else None
        row["snapshot_version"] = new.version if snapshot else None
        if base is None:
            written = self._exec("insert_case", row)
        else:
            # only the version (and snapshot) when nothing indexed changed
            day = self._day  # the indexed columns of the base's row, not the whole row
            before = {
                "provider": base.provider,
                "phase": str(base.phase),
                "rule_set": base.rule_set,
                "period_end": day(base.period_end),
                "closed_on": day(closed_on(base)),
            }
            same = _same_columns(before, row)
            statement = "update_version" if same else "update_case"
            written = self._exec(statement + ("_snapshot" if snapshot else ""), row)
        if written != 1:
            raise _Stale
        self._exec_many("insert_event", self._event_rows(new, batch, generation))
        write_summary(
            self, new.case_id, new.events, batch, base is not None, self._facts_taken(new, expected)
        )
        self._exec_many(
            "insert_outbox",
            [{"case_id": e.case_id, "seq": e.seq, "type": e.type} for e in batch],
        )
        persons = [self._person_ref(p) for p in persons_of(batch)]
        if persons:
            self._exec_many(
                "insert_person", [{"person_ref": p, "case_id": new.case_id} for p in persons]
            )
        if key is not None:
            district, provider = batch_tenant(batch)
            self._exec(
                "insert_key",
                {
                    "district": district,
                    "provider": provider,
                    "key": key,
                    "case_id": new.case_id,
                    "fingerprint": fingerprint(batch),
                    "first_seq": batch[0].seq,
                    "last_seq": batch[-1].seq,
                    "created_at": self._moment(self.engine.clock()),
                },
            )

    def _keep_facts(self, case_id: str, version: int, rows: list[Any]) -> None:
        """Keep the facts rows a load read with the case row at *version*: in the unit
        of work's session when the load ran in the host's transaction (rows it may still
        roll back are never seen outside it), else in the store's memo."""
        session = self._bound.get()
        if session is not None and session.joined:
            session.facts[case_id] = (version, rows)
        else:
            self._facts.keep(case_id, version, rows)

    def _facts_taken(self, new: Case, expected: int) -> list[Any] | None:
        """The facts rows a load read at *expected* for the append writing *new*, taken
        from the memo (gone afterwards); ``None``: the append reads them itself."""
        session = self._bound.get()
        mine = None if session is None else session.facts.pop(new.case_id, None)
        kept = self._facts.take(new.case_id, expected)
        if mine is not None and mine[0] == expected:
            return mine[1]
        return kept

    def _person_ref(self, person_ref: str) -> str:
        """What the person index holds for *person_ref*: its key id when encrypting."""
        return person_ref if self._sealer is None else self._sealer.person_key_id(person_ref)

    def recall(self, idempotency_key: str, *, by: Actor) -> AppendResult | None:
        """The result stored for *idempotency_key* in *by*'s tenant, if it was used before.

        Raises :class:`~imflow.IdempotencyKeyReused` when another actor used the key.
        """
        check_key(idempotency_key)
        with self._session():
            return self._recall(idempotency_key, tenant(by), None, None, by)

    def _recall(
        self,
        key: str,
        scope: tuple[str, str],
        case_id: str | None,
        batch: tuple[Event, ...] | None,
        by: Actor | None,
    ) -> AppendResult | None:
        district, provider = scope
        rows = self._rows("recall", {"district": district, "provider": provider, "key": key})
        if not rows:
            return None
        stored_case, first, last, digest = rows[0][0], int(rows[0][1]), int(rows[0][2]), rows[0][3]
        payloads = self._rows("event_range", {"case_id": stored_case, "first": first, "last": last})
        events = self._events_of(stored_case, [(int(r[1]), r[0]) for r in payloads])
        return replay_of(stored_case, events, digest, case_id=case_id, batch=batch, by=by)

    def _version(self, case_id: str) -> int:
        rows = self._rows("version", {"case_id": case_id})
        return int(rows[0][0]) if rows else 0

    # -- erasure ---------------------------------------------------------------------------

    def erase_person(self, person_ref: str, *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Erase the person's personal content from every case they appear in; not undoable.

        Each case's event payloads are rewritten with :func:`imflow.erasure.tombstone`,
        a :class:`~imflow.events.PersonErased` event is appended, the snapshot is
        replaced and the person index forgets the case. Then the data keys are deleted
        (the person's and those of the erased cases: every copy of their fields, in the
        write-ahead log, in free pages, in earlier backups, can no longer be read) and
        purged from the key store's files. Types, dates, phases, reasons, areas and
        minutes stay, so key figures do not change. Logged with case ids only.
        Returns an :class:`~imflow.erasure.Erasure`: the ids of the erased cases, with
        what was rewritten, deleted and flushed.
        """
        check_erasure(person_ref, on, by)
        with self._session():
            case_ids = self.cases_of(person_ref)
            rewritten = sum(self._erase_case(case_id, on=on, by=by) for case_id in case_ids)
            if self._sealer is not None:
                with self._transaction():
                    kid = self._sealer.person_key_id(person_ref)
                    self._exec("queue_shred", {"key_id": kid})
            result = self._shred(case_ids, rewritten)
        if case_ids:
            self._log.info("person_erased", case_ids=list(case_ids), events_rewritten=rewritten)
        return result

    def erase_cases(self, case_ids: Sequence[str], *, on: date, by: Actor = SYSTEM) -> Erasure:
        """Erase the personal content of the cases *case_ids* (retention, see
        :mod:`imflow.retention`), as :meth:`erase_person` does for a person's cases: the
        case keys are deleted, the persons' keys stay (they may have other cases).

        .. versionadded:: 0.2.0
        """
        if isinstance(case_ids, str):
            raise TypeError("case_ids must be a sequence of case ids, not one str")
        ids = tuple(dict.fromkeys(case_ids))
        for case_id in ids:
            if not valid_id(case_id):
                raise CaseNotFound(case_id)
        check_erasure("", on, by)
        with self._session():
            rewritten = sum(self._erase_case(case_id, on=on, by=by) for case_id in ids)
            result = self._shred(ids, rewritten)
        if ids:
            self._log.info("cases_erased", case_ids=list(ids), events_rewritten=rewritten)
        return result

    def retention_candidates(self, *, closed_before: date) -> list[tuple[str, str, str, date]]:
        """``(case id, district, rule set, closed on)`` of the cases closed before
        *closed_before* and not erased since their latest event (see
        :func:`imflow.retention.due`).

        .. versionadded:: 0.2.0
        """
        with self._session():
            rows = self._rows("retention_candidates", {"before": self._day(closed_before)})
        return [(r[0], r[1], r[2], self._day_in(r[3])) for r in rows]

    def cases_of(self, person_ref: str) -> tuple[str, ...]:
        """The ids of the cases *person_ref* appears in (as the person or a member).

        .. versionadded:: 0.2.0
        """
        if type(person_ref) is not str:
            raise TypeError("person_ref must be a str")
        with self._session():
            refs = [person_ref]
            if self._sealer is not None:
                refs.insert(0, self._sealer.person_key_id(person_ref))
            found: set[str] = set()
            for ref in refs:  # an older store's rows name the person in clear
                found.update(r[0] for r in self._rows("person_cases", {"person_ref": ref}))
        return tuple(sorted(found))

    def export_person(self, person_ref: str, *, by: Actor) -> str:
        """The person's cases and events in clear as one JSON document (DSGVO Art. 15),
        for a manager of the cases' provider; see :func:`imflow.export.export_person`.

        .. versionadded:: 0.2.0
        """
        from imflow.export import export_person

        return export_person(self, person_ref, by=by)

    def encrypt_existing(
        self, *, batch: int = 100, progress: Callable[[int], None] | None = None
    ) -> Encryption:
        """Seal the personal fields an older imflow stored in clear (the upgrade path).

        One transaction per case; a run that is stopped or killed resumes where it left
        off, and a run over a sealed store changes nothing. *progress* is called with
        the number of cases done so far. Returns an
        :class:`~imflow.store.Encryption` (``done`` once every case was looked at).

        .. versionadded:: 0.2.0
        """
        from imflow.store._reseal import encrypt_existing

        return encrypt_existing(self, batch=batch, progress=progress)

    @property
    def encryption_pending(self) -> bool:
        """Whether rows of an older imflow may still hold personal fields in clear
        (until :meth:`encrypt_existing` has finished once).

        .. versionadded:: 0.2.0
        """
        with self._session():
            rows = self._rows("encryption_state", {})
        return not rows or not int(rows[0][1])

    def _shred(self, case_ids: tuple[str, ...], rewritten: int) -> Erasure:
        """Delete the queued keys, then purge the key store and flush the store's log."""
        deleted = 0
        if self.key_store is not None:
            queued = [r[0] for r in self._rows("shred_queue", {})]
            if queued:
                deleted = self.key_store.delete(queued)
                with self._transaction():
                    self._exec_many("shred_done", [{"key_id": k} for k in queued])
            purge = self.key_store.purge(timeout=self.purge_timeout)
        else:
            purge = Purge(True)
        flushed = self._flush_log() if case_ids else True
        pending = purge.pending + (() if flushed else ("readers",))
        return Erasure(
            case_ids,
            events_rewritten=rewritten,
            keys_deleted=deleted,
            keys_purged=purge.complete,
            log_flushed=flushed,
            pending=tuple(dict.fromkeys(pending)),
        )

    def purge(self, *, timeout: float | None = None) -> Erasure:
        """Finish what an erasure could not: delete keys still queued, purge the key store
        and flush the store's log, waiting up to *timeout* s (default ``purge_timeout``).

        .. versionadded:: 0.2.0
        """
        with self._session():
            if timeout is not None:
                saved, self.purge_timeout = self.purge_timeout, timeout
            try:
                result = self._shred((), 0)
                flushed = self._flush_log()
            finally:
                if timeout is not None:
                    self.purge_timeout = saved
        return Erasure(
            (),
            keys_deleted=result.keys_deleted,
            keys_purged=result.keys_purged,
            log_flushed=flushed,
            pending=result.pending + (() if flushed else ("readers",)),
        )

    def _erase_case(self, case_id: str, *, on: date, by: Actor) -> int:
        expected = 0
        for _ in range(_ERASURE_RETRIES):
            case = self._load(case_id)
            expected = case.version
            event = erasure_event(self.engine, case, on=on, by=by)
            new = trusted_fold(self.engine, case, (event,))
            changed = [
                {
                    "case_id": case_id,
                    "seq": e.seq,
                    "payload": self._sealed(to_document(e, converter=self._conv), case_id, "", 0),
                }
                for old, e in zip(case.events, new.events, strict=False)
                if old != e
            ]
            row = self._case_row(new)
            row["expected"] = case.version
            row["snapshot"] = self._snapshot(new)
            row["snapshot_version"] = new.version
            # every generation of case keys so far: the next content gets a fresh one
            generations = {0} | {e.seq for e in case.events if isinstance(e, PersonErased)}
            try:
                with self._transaction():
                    self._erasure_begins()
                    if self._exec("update_case_snapshot", row) != 1:
                        raise _Stale
                    if changed:
                        self._exec_many("rewrite_payload", changed)
                    self._exec_many("insert_event", self._event_rows(new, (event,)))
                    write_summary(self, case_id, new.events, (event,))
                    self._exec_many(
                        "insert_outbox",
                        [{"case_id": case_id, "seq": event.seq, "type": event.type}],
                    )
                    self._exec("forget_case_persons", {"case_id": case_id})
                    self._exec("forget_errors", {"case_id": case_id, "erased": TOMBSTONE})
                    self._exec("forget_keys", {"case_id": case_id, "erased": ERASED_FINGERPRINT})
                    self._exec("set_erased", {"case_id": case_id, "erased_version": event.seq})
                    if self._sealer is not None:
                        kids = self._sealer.case_key_ids(case_id, sorted(generations))
                        self._exec_many("queue_shred", [{"key_id": k} for k in kids])
            except _Stale:
                self._forget(case_id)
                continue
            if self._sealer is not None:
                self._sealer.forget(case_id)
            self._remember(new)
            return len(changed)
        raise ConcurrencyConflict(case_id, expected=expected, actual=self._version(case_id))

    def _erasure_begins(self) -> None:
        """A backend's chance to make the rewrite overwrite old content on disk."""

    def _flush_log(self) -> bool:
        """A backend's chance to flush old content out of its log; whether it finished."""
        return True

    # -- reading ---------------------------------------------------------------------------

    def _opened(
        self,
        case_id: str,
        docs: list[tuple[str, Any]],
        memo: dict[str, bytes | None] | None = None,
    ) -> None:
        """Open the sealed fields of *docs* (``(place, document)``) in place (*memo*: the
        keys of the running load, see :meth:`Sealer.open`)."""
        if self._sealer is not None:
            self._sealer.open(case_id, docs, memo)
            return
        for _, doc in docs:  # a store opened without keys cannot read sealed fields
            if any(type(doc.get(k)) is dict for k in ("person", "note")):
                raise StoreError(
                    "the store holds encrypted personal fields: open it with its key store"
                )

    def _events_of(self, case_id: str, rows: list[tuple[int, Any]]) -> tuple[Event, ...]:
        """The events of ``(seq, payload)`` rows of *case_id*, opened."""
        docs = [(f"e{seq}", self._doc(raw)) for seq, raw in rows]
        self._opened(case_id, docs)
        return tuple(self._event(doc) for _, doc in docs)

    def _event(self, doc: Any) -> Event:
        return self._decoder.event(doc)

    def _stored_doc(self, raw: Any) -> Any:
        """The document of a stored event row; :class:`~imflow.InvalidHistory` if none."""
        try:
            return self._doc(raw)
        except ValueError:
            raise InvalidHistory("a stored event is no JSON document") from None

    def _lazy_events(self, case_id: str, memo: dict[str, bytes | None]) -> Callable[[Row], Event]:
        """How a prefix row of a load (``(1, seq, _, type, payload)``) is read when the
        case's events are: decoded then, its sealed fields opened then with the keys of
        that load (*memo*), so a load that never reads its old events opens none."""

        def read(row: Row) -> Event:
            raw = row[4]
            doc = self._stored_doc(raw)
            if _may_be_sealed(raw):
                self._opened(case_id, [(f"e{row[1]}", doc)], memo)
            return self._decoder.event(doc)

        return read

    def load(self, case_id: str) -> Case:
        """The case: its latest snapshot plus the events after it, folded.

        Raises :class:`~imflow.CaseNotFound`.
        """
        with self._session():
            return self._load(case_id)

    def _load(self, case_id: str) -> Case:
        if not valid_id(case_id):  # no such case can exist: never ask the database
            raise CaseNotFound(case_id)
        cached = self._cached(case_id)
        have = 0 if cached is None else cached.version
        rows = self._rows("load", {"case_id": case_id, "have": have})
        if not self.LOAD_ORDERED:
            rows.sort()  # (kind, seq) is unique: never compares further; in order already
        facts = split_facts(rows)  # the case's report-facts rows, off the end
        if not rows or rows[0][0] != 0:
            raise CaseNotFound(case_id)
        version = int(rows[0][1])
        self._keep_facts(case_id, version, facts)
        if cached is not None and version == have:
            return cached
        if version < have:  # the database went back (a restore): forget what we knew
            self._forget(case_id)
            return self._load(case_id)
        snapshot, at = rows[0][4], rows[0][2]
        at = 0 if snapshot is None or at is None else int(at)
        if at > version or at == 0 or len(rows) <= at or rows[at][1] != at or rows[1][1] != 1:
            at, snapshot = 0, None  # rows and snapshot disagree: fold every row instead
        # rows 2 .. at (seq 2 .. at, in order and unique, so no gaps) stay raw rows, read
        # (and opened) when someone reads the case's events; the snapshot, the opening
        # row (nearly every command reads it) and the rows after the snapshot are opened
        # now, in one batch: one read of the case's keys for the load
        memo: dict[str, bytes | None] = {}
        tail = [(f"e{r[1]}", self._doc(r[4])) for r in rows[at + 1 :]]
        # only documents with a sealed field are visited to be opened (every sealed
        # field is an object with "c": a row without that text has none)
        docs = [d for d, r in zip(tail, rows[at + 1 :], strict=True) if _may_be_sealed(r[4])]
        opening: tuple[str, Any] | None = None
        if snapshot is not None:
            opening = ("e1", self._stored_doc(rows[1][4]))
            if _may_be_sealed(rows[1][4]):
                docs.append(opening)
            docs.append((f"s{at}", self._doc(snapshot)))
        if docs:
            self._opened(case_id, docs, memo)
        start: Case | None = cached
        if snapshot is not None and opening is not None:
            prefix = rows[1 : at + 1]
            _, seqs, _, types, _ = zip(*prefix, strict=True)
            read = repeat(self._lazy_events(case_id, memo), at)
            # a Pending per row made in C (tuple.__new__, not the named tuple's _make)
            fields = zip(read, prefix, types, seqs, strict=True)
            pending: list[Any] = list(map(tuple.__new__, repeat(Pending), fields))
            pending[0] = self._event(opening[1])
            events: Chain[Event] = Chain._lazy(pending, at)
            start = self._decoder.snapshot(docs[-1][1], events, _contacts_of(events, types))
            if start is None:  # written by an older schema: fold every event instead
                return self._load_all(case_id, version)
        # the store's own rows were admitted when written: fold them without re-deciding
        case = trusted_fold(self.engine, start, [self._event(doc) for _, doc in tail])
        if case.version != version:
            raise InvalidHistory(f"case {case_id!r}: folded version {case.version} != {version}")
        self._remember(case)
        return case

    def _load_all(self, case_id: str, version: int) -> Case:
        rows = self._rows("events", {"case_id": case_id})
        events = self._events_of(case_id, [(int(r[1]), r[0]) for r in rows[:version]])
        case = trusted_fold(self.engine, None, events)
        self._remember(case)
        return case

    def events(self, case_id: str) -> tuple[Event, ...]:
        """The case's events in order; raises :class:`~imflow.CaseNotFound`."""
        if not valid_id(case_id):
            raise CaseNotFound(case_id)
        with self._session():
            rows = self._rows("events", {"case_id": case_id})
            if not rows:
                raise CaseNotFound(case_id)
            return self._events_of(case_id, [(int(r[1]), r[0]) for r in rows])

    def iter_cases(
        self,
        *,
        district: str | None = None,
        provider: str | None = None,
        phase: str | None = None,
        period_end_before: date | None = None,
        open_only: bool = False,
    ) -> Iterator[Case]:
        """The cases that match every given filter, by case id; each loaded when reached."""
        if not all(v is None or valid_id(str(v)) for v in (district, provider, phase)):
            return iter(())  # no case has such a value
        where: list[str] = []
        params: dict[str, Any] = {}
        for name, value in (("district", district), ("provider", provider), ("phase", phase)):
            if value is not None:
                where.append(f"{name} = {self._param(name)}")
                params[name] = str(value)
        if period_end_before is not None:
            where.append(f"period_end < {self._param('before')}")
            params["before"] = self._day(period_end_before)
        if open_only:
            where.append("closed_on IS NULL")
        sql = "SELECT case_id FROM cases"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._session():
            ids = [r[0] for r in self._query(sql + " ORDER BY case_id", params)]
        return self._loaded(ids)

    def due_cases(self, on: date) -> Iterator[Case]:
        """Open cases whose period ended before *on*, through the partial index ``cases_due``."""
        with self._session():
            ids = [r[0] for r in self._rows("due", {"on": self._day(on)})]
        return self._loaded(ids)

    def due_case_ids(self, on: date) -> list[str]:
        """The ids of the open cases whose period ended before *on* (see :func:`imflow.sweep`).

        .. versionadded:: 0.2.0
        """
        with self._session():
            return [r[0] for r in self._rows("due", {"on": self._day(on)})]

    def still_due(self, case_ids: Sequence[str], on: date) -> set[str]:
        """Those of *case_ids* that are still open with their period ended before *on*
        (a sweep skips the others without loading them).

        .. versionadded:: 0.2.0
        """
        found: set[str] = set()
        with self._session():
            for start in range(0, len(case_ids), 500):
                chunk = case_ids[start : start + 500]
                params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(chunk)}
                params["on"] = self._day(on)
                listed = ", ".join(self._param(f"c{i}") for i in range(len(chunk)))
                sql = (
                    "SELECT case_id FROM cases WHERE closed_on IS NULL AND period_end IS NOT NULL"
                    f" AND period_end < {self._param('on')} AND case_id IN ({listed})"
                )
                found.update(r[0] for r in self._query(sql, params))
        return found

    def _loaded(self, ids: list[str]) -> Iterator[Case]:
        for case_id in ids:
            try:
                yield self.load(case_id)
            except CaseNotFound:  # pragma: no cover - cases are never deleted
                continue

    @property
    def outbox(self) -> SqlOutbox:
        """The outbox of committed events (see :class:`imflow.outbox.Runner`)."""
        return self._outbox

    # -- life cycle ------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")

    def close(self) -> None:
        """Release the store's connection or pool (never the host's); using the store
        afterwards raises :class:`RuntimeError`."""
        with self._close_lock:
            if not self._closed:
                self._closed = True
                self._cache.clear()
                self._issued.clear()
                self._source.close()
                if self._owns_keys and self.key_store is not None:
                    self.key_store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SqlOutbox:
    """The outbox tables of a SQL store: written with the events, read by the runner."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def pending(self, *, after: int, limit: int) -> list[OutboxEntry]:
        s = self._store
        with s._session():
            rows = s._rows("outbox_pending", {"after": after, "limit": limit})
        return [OutboxEntry(int(r[0]), r[1], int(r[2]), r[3]) for r in rows]

    def deliveries(self, entries: Sequence[OutboxEntry]) -> dict[tuple[int, str], Delivery]:
        if not entries:
            return {}
        s = self._store
        ids = {e.id for e in entries}
        with s._session():
            rows = s._rows("outbox_deliveries", {"lo": min(ids), "hi": max(ids)})
        found = (self._delivery(r) for r in rows)
        return {(d.entry_id, d.hook): d for d in found if d.entry_id in ids}

    def _delivery(self, r: Row) -> Delivery:
        s = self._store
        error = r[7]
        if error:
            error = open_error(s._sealer, error, r[2], f"o{int(r[0])}/{r[1]}")
        return Delivery(
            entry_id=int(r[0]),
            hook=r[1],
            case_id=r[2],
            seq=int(r[3]),
            event_type=r[4],
            status=r[5],
            attempts=int(r[6]),
            last_error=error,
            updated_at=s._moment_in(r[8]),
            next_attempt_at=None if r[9] is None else s._moment_in(r[9]),
        )

    def record(self, entry: OutboxEntry, deliveries: Sequence[Delivery], *, done: bool) -> None:
        s = self._store
        with s._session():
            errors = [self._sealed_error(d) for d in deliveries]
        rows = [
            {
                "entry_id": d.entry_id,
                "hook": d.hook,
                "case_id": d.case_id,
                "seq": d.seq,
                "event_type": d.event_type,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": error,
                "updated_at": s._moment(d.updated_at),
                "next_attempt_at": None
                if d.next_attempt_at is None
                else s._moment(d.next_attempt_at),
            }
            for d, error in zip(deliveries, errors, strict=True)
        ]
        with s._session(), s._transaction():
            if rows:
                s._exec_many("outbox_upsert", rows)
            if done:
                s._exec("outbox_done", {"id": entry.id})

    def _sealed_error(self, d: Delivery) -> str:
        """A hook's error text as stored: sealed under the case's key when encrypting."""
        s = self._store
        if s._sealer is None or not d.last_error:
            return d.last_error
        rows = s._rows("generation", {"case_id": d.case_id})
        generation = int(rows[0][0]) if rows and rows[0][0] is not None else 0
        place = f"o{d.entry_id}/{d.hook}"
        return s._sealer.seal_text(d.last_error, d.case_id, place, generation)

    def dead_letters(self) -> list[Delivery]:
        s = self._store
        with s._session():
            rows = s._rows("outbox_dead", {})
        return [self._delivery(r) for r in rows]

    def entry(self, entry_id: int) -> OutboxEntry | None:
        s = self._store
        with s._session():
            rows = s._rows("outbox_entry", {"id": entry_id})
        if not rows:
            return None
        r = rows[0]
        return OutboxEntry(int(r[0]), r[1], int(r[2]), r[3])

    def count_pending(self) -> int:
        s = self._store
        with s._session():
            rows = s._rows("outbox_count", {})
        return int(rows[0][0])

    # -- leases, so several runners share the work (see imflow.store._leases) -------------

    def claim(self, case_ids: Iterable[str], *, owner: str, seconds: float) -> set[str]:
        """Lease the cases of *case_ids* that are free (or expired) to *owner*; returns
        the ones *owner* holds now. One short statement per case, in a fixed order."""
        s = self._store
        held: set[str] = set()
        with s._session():
            for case_id in sorted(set(case_ids)):
                params = {"case_id": case_id, "owner": owner, "seconds": float(seconds)}
                if s._rows("lease_claim", params):
                    held.add(case_id)
        return held

    def renew(self, case_id: str, *, owner: str, seconds: float) -> bool:
        """Extend *owner*'s lease of *case_id*; ``False`` if another runner has it now."""
        s = self._store
        params = {"case_id": case_id, "owner": owner, "seconds": float(seconds)}
        with s._session():
            return s._exec("lease_renew", params) == 1

    def release(self, *, owner: str) -> None:
        """Give up every lease *owner* holds."""
        s = self._store
        with s._session():
            s._exec("lease_release", {"owner": owner})

    def status(self, subscriptions: Mapping[str, Sequence[str]] | None = None) -> OutboxStatus:
        """The outbox's figures; per hook from *subscriptions* (hook name → event types)
        and from the failures recorded."""
        s = self._store
        with s._session():
            total, oldest, now = s._rows("outbox_totals", {})[0]
            leased = int(s._rows("outbox_leased", {})[0][0])
            failures = s._rows("outbox_by_hook", {})
            pending: dict[str, tuple[int, Any]] = {}
            for hook, types in (subscriptions or {}).items():
                if not types:
                    pending[hook] = (0, None)
                    continue
                params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(types)}
                params["hook"] = hook
                found = s._query(hook_pending_sql(s._param, len(types)), params)[0]
                pending[hook] = (int(found[0]), found[1])
        now = float(now)
        counts: dict[tuple[str, str], tuple[int, Any]] = {
            (r[0], r[1]): (int(r[2]), r[3]) for r in failures
        }
        hooks = []
        for hook in sorted({*pending, *(h for h, _ in counts)}):
            retrying, retry_since = counts.get((hook, "retry"), (0, None))
            dead, dead_since = counts.get((hook, "dead"), (0, None))
            if hook in pending:
                waiting, since = pending[hook]
            else:
                waiting = None
                since = min((t for t in (retry_since, dead_since) if t is not None), default=None)
            hooks.append(HookStatus(hook, waiting, retrying, dead, age_of(now, since)))
        return OutboxStatus(
            pending=int(total),
            leased=leased,
            dead=sum(h.dead for h in hooks),
            oldest_age=age_of(now, oldest),
            hooks=tuple(hooks),
        )

    def requeue(self, *, hook: str, events: Sequence[tuple[str, int]] | None, now: datetime) -> int:
        """Turn *hook*'s dead letters (all, or those of *events*, ``(case id, seq)``)
        back into deliveries due now, with their attempts reset; returns how many."""
        s = self._store
        moment = s._moment(now)
        count = 0
        with s._session(), s._transaction():
            if events is None:
                return s._exec("outbox_requeue_hook", {"hook": hook, "now": moment})
            for case_id, seq in events:
                for (entry_id,) in s._rows("outbox_find", {"case_id": case_id, "seq": seq}):
                    params = {"hook": hook, "now": moment, "entry_id": int(entry_id)}
                    count += s._exec("outbox_requeue_entry", params)
        return count


def core_schema(*, text: str, day: str, moment: str, json_type: str) -> list[str]:
    """The tables of migration 1 in a backend's types (the schema agreed for key figures)."""
    return [
        f"""CREATE TABLE events (
            case_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            on_date {day} NOT NULL,
            recorded_at {moment} NOT NULL,
            district TEXT NOT NULL,
            provider TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            payload {json_type} NOT NULL,
            PRIMARY KEY (case_id, seq)
        )""",
        f"""CREATE TABLE cases (
            case_id TEXT PRIMARY KEY,
            district TEXT NOT NULL,
            provider TEXT NOT NULL,
            phase TEXT NOT NULL,
            rule_set TEXT NOT NULL,
            opened_on {day} NOT NULL,
            period_end {day},
            closed_on {day},
            version INTEGER NOT NULL,
            snapshot {json_type},
            snapshot_version INTEGER
        )""",
        # due_cases and the deadline sweep touch only open cases with a period end
        "CREATE INDEX cases_due ON cases (period_end)"
        " WHERE closed_on IS NULL AND period_end IS NOT NULL",
        "CREATE INDEX cases_scope ON cases (district, provider, phase)",
        f"""CREATE TABLE case_persons (
            person_ref {text} NOT NULL,
            case_id TEXT NOT NULL,
            PRIMARY KEY (person_ref, case_id)
        )""",
        "CREATE INDEX case_persons_case ON case_persons (case_id)",
        f"""CREATE TABLE idempotency (
            key TEXT PRIMARY KEY,
            case_id TEXT NOT NULL,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            created_at {moment} NOT NULL
        )""",
    ]


def keys_schema(*, moment: str, actor_district: str, actor_provider: str) -> list[str]:
    """Migration 3: idempotency keys namespaced by tenant and bound to their content.

    Keys of an older imflow move over into the tenant of the actor who used them (read
    from the first event they recorded), with no fingerprint: a retry is then compared
    with the events they recorded.
    """
    return [
        f"""CREATE TABLE idempotency_keys (
            district TEXT NOT NULL,
            provider TEXT NOT NULL,
            key TEXT NOT NULL,
            case_id TEXT NOT NULL,
            fingerprint TEXT,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            created_at {moment} NOT NULL,
            PRIMARY KEY (district, provider, key)
        )""",
        "CREATE INDEX idempotency_keys_case ON idempotency_keys (case_id)",
        "INSERT INTO idempotency_keys (district, provider, key, case_id, fingerprint,"
        " first_seq, last_seq, created_at)"
        f" SELECT COALESCE({actor_district}, ''), COALESCE({actor_provider}, ''),"
        " i.key, i.case_id, NULL, i.first_seq, i.last_seq, i.created_at"
        " FROM idempotency i LEFT JOIN events e ON e.case_id = i.case_id AND e.seq = i.first_seq",
        "DROP TABLE idempotency",
    ]


def outbox_schema(*, serial: str, moment: str) -> list[str]:
    """The tables of migration 2: the outbox and the deliveries per hook."""
    return [
        f"""CREATE TABLE outbox (
            id {serial},
            case_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            type TEXT NOT NULL,
            done INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX outbox_pending ON outbox (id) WHERE done = 0",
        f"""CREATE TABLE outbox_deliveries (
            outbox_id BIGINT NOT NULL,
            hook TEXT NOT NULL,
            case_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            event_type TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            updated_at {moment} NOT NULL,
            next_attempt_at {moment},
            PRIMARY KEY (outbox_id, hook)
        )""",
        "CREATE INDEX outbox_dead ON outbox_deliveries (outbox_id) WHERE status = 'dead'",
        "CREATE INDEX outbox_deliveries_case ON outbox_deliveries (case_id)",
    ]


def statements(
    p: Callable[[str], str], *, json_cast: str = "", as_text: str = "", order_load: bool = True
) -> dict[str, str]:
    """The named statements, with *p* turning a name into the backend's placeholder."""
    case_cols = (
        "case_id, district, provider, phase, rule_set, opened_on, period_end, closed_on, version"
    )
    case_vals = ", ".join(p(c.strip()) for c in case_cols.split(","))
    update = (
        f"UPDATE cases SET provider = {p('provider')}, phase = {p('phase')},"
        f" rule_set = {p('rule_set')},"
        f" period_end = {p('period_end')}, closed_on = {p('closed_on')},"
        f" version = {p('version')}"
    )
    where = f" WHERE case_id = {p('case_id')} AND version = {p('expected')}"
    return {
        "insert_case": (
            f"INSERT INTO cases ({case_cols}, snapshot, snapshot_version)"
            f" VALUES ({case_vals}, {p('snapshot')}{json_cast}, {p('snapshot_version')})"
            " ON CONFLICT (case_id) DO NOTHING"
        ),
        "update_case": update + where,
        "update_case_snapshot": (
            update + f", snapshot = {p('snapshot')}{json_cast},"
            f" snapshot_version = {p('snapshot_version')}" + where
        ),
        # the same when none of the indexed columns changed: SQLite then leaves the case
        # row's indexes alone (it updates every index of a column named in SET), so an
        # append writes fewer pages; PostgreSQL decides that by value either way
        "update_version": f"UPDATE cases SET version = {p('version')}" + where,
        "update_version_snapshot": (
            f"UPDATE cases SET version = {p('version')}, snapshot = {p('snapshot')}{json_cast},"
            f" snapshot_version = {p('snapshot_version')}" + where
        ),
        "insert_event": (
            "INSERT INTO events (case_id, seq, type, on_date, recorded_at, district, provider,"
            " schema_version, payload) VALUES ("
            f"{p('case_id')}, {p('seq')}, {p('type')}, {p('on_date')}, {p('recorded_at')},"
            f" {p('district')}, {p('provider')}, {p('schema_version')}, {p('payload')}{json_cast})"
        ),
        "insert_outbox": (
            "INSERT INTO outbox (case_id, seq, type)"
            f" VALUES ({p('case_id')}, {p('seq')}, {p('type')})"
        ),
        "insert_person": (
            "INSERT INTO case_persons (person_ref, case_id)"
            f" VALUES ({p('person_ref')}, {p('case_id')})"
            " ON CONFLICT DO NOTHING"
        ),
        "insert_key": (
            "INSERT INTO idempotency_keys (district, provider, key, case_id, fingerprint,"
            " first_seq, last_seq, created_at) VALUES ("
            f"{p('district')}, {p('provider')}, {p('key')}, {p('case_id')}, {p('fingerprint')},"
            f" {p('first_seq')}, {p('last_seq')}, {p('created_at')})"
        ),
        "recall": (
            "SELECT case_id, first_seq, last_seq, fingerprint FROM idempotency_keys"
            f" WHERE district = {p('district')} AND provider = {p('provider')}"
            f" AND key = {p('key')}"
        ),
        "forget_keys": (
            f"UPDATE idempotency_keys SET fingerprint = {p('erased')}"
            f" WHERE case_id = {p('case_id')}"
        ),
        "version": f"SELECT version FROM cases WHERE case_id = {p('case_id')}",
        "event_range": (
            f"SELECT payload, seq FROM events WHERE case_id = {p('case_id')}"
            f" AND seq BETWEEN {p('first')} AND {p('last')} ORDER BY seq"
        ),
        "events": f"SELECT payload, seq FROM events WHERE case_id = {p('case_id')} ORDER BY seq",
        # one statement, so the case row and the events come from one consistent snapshot;
        # the snapshot document is sent only when it is newer than the caller's cached case
        # the snapshot is sent only to a caller with nothing cached; the events before
        # it come as raw text, decoded only when the case's events are read
        "load": (
            "SELECT 0, c.version, c.snapshot_version, NULL,"
            f" CASE WHEN {p('have')} = 0 THEN c.snapshot{as_text} END"
            f" FROM cases c WHERE c.case_id = {p('case_id')}"
            " UNION ALL"
            f" SELECT 1, e.seq, NULL, e.type, e.payload{as_text} FROM events e"
            f" WHERE e.case_id = {p('case_id')} AND e.seq > {p('have')}"
            # the case's last two report-facts rows, for its next append (FactsMemo)
            + facts_of_load(p)
            + (" ORDER BY 1, 2" if order_load else "")
        ),
        "due": (
            "SELECT case_id FROM cases WHERE closed_on IS NULL AND period_end IS NOT NULL"
            f" AND period_end < {p('on')} ORDER BY period_end, case_id"
        ),
        "person_cases": (
            "SELECT DISTINCT case_id FROM case_persons"
            f" WHERE person_ref = {p('person_ref')} ORDER BY case_id"
        ),
        "rewrite_payload": (
            f"UPDATE events SET payload = {p('payload')}{json_cast}"
            f" WHERE case_id = {p('case_id')} AND seq = {p('seq')}"
        ),
        "forget_case_persons": f"DELETE FROM case_persons WHERE case_id = {p('case_id')}",
        "forget_errors": (
            f"UPDATE outbox_deliveries SET last_error = {p('erased')}"
            f" WHERE case_id = {p('case_id')} AND last_error <> ''"
        ),
        "outbox_pending": (
            "SELECT id, case_id, seq, type FROM outbox"
            f" WHERE done = 0 AND id > {p('after')} ORDER BY id LIMIT {p('limit')}"
        ),
        "outbox_deliveries": (
            "SELECT outbox_id, hook, case_id, seq, event_type, status, attempts, last_error,"
            " updated_at, next_attempt_at FROM outbox_deliveries"
            f" WHERE outbox_id BETWEEN {p('lo')} AND {p('hi')}"
        ),
        "outbox_upsert": (
            "INSERT INTO outbox_deliveries (outbox_id, hook, case_id, seq, event_type, status,"
            " attempts, last_error, updated_at, next_attempt_at) VALUES ("
            f"{p('entry_id')}, {p('hook')}, {p('case_id')}, {p('seq')}, {p('event_type')},"
            f" {p('status')}, {p('attempts')}, {p('last_error')}, {p('updated_at')},"
            f" {p('next_attempt_at')}) ON CONFLICT (outbox_id, hook) DO UPDATE SET"
            " status = excluded.status, attempts = excluded.attempts,"
            " last_error = excluded.last_error, updated_at = excluded.updated_at,"
            " next_attempt_at = excluded.next_attempt_at"
        ),
        "outbox_done": f"UPDATE outbox SET done = 1 WHERE id = {p('id')}",
        "outbox_dead": (
            "SELECT outbox_id, hook, case_id, seq, event_type, status, attempts, last_error,"
            " updated_at, next_attempt_at FROM outbox_deliveries WHERE status = 'dead'"
            " ORDER BY outbox_id, hook"
        ),
        "outbox_entry": f"SELECT id, case_id, seq, type FROM outbox WHERE id = {p('id')}",
        "outbox_count": "SELECT count(*) FROM outbox WHERE done = 0",
        "migration_version": "SELECT max(version) FROM imflow_migrations",
    }
