"""The exceptions imflow raises.

Every exception derives from :class:`ImflowError`; where a builtin matches, the
exception subclasses it too, so ``except ValueError`` keeps working in hosts that
do not know imflow.

>>> issubclass(InvalidDocument, ValueError)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imflow.reasons import Reason

__all__ = [
    "CaseNotFound",
    "ConcurrencyConflict",
    "Forbidden",
    "IdempotencyKeyReused",
    "ImflowError",
    "InvalidClock",
    "InvalidDocument",
    "InvalidHistory",
    "InvalidWorkflow",
    "MasterKeyMismatch",
    "MasterKeyMissing",
    "OutOfBounds",
    "Rejected",
    "SchemaMissing",
    "SchemaOutdated",
    "SchemaTooNew",
    "StoreError",
    "WorkflowMismatch",
]


class ImflowError(Exception):
    """Base class of every error imflow raises."""


class Rejected(ImflowError):
    """A command was refused; nothing changed.

    ``reasons`` holds every failing guard, never just the first.

    >>> from imflow.reasons import Reason
    >>> err = Rejected((Reason.of("no_needs"),), command_type="start_planning")
    >>> err.codes
    ('no_needs',)
    """

    reasons: tuple[Reason, ...]
    command_type: str
    case_id: str | None

    def __init__(
        self,
        reasons: Sequence[Reason],
        *,
        command_type: str = "",
        case_id: str | None = None,
    ) -> None:
        if not reasons:
            raise ValueError("Rejected needs at least one reason")
        self.reasons = tuple(reasons)
        self.command_type = command_type
        self.case_id = case_id
        codes = ", ".join(self.codes)
        where = f" on case {case_id!r}" if case_id else ""
        super().__init__(f"{command_type or 'command'} rejected{where}: {codes}")

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in the order the guards reported them."""
        return tuple(r.code for r in self.reasons)


class InvalidWorkflow(ImflowError, ValueError):
    """A workflow definition is inconsistent; ``problems`` lists every finding."""

    problems: tuple[str, ...]

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid workflow: " + "; ".join(self.problems))


class InvalidDocument(ImflowError, ValueError):
    """A JSON document (or a Python value standing in for one) is malformed.

    ``path`` names the offending field, for example ``$.household`` or ``$.goals[2].area``.
    """

    path: str

    def __init__(self, message: str, *, path: str = "$") -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


class ConcurrencyConflict(ImflowError):
    """Another writer appended to the case first; nothing was written."""

    case_id: str
    expected: int
    actual: int

    def __init__(self, case_id: str, *, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"case {case_id!r} is at version {actual}, expected {expected}: "
            "reload the case and retry the command"
        )


class CaseNotFound(ImflowError, KeyError):
    """The store holds no case with this id."""

    case_id: str

    def __init__(self, case_id: str) -> None:
        self.case_id = case_id
        super().__init__(case_id)

    def __str__(self) -> str:
        from imflow._bounds import id_problem

        if type(self.case_id) is not str or id_problem(self.case_id):
            return "no case with this id (it is no valid case id)"  # never quote it
        return f"no case {self.case_id!r}"


class WorkflowMismatch(ImflowError):
    """A case was recorded under a different workflow definition than the engine runs."""

    case_id: str
    recorded: str
    current: str

    def __init__(self, case_id: str, *, recorded: str, current: str) -> None:
        self.case_id = case_id
        self.recorded = recorded
        self.current = current
        super().__init__(
            f"case {case_id!r} was recorded under workflow {recorded}, the engine runs {current}"
        )


class InvalidHistory(ImflowError, ValueError):
    """A sequence of events does not form one case's history the engine could have recorded.

    Raised by :meth:`imflow.store.Store.append` (nothing is written then),
    :meth:`imflow.Engine.replay` and :meth:`imflow.Engine.evolve`. The message names the
    event by type and position and the rule it breaks, never a personal value.

    .. versionchanged:: 0.2.0 moved here from :mod:`imflow.engine` (still importable there).
    """


