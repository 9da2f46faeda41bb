"""The ledger's rules for content seen again: skipped, re-parsed on request, re-parsed after a parser upgrade.

Each test loads real parsed dumps into a real DuckDB file, then loads them again the way a
sensor run (skip what is loaded), a rerun (re-parse) or the first run after a parser upgrade
would, and reads the raw tables back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl
import pytest

from orchestration.load import ingest as ingest_module
from orchestration.load.ingest import dump_state, ingest
from orchestration.load.ledger import Loaded, Quarantine, load_dumps, loaded_versions
from orchestration.load.warehouse import connect
from orchestration.parse import contract
from orchestration.parse.common import DumpInput, ParsedDump
from orchestration.parse.text import parse_dumps
from tests.synthetic import generate_dumps

OLD = "0-old"


def parsed(names_and_bytes: list[tuple[str, bytes]]) -> list[ParsedDump]:
    dumps, rejected = parse_dumps([DumpInput(data, name, dt.datetime.now(dt.UTC)) for name, data in names_and_bytes])
    assert not rejected
    return dumps


def retitled(dump: ParsedDump, suffix: str) -> ParsedDump:
    """What a parser with a title bug would have made of the same bytes."""
    return dataclasses.replace(dump, sightings=dump.sightings.with_columns(pl.col("title") + suffix))


def titles(con: duckdb.DuckDBPyConnection, dump_file: str) -> list[str]:
    rows = con.execute(
        "select title from raw.paper_sightings where dump_file = ? order by position", [dump_file]
    ).fetchall()
    return [title for (title,) in rows]


@pytest.fixture
def two_days() -> list[tuple[str, bytes]]:
    return [(dump.file_name, dump.render()) for dump in generate_dumps(days=2, papers_per_day=4, seed=21)]


def test_same_content_by_the_same_parser_is_left_alone_unless_a_rerun_asks(
    tmp_path: Path, two_days: list[tuple[str, bytes]]
) -> None:
    first, second = parsed(two_days)
    with connect(tmp_path / "w.duckdb") as con:
        load_dumps(con, [retitled(first, " [tampered]"), second])
        skipped = load_dumps(con, [first])
        assert [o.status for o in skipped] == ["unchanged"]
        assert all(title.endswith(" [tampered]") for title in titles(con, first.dump_file))

        rerun = load_dumps(con, [first], reparse=True)
        assert [o.status for o in rerun] == ["reparsed"]
        assert titles(con, first.dump_file) == first.sightings["title"].to_list()
        ledger = con.execute("select dump_file, is_current, parser_version from raw.dumps order by all").fetchall()
    assert ledger == [
        (first.dump_file, True, contract.PARSER_VERSION),
        (second.dump_file, True, contract.PARSER_VERSION),
    ]


def test_content_read_by_an_older_parser_is_parsed_again(
    tmp_path: Path, two_days: list[tuple[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = parsed(two_days)
    with connect(tmp_path / "w.duckdb") as con:
        with monkeypatch.context() as old_parser:
            old_parser.setattr(contract, "PARSER_VERSION", OLD)
            load_dumps(con, [retitled(first, " [old]"), retitled(second, " [old]")])
        loaded = loaded_versions(con)
        assert {name: dump_state(name, seen.dump_id, loaded) for name, seen in loaded.items()} == {
            first.dump_file: "outdated",
            second.dump_file: "outdated",
        }
        outcomes = load_dumps(con, [first, second])
        assert [o.status for o in outcomes] == ["reparsed", "reparsed"]
        for dump in (first, second):
            assert titles(con, dump.dump_file) == dump.sightings["title"].to_list()
        versions = con.execute("select distinct parser_version from raw.dumps").fetchall()
        counts = con.execute("select count(*), count(distinct dump_id) from raw.dumps").fetchone()
    assert versions == [(contract.PARSER_VERSION,)]
    assert counts == (2, 2), "re-parsing updates the ledger row; it adds no version"


def test_a_duplicate_file_reparsed_keeps_its_rows_with_the_carrier(
    tmp_path: Path, two_days: list[tuple[str, bytes]]
) -> None:
    (name, data), _ = two_days
    original, twin = parsed([(name, data), ("copy-" + name, data)])
    with connect(tmp_path / "w.duckdb") as con:
        load_dumps(con, [original, twin])
        again = load_dumps(con, [twin, original], reparse=True)
        assert [o.status for o in again] == ["duplicate", "reparsed"]
        rows = con.execute("select dump_file, count(*) from raw.paper_sightings group by all").fetchall()
    assert rows == [(name, original.sightings.height)]


def test_a_file_read_at_last_leaves_the_quarantine_and_one_unreadable_now_leaves_the_marts(
    tmp_path: Path, two_days: list[tuple[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = parsed(two_days)
    with connect(tmp_path / "w.duckdb") as con:
        with monkeypatch.context() as old_parser:
            old_parser.setattr(contract, "PARSER_VERSION", OLD)
            load_dumps(con, [first], [Quarantine(second.dump_file, second.dump_id, second.size_bytes, "old bug")])
        assert dump_state(second.dump_file, second.dump_id, loaded_versions(con)) == "outdated"

        # The new parser reads the file the old one refused, and refuses the one it read.
        load_dumps(con, [second], [Quarantine(first.dump_file, first.dump_id, first.size_bytes, "stricter now")])
        quarantine = con.execute("select dump_file, reason, parser_version from raw.quarantined_dumps").fetchall()
        current = con.execute("select dump_file from raw.dumps where is_current").fetchall()
        sightings = con.execute("select distinct dump_file from raw.paper_sightings").fetchall()
        loaded = loaded_versions(con)
    assert quarantine == [(first.dump_file, "stricter now", contract.PARSER_VERSION)]
    assert current == [(second.dump_file,)]
    assert sightings == [(second.dump_file,)]
    assert loaded[first.dump_file] == Loaded(first.dump_id, contract.PARSER_VERSION)
    assert dump_state(first.dump_file, first.dump_id, loaded) == "loaded"


def test_the_next_batch_is_parsed_while_one_loads_and_no_further_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    for dump in generate_dumps(days=5, papers_per_day=3, seed=5):
        (raw / dump.file_name).write_bytes(dump.render())
    names = sorted(path.name for path in raw.iterdir())
    parses: list[list[str]] = []
    loads: list[list[str]] = []
    real_parse, real_load = ingest_module.parse_batch, ingest_module.load_dumps

    def parse(batch: Sequence[DumpInput]) -> ingest_module.Parsed:
        parses.append([item.dump_file for item in batch])
        return real_parse(batch)

    def load(con: duckdb.DuckDBPyConnection, dumps: Sequence[ParsedDump], *args: object, **kwargs: bool) -> object:
        loads.append([dump.dump_file for dump in dumps])
        ahead = min(len(loads) + 1, 3)  # batches of 2, 2 and 1 file
        deadline = time.monotonic() + 10
        while len(parses) < ahead and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(parses) == ahead, f"while batch {len(loads)} loads, {len(parses)} batch(es) were parsed"
        with con.cursor() as other:  # each batch is committed before the next one is loaded
            committed = other.execute("select count(*) from raw.dumps").fetchone()
        assert committed == (2 * (len(loads) - 1),)
        outcomes = real_load(con, dumps, *args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.1)  # time enough for a parser running further ahead to show itself
        assert len(parses) == ahead, f"by the end of batch {len(loads)}'s load, {len(parses)} were parsed"
        return outcomes

    monkeypatch.setattr(ingest_module, "parse_batch", parse)
    monkeypatch.setattr(ingest_module, "load_dumps", load)
    report = ingest(raw, tmp_path / "w.duckdb", tmp_path / "writer.lock", names, reparse=False, batch_size=2)
    assert parses == loads == [names[0:2], names[2:4], names[4:5]]
    assert [outcome.status for outcome in report.outcomes] == ["loaded"] * 5
