"""Progress of long work for a person watching ``make run``: dumps parsed and loaded, then dbt nodes.

The pipeline reports to the reporter installed here, if any: none under ``dagster dev`` or in
tests, where the run's events already say what happened. ``make run`` installs one that draws
a rich progress bar on a terminal and, in a log that is not a terminal (CI), prints a plain line
at every quarter of each task instead of a stream of carriage returns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

_reporter: TerminalProgress | None = None


def report(task: str, done: int, total: int) -> None:
    """``done`` of ``total`` items of ``task`` are finished (a no-op unless a reporter is installed)."""
    if _reporter is not None:
        _reporter.update(task, done, total)


class TerminalProgress:
    """One bar per task on a terminal; elsewhere one line per quarter of each task."""

    def __init__(self, stream: IO[str]) -> None:
        self.console = Console(file=stream)
        self.bars: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.quarters: dict[str, int] = {}
        if self.console.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )

    def update(self, task: str, done: int, total: int) -> None:
        if self.bars is not None:
            if task not in self.tasks:
                self.tasks[task] = self.bars.add_task(task, total=total)
            self.bars.update(self.tasks[task], completed=done, total=total)
            return
        quarter = 4 * done // total if total else 4
        if quarter > self.quarters.get(task, 0):
            self.quarters[task] = quarter
            self.console.print(f"{task}: {done:,} of {total:,}", highlight=False)


@contextlib.contextmanager
def to_stream(stream: IO[str]) -> Iterator[TerminalProgress]:
    """Report progress to ``stream`` until the block ends."""
    global _reporter
    reporter = TerminalProgress(stream)
    _reporter = reporter
    try:
        if reporter.bars is not None:
            with reporter.bars:
                yield reporter
        else:
            yield reporter
    finally:
        _reporter = None