class IdempotencyKeyReused(ImflowError, ValueError):
    """An idempotency key was sent again for a different request.

    A key is bound to the case, the actor and the content of its first use; the message
    says nothing about that first use.

    .. versionadded:: 0.2.0
    """

    def __init__(self) -> None:
        super().__init__(
            "this idempotency key was already used for a different request; "
            "use a new key for a new request"
        )


class Forbidden(ImflowError, PermissionError):
    """The actor may not read or change this case or report (domain.md § 6).

    ``reasons`` holds the ``forbidden`` reason; a web host answers 404 for a case outside
    the actor's scope, so that it does not even learn that the case exists.

    >>> str(Forbidden("coordinator", "read"))
    'forbidden: the role coordinator may not read this'

    .. versionadded:: 0.2.0
    """

    reasons: tuple[Reason, ...]
    role: str
    action: str

    def __init__(self, role: str, action: str) -> None:
        from imflow.reasons import Reason

        self.role = role
        self.action = action
        self.reasons = (Reason.of("forbidden", role=role, command=action),)
        super().__init__(f"forbidden: the role {role} may not {action} this")

    @property
    def codes(self) -> tuple[str, ...]:
        """``("forbidden",)``, like :attr:`Rejected.codes`."""
        return tuple(r.code for r in self.reasons)


class InvalidClock(ImflowError, ValueError):
    """The engine's clock returned something imflow cannot work with.

    Clocks must return timezone-aware datetimes whose date lies within the bounds of
    domain.md § 8 (2018-01-01 to 2099-12-31).

    .. versionadded:: 0.2.0
    """


class OutOfBounds(ImflowError, ValueError):
    """An argument of a library call lies outside the bounds of domain.md § 8.

    ``field`` names the argument; the message says what is allowed, never the value.

    >>> str(OutOfBounds("on", "must be a date from 2018-01-01 to 2099-12-31"))
    'on: must be a date from 2018-01-01 to 2099-12-31'

    .. versionadded:: 0.2.0
    """

    field: str

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field}: {problem}")


class StoreError(ImflowError, RuntimeError):
    """The database refused a statement that imflow did not expect it to refuse.

    The message names the driver's error class and code only: the statement's
    parameters and the server's detail text (which may quote personal content) are
    never part of it, and the driver's exception is not chained.

    .. versionadded:: 0.2.0
    """


class MasterKeyMissing(ImflowError, LookupError):
    """No master key was configured where one is required (see :mod:`imflow.keys`).

    Pass ``master_key=``, or set ``IMFLOW_MASTER_KEY`` (the key as base64) or
    ``IMFLOW_MASTER_KEY_FILE`` (a file holding it).

    .. versionadded:: 0.2.0
    """


class MasterKeyMismatch(ImflowError, ValueError):
    """The master key does not open the key store (another key, or a damaged store).

    .. versionadded:: 0.2.0
    """


class SchemaTooNew(ImflowError, RuntimeError):
    """The database was migrated by a newer imflow than this one; nothing was changed."""


class SchemaOutdated(ImflowError, RuntimeError):
    """The database's imflow schema is older than this imflow needs; nothing was changed.

    ``current`` is the database's schema version, ``latest`` the one this imflow needs.
    The message says what to run (``imflow migrate``, or ``imflow schema-sql`` for a
    DBA); it never quotes the connection string.

    .. versionadded:: 0.2.0
    """

    current: int
    latest: int

    def __init__(self, current: int, latest: int, *, how: str) -> None:
        self.current = current
        self.latest = latest
        super().__init__(self._what() + "; " + how)

    def _what(self) -> str:
        return (
            f"the database is at imflow schema version {self.current}, "
            f"this imflow needs version {self.latest}"
        )


class SchemaMissing(SchemaOutdated):
    """The database has no imflow tables at all (schema version 0); nothing was created.

    .. versionadded:: 0.2.0
    """

    def __init__(self, latest: int, *, how: str) -> None:
        super().__init__(0, latest, how=how)

    def _what(self) -> str:
        return "the database has no imflow tables"
