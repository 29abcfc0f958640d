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
    "ImflowError",
    "InvalidDocument",
    "InvalidWorkflow",
    "Rejected",
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
