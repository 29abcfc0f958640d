"""The message catalogue: complete in German and English, every reason readable in both,
hosts can reword and add languages, argparse speaks German, the wheel ships it all."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import zipfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from imflow import Reason, Role
from imflow.cli import main
from imflow.commands import COMMAND_TYPES
from imflow.enums import (
    Channel,
    ClosureReason,
    ConsentStatus,
    CustomPhase,
    GoalStatus,
    LifeArea,
    Phase,
)
from imflow.i18n import Messages, parse_lang, placeholders
from imflow.reasons import CATALOGUE
from imflow.workflow import bw_integrationsmanagement
from tests.test_cli import one_line_error, run

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "imflow"
LOCALE = SRC / "locale"

# every reason code domain.md (§§ 3, 6, 8) names
DOMAIN_CODES = (
    "unknown_district", "invalid_value", "target_after_period_end", "duplicate_goal",
    "no_goals", "consent_missing", "unknown_goal", "justification_missing",
    "extension_limit_exceeded", "period_ended", "goals_not_achieved", "period_not_ended",
    "reopen_not_allowed", "unknown_provider", "forbidden", "invalid_in_phase", "case_closed",
    "date_out_of_order", "date_in_future", "no_needs",
)  # fmt: skip

SNAKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")

# sample values by parameter name: dates as dates, numbers as numbers, codes as codes
SAMPLES: dict[str, Any] = {
    "on": date(2025, 3, 1),
    "today": date(2025, 2, 28),
    "latest": date(2025, 3, 3),
    "period_end": date(2028, 2, 29),
    "target_date": date(2028, 3, 1),
    "effective_from": date(2025, 1, 1),
    "command": "agree_plan",
    "phase": "intake",
    "role": Role.AUDITOR,
    "field": "target_date",
    "problem": "minutes_range",
    "maximum": 600,
    "policy": "children_need_childcare_goal",
    "district": "08999",
    "other": "08111",
    "provider": "caritas-wt",
    "goal_id": "g-1",
    "requested": 6,
    "remaining": 3,
    "rule_set": "vwv-2023",
    "current": "system-2025",
    "reason": ClosureReason.GOALS_ACHIEVED,
    "fte": Decimal("0.25"),
    "minimum": Decimal("0.5"),
    "grant": 45_000,
}


def po(lang: str, domain: str = "imflow") -> Any:
    with (LOCALE / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as handle:
        return read_po(handle)


def entries(lang: str) -> dict[str, str]:
    return {m.id: m.string for m in po(lang) if m.id}


def sample_reason(code: str, **extra: Any) -> Reason:
    template = Messages.default().template(f"reason.{code}", "en")
    params = {name: SAMPLES[name] for name in placeholders(template)}
    if "problem" in params:
        params["maximum"] = SAMPLES["maximum"]
    return Reason.of(code, **params, **extra)


# -- the catalogue is complete ---------------------------------------------------------------


def test_every_entry_is_translated_in_both_languages_with_the_same_placeholders() -> None:
    de, en = entries("de"), entries("en")
    assert set(de) == set(en), set(de) ^ set(en)
    for catalog in (po("de"), po("en")):
        for message in catalog:
            if message.id:
                assert message.string, f"{message.id} is not translated"
                assert not message.fuzzy, f"{message.id} is fuzzy"
    for key in de:
        assert placeholders(de[key]) == placeholders(en[key]), key


def test_the_maintenance_script_agrees_and_the_template_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    with (LOCALE / "imflow.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    assert template == set(entries("en")), "run: python scripts/i18n.py pot"


def _extracted(path: Path, keywords: dict[str, Any]) -> list[Any]:
    return [m for _, m, _, _ in extract_from_file("python", path, keywords=keywords)]


def test_every_word_the_code_asks_for_has_a_message() -> None:
    """Babel's extractor reads the keys out of the source, as it would for translators."""
    m = Messages.default()
    wanted = {f"cli.{k}" for k in _extracted(SRC / "cli.py", {"_say": None, "t": None})}
    for path in (SRC / "kennzahlen").glob("*.py"):  # Words.say("title") is report.title
        said = _extracted(path, {"say": None})
        wanted |= {k if k.startswith("report.") else f"report.{k}" for k in said}
    for path in SRC.rglob("*.py"):
        wanted |= {f"reason.{k}" for k in _extracted(path, {"of": None, "_reason": None})}
        for field, problem in _extracted(path, {"_invalid": (1, 2)}):
            wanted |= {f"field.{field}", f"problem.{problem}"}
    assert len(wanted) > 100
    missing = sorted(k for k in wanted if not m.has(k))
    assert not missing


