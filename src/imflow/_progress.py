"""Private: the command line's progress bar for long steps (the simulation).

One line on a terminal, redrawn in place, with an estimate of the time left once a
little of the work is done; the command line shows it only when standard error is a
terminal, so nothing of it reaches a pipe or a log file.

>>> import io
>>> times = iter([0.0, 10.0, 20.0, 40.0])
>>> out = io.StringIO()
>>> bar = ProgressBar("Simulation", out, left="noch {}".format, took="in {}".format,
...                   clock=lambda: next(times), width=10)
>>> bar(0, 100); bar(25, 100); bar(50, 100); bar(100, 100)
>>> print(out.getvalue().replace("\\r", "\\n").strip())
Simulation [..........]   0 %
Simulation [##........]  25 % · noch 0:30
Simulation [#####.....]  50 % · noch 0:20
Simulation [##########] 100 % · in 0:40
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar", "duration"]


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on.

    >>> duration(5), duration(75.4), duration(3725)
    ('0:05', '1:15', '1:02:05')
    """
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """``progress(done, total)`` drawn as ``label [####....]  42 % · 0:35 left``.

    *left* and *took* give the words for the estimate and for the total time from the
    duration's text. The estimate appears once 2 % of the work is done, and assumes the
    rest goes at the pace so far.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO,
        *,
        left: Callable[[str], str],
        took: Callable[[str], str],
        clock: Callable[[], float] = time.monotonic,
        width: int = 30,
    ) -> None:
        self.label = label
        self.stream = stream
        self.left = left
        self.took = took
        self.clock = clock
        self.width = width
        self.started: float | None = None
        self.last = -1
        self.shown = 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        percent = min(100, 100 * done // max(total, 1))
        if percent == self.last:
            return
        self.last = percent
        filled = percent * self.width // 100
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d} %"
        elapsed = now - self.started
        if done >= total:
            line += " · " + self.took(duration(elapsed))
        elif percent >= 2 and elapsed > 0:
            rest = elapsed * (total - done) / max(done, 1)
            line += " · " + self.left(duration(rest))
        padding = " " * max(0, self.shown - len(line))  # wipe a longer line drawn before
        self.shown = len(line)
        self.stream.write(f"\r{line}{padding}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
