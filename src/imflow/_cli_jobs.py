"""Private: the ``--jobs`` option of ``imflow simulate`` (how many processes, #17)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from imflow._cli_safety import say, shown
from imflow.i18n import Lang

__all__ = ["MAX_JOBS", "jobs_type"]

MAX_JOBS = 64
"""The most processes ``--jobs`` starts (a typo of 1000 must not fork a thousand)."""


def jobs_type(lang: Lang) -> Callable[[str], int]:
    """A number of processes from 1 to :data:`MAX_JOBS`.

    >>> jobs_type("en")("2")
    2
    """

    def parse(value: str) -> int:
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise argparse.ArgumentTypeError(say("error.int", lang, value=shown(value)))
        if len(text) > 3 or not 1 <= int(text) <= MAX_JOBS:
            raise argparse.ArgumentTypeError(
                say("error.jobs", lang, most=str(MAX_JOBS), value=shown(text))
            )
        return int(text)

    return parse
