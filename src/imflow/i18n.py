"""Words people read: one message catalogue, German and English, formatted per locale.

Every user-facing word of imflow (reason messages, phase, command and enum labels, the
command line, report labels, the simulation summary) lives in one gettext catalogue,
``imflow/locale/<lang>/LC_MESSAGES/imflow.po``, under a stable dotted key
(``reason.no_goals``, ``phase.intake``, ``cli.simulate.cases``). A wheel ships the
compiled ``.mo`` files; a source checkout reads the ``.po`` files directly.

:class:`Messages` is an immutable value that a host builds and passes around: it can
**override** any message and **add a language** without forking imflow, and nothing
global changes.

>>> m = Messages.default()
>>> m.say("phase.intake", "de")
'Erstkontakt / Aufnahme'
>>> m.say("reason.period_ended", "de", period_end=date(2028, 2, 29))
'Der Beratungszeitraum endete am 29.02.2028; nur noch der Abschluss ist möglich.'
>>> m.number(16.83, "de", digits=1), m.number(6442, "de"), m.date(date(2025, 3, 1), "de")
('16,8', '6.442', '01.03.2025')
>>> ours = m.with_overrides({"de": {"phase.intake": "Aufnahme"}})
>>> ours.say("phase.intake", "de-DE"), m.say("phase.intake", "de")
('Aufnahme', 'Erstkontakt / Aufnahme')

Templates use Python's ``{name}`` placeholders (``{name:.1f}`` for a number with one
decimal, ``{name!r}`` for a quoted raw value). Values are rendered per language: a
:class:`~datetime.date` in the language's ``format.date`` pattern (German
``01.03.2025``), numbers with the locale's decimal and group separators, enum members
as their labels, and a text value of a parameter named ``command``, ``phase``,
``reason``, ``role``, ``field``, ``problem``, ``area``, ``status`` or ``channel`` as the
label of that code (``agree_plan`` → „Integrationsplan vereinbaren“).

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import enum
import functools
import re
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs

__all__ = ["DOMAIN", "LABEL_KINDS", "Lang", "Messages", "parse_lang", "placeholders"]

Lang: TypeAlias = str
"""A language tag: ``"de"`` and ``"en"`` are built in, a host adds others with
:meth:`Messages.with_language`. Any ``str`` is accepted where a ``Lang`` is expected, so
a value from an HTTP header needs no cast; :func:`parse_lang` checks and normalises it,
and :meth:`Messages.resolve` says clearly when no messages exist in that language."""

DOMAIN = "imflow"
"""The gettext domain of imflow's catalogue (``imflow.po`` / ``imflow.mo``)."""

LABEL_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "area": "life_area",
        "channel": "channel",
        "command": "command",
        "field": "field",
        "phase": "phase",
        "problem": "problem",
        "reason": "closure_reason",
        "role": "role",
        "status": "goal_status",
    }
)
"""Parameters whose text value is a code with a label: parameter name → key prefix
(``{phase}`` with ``"intake"`` renders ``phase.intake``; an unknown code shows as is)."""

_TAG = re.compile(r"^([a-z]{2,3})(?:-([a-z0-9]{2,8}))*$")
_PLACEHOLDER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENUM_KINDS: Mapping[str, str] = {
    "Phase": "phase",
    "LifeArea": "life_area",
    "GoalStatus": "goal_status",
    "ClosureReason": "closure_reason",
    "Role": "role",
    "Channel": "channel",
    "ConsentStatus": "consent_status",
}


def parse_lang(value: object) -> Lang:
    """A language tag from a plain string, normalised: ``"de_DE"`` → ``"de-de"``.

    Raises :class:`ValueError` for anything that is not a language tag.

    >>> parse_lang("DE"), parse_lang("de_AT"), parse_lang(" uk ")
    ('de', 'de-at', 'uk')
    >>> parse_lang("deutsch!")
    Traceback (most recent call last):
    ...
    ValueError: not a language tag: 'deutsch!' (expected e.g. 'de', 'en' or 'uk')
    """
    text = value.strip().lower().replace("_", "-") if isinstance(value, str) else ""
    if not _TAG.match(text):
        shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
        raise ValueError(f"not a language tag: {shown} (expected e.g. 'de', 'en' or 'uk')")
    return text


