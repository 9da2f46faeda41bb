"""Reruns that rerun: ``make run DUMPS=...`` re-parses, and a parser upgrade reaches an existing warehouse.

A rerun is checked on a warehouse whose rows were tampered with by hand: only a real re-parse
puts the parser's rows back. The parser upgrade is simulated honestly: the first build runs
under an "old parser" (another ``PARSER_VERSION``, and titles it got wrong), then the real
code runs and must leave exactly what a clean build with the real parser leaves.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.ingestion import SIGHTINGS_KEY
from orchestration.parse import contract
from tests.conftest import REPO_ROOT, Workspace, new_workspace, table_contents
from tests.synthetic import generate_dumps, write_dumps

# Runs ``make run`` as an older release would have: its own parser version, and a title bug.
OLD_PARSER = r"""
import dataclasses
import runpy
import polars as pl
import orchestration.parse.contract as contract
import orchestration.load.ingest as ingest

contract.PARSER_VERSION = "0-old"
parse_batch = ingest.parse_batch

def old_parse_batch(batch):
    parsed, rejected = parse_batch(batch)
    wrong = [pl.col("title") + " (old parser)"]
    return [dataclasses.replace(d, sightings=d.sightings.with_columns(wrong)) for d in parsed], rejected

ingest.parse_batch = old_parse_batch
runpy.run_module("orchestration.run", run_name="__main__")
"""


def make_run(workspace: Workspace, *args: str, driver: str | None = None) -> subprocess.CompletedProcess[str]:
    if driver:
        result = subprocess.run(
            [sys.executable, "-c", driver], cwd=REPO_ROOT, env=workspace.env(), capture_output=True, text=True
        )
    else:
        result = workspace.make_run(*args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def ledger(path: Path) -> dict[str, tuple[dt.datetime, str]]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select dump_file, loaded_at, parser_version from raw.dumps where is_current").fetchall()
    return {file: (loaded_at, version) for file, loaded_at, version in rows}


def tamper(workspace: Workspace, dump_file: str) -> None:
    """Change a dump's rows by hand, in the live warehouse and in the snapshot that plans read."""
    for path in (workspace.warehouse, workspace.snapshot):
        with duckdb.connect(str(path)) as con:
            con.execute("update raw.paper_sightings set title = 'tampered' where dump_file = ?", [dump_file])


