"""Progress of long work: one updating bar on a terminal, a plain line per quarter in a log."""

from __future__ import annotations

import io
import os
import pty
import select

from orchestration import progress


def test_a_log_gets_one_plain_line_per_quarter_of_each_task() -> None:
    log = io.StringIO()
    with progress.to_stream(log):
        for done in range(1, 101):
            progress.report("dumps parsed and loaded", done, 100)
        for done in range(1, 4):
            progress.report("dbt models and tests", done, 3)
    assert log.getvalue().splitlines() == [
        "dumps parsed and loaded: 25 of 100",
        "dumps parsed and loaded: 50 of 100",
        "dumps parsed and loaded: 75 of 100",
        "dumps parsed and loaded: 100 of 100",
        "dbt models and tests: 1 of 3",
        "dbt models and tests: 2 of 3",
        "dbt models and tests: 3 of 3",
    ]
    assert "\r" not in log.getvalue()


def test_a_terminal_gets_an_updating_bar() -> None:
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as terminal, progress.to_stream(terminal):
            for done in range(1, 3651, 256):
                progress.report("dumps parsed and loaded", done, 3651)
            progress.report("dumps parsed and loaded", 3651, 3651)
        shown = _read_everything(leader).decode(errors="replace")
    finally:
        os.close(leader)
        os.close(follower)
    assert "3651/3651" in shown
    assert "\r" in shown or "\x1b[" in shown, "redrawn in place, not printed line after line"
    assert "dumps parsed and loaded: " not in shown


def _read_everything(leader: int) -> bytes:
    """All the terminal shows: a pty hands written bytes to its reader asynchronously, in chunks."""
    shown = b""
    while select.select([leader], [], [], 0.5)[0]:
        shown += os.read(leader, 1 << 16)
    return shown