def test_every_vocabulary_member_command_and_domain_reason_has_words() -> None:
    m = Messages.default()
    for vocabulary, kind in (
        (Phase, "phase"), (LifeArea, "life_area"), (GoalStatus, "goal_status"),
        (ClosureReason, "closure_reason"), (Role, "role"), (Channel, "channel"),
        (ConsentStatus, "consent_status"),
    ):  # fmt: skip
        assert set(m.codes(kind)) == {member.value for member in vocabulary}
    commands = {c.name for c in bw_integrationsmanagement().commands} | set(COMMAND_TYPES)
    assert commands <= set(m.codes("command"))
    for command in bw_integrationsmanagement().commands:  # the workflow's labels agree
        assert command.label("de") == m.say(f"command.{command.name}", "de")
        assert command.label("en") == m.say(f"command.{command.name}", "en")
    assert set(DOMAIN_CODES) <= set(CATALOGUE)


# -- every reason reads well -----------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(set(CATALOGUE) | set(DOMAIN_CODES)))
def test_every_reason_renders_without_codes_or_iso_dates(code: str) -> None:
    variants = [None] + [k.split(".")[-1] for k in entries("en") if k.startswith(f"reason.{code}.")]
    for variant in variants:
        reason = sample_reason(code, **({"variant": variant} if variant else {}))
        german, english = reason.message("de"), reason.message("en")
        for text in (german, english):
            assert text.endswith("."), text
            assert not SNAKE.search(text), text
            assert "{" not in text and "}" not in text, text
        assert not ISO_DATE.search(german), german
        if any(isinstance(v, date) for v in reason.params.values()):
            assert re.search(r"\b\d{2}\.\d{2}\.\d{4}\b", german), german
        assert german != english


def test_labels_stand_for_codes_in_german_sentences() -> None:
    reason = Reason.of("invalid_in_phase", command="agree_plan", phase="intake")
    assert reason.message("de") == (
        "„Integrationsplan vereinbaren“ ist in der Phase „Erstkontakt / Aufnahme“ nicht zulässig."
    )
    assert "0,25 VZÄ" in sample_reason("coordination_fte_too_low").message("de")
    assert "45.000 EUR" in sample_reason("coordination_grant_too_high").message("de")
    assert (
        sample_reason("invalid_value").message("de")
    ) == "Ungültiger Wert für „Zieldatum“: muss zwischen 1 und 600 liegen."


def test_a_foreign_district_or_provider_is_named_as_the_problem() -> None:
    role = Reason.of("forbidden", role=Role.AUDITOR, command="agree_plan").message("de")
    district = Reason.of(
        "forbidden", role=Role.MANAGER, command="agree_plan", variant="other_district"
    ).message("de")
    provider = Reason.of(
        "forbidden", role=Role.MANAGER, command="agree_plan", variant="other_provider"
    ).message("de")
    assert "Rolle „Prüfung (nur lesend)“" in role
    assert "anderen Stadt- oder Landkreis" in district and "Rolle" not in district
    assert "anderen Träger" in provider and "Rolle" not in provider


def test_an_unknown_code_or_a_missing_parameter_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown reason code 'my_code'.*Reason.custom"):
        Reason.of("my_code")
    with pytest.raises(ValueError, match=r"needs the parameter.*period_end"):
        Reason.of("period_ended")
    with pytest.raises(ValueError, match=r"needs the parameter.*maximum"):
        Reason.of("invalid_value", field="minutes", problem="minutes_range")
    with pytest.raises(ValueError, match="no variant"):
        Reason.of("forbidden", role=Role.MANAGER, command="x", variant="nowhere")


def test_documents_carry_code_and_parameters_and_round_trip() -> None:
    reason = sample_reason("target_after_period_end")
    document = reason.to_document()
    assert document == {
        "code": "target_after_period_end",
        "params": {"target_date": "2028-03-01", "period_end": "2028-02-29"},
    }
    assert Reason.from_document(document) == reason
    own = Reason.custom("late", {"de": "Zu spät: {on}", "en": "Late: {on}"}, on=date(2025, 1, 31))
    assert Reason.from_document(own.to_document()).message("de") == "Zu spät: 31.01.2025"
    with pytest.raises(ValueError, match="unknown reason code"):
        Reason.from_document({"code": "nope", "params": {}})


