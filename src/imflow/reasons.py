"""Reasons: why a command is refused, with a stable code, typed parameters and messages.

Guards never answer just ``False``; they return reasons. The same reasons drive
:class:`imflow.Rejected` and :meth:`imflow.Engine.allowed`, so a user interface can
explain what is possible next.

A reason keeps its **code and parameters** (dates, numbers, codes); its message is
rendered only when asked for, in the language asked for, from the message catalogue
(:class:`imflow.i18n.Messages`): German dates ``01.03.2025``, decimal commas, and the
labels of phases and commands instead of their codes.

>>> from datetime import date
>>> r = Reason.of("invalid_in_phase", command="agree_plan", phase="intake")
>>> r.code, dict(r.params)
('invalid_in_phase', {'command': 'agree_plan', 'phase': 'intake'})
>>> r.message("de")
'„Integrationsplan vereinbaren“ ist in der Phase „Erstkontakt / Aufnahme“ nicht zulässig.'
>>> Reason.of("period_ended", period_end=date(2028, 2, 29)).message("en")
'The counselling period ended on 2028-02-29; only closing is still possible.'

A host words a message its own way, or adds a language, with its own
:class:`~imflow.i18n.Messages` and passes it in (nothing global changes):

>>> from imflow.i18n import Messages
>>> ours = Messages.default().with_overrides({"de": {"reason.no_goals": "Bitte Ziele eintragen."}})
>>> Reason.of("no_goals").message("de", messages=ours)
'Bitte Ziele eintragen.'

Reasons of a host's own policy carry their own code and their own templates:

>>> own = Reason.custom(
...     "letter_missing",
...     {"de": "Das Anschreiben vom {on} fehlt.", "en": "The letter of {on} is missing."},
...     on=date(2025, 3, 1),
... )
>>> own.message("de")
'Das Anschreiben vom 01.03.2025 fehlt.'

.. versionadded:: 0.1.0
.. versionchanged:: 0.2.0
   Reasons keep code and parameters and render lazily; :meth:`Reason.of` raises
   :class:`ValueError` for a code the catalogue does not know.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from imflow.i18n import LABEL_KINDS, Lang, Messages, placeholders

__all__ = ["CATALOGUE", "Reason"]

_PREFIX = "reason."


class _Catalogue(Mapping[str, tuple[str, str]]):
    """Every built-in reason code → its German and English template (read-only)."""

    def _messages(self) -> Messages:
        return Messages.default()

    def _codes(self) -> tuple[str, ...]:
        return self._messages().codes("reason")

    def __getitem__(self, code: str) -> tuple[str, str]:
        m = self._messages()
        key = _PREFIX + code
        if "." in code or not m.has(key):
            raise KeyError(code)
        return m.template(key, "de"), m.template(key, "en")

    def __iter__(self) -> Iterator[str]:
        return iter(self._codes())

    def __len__(self) -> int:
        return len(self._codes())

    def __repr__(self) -> str:
        return f"<reason catalogue: {len(self)} codes>"


CATALOGUE: Mapping[str, tuple[str, str]] = _Catalogue()
"""Every built-in reason code with its German and English message template, read from
the message catalogue (``reason.<code>`` in ``imflow/locale/*/LC_MESSAGES/imflow.po``)."""


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _param_names(params: Mapping[str, Any]) -> str:
    return f"<{', '.join(params)}>" if params else "{}"


def _own_templates(templates: Mapping[str, str]) -> str:
    return f"<{', '.join(sorted(templates))}>" if templates else "{}"


@attrs.frozen(init=False)
class Reason:
    """One reason a command is refused: a stable ``code`` and typed ``params``.

    The message is rendered from the catalogue key ``reason.<code>`` (or, when
    ``params`` has a ``variant``, ``reason.<code>.<variant>``), unless the reason
    carries ``templates`` of its own (a host's reason, see :meth:`custom`).

    ``Reason(code, german, english)`` is kept as the short form of a host reason with
    fixed texts. ``repr`` shows the parameter names, never their values.
    """

    code: str
    params: Mapping[str, Any] = attrs.field(repr=_param_names, hash=False)
    templates: Mapping[str, str] = attrs.field(repr=_own_templates, hash=False)

    def __init__(
        self,
        code: str,
        message_de: str | None = None,
        message_en: str | None = None,
        /,
        *,
        params: Mapping[str, Any] | None = None,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        own = dict(templates or {})
        if message_de is not None:
            own["de"] = message_de
        if message_en is not None:
            own["en"] = message_en
        self.__attrs_init__(code, _frozen(params), _frozen(own))

    @classmethod
    def of(cls, code: str, /, **params: Any) -> Reason:
        """A reason of the built-in catalogue, with its parameters.

        Raises :class:`ValueError` for a code the catalogue does not know, or when a
        parameter its message needs is missing.

        >>> Reason.of("no_goals").message_de
        'Der Integrationsplan enthält keine Zielvereinbarung.'
        >>> Reason.of("my_own_code")
        Traceback (most recent call last):
        ...
        ValueError: unknown reason code 'my_own_code': ...
        """
        key = _key(code, params)
        needed = _needed(key)
        if needed is None:
            if _needed(_PREFIX + code) is None:
                raise ValueError(
                    f"unknown reason code {code!r}: imflow's codes are listed in "
                    "imflow.reasons.CATALOGUE; for a code of your own use "
                    "Reason.custom(code, {'de': ..., 'en': ...}, **params)"
                )
            raise ValueError(f"reason {code!r} has no variant {params.get('variant')!r}")
        for name, kind in LABEL_KINDS.items():  # a label with placeholders of its own
            value = params.get(name)
            if isinstance(value, str):
                needed = needed | (_needed(f"{kind}.{value}") or frozenset())
        missing = needed - params.keys()
        if missing:
            raise ValueError(f"reason {code!r} needs the parameter(s) {', '.join(sorted(missing))}")
        return cls(code, params=params)

    @classmethod
    def custom(cls, code: str, templates: Mapping[str, str], /, **params: Any) -> Reason:
        """A reason with a code of the host's own and its own message templates.

        *templates* maps a language to a template with ``{name}`` placeholders; the
        values are rendered like imflow's own (dates, numbers, labels).
        """
        if not templates:
            raise ValueError(f"reason {code!r} needs at least one message template")
        for template in templates.values():
            missing = placeholders(template) - params.keys()
            if missing:
                raise ValueError(
                    f"reason {code!r} needs the parameter(s) {', '.join(sorted(missing))}"
                )
        return cls(code, params=params, templates=templates)

    def message(self, lang: Lang = "en", *, messages: Messages | None = None) -> str:
        """The message in *lang* (a host's *messages* win over imflow's catalogue)."""
        m = messages or Messages.default()
        if not self.templates:
            return m.say(_key(self.code, self.params), lang, **self.params)
        tag = m.resolve(lang)
        template = self.templates.get(tag) or self.templates.get(tag.split("-")[0])
        if template is None:
            template = self.templates.get(m.fallback) or next(iter(self.templates.values()))
        return m.render(template, tag, self.params)

    @property
    def message_de(self) -> str:
        """The German message."""
        return self.message("de")

    @property
    def message_en(self) -> str:
        """The English message."""
        return self.message("en")

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready document: code and parameters (dates as ISO text, numbers as
        numbers, enum members as their codes).

        >>> Reason.of("date_in_future", on=date(2025, 3, 2), today=date(2025, 3, 1)).to_document()
        {'code': 'date_in_future', 'params': {'on': '2025-03-02', 'today': '2025-03-01'}}
        """
        document: dict[str, Any] = {
            "code": self.code,
            "params": {k: _json_value(v) for k, v in self.params.items()},
        }
        if self.templates:
            document["templates"] = dict(self.templates)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Reason:
        """The reason :meth:`to_document` wrote (ISO dates become dates again).

        >>> doc = Reason.of("period_ended", period_end=date(2028, 2, 29)).to_document()
        >>> Reason.from_document(doc).message("de")
        'Der Beratungszeitraum endete am 29.02.2028; nur noch der Abschluss ist möglich.'
        """
        code = document.get("code")
        params = document.get("params", {})
        templates = document.get("templates")
        if not isinstance(code, str) or not isinstance(params, Mapping):
            raise ValueError("a reason document has a code (text) and params (an object)")
        values = {str(k): _from_json(v) for k, v in params.items()}
        if templates is not None:
            if not isinstance(templates, Mapping):
                raise ValueError("a reason document's templates are an object")
            return cls.custom(code, {str(k): str(v) for k, v in templates.items()}, **values)
        return cls.of(code, **values)

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"


@functools.cache
def _needed(key: str) -> frozenset[str] | None:
    """The parameters the built-in message *key* needs (``None``: no such message)."""
    messages = Messages.default()
    if not messages.has(key):
        return None
    return placeholders(messages.template(key, messages.fallback))


def _key(code: str, params: Mapping[str, Any]) -> str:
    variant = params.get("variant")
    return f"{_PREFIX}{code}.{variant}" if variant else _PREFIX + code


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value
