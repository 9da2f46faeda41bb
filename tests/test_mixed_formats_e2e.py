"""End to end with text and API JSON dumps of overlapping papers in one raw folder.

Expectations are folded from the generator's entries (what each page or API record says),
never read back from the tables under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.ingestion import SIGHTINGS_KEY
from tests.conftest import Workspace
from tests.synthetic import Entry, generate_dumps, normalise_title, write_dumps

STRENGTH = {"none": 0, "promised": 1, "claimed": 2, "repository": 3}


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.slow
def test_text_and_api_dumps_make_one_warehouse(workspace: Workspace) -> None:
    dumps = list(generate_dumps(days=9, papers_per_day=12, seed=23, start=dt.date(2026, 4, 1)))
    paths = write_dumps(workspace.raw_dir, dumps, output_format="mixed")
    is_api = {dump.page_date: path.suffix == ".json" for dump, path in zip(dumps, paths, strict=True)}
    assert any(is_api.values())
    assert not all(is_api.values())

    # A day with no papers, as the API answers it: a dump of zero entries, flagged but loaded.
    (workspace.raw_dir / "2026-04-10.json").write_bytes(b"[]")

    result = workspace.make_run()
    assert result.returncode == 0, result.stderr[-4000:]
    assert rows(
        workspace.snapshot, "select n_entries, n_rejected from raw.dumps where dump_file = '2026-04-10.json'"
    ) == [(0, 0)]
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        key = dg.AssetCheckKey(SIGHTINGS_KEY, "no_empty_dumps")
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key].event
    assert check is not None
    assert check.dagster_event is not None
    evaluation = check.dagster_event.asset_check_evaluation_data
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert evaluation.metadata["files"].value == ["2026-04-10.json"]

    # Every sighting of a generated paper, as (date, file, entry, seen in the API?).
    seen: dict[str, list[tuple[dt.date, str, Entry, bool]]] = defaultdict(list)
    for dump, path in zip(dumps, paths, strict=True):
        for entry in dump.entries:
            seen[normalise_title(entry.title)].append((dump.page_date, path.name, entry, is_api[dump.page_date]))

    def expected_id(sightings: list[tuple[dt.date, str, Entry, bool]]) -> str:
        api = [entry for _, _, entry, api in sightings if api]
        if api:
            assert api[0].arxiv_id is not None
            return api[0].arxiv_id
        return hashlib.sha256(normalise_title(sightings[0][2].title).encode()).hexdigest()[:16]

    expected = {}
    for sightings in seen.values():
        sightings.sort(key=lambda item: (item[0], item[1]))
        codes = [entry.api_code if api else (entry.code_status, entry.code_url, None) for _, _, entry, api in sightings]
        status, url, source = max(reversed(codes), key=lambda code: STRENGTH[code[0]])
        if source is None and url is not None:
            source = "abstract"
        first = sightings[0][2]
        counts = [entry.upvotes for _, _, entry, _ in sightings if entry.upvotes is not None]
        expected[expected_id(sightings)] = {
            "arxiv_id": first.arxiv_id if any(api for *_, api in sightings) else None,
            "first_seen_on": sightings[0][0],
            "n_dumps": len(sightings),
            "code_status": status,
            "code_url": url,
            "code_source": source,
            "upvotes_first_seen": counts[0] if counts else None,
            "upvotes_max": max(counts) if counts else None,
            "authors": next((list(e.authors) for _, _, e, api in reversed(sightings) if api and e.authors), None),
            "daily": {day: entry.upvotes for day, _, entry, _ in sightings},
        }

    columns = "arxiv_id, first_seen_on, n_dumps, code_status, code_url, code_source, upvotes_first_seen, upvotes_max"
    actual = {
        row[0]: dict(zip(columns.split(", "), row[1:], strict=True))
        for row in rows(workspace.snapshot, f"select paper_id, {columns} from papers")  # noqa: S608
    }
    assert set(actual) == set(expected)
    for paper_id, want in expected.items():
        assert actual[paper_id] == {key: want[key] for key in columns.split(", ")}, paper_id

    authors: dict[str, list[str]] = defaultdict(list)
    for paper_id, name in rows(
        workspace.snapshot, "select paper_id, author_name from paper_authors order by paper_id, author_position"
    ):
        authors[str(paper_id)].append(str(name))
    assert sum(want["arxiv_id"] is not None for want in expected.values()) > 10  # identity really was exercised
    assert len(authors) > 10
    assert dict(authors) == {pid: want["authors"] for pid, want in expected.items() if want["authors"]}
    names = dict(rows(workspace.snapshot, "select paper_id, author_names from authors_per_paper"))
    assert {pid: names[pid] for pid in authors} == dict(authors)

    daily: dict[object, dict[object, object]] = defaultdict(dict)
    for paper_id, day, upvotes in rows(
        workspace.snapshot, "select paper_id, seen_on, upvotes from paper_upvotes_daily"
    ):
        daily[paper_id][day] = upvotes
    assert dict(daily) == {pid: want["daily"] for pid, want in expected.items()}