def test_repr_names_parameters_but_never_their_values() -> None:
    reason = Reason.of("duplicate_goal", goal_id="secret-goal-of-p-7f3a")
    assert "secret" not in repr(reason) and "goal_id" in repr(reason)


# -- hosts reword and add languages, without global state ---------------------------------------


def test_a_host_override_is_picked_up_and_changes_nothing_else() -> None:
    default = Messages.default()
    ours = default.with_overrides(
        {"de": {"reason.no_goals": "Bitte Ziele vereinbaren.", "phase.intake": "Aufnahme"}}
    )
    assert Reason.of("no_goals").message("de", messages=ours) == "Bitte Ziele vereinbaren."
    assert Reason.of("no_goals").message("de") != "Bitte Ziele vereinbaren."
    assert Phase.INTAKE.label("de", messages=ours) == "Aufnahme"
    assert Phase.INTAKE.label("de") == "Erstkontakt / Aufnahme"
    assert Messages.default() is default


def test_an_added_language_from_a_tiny_po_file_is_picked_up(tmp_path: Path) -> None:
    path = tmp_path / "uk.po"
    path.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "reason.period_ended"\n'
        'msgstr "Період консультування закінчився {period_end}; можливе лише закриття."\n\n'
        'msgid "phase.intake"\nmsgstr "Перший контакт"\n\n'
        '#, fuzzy\nmsgid "phase.closed"\nmsgstr "Закрито?"\n\n'
        'msgid "format.date"\nmsgstr "dd.MM.y"\n',
        encoding="utf-8",
    )
    uk = Messages.from_po(path, lang="uk")
    reason = Reason.of("period_ended", period_end=date(2028, 2, 29))
    assert reason.message("uk", messages=uk) == (
        "Період консультування закінчився 29.02.2028; можливе лише закриття."
    )
    assert Phase.INTAKE.label("uk-UA", messages=uk) == "Перший контакт"
    assert Phase.CLOSED.label("uk", messages=uk) == "Closed"  # fuzzy: skipped, English
    with pytest.raises(ValueError, match="no messages in 'uk'"):
        reason.message("uk")


def test_bad_overrides_fail_when_built_not_in_front_of_a_user() -> None:
    m = Messages.default()
    with pytest.raises(ValueError, match="unknown placeholder"):
        m.with_overrides({"de": {"reason.no_rule_set": "kein Regelwerk am {day}"}})
    with pytest.raises(ValueError, match="not a plain name"):
        m.with_overrides({"de": {"reason.no_rule_set": "{on.__class__.__mro__}"}})
    with pytest.raises(ValueError, match="no messages in 'fr'"):
        m.with_overrides({"fr": {"phase.intake": "Accueil"}})
    with pytest.raises(ValueError, match="Babel knows no locale"):
        m.with_language("qq", {"phase.intake": "?"})


def test_languages_come_from_plain_strings_with_clear_errors() -> None:
    m = Messages.default()
    assert parse_lang(" DE_de ") == "de-de" and m.resolve("de-DE") == "de"
    assert m.resolve("EN") == "en"
    for bad in ("", "d", "deutsch!", "de--", None, 42):
        with pytest.raises(ValueError, match="not a language tag"):
            parse_lang(bad)
    with pytest.raises(ValueError, match=r"no messages in 'fr' \(available: de, en\)"):
        Reason.of("no_goals").message("fr")
    assert m.choose("fr-CH, en;q=0.8, de;q=0.7") == "en"
    assert m.choose("de;q=0, en") == "en"
    assert m.choose("fr, xx;q=0.5") == "de"
    assert m.choose(None, default="en") == "en"


@given(st.text(min_size=1, max_size=60).filter(lambda t: "{" not in t and "}" not in t))
def test_any_override_text_is_what_the_reason_says(text: str) -> None:
    ours = Messages.default().with_overrides({"en": {"reason.case_closed": text}})
    assert Reason.of("case_closed").message("en", messages=ours) == text


@given(st.dates(min_value=date(2018, 1, 1), max_value=date(2099, 12, 31)))
def test_german_dates_are_day_month_year(day: date) -> None:
    text = Reason.of("no_rule_set", on=day).message("de")
    found = re.search(r"(\d{2})\.(\d{2})\.(\d{4})", text)
    assert found and date(int(found[3]), int(found[2]), int(found[1])) == day
    assert day.isoformat() in Reason.of("no_rule_set", on=day).message("en")