def placeholders(template: str) -> frozenset[str]:
    """The parameter names a template uses.

    >>> sorted(placeholders("{requested} of {remaining:.1f} {x!r}"))
    ['remaining', 'requested', 'x']
    """
    names = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            if not _PLACEHOLDER.match(name):
                raise ValueError(f"placeholder {{{name}}} is not a plain name")
            names.add(name)
    return frozenset(names)


def _frozen_catalogs(
    value: Mapping[str, Mapping[str, str]],
) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({lang: MappingProxyType(dict(m)) for lang, m in value.items()})


@attrs.frozen
class Messages:
    """Message templates by language and key; immutable, built by the host and passed in.

    ``catalogs`` maps a language tag to ``{key: template}``. A key missing in one
    language falls back to the ``fallback`` language (English), so a partial
    translation still renders. Build one with :meth:`default` and refine it with
    :meth:`with_overrides`, :meth:`with_language` or :meth:`with_po`.

    .. versionadded:: 0.2.0
    """

    catalogs: Mapping[str, Mapping[str, str]] = attrs.field(
        converter=_frozen_catalogs, repr=lambda c: f"<{', '.join(sorted(c))}>"
    )
    fallback: Lang = "en"

    @classmethod
    def default(cls) -> Messages:
        """imflow's own catalogue in German and English (read once, then shared)."""
        return _builtin()

    @classmethod
    def from_po(cls, path: str | Path, *, lang: Lang) -> Messages:
        """imflow's catalogue plus the messages of one ``.po`` file in *lang*.

        Shorthand for ``Messages.default().with_po(path, lang=lang)``.
        """
        return cls.default().with_po(path, lang=lang)

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages that have messages, sorted."""
        return tuple(sorted(self.catalogs))

    def resolve(self, lang: object) -> Lang:
        """The language of the catalogue that answers for *lang*: the exact tag, else its
        primary language (``"de-AT"`` → ``"de"``).

        Raises :class:`ValueError` when no messages exist in that language.
        """
        tag = parse_lang(lang)
        if tag in self.catalogs:
            return tag
        primary = tag.split("-")[0]
        if primary in self.catalogs:
            return primary
        raise ValueError(
            f"no messages in {tag!r} (available: {', '.join(self.languages)}); "
            f"add a language with Messages.with_language({tag!r}, ...) or with_po()"
        )

    def choose(self, accept_language: str | None, *, default: Lang = "de") -> Lang:
        """The best available language for an HTTP ``Accept-Language`` header.

        >>> Messages.default().choose("fr-CH, en;q=0.8, de;q=0.7")
        'en'
        >>> Messages.default().choose(None)
        'de'
        """
        ranked: list[tuple[float, int, str]] = []
        for position, part in enumerate((accept_language or "").split(",")):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            for param in params.split(";"):
                key, _, value = param.strip().partition("=")
                if key == "q":
                    try:
                        quality = float(value)
                    except ValueError:
                        quality = 0.0
            ranked.append((-quality, position, tag))
        for negative_quality, _, tag in sorted(ranked):
            if negative_quality >= 0:
                break
            try:
                return self.resolve(tag)
            except ValueError:
                continue
        return self.resolve(default)

    # -- building ------------------------------------------------------------------

    def with_overrides(self, overrides: Mapping[str, Mapping[str, str]]) -> Messages:
        """A copy with some messages replaced (or keys of the host's own added).

        *overrides* maps a language to ``{key: template}``. An override of an existing
        key may only use that message's placeholders (a typo would fail later, in front
        of a user, so it fails here).

        >>> m = Messages.default().with_overrides({"en": {"phase.intake": "First contact"}})
        >>> m.say("phase.intake", "en")
        'First contact'
        """
        merged = {lang: dict(messages) for lang, messages in self.catalogs.items()}
        for lang, messages in overrides.items():
            tag = self.resolve(lang)
            self._check(tag, messages)
            merged[tag].update(messages)
        return attrs.evolve(self, catalogs=merged)

    def with_language(self, lang: Lang, messages: Mapping[str, str]) -> Messages:
        """A copy that also speaks *lang* (or with more messages in it).

        Keys the new language lacks fall back to English.

        >>> uk = Messages.default().with_language("uk", {"phase.intake": "Перший контакт"})
        >>> uk.say("phase.intake", "uk"), uk.say("phase.closed", "uk")
        ('Перший контакт', 'Closed')
        """
        tag = parse_lang(lang)
        _locale(tag)  # Babel must know how to write its dates and numbers
        self._check(tag, messages)
        merged = {code: dict(m) for code, m in self.catalogs.items()}
        merged.setdefault(tag, {}).update(messages)
        return attrs.evolve(self, catalogs=merged)

    def with_po(self, path: str | Path, *, lang: Lang) -> Messages:
        """A copy with the translated messages of a ``.po`` file in *lang* (a new language
        or overrides of an existing one). Untranslated and fuzzy entries are skipped."""
        from babel.messages.pofile import read_po

        with Path(path).open("rb") as handle:
            catalog = read_po(handle, locale=None)
        found = {
            str(m.id): str(m.string)
            for m in catalog
            if m.id and isinstance(m.id, str) and isinstance(m.string, str) and m.string
            if not m.fuzzy
        }
        return self.with_language(lang, found)

    def _check(self, lang: Lang, messages: Mapping[str, str]) -> None:
        problems = []
        for key, template in messages.items():
            if not isinstance(key, str) or not isinstance(template, str):
                raise TypeError("messages map keys (str) to templates (str)")
            try:
                used = placeholders(template)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            known = self._known_placeholders(key, lang)
            if known is not None and not used <= known:
                extra = ", ".join(sorted(used - known))
                problems.append(f"{key}: unknown placeholder(s) {extra}")
        if problems:
            raise ValueError("invalid messages: " + "; ".join(problems))

    def _known_placeholders(self, key: str, lang: Lang) -> frozenset[str] | None:
        for code in (lang, self.fallback):
            template = self.catalogs.get(code, {}).get(key)
            if template is not None:
                return placeholders(template)
        return None

    # -- reading -------------------------------------------------------------------

    def codes(self, kind: str) -> tuple[str, ...]:
        """The codes that have a message ``<kind>.<code>``, sorted.

        >>> Messages.default().codes("phase")
        ('assessment', 'closed', 'intake', 'monitoring', 'planning')
        """
        start = kind + "."
        found = {
            key[len(start) :]
            for messages in self.catalogs.values()
            for key in messages
            if key.startswith(start) and "." not in key[len(start) :]
        }
        return tuple(sorted(found))

    def has(self, key: str) -> bool:
        """Whether *key* has a message in the fallback language or any other."""
        return any(key in messages for messages in self.catalogs.values())

    def template(self, key: str, lang: Lang) -> str:
        """The raw template of *key* in *lang* (or the fallback language).

        Raises :class:`KeyError` for a key no language has.
        """
        tag = self.resolve(lang)
        found = self.catalogs[tag].get(key)
        if found is None:
            found = self.catalogs.get(self.fallback, {}).get(key)
        if found is None:
            raise KeyError(f"no message {key!r}")
        return found

    def say(self, key: str, lang: Lang, /, **params: Any) -> str:
        """The message *key* in *lang*, with *params* rendered for that language."""
        return self.render(self.template(key, lang), lang, params)

    def render(self, template: str, lang: Lang, params: Mapping[str, Any]) -> str:
        """Fill *template* with *params*, each rendered for *lang* (see the module doc)."""
        return _Formatter(self, self.resolve(lang), params).vformat(template, (), params)

    def label(
        self, kind: str, code: str, lang: Lang, params: Mapping[str, Any] | None = None
    ) -> str:
        """The label of *code* of a kind (``"phase"``, ``"command"``…); the code itself
        when the catalogue has none. A label with placeholders (a ``problem`` such as
        ``minutes_range``) is filled from *params*.

        >>> Messages.default().label("command", "agree_plan", "de")
        'Integrationsplan vereinbaren'
        """
        key = f"{kind}.{code}"
        if not self.has(key):
            return code
        return self.render(self.template(key, lang), lang, params or {})

    def date(self, day: date, lang: Lang) -> str:
        """*day* in the language's ``format.date`` pattern (a Babel/CLDR pattern)."""
        from babel.dates import format_date

        tag = self.resolve(lang)
        pattern = self.template("format.date", tag)
        return str(format_date(day, format=pattern, locale=_locale(tag)))

    def number(
        self,
        value: float | Decimal,
        lang: Lang,
        *,
        digits: int | None = None,
        group: bool = True,
    ) -> str:
        """*value* with the locale's separators; *digits* fixes the decimals, and
        ``group=False`` leaves out the thousands separator (for spreadsheets).

        >>> m = Messages.default()
        >>> m.number(1234.5, "de", digits=2), m.number(1234.5, "en", digits=2)
        ('1.234,50', '1,234.50')
        >>> m.number(1234.5, "de", digits=1, group=False), m.number(Decimal("0.25"), "de")
        ('1234,5', '0,25')
        """
        from babel.numbers import format_decimal

        locale = _locale(self.resolve(lang))
        whole = "#,##0" if group else "0"
        if digits is None:
            pattern = whole + ".###"
        else:
            pattern = whole + ("." + "0" * digits if digits > 0 else "")
        return str(format_decimal(value, format=pattern, locale=locale))

    # -- rendering one value -------------------------------------------------------

    def value(
        self,
        name: str,
        value: Any,
        lang: Lang,
        spec: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> str:
        """One parameter value as text in *lang* (how :meth:`render` shows ``{name}``;
        *params* are the other parameters, for a label that uses them)."""
        if isinstance(value, enum.Enum):
            kind = _ENUM_KINDS.get(type(value).__name__)
            code = str(value.value)
            return self.label(kind, code, lang) if kind else code
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            return self.date(value, lang)
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int | float | Decimal):
            digits = _digits(spec)
            if digits is None and isinstance(value, int):
                digits = 0
            return self.number(value, lang, digits=digits)
        if isinstance(value, str):
            kind = LABEL_KINDS.get(name)
            if kind is None:
                return value
            others = {k: v for k, v in (params or {}).items() if k != name}
            return self.label(kind, value, lang, others)
        return str(value)