def tampered(path: Path) -> list[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select distinct dump_file from raw.paper_sightings where title = 'tampered'").fetchall()
    return sorted(file for (file,) in rows)


@pytest.mark.slow
def test_make_run_with_dumps_reparses_exactly_those_dumps(workspace: Workspace) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=5, papers_per_day=6, seed=12), output_format="mixed")
    names = [path.name for path in paths]
    make_run(workspace)
    clean = table_contents(workspace.snapshot)
    before = ledger(workspace.snapshot)

    for name in names:
        tamper(workspace, name)
    # A plain run trusts the ledger: same content, same parser, nothing to do.
    assert "up to date" in make_run(workspace).stdout
    assert tampered(workspace.snapshot) == sorted(names)

    one = make_run(workspace, "--dumps", names[2])
    assert "Re-parsing 1 dump(s) as asked and replacing their rows in one Dagster run" in one.stdout
    assert tampered(workspace.snapshot) == sorted(set(names) - {names[2]})
    after = ledger(workspace.snapshot)
    assert after[names[2]][0] > before[names[2]][0]
    assert {n: after[n] for n in names if n != names[2]} == {n: before[n] for n in names if n != names[2]}
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        event = instance.get_latest_materialization_event(SIGHTINGS_KEY)
        assert event is not None
        assert event.asset_materialization is not None
        metadata = event.asset_materialization.metadata
    assert metadata["dumps_reparsed"].value == 1
    assert metadata["dumps_unchanged"].value == 0

    # Two dumps that are not neighbours: two ingest runs over their own partitions, then one build.
    two = make_run(workspace, "--dumps", f"{names[0]},{names[4]}")
    assert "Re-parsing 2 dump(s) as asked and replacing their rows in 3 Dagster runs" in two.stdout
    assert tampered(workspace.snapshot) == sorted({names[1], names[3]})

    # The re-parsed dumps hold exactly the rows of the first, clean build.
    rerun = {names[0], names[2], names[4]}

    def rows_of_reruns(contents: dict[str, list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
        return [row for row in contents["raw.paper_sightings"] if row[1] in rerun]  # row[1]: dump_file

    assert rows_of_reruns(table_contents(workspace.snapshot)) == rows_of_reruns(clean)


def test_make_run_refuses_a_dump_that_is_not_in_the_raw_folder(workspace: Workspace) -> None:
    write_dumps(workspace.raw_dir, generate_dumps(days=1, papers_per_day=2, seed=12))
    result = workspace.make_run("--dumps", "2026-13-01.txt")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "DUMPS: '2026-13-01.txt' not in the raw folder" in result.stderr
    assert not workspace.warehouse.exists()


@pytest.mark.slow
def test_a_parser_upgrade_reparses_every_dump_an_older_parser_loaded(workspace: Workspace, tmp_path: Path) -> None:
    dumps = list(generate_dumps(days=6, papers_per_day=6, seed=14))
    write_dumps(workspace.raw_dir, dumps, output_format="mixed")
    reference = new_workspace(tmp_path / "reference")
    write_dumps(reference.raw_dir, dumps, output_format="mixed")
    make_run(reference)

    make_run(workspace, driver=OLD_PARSER)
    with duckdb.connect(str(workspace.snapshot), read_only=True) as con:
        old_titles = con.execute("select count(*) from papers where title like '% (old parser)'").fetchone()
    assert old_titles == (len(table_contents(reference.snapshot)["main.papers"]),)
    assert {version for _, version in ledger(workspace.snapshot).values()} == {"0-old"}

    upgrade = make_run(workspace)
    assert (
        f"Re-parsing {len(dumps)} dump(s) read by an older parser (now version {contract.PARSER_VERSION})"
        " in one Dagster run" in upgrade.stdout
    )
    assert {version for _, version in ledger(workspace.snapshot).values()} == {contract.PARSER_VERSION}
    assert table_contents(workspace.snapshot) == table_contents(reference.snapshot)

    # Nothing left to do: the next run launches nothing.
    assert "up to date" in make_run(workspace).stdout


def arxiv_ids(snapshot: Path) -> dict[str, str | None]:
    """Each title hash in the raw sightings -> the arXiv id any of its sightings carries (None: text only)."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute("select title_key, max(arxiv_id) from raw.paper_sightings group by title_key").fetchall()
    return dict(rows)


@pytest.mark.slow
def test_marts_after_increments_a_changed_dump_and_a_rerun_equal_a_full_rebuild(
    workspace: Workspace, tmp_path: Path
) -> None:
    dumps = list(generate_dumps(days=4, papers_per_day=6, seed=21))
    write_dumps(workspace.raw_dir, dumps[:2])
    make_run(workspace)
    first_build = arxiv_ids(workspace.snapshot)
    # The next increment brings two new days, the second from the API (arXiv ids for titles the
    # text dumps showed), and changes one already loaded: saved again without the papers no other
    # day shows, and with those of the same day generated from another seed.
    elsewhere = {entry.title for dump in dumps[1:] for entry in dump.entries}
    other_seed = next(d for d in generate_dumps(days=4, papers_per_day=5, seed=22) if d.file_name == dumps[0].file_name)
    kept = tuple(entry for entry in dumps[0].entries if entry.title in elsewhere)
    changed = dataclasses.replace(dumps[0], entries=kept + other_seed.entries)
    write_dumps(workspace.raw_dir, dumps[2:3])
    write_dumps(workspace.raw_dir, dumps[3:], output_format="api_json")
    write_dumps(workspace.raw_dir, [changed], overwrite=True)
    make_run(workspace)
    make_run(workspace, "--dumps", dumps[2].file_name)
    # `papers` is built incrementally: the cases it must get right happened here.
    later = arxiv_ids(workspace.snapshot)
    assert set(first_build) - set(later), "no paper lost its every sighting"
    assert any(first_build[key] is None and later.get(key) for key in first_build), "no text-only paper got an arXiv id"

    reference = new_workspace(tmp_path / "reference")
    for path in sorted(workspace.raw_dir.iterdir()):
        (reference.raw_dir / path.name).write_bytes(path.read_bytes())
    make_run(reference)

    # The ledger keeps the replaced dump's history; everything else must be identical.
    increments, rebuild = table_contents(workspace.snapshot), table_contents(reference.snapshot)
    assert len(increments.pop("raw.dumps")) == len(rebuild.pop("raw.dumps")) + 1
    assert increments == rebuild
