"""End to end: synthetic dumps -> Dagster run -> DuckDB -> dbt marts, checked against the generator's truth.

Expected values come from the generated entries (the ground truth the generator wrote into the
text), never from the tables under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from tests.conftest import Workspace
from tests.synthetic import (
    Entry,
    SyntheticDump,
    generate_dumps,
    normalise_title,
    write_dumps,
)

STRENGTH = {"none": 0, "promised": 1, "claimed": 2, "repository": 3}


def paper_id(title: str) -> str:
    return hashlib.sha256(normalise_title(title).encode()).hexdigest()[:16]


def expected_papers(dumps: list[SyntheticDump]) -> dict[str, dict[str, object]]:
    """Fold the generated sightings into one record per paper, the way an analyst would."""
    papers: dict[str, dict[str, object]] = {}
    sightings: dict[str, list[tuple[dt.date, str, Entry]]] = defaultdict(list)
    for dump in dumps:
        for entry in dump.entries:
            sightings[paper_id(entry.title)].append((dump.page_date, dump.file_name, entry))
    for pid, seen in sightings.items():
        seen.sort(key=lambda item: (item[0], item[1]))
        strongest = max(reversed(seen), key=lambda item: STRENGTH[item[2].code_status])[2]  # latest wins ties
        authors = [entry.n_authors for _, _, entry in seen if entry.n_authors is not None]
        upvotes = [entry.upvotes for _, _, entry in seen if entry.upvotes is not None]
        papers[pid] = {
            "first_seen_on": seen[0][0],
            "first_seen_file": seen[0][1],
            "last_seen_on": seen[-1][0],
            "n_dumps": len(seen),
            "code_status": strongest.code_status,
            "code_url": strongest.code_url,
            "n_authors": authors[-1] if authors else None,
            "upvotes_max": max(upvotes) if upvotes else None,
        }
    return papers


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.mark.slow
def test_dumps_to_marts_and_rerun_of_one_edited_dump(workspace: Workspace) -> None:
    dumps = list(generate_dumps(days=6, papers_per_day=15, seed=11, start=dt.date(2026, 2, 25)))
    write_dumps(workspace.raw_dir, dumps)

    first = workspace.make_run()
    assert first.returncode == 0, first.stderr[-4000:]
    assert "Dumps loaded:       6" in first.stdout

    expected = expected_papers(dumps)
    rows = query(
        workspace.snapshot,
        "select paper_id, first_seen_on, last_seen_on, n_dumps, code_status, code_url, n_authors, upvotes_max"
        " from papers",
    )
    actual = {
        row[0]: dict(
            zip(
                [
                    "first_seen_on",
                    "last_seen_on",
                    "n_dumps",
                    "code_status",
                    "code_url",
                    "n_authors",
                    "upvotes_max",
                ],
                row[1:],
                strict=True,
            )
        )
        for row in rows
    }
    assert set(actual) == set(expected)
    for pid, record in expected.items():
        want = {key: value for key, value in record.items() if key != "first_seen_file"}
        assert actual[pid] == want, pid

    first_seen = dict(query(workspace.snapshot, "select paper_id, first_seen_file from paper_first_seen"))
    assert first_seen == {pid: record["first_seen_file"] for pid, record in expected.items()}

    by_month: dict[dt.date, list[str]] = defaultdict(list)
    for record in expected.values():
        first_day = record["first_seen_on"]
        assert isinstance(first_day, dt.date)
        by_month[first_day.replace(day=1)].append(str(record["code_status"]))
    rates = {
        month: (n, rate)
        for month, n, rate in query(
            workspace.snapshot,
            "select first_seen_month, n_papers, code_release_rate from code_release_rates where period = 'month'",
        )
    }
    assert set(rates) == set(by_month)
    for month, statuses in by_month.items():
        released = sum(status in ("repository", "claimed") for status in statuses)
        assert rates[month][0] == len(statuses)
        assert rates[month][1] == pytest.approx(released / len(statuses))

    # The overall rate is numeric metadata on code_release_rates, so the UI can plot it.
    released_all = sum(r["code_status"] in ("repository", "claimed") for r in expected.values())
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("code_release_rates"))
        assert event is not None
        assert event.asset_materialization is not None
        metadata = event.asset_materialization.metadata
    assert metadata["overall_code_release_rate"].value == pytest.approx(released_all / len(expected))

    # A second run with nothing new launches nothing and changes nothing.
    before = workspace.snapshot.stat().st_mtime_ns
    again = workspace.make_run()
    assert again.returncode == 0, again.stderr[-4000:]
    assert "up to date" in again.stdout
    assert workspace.snapshot.stat().st_mtime_ns == before

    # Edit one dump: drop its last entry. Only that partition reruns; its rows are replaced.
    edited = dumps[-1]
    kept = edited.entries[:-1]
    dropped = paper_id(edited.entries[-1].title)
    (workspace.raw_dir / edited.file_name).write_bytes(SyntheticDump(edited.file_name, edited.page_date, kept).render())
    rerun = workspace.make_run()
    assert rerun.returncode == 0, rerun.stderr[-4000:]

    ledger = query(
        workspace.snapshot,
        "select dump_file, count(*), count(*) filter (where is_current) from raw.dumps group by dump_file",
    )
    assert {file: (total, current) for file, total, current in ledger} == {
        dump.file_name: (2 if dump is edited else 1, 1) for dump in dumps
    }
    count = query(
        workspace.snapshot,
        "select count(*) from raw.paper_sightings where dump_file = ?",
        [edited.file_name],
    )
    assert count == [(len(kept),)]
    seen_elsewhere = any(paper_id(e.title) == dropped for d in dumps[:-1] for e in d.entries)
    remaining = query(workspace.snapshot, "select n_dumps from papers where paper_id = ?", [dropped])
    expected_n = expected[dropped]["n_dumps"]
    assert isinstance(expected_n, int)
    assert remaining == ([(expected_n - 1,)] if seen_elsewhere else [])
