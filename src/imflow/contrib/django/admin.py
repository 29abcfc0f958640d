"""A read-only admin of case histories, pseudonyms only.

The list shows the ``cases`` table's statistical columns; a case's page adds its
history, one row per event, with every personal field (person and member references,
notes, descriptions, justifications) removed: each event is pseudonymised
(:func:`imflow.access.pseudonymise`) and its document redacted
(:func:`imflow.logging.redact_personal_data`) before anything is shown. Nobody can add,
change or delete anything here; the store alone writes.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from imflow.access import pseudonymise
from imflow.contrib.django import get_store
from imflow.contrib.django.models import CaseRecord
from imflow.logging import redact_personal_data
from imflow.serialization import to_document

__all__ = ["CaseRecordAdmin", "history_rows"]

_SHOWN_APART = frozenset({"type", "schema_version", "case_id", "seq", "on", "recorded_at"})


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def history_rows(case_id: str) -> list[tuple[str, str, str, str, str]]:
    """``(seq, on, type, actor, details)`` of each event of the case, nothing personal."""
    rows = []
    for event in get_store().load(case_id).events:
        doc = dict(redact_personal_data(None, "view", to_document(pseudonymise(event))))
        actor = doc.pop("actor", {}) or {}
        details = ", ".join(
            f"{key}={_plain(value)}" for key, value in doc.items() if key not in _SHOWN_APART
        )
        who = f"{actor.get('role', '')} {actor.get('id', '')}".strip()
        rows.append((str(event.seq), event.on.isoformat(), event.type, who, details))
    return rows


@admin.register(CaseRecord)
class CaseRecordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Case histories for staff with the view permission; read-only."""

    list_display = (
        "case_id",
        "district",
        "provider",
        "phase",
        "rule_set",
        "opened_on",
        "period_end",
        "closed_on",
        "version",
    )
    list_filter = ("phase", "district", "provider")
    search_fields = ("case_id",)
    fields = (*list_display, "history")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Verlauf / history")
    def history(self, obj: CaseRecord) -> str:
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            history_rows(obj.case_id),
        )
        return format_html(
            '<table class="imflow-history"><thead><tr><th>#</th><th>am / on</th>'
            "<th>Ereignis / event</th><th>von / by</th><th>Angaben / details</th>"
            "</tr></thead><tbody>{}</tbody></table>",
            body,
        )
