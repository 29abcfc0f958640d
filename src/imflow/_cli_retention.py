"""Private: ``imflow sweep --retention [--dry-run]``: erase (or list) the personal content
that is due."""

from __future__ import annotations

from datetime import date

from imflow.enums import Lang
from imflow.i18n import Messages
from imflow.retention import due, sweep
from imflow.store import SQLiteStore

__all__ = ["retention_listing", "retention_sweep"]


def retention_sweep(store: SQLiteStore, on: date, lang: Lang) -> str:
    """Erase what is due on *on* (:func:`imflow.retention.sweep`); the line to print."""
    done = sweep(store, on=on)
    return Messages.default().say("cli.sweep.erased", lang, n=len(done), on=on)


def retention_listing(store: SQLiteStore, on: date, lang: Lang) -> str:
    """The cases a retention sweep on *on* would erase, a line each, and a summary line
    (:func:`imflow.retention.due`; nothing is changed)."""
    messages = Messages.default()
    found = due(store, on=on)
    lines = [
        messages.say("cli.sweep.would_erase_case", lang, case_id=d.case_id, closed_on=d.closed_on)
        for d in found
    ]
    lines.append(messages.say("cli.sweep.would_erase", lang, n=len(found), on=on))
    return "\n".join(lines)
