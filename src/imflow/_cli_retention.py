"""Private: ``imflow sweep --retention``: erase the personal content that is due."""

from __future__ import annotations

from datetime import date

from imflow.enums import Lang
from imflow.i18n import Messages
from imflow.retention import sweep
from imflow.store import SQLiteStore

__all__ = ["retention_sweep"]


def retention_sweep(store: SQLiteStore, on: date, lang: Lang) -> str:
    """Erase what is due on *on* (:func:`imflow.retention.sweep`); the line to print."""
    done = sweep(store, on=on)
    return Messages.default().say("cli.sweep.erased", lang, n=len(done), on=on)
