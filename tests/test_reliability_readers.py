"""Readers never see a broken or locked warehouse while the pipeline writes.

A separate process plays a dashboard: every 100 ms it opens the published snapshot read-only
(a new connection per read) and checks two invariants that only hold for a complete run:

* the status counts of ``code_release_rates`` (``period = 'all'``) add up to ``count(*)`` of ``papers``;
* every ``paper_first_seen`` row has its ``papers`` row.

Meanwhile the pipeline backfills 20 dumps and then reruns with new and edited dumps.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Workspace
from tests.synthetic import SyntheticDump, generate_dumps, write_dumps

READER = r"""
import json, sys, time
from pathlib import Path

import duckdb

snapshot, stop = Path(sys.argv[1]), Path(sys.argv[2])
stats = {"reads": 0, "missing": 0, "errors": [], "broken": [], "paper_counts": [], "seconds": 0.0}
started = time.monotonic()
while not stop.exists():
    time.sleep(0.1)
    if not snapshot.exists():
        if stats["reads"]:  # it vanished after a publish: that is an error, not "not yet"
            stats["errors"].append("snapshot disappeared")
        else:
            stats["missing"] += 1
        continue
    try:
        with duckdb.connect(str(snapshot), read_only=True) as con:
            total, papers, orphans = con.execute(
                '''
                select
                    (select n_repository + n_claimed + n_promised + n_none
                     from code_release_rates where period = 'all'),
                    (select count(*) from papers),
                    (select count(*) from paper_first_seen f anti join papers p using (paper_id))
                '''
            ).fetchone()
    except Exception as error:  # noqa: BLE001 - every failure is a finding
        stats["errors"].append(f"{type(error).__name__}: {error}")
        continue
    stats["reads"] += 1
    if total != papers or orphans != 0:
        stats["broken"].append([total, papers, orphans])
    if not stats["paper_counts"] or stats["paper_counts"][-1] != papers:
        stats["paper_counts"].append(papers)
stats["seconds"] = time.monotonic() - started
print(json.dumps(stats))
"""


@pytest.mark.slow
def test_readers_see_complete_states_during_backfill_and_rerun(workspace: Workspace, tmp_path: Path) -> None:
    dumps = list(generate_dumps(days=26, papers_per_day=15, seed=21, start=dt.date(2026, 1, 5)))
    first, later = dumps[:20], dumps[20:]
    write_dumps(workspace.raw_dir, first)

    stop = tmp_path / "stop-reader"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(workspace.snapshot), str(stop)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        backfill = workspace.make_run()
        assert backfill.returncode == 0, backfill.stderr[-4000:]

        # The rerun: six new days plus two edited dumps (one loses an entry, one gains a paper).
        write_dumps(workspace.raw_dir, later)
        shrunk, grown = first[3], first[9]
        (workspace.raw_dir / shrunk.file_name).write_bytes(
            SyntheticDump(shrunk.file_name, shrunk.page_date, shrunk.entries[:-1]).render()
        )
        (workspace.raw_dir / grown.file_name).write_bytes(
            # A layout-A entry shows no dates, so it fits on an earlier page.
            SyntheticDump(
                grown.file_name,
                grown.page_date,
                (*grown.entries, next(entry for entry in later[-1].entries if entry.layout == "A")),
            ).render()
        )
        rerun = workspace.make_run()
        assert rerun.returncode == 0, rerun.stderr[-4000:]
        time.sleep(0.5)  # let the reader see the final state too
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err[-4000:]
    stats = json.loads(out)
    print(
        f"reader: {stats['reads']} reads in {stats['seconds']:.1f} s, {stats['missing']} before the first publish,"
        f" paper counts seen {stats['paper_counts']}"
    )

    assert stats["errors"] == []
    assert stats["broken"] == []
    # One read per ~100 ms plus the cost of a connection; the runs take far longer than 10 s.
    assert stats["reads"] >= 50
    assert stats["reads"] + stats["missing"] >= stats["seconds"] * 2
    # The reader was there before the first publish, during the backfill's result and after the rerun.
    assert stats["missing"] > 0
    assert len(stats["paper_counts"]) >= 2
