"""The marts served from a real PostgreSQL server (``PAPERS_SERVE_URL``): copies, swaps, the reader role.

The pipeline's own runs with the variable set are covered in ``test_team_postgres.py``; here the
publish itself is put under pressure: readers polling through a sequence of publishes, a
publisher killed at the swap and at random points of the copy, and the reader role's limits.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from orchestration.defs.dbt_project import mart_keys
from orchestration.load.serve import HASHES, READER_ROLE, SCHEMA, publish_marts, served_build, snapshot_build
from tests.conftest import MARTS, REPO_ROOT, Workspace
from tests.dagster_dev import free_port
from tests.postgres import Postgres, duckdb_marts, new_password, postgres_server, served_marts
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow

KEYS = mart_keys()
PUBLISHER = "papers_publisher"
ANALYST = "analyst"


@pytest.fixture(scope="module")
def server() -> Iterator[Postgres]:
    with postgres_server() as running:
        yield running


def serve_database(server: Postgres, name: str) -> tuple[str, str]:
    """A database owned by a new publishing role, and the URL of an analyst who is a papers_reader."""
    url = server.create_database(name, owner=f"{PUBLISHER}_{name}")
    analyst, password = f"{ANALYST}_{name}", new_password()
    with server.admin() as con:
        if not con.execute("select 1 from pg_roles where rolname = %s", [READER_ROLE]).fetchone():
            con.execute(sql.SQL("create role {} nologin").format(sql.Identifier(READER_ROLE)))
        con.execute(
            sql.SQL("create role {} login password {} in role {}").format(
                sql.Identifier(analyst), sql.Literal(password), sql.Identifier(READER_ROLE)
            )
        )
    return url, server.url(analyst, password, name)


def growing_snapshots(built: Workspace, folder: Path, steps: int) -> list[Path]:
    """Copies of the built snapshot holding the papers first seen up to later and later days."""
    with duckdb.connect(str(built.snapshot), read_only=True) as con:
        days = [
            row[0]
            for row in con.execute("select distinct first_seen_on from main.paper_first_seen order by 1").fetchall()
        ]
    cuts = [days[(len(days) - 1) * (step + 1) // steps] for step in range(steps)]
    copies = []
    for step, cut in enumerate(cuts):
        copy = folder / f"step{step}.duckdb"
        shutil.copy(built.snapshot, copy)
        with duckdb.connect(str(copy)) as con:
            con.execute("delete from main.papers where first_seen_on > ?", [cut])
            con.execute("delete from main.paper_first_seen where first_seen_on > ?", [cut])
            con.execute("update raw.build_state set built_at = built_at + to_seconds(?)", [step])
        copies.append(copy)
    return copies


def changed_copy(snapshot: Path, copy: Path, *statements: str) -> Path:
    """A copy of ``snapshot`` changed by ``statements``, with a later build stamp."""
    shutil.copy(snapshot, copy)
    with duckdb.connect(str(copy)) as con:
        for statement in statements:
            con.execute(statement)
        con.execute("update raw.build_state set built_at = built_at + interval 1 hour")
    return copy


def test_publishes_write_only_the_rows_that_changed_and_serve_the_snapshot(
    server: Postgres, built_workspace: Workspace, tmp_path: Path
) -> None:
    url, _ = serve_database(server, "changes")
    assert served_build(url) is None, "nothing is served before the first publish"
    snapshot = built_workspace.snapshot
    changed = changed_copy(
        snapshot,
        tmp_path / "changed.duckdb",
        "update main.papers set upvotes_latest = coalesce(upvotes_latest, 0) + 1"
        " where paper_id in (select paper_id from main.papers order by paper_id limit 3)",
        "update main.papers set title = title || '.' where paper_id = (select max(paper_id) from main.papers)",
        "delete from main.paper_first_seen where paper_id in (select min(paper_id) from main.paper_first_seen)",
        "delete from main.paper_upvotes_daily where seen_on = (select max(seen_on) from main.paper_upvotes_daily)",
    )

    first = publish_marts(snapshot, url, keys=KEYS)
    assert (first.mode, first.copied) == ("whole", first.rows)
    assert served_marts(url) == duckdb_marts(snapshot)
    assert set(first.rows) == set(MARTS)
    assert first.rows["papers"] == len(duckdb_marts(snapshot)["papers"]) > 0
    assert served_build(url) == snapshot_build(snapshot) != ""

    second = publish_marts(changed, url, keys=KEYS)
    assert second.mode == "changes"
    assert served_marts(url) == duckdb_marts(changed)
    assert served_build(url) == snapshot_build(changed) != snapshot_build(snapshot)
    assert second.copied["papers"] == 4, "three new upvote counts and one new title"
    assert second.copied["paper_first_seen"] == second.copied["paper_upvotes_daily"] == 0, "rows only deleted"
    assert second.copied["authors_per_paper"] == 0

    third = publish_marts(snapshot, url, keys=KEYS)
    assert third.mode == "changes"
    assert served_marts(url) == duckdb_marts(snapshot), "deleted rows come back"
    with server.admin("changes") as con:
        schemas = {row[0] for row in con.execute("select nspname from pg_namespace where nspname like 'papers%'")}
    assert schemas == {SCHEMA, HASHES}, "no half-built schema is left next to the served one"


def test_a_mart_whose_columns_changed_is_published_whole(
    server: Postgres, built_workspace: Workspace, tmp_path: Path
) -> None:
    url, _ = serve_database(server, "layout")
    publish_marts(built_workspace.snapshot, url, keys=KEYS)
    wider = changed_copy(
        built_workspace.snapshot, tmp_path / "wider.duckdb", "alter table main.paper_authors add column note varchar"
    )

    published = publish_marts(wider, url, keys=KEYS)

    assert published.mode == "whole"
    assert served_marts(url) == duckdb_marts(wider)
    with psycopg.connect(url) as con:
        columns = con.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = 'paper_authors' order by ordinal_position",
            [SCHEMA],
        ).fetchall()
    assert columns[-1] == ("note",)
    with psycopg.connect(url) as con:
        con.execute("drop schema papers cascade")  # by hand: the next publish builds it again
    assert publish_marts(wider, url, keys=KEYS).mode == "whole"
    assert served_marts(url) == duckdb_marts(wider)


def test_reader_role_reads_every_mart_and_nothing_else(server: Postgres, built_workspace: Workspace) -> None:
    url, analyst_url = serve_database(server, "reader")
    with psycopg.connect(url) as owner:  # a table of the publisher's outside the served schema
        owner.execute("create schema raw")
        owner.execute("create table raw.dumps (dump_file text)")
        owner.execute("create schema staging")
        owner.execute("create view staging.stg_raw__dumps as select * from raw.dumps")
    publish_marts(built_workspace.snapshot, url, keys=KEYS)

    with psycopg.connect(analyst_url, autocommit=True) as analyst:
        for mart in MARTS:
            analyst.execute(sql.SQL("select * from {}.{} limit 1").format(sql.Identifier(SCHEMA), sql.Identifier(mart)))
        refused = [
            "insert into papers.papers (paper_id) values ('x')",
            "update papers.papers set title = 'x'",
            "delete from papers.paper_first_seen",
            "truncate papers.papers",
            "drop table papers.papers",
            "create table papers.notes (note text)",
            "create view papers.notes as select 1 as one",
            "create table public.notes (note text)",
            "create schema notes",
            "alter table papers.papers add column note text",
            "select * from raw.dumps",
            "select * from staging.stg_raw__dumps",
        ]
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                analyst.execute(statement)
        readable = analyst.execute(
            "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where c.relkind in ('r', 'v', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema')"
            " and has_table_privilege(c.oid, 'select') order by 1"
        ).fetchall()
    assert [row[0] for row in readable] == sorted(f"{SCHEMA}.{mart}" for mart in MARTS)


def test_readers_polling_through_publishes_see_whole_copies(
    server: Postgres, built_workspace: Workspace, tmp_path: Path
) -> None:
    url, analyst_url = serve_database(server, "polled")
    snapshots = growing_snapshots(built_workspace, tmp_path, steps=6)
    publish_marts(snapshots[0], url, keys=KEYS)
    seen: dict[float, list[tuple[int, int, int]]] = {0.1: [], 0.0: []}
    errors: list[str] = []
    stop = threading.Event()

    def poll(pause_s: float) -> None:
        with psycopg.connect(analyst_url, autocommit=True) as con:
            while not stop.is_set():
                try:
                    row = con.execute(
                        "select (select count(*) from papers.papers), (select count(*) from papers.paper_first_seen),"
                        " (select count(*) from papers.paper_first_seen f"
                        "  where not exists (select from papers.papers p where p.paper_id = f.paper_id))"
                    ).fetchone()
                    assert row is not None
                    seen[pause_s].append(row)
                except psycopg.Error as error:
                    errors.append(str(error))
                time.sleep(pause_s)

    # One reader polls every 100 ms, the other as fast as it can, to meet the swap as often as possible.
    readers = [threading.Thread(target=poll, args=(pause,)) for pause in seen]
    for reader in readers:
        reader.start()
    try:
        for snapshot in snapshots[1:]:
            publish_marts(snapshot, url, keys=KEYS)
            time.sleep(0.3)
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert errors == []
    answers = [row for rows in seen.values() for row in rows]
    assert len(seen[0.1]) > 10
    assert all(orphans == 0 for _, _, orphans in answers), "every paper_first_seen row has its paper"
    assert all(papers == first_seen for papers, first_seen, _ in answers), "both marts come from one copy"
    for rows in seen.values():
        counts = [papers for papers, _, _ in rows]
        assert counts == sorted(counts), "a reader never goes back to an older copy"
        assert len(set(counts)) >= 3, "the reader saw several publishes"
    assert served_marts(url) == duckdb_marts(snapshots[-1])


PUBLISH_SCRIPT = "import sys; from pathlib import Path; from orchestration.load.serve import publish_marts;"
PUBLISH_SCRIPT += " from orchestration.defs.dbt_project import mart_keys;"
PUBLISH_SCRIPT += " publish_marts(Path(sys.argv[1]), sys.argv[2], keys=mart_keys())"


def start_publish(snapshot: Path, url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PUBLISH_SCRIPT, str(snapshot), url],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def old_copy_served(server: Postgres, name: str, built: Workspace, folder: Path) -> tuple[str, str, Path, Path]:
    """A database that serves an older copy of the built marts; returns its URLs and the old and new snapshots."""
    url, analyst_url = serve_database(server, name)
    old, new = growing_snapshots(built, folder, steps=2)
    publish_marts(old, url, keys=KEYS)
    return url, analyst_url, old, new


@pytest.mark.parametrize("path", ["whole", "changes"])
def test_a_publish_killed_while_it_waits_to_commit_leaves_the_previous_copy(
    server: Postgres, built_workspace: Workspace, tmp_path: Path, path: str
) -> None:
    database = f"killed_{path}"
    url, analyst_url, old, new = old_copy_served(server, database, built_workspace, tmp_path)
    if path == "whole":  # a new column: the copy is built aside, and the swap waits for the reader's lock
        new = changed_copy(new, tmp_path / "wider.duckdb", "alter table main.papers add column note varchar")
        holder = psycopg.connect(analyst_url)
        holder.execute("select count(*) from papers.papers")
    else:  # the changed rows are written in place, which a share lock on the table holds back
        holder = server.admin(database)
        holder.autocommit = False
        holder.execute("lock table papers.papers in share mode")
    with holder, server.admin(database) as admin:
        publisher = start_publish(new, url)
        deadline = time.monotonic() + 60
        while not admin.execute(
            "select 1 from pg_stat_activity where datname = %s and wait_event_type = 'Lock'", [database]
        ).fetchone():
            assert publisher.poll() is None, "the publisher stopped before it waited for the lock"
            assert time.monotonic() < deadline, "the publisher never waited for the lock"
            time.sleep(0.05)
        publisher.send_signal(signal.SIGKILL)
        publisher.wait()
        holder.rollback()

    assert served_marts(url) == duckdb_marts(old)
    assert served_build(url) == snapshot_build(old)
    assert publish_marts(new, url, keys=KEYS).mode == path
    assert served_marts(url) == duckdb_marts(new)
    with server.admin(database) as admin:
        assert not admin.execute("select 1 from pg_namespace where nspname like %s", ["%\\_\\_next"]).fetchone()


def test_a_publish_killed_at_random_points_leaves_a_whole_copy(
    server: Postgres, built_workspace: Workspace, tmp_path: Path
) -> None:
    url, _, old, new = old_copy_served(server, "killed_copy", built_workspace, tmp_path)
    started = time.perf_counter()
    publish_marts(new, url, keys=KEYS)
    duration = time.perf_counter() - started
    publish_marts(old, url, keys=KEYS)
    versions = {"old": duckdb_marts(old), "new": duckdb_marts(new)}
    outcomes = []
    chance = random.Random(17)
    for _ in range(8):
        publisher = start_publish(new, url)
        # The child's imports take most of its life; aim at the part after them.
        time.sleep(chance.uniform(0.5, 1.5 + duration))
        publisher.send_signal(signal.SIGKILL)
        publisher.wait()
        served = served_marts(url)
        outcome = next((name for name, marts in versions.items() if served == marts), "neither")
        outcomes.append(outcome)
        if outcome == "new":
            publish_marts(old, url, keys=KEYS)
    assert "neither" not in outcomes, outcomes
    assert "old" in outcomes, f"no kill landed before the swap: {outcomes}"
    publish_marts(new, url, keys=KEYS)
    assert served_marts(url) == versions["new"]


def test_an_unreachable_server_fails_the_publish_in_one_line_and_keeps_the_warehouse(workspace: Workspace) -> None:
    write_dumps(workspace.raw_dir, generate_dumps(days=2, papers_per_day=5, seed=23))
    port, hidden = free_port(), new_password()  # nothing listens there
    url = URL.create("postgresql", "publisher", hidden, "127.0.0.1", port, "marts")
    env = {"PAPERS_SERVE_URL": url.render_as_string(hide_password=False)}

    result = workspace.make_run(env=env)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert hidden not in output
    [message] = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert f"PAPERS_SERVE_URL: could not connect (PostgreSQL server 127.0.0.1:{port}/marts)" in message
    assert "Connection refused" in message
    assert "the previous served copy stays in place" in message
    with duckdb.connect(str(workspace.snapshot), read_only=True) as con:
        assert con.execute("select count(*) from raw.dumps").fetchone() == (2,), "the snapshot has both dumps"
    assert duckdb_marts(workspace.snapshot)["papers"], "and the marts built from them"
    again = workspace.make_run(env=env)
    assert "Publishing the marts to PostgreSQL" in again.stdout, "the next run tries the publish again"
    assert again.returncode == 1