def _digits(spec: str) -> int | None:
    match = re.fullmatch(r"\.(\d)f", spec)
    return int(match.group(1)) if match else None


class _Formatter(string.Formatter):
    """``str.format`` with per-language values; plain names only (no ``{x.attr}``)."""

    def __init__(self, messages: Messages, lang: Lang, params: Mapping[str, Any]) -> None:
        self.messages = messages
        self.lang = lang
        self.params = params

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not _PLACEHOLDER.match(field_name):
            raise ValueError(f"placeholder {{{field_name}}} is not a plain name")
        if field_name not in kwargs:
            raise KeyError(f"missing parameter {field_name!r}")
        return (field_name, kwargs[field_name]), field_name

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        name, raw = value
        if conversion == "r":
            return (name, _Raw(repr(raw)))
        if conversion == "s":
            return (name, _Raw(str(raw)))
        return value

    def format_field(self, value: Any, format_spec: str) -> str:
        name, raw = value
        if isinstance(raw, _Raw):
            return raw.text
        return self.messages.value(name, raw, self.lang, format_spec, self.params)


@attrs.frozen
class _Raw:
    text: str


@functools.cache
def _locale(tag: str) -> Any:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise ValueError(f"Babel knows no locale {tag!r} to format dates and numbers") from None


def _read_catalog(folder: Any) -> dict[str, str]:
    """The messages of one language folder: the compiled ``.mo`` if the wheel has one,
    else the ``.po`` source (a source checkout)."""
    mo = folder / f"{DOMAIN}.mo"
    if mo.is_file():
        from babel.messages.mofile import read_mo

        with mo.open("rb") as handle:
            catalog = read_mo(handle)
        return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.string, str)}
    from babel.messages.pofile import read_po

    with (folder / f"{DOMAIN}.po").open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.string, str)}


def _locale_dir() -> Any:
    """The folder of imflow's catalogues (``imflow/locale``)."""
    return resources.files("imflow") / "locale"


@functools.cache
def _builtin() -> Messages:
    folder = _locale_dir()
    catalogs = {lang: _read_catalog(folder / lang / "LC_MESSAGES") for lang in ("de", "en")}
    return Messages(catalogs)