@given(st.decimals(min_value=0, max_value=10**7, places=2, allow_nan=False))
def test_german_numbers_use_a_decimal_comma_and_dot_groups(value: Decimal) -> None:
    text = Messages.default().number(value, "de", digits=2)
    assert text.replace(".", "").replace(",", ".") == f"{value:.2f}"
    assert re.fullmatch(r"\d{1,3}(\.\d{3})*,\d{2}", text)


def test_custom_phases_have_a_label_too() -> None:
    paused = CustomPhase("paused")
    assert paused == "paused" and paused.label("de") == "paused"
    ours = Messages.default().with_overrides({"de": {"phase.paused": "Ruhend"}})
    assert paused.label("de", messages=ours) == "Ruhend"


# -- the compiled catalogues --------------------------------------------------------------------


def test_the_mo_files_the_build_compiles_read_like_their_sources(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from hatch_build import compile_catalogues
    finally:
        sys.path.remove(str(ROOT))
    compiled = compile_catalogues(LOCALE, tmp_path)
    assert set(compiled.values()) >= {
        "imflow/locale/de/LC_MESSAGES/imflow.mo",
        "imflow/locale/en/LC_MESSAGES/imflow.mo",
        "imflow/locale/de/LC_MESSAGES/argparse.mo",
    }
    from imflow.i18n import _read_catalog

    for lang in ("de", "en"):
        assert _read_catalog(tmp_path / lang / "LC_MESSAGES") == entries(lang)


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.slow
def test_the_built_wheel_ships_catalogues_that_match_the_sources(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("imflow-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
            relative = po_path.relative_to(SRC.parent).with_suffix(".mo").as_posix()
            assert relative in names, relative
            with archive.open(relative) as handle:
                shipped = {_key(m.id): _key(m.string) for m in read_mo(handle) if m.id}
            with po_path.open("rb") as handle:
                source = {_key(m.id): _key(m.string) for m in read_po(handle) if m.id}
            assert shipped == source, relative


# -- the command line ---------------------------------------------------------------------------


def test_every_message_of_this_pythons_argparse_has_a_german_translation() -> None:
    german = {m.id: m.string for m in po("de", "argparse") if m.id}
    keywords = {"_": None, "ngettext": (1, 2)}
    used = set(_extracted(Path(argparse.__file__), keywords))
    assert len(used) > 25
    missing = sorted(map(str, used - set(german)))
    assert not missing, f"translate in locale/de/LC_MESSAGES/argparse.po: {missing}"
    for message_id, text in german.items():
        assert text and all(text if isinstance(text, tuple) else [text]), message_id
        ids = message_id if isinstance(message_id, tuple) else (message_id,)
        texts = text if isinstance(text, tuple) else (text,)
        for translated in texts:  # names it uses exist; as many unnamed as the original
            assert set(re.findall(r"%\((\w+)\)", translated)) <= set(
                re.findall(r"%\((\w+)\)", ids[0])
            ), message_id
            assert len(re.findall(r"%[sr]", translated)) == len(re.findall(r"%[sr]", ids[0]))


def test_german_help_has_one_options_section_and_argparse_is_left_as_it_was() -> None:
    before = argparse._  # type: ignore[attr-defined]
    for args in ([], ["simulate"], ["report"], ["validate"]):
        out = run(*args, "--help").stdout
        assert out.count("Optionen:") == 1, out
        assert "options:" not in out and "usage:" not in out
    assert main(["--lang", "de", "--version"]) == 0
    assert argparse._ is before  # type: ignore[attr-defined]


def test_german_dates_are_accepted_wherever_iso_dates_are(tmp_path: Path) -> None:
    german = run(
        "simulate", "--cases", "5", "--from", "01.03.2025", "--until", "31.12.2025",
        "--db", ":memory:", cwd=tmp_path,
    )  # fmt: skip
    iso = run(
        "simulate", "--cases", "5", "--from", "2025-03-01", "--until", "2025-12-31",
        "--db", ":memory:", cwd=tmp_path,
    )  # fmt: skip
    assert german.returncode == iso.returncode == 0, german.stderr
    assert german.stdout == iso.stdout
    assert german.stdout.startswith("5 Fälle simuliert vom 01.03.2025 bis 31.12.2025")
    for bad in ("31.02.2025", "1.3.25", "01.03.2025.", "2025-3-1"):
        assert "ungültiges Datum" in one_line_error(run("sweep", "--on", bad, cwd=tmp_path))


def test_the_placeholders_helper_refuses_attribute_access() -> None:
    assert placeholders("{a} {b:.1f} {c!r}") == {"a", "b", "c"}
    with pytest.raises(ValueError, match="not a plain name"):
        placeholders("{a[0]}")
