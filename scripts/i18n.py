"""Maintain imflow's message catalogues (``src/imflow/locale/*/LC_MESSAGES/imflow.po``).

    python scripts/i18n.py set KEY --de "German {x}" --en "English {x}" [--comment TEXT]
    python scripts/i18n.py port FILE.py      # reasons.CATALOGUE-style {code: (de, en)} dicts
    python scripts/i18n.py pot               # rewrite imflow.pot, the template for new languages
    python scripts/i18n.py check             # every entry translated, same placeholders

``set`` adds a message or replaces its texts in both languages; ``port`` reads every
top-level dictionary literal named ``CATALOGUE`` or ``_MESSAGES`` in a Python file
(the format reasons used before the catalogue: code → (German, English)) and adds each
code as ``reason.<code>``. Both keep the files sorted as they are and rewrite them with
Babel, so a diff shows only the change.
"""

from __future__ import annotations

import argparse
import ast
import string
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent / "src" / "imflow" / "locale"
LANGS = ("de", "en")


def _path(lang: str) -> Path:
    return ROOT / lang / "LC_MESSAGES" / "imflow.po"


def _read(lang: str) -> Catalog:
    with _path(lang).open("rb") as handle:
        return read_po(handle, locale=lang)


def _write(lang: str, catalog: Catalog) -> None:
    with _path(lang).open("wb") as handle:
        write_po(handle, catalog, width=100, include_lineno=False)


def set_message(key: str, texts: dict[str, str], comment: str = "") -> None:
    """Add *key* (or replace its texts) in every language of *texts*."""
    for lang, text in texts.items():
        catalog = _read(lang)
        existing = catalog.get(key)
        comments = [comment] if comment else list(existing.auto_comments if existing else [])
        if existing is not None:
            existing.string = text
            existing.auto_comments = comments
        else:
            catalog.add(key, text, auto_comments=comments)
        _write(lang, catalog)


def port(path: Path) -> int:
    """Add every ``code: (de, en)`` of the reason dictionaries in *path*; returns the count."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = 0
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if not names & {"CATALOGUE", "_MESSAGES"} or not isinstance(value, ast.Dict):
            continue
        for k, v in zip(value.keys, value.values, strict=True):
            code = ast.literal_eval(k) if k is not None else None
            de, en = ast.literal_eval(v)
            set_message(f"reason.{code}", {"de": de, "en": en})
            found += 1
    return found


def pot() -> None:
    """Write ``imflow.pot``: every key with an empty translation and the English text as
    a comment, for ``pybabel init -l uk`` or a translator's tool."""
    english = _read("en")
    template = Catalog(domain="imflow", project="imflow", fuzzy=False)
    for message in english:
        if message.id:
            comments = [*message.auto_comments, f"en: {message.string}"]
            template.add(message.id, "", auto_comments=comments)
    with (ROOT / "imflow.pot").open("wb") as handle:
        write_po(handle, template, width=100, include_lineno=False, omit_header=False)


def check() -> list[str]:
    """Problems: untranslated entries, keys in one language only, placeholder mismatches."""
    catalogs = {lang: {m.id: m.string for m in _read(lang) if m.id} for lang in LANGS}
    problems = []
    keys = set().union(*catalogs.values())
    for key in sorted(keys):
        used = set()
        for lang, messages in catalogs.items():
            text = messages.get(key)
            if not text:
                problems.append(f"{lang}: {key} is not translated")
                continue
            used.add(frozenset(n for _, n, _, _ in string.Formatter().parse(text) if n))
        if len(used) > 1:
            problems.append(f"{key}: the languages use different placeholders")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("set")
    p.add_argument("key")
    p.add_argument("--de", required=True)
    p.add_argument("--en", required=True)
    p.add_argument("--comment", default="")
    p = sub.add_parser("port")
    p.add_argument("file", type=Path)
    sub.add_parser("pot")
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.what == "set":
        set_message(args.key, {"de": args.de, "en": args.en}, args.comment)
    elif args.what == "port":
        print(f"{port(args.file)} reason messages ported")
    elif args.what == "pot":
        pot()
    else:
        problems = check()
        print("\n".join(problems) or "all messages translated")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
