"""The dbt project against a tiny hand-written warehouse: one `dbt build`, then every mart row.

Text dumps: three papers over three dump files. Two files share a date (2024-03-01-a/-b), so the
first-seen file is decided by file name; paper 1 goes none -> promised -> repository; paper 2 is
seen as 'claimed' and later as 'none'.

API (JSON) dumps: Delta is seen first in text file b (claimed in its abstract) and a month later
in the API with an arXiv id and a repository link: one paper, keyed by the arXiv id, first seen in
March, code_source 'api'. Epsilon is only in the API and its title is revised between the two API
days (two title hashes, one arXiv id): still one paper, authors from the latest list.
Expected rows are worked out by hand from the rows below.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from orchestration.defs.dbt_project import DBT_EXECUTABLE, mart_keys
from orchestration.load.warehouse import CATALOG, ROW_GROUP_ROWS, connect
from tests.conftest import MARTS

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO_ROOT / "dbt_project"

# Title hashes (raw title_key). P4 is Delta's title; P5 and P6 are Epsilon's old and revised titles.
P1, P2, P3 = "1111111111111111", "2222222222222222", "3333333333333333"
P4, P5, P6 = "4444444444444444", "5555555555555555", "6666666666666666"
DELTA, EPSILON = "2403.00004", "2404.00005"  # arXiv ids from the API
A, B, C = "2024-03-01-a.json", "2024-03-01-b.json", "2024-04-02.json"
J1, J2 = "2024-04-01-api.json", "2024-04-02-api.json"
MAR1, APR1, APR2 = dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 4, 2)
LOADED = dt.datetime(2024, 4, 3, tzinfo=dt.UTC)
GH_ALPHA = "https://github.com/org/alpha"
SOON_ALPHA = "https://example.org/alpha-soon"
BETA = "https://example.org/beta"
DELTA_CLAIM = "https://example.org/delta"
GH_DELTA = "https://github.com/org/delta"

# dump_id, dump_file, dump_date, size_bytes, n_entries, n_rejected, loaded_at, parser_version,
# is_current, duplicate_of
DUMPS = [
    ("old-a", A, MAR1, 90, 1, 0, LOADED, "1", False, None),
    ("id-a", A, MAR1, 100, 2, 1, LOADED, "1", True, None),
    ("id-b", B, MAR1, 100, 2, 0, LOADED, "1", True, None),
    ("id-c", C, APR2, 100, 3, 0, LOADED, "1", True, None),
    ("id-c", "copy-of-c.json", APR2, 100, 3, 0, LOADED, "1", True, C),
    ("id-j1", J1, APR1, 100, 1, 0, LOADED, "2", True, None),
    ("id-j2", J2, APR2, 100, 2, 0, LOADED, "2", True, None),
]


def text(
    dump_id: str,
    dump_file: str,
    dump_date: dt.date,
    position: int,
    title_key: str,
    title: str,
    layout: str,
    **fields: Any,
) -> dict[str, Any]:
    """A text-dump sighting; unspecified attributes are absent (null, no URLs, status 'none')."""
    return _sighting(
        dump_id, dump_file, dump_date, position, title_key, title, layout=layout, source_format="text", **fields
    )


def api(
    dump_id: str,
    dump_file: str,
    dump_date: dt.date,
    position: int,
    title_key: str,
    title: str,
    arxiv_id: str,
    **fields: Any,
) -> dict[str, Any]:
    """An API (JSON) sighting: an arXiv id, no layout."""
    return _sighting(
        dump_id,
        dump_file,
        dump_date,
        position,
        title_key,
        title,
        arxiv_id=arxiv_id,
        layout=None,
        source_format="api_json",
        **fields,
    )


def _sighting(
    dump_id: str, dump_file: str, dump_date: dt.date, position: int, title_key: str, title: str, **fields: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dump_id": dump_id,
        "dump_file": dump_file,
        "dump_date": dump_date,
        "position": position,
        "title_key": title_key,
        "title": title,
        "abstract": None,
        "n_authors": None,
        "org_handle": None,
        "org_name": None,
        "published_on": None,
        "upvotes": None,
        "urls": [],
        "code_url": None,
        "code_status": "none",
        "code_source": None,
        "arxiv_id": None,
        "n_comments": None,
    }
    row.update(fields)
    return row


# fmt: off
INPUT = [
    # File a: paper 2 listed first, paper 1 second. Paper 2's row has no code_source, like rows
    # loaded before the column existed: the loader's migration fills in 'abstract'.
    text("id-a", A, MAR1, 0, P2, "Beta", "A", n_authors=2, org_handle="lab", org_name="The Lab", upvotes=1,
         urls=[BETA], code_url=BETA, code_status="claimed"),
    text("id-a", A, MAR1, 1, P1, "Alpha", "A", abstract="A1", n_authors=4, published_on=dt.date(2024, 2, 28),
         upvotes=3, urls=[SOON_ALPHA], code_url=SOON_ALPHA, code_status="promised", code_source="abstract"),
    # File b, same date: paper 1 at position 0 (position must not beat the file name); Delta's
    # abstract claims code.
    text("id-b", B, MAR1, 0, P1, "Alpha", "B", published_on=dt.date(2024, 2, 28), upvotes=5),
    text("id-b", B, MAR1, 1, P4, "Delta", "B", n_authors=3, upvotes=2, urls=[DELTA_CLAIM], code_url=DELTA_CLAIM,
         code_status="claimed", code_source="abstract"),
    # File c, a month later.
    text("id-c", C, APR2, 0, P1, "Alpha (v2)", "B", abstract="A2", org_handle="org", org_name="Org", upvotes=2,
         urls=[GH_ALPHA], code_url=GH_ALPHA, code_status="repository", code_source="abstract"),
    text("id-c", C, APR2, 1, P2, "Beta", "B", abstract="B1", n_authors=7, published_on=dt.date(2024, 2, 20)),
    text("id-c", C, APR2, 2, P3, "Gamma", "B"),
    # API day 1: Epsilon under its first title.
    api("id-j1", J1, APR1, 0, P5, "Epsilon", EPSILON, abstract="E1", n_authors=3,
        published_on=dt.date(2024, 3, 30), upvotes=6, n_comments=1),
    # API day 2: Delta with a repository link from the API; Epsilon under its revised title,
    # without a count, like rows of an older parser (the loader's migration counts its author list: 2).
    api("id-j2", J2, APR2, 0, P4, "Delta", DELTA, abstract="D1", n_authors=2, published_on=dt.date(2024, 2, 29),
        upvotes=8, n_comments=0, urls=[GH_DELTA], code_url=GH_DELTA, code_status="repository", code_source="api"),
    api("id-j2", J2, APR2, 1, P6, "Epsilon revisited", EPSILON, abstract="E2", published_on=dt.date(2024, 3, 30),
        upvotes=7),
]

# dump_id, title_key (title hash), author_position, author_name
AUTHORS = [
    ("id-j1", P5, 0, "Eve"), ("id-j1", P5, 1, "Finn"), ("id-j1", P5, 2, "Gus"),
    ("id-j2", P4, 0, "Dana"), ("id-j2", P4, 1, "Dev"),
    ("id-j2", P6, 0, "Eve"), ("id-j2", P6, 1, "Finn"),
]
# fmt: on


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    names = [column[0] for column in cursor.description]
    return [
        {name: round(value, 9) if isinstance(value, float) else value for name, value in zip(names, row, strict=True)}
        for row in cursor.fetchall()
    ]


def dbt(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """dbt from ``DBT_PROJECT`` against ``tmp / "papers.duckdb"``, its target and logs under ``tmp``."""
    env = {
        **os.environ,
        "PAPERS_WAREHOUSE": str(tmp / "papers.duckdb"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    return subprocess.run(
        [
            DBT_EXECUTABLE,
            *args,
            "--profiles-dir",
            str(DBT_PROJECT),
            "--project-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose ``papers.duckdb`` holds ``INPUT`` and the marts ``dbt build`` made of it."""
    tmp = tmp_path_factory.mktemp("dbt")
    warehouse = tmp / "papers.duckdb"
    # The loader's own DDL, so the hand-built warehouse cannot drift from the real one.
    with connect(warehouse) as con:
        con.executemany("insert into raw.dumps values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", DUMPS)
        columns = list(INPUT[0])  # constant names from this file, not data
        con.executemany(
            f"insert into raw.paper_sightings ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",  # noqa: S608
            [[row[column] for column in columns] for row in INPUT],
        )
        con.executemany("insert into raw.paper_authors values (?, ?, ?, ?)", AUTHORS)
        con.execute(
            "insert into raw.rejected_entries values (?, ?, ?, ?, ?, ?)",
            ["id-a", A, 2, 40, "missing title", "<li></li>"],
        )
        con.execute(
            "insert into raw.quarantined_dumps values (?, ?, ?, ?, ?, ?)",
            ["broken.json", None, 12, "not valid JSON", LOADED, "2"],
        )
    # Opened again, as the next pipeline step would: the migrations upgrade the two old-style rows.
    connect(warehouse).close()

    result = dbt(tmp, "build")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "ERROR=0" in result.stdout, result.stdout[-3000:]
    assert "WARN=0" in result.stdout, result.stdout[-3000:]
    return tmp


@pytest.fixture(scope="module")
def marts(built: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(built / "papers.duckdb"), read_only=True)
    yield con
    con.close()


def test_dbt_attaches_the_warehouse_as_the_loader_does(built: Path) -> None:
    """Same name, same row group size (a daily append rewrites only a small last row group), and
    DuckDB's spill folder next to the warehouse rather than in dbt's working directory."""
    query = (
        "select database_name, options['row_group_size'] as row_group_size,"
        " current_setting('temp_directory') as spill from duckdb_databases() where path is not null"
    )
    result = dbt(built, "show", "--inline", query, "--output", "json", "--log-format", "text")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    shown = json.loads(result.stdout[result.stdout.index("{") :])["show"]
    assert shown == [
        {
            "database_name": CATALOG,
            "row_group_size": str(ROW_GROUP_ROWS),
            "spill": f"{built / 'papers.duckdb'}.tmp",
        }
    ]


def test_papers(marts: duckdb.DuckDBPyConnection) -> None:
    # paper_id order: "1111...", "2222...", "2403.00004", "2404.00005", "3333..."
    assert _rows(marts, "select * exclude (sightings_hash) from papers order by paper_id") == [
        {
            # Latest sighting is file c; among the two 2024-03-01 files, b is later than a.
            "paper_id": P1,
            "arxiv_id": None,
            "title": "Alpha (v2)",
            "abstract": "A2",
            "published_on": dt.date(2024, 2, 28),
            "n_authors": 4,  # c and b show none; a shows 4
            "org_handle": "org",
            "org_name": "Org",
            "upvotes_first_seen": 3,  # file a is the earliest sighting (a < b on the same day)
            "upvotes_latest": 2,
            "upvotes_max": 5,
            "code_status": "repository",
            "code_url": GH_ALPHA,
            "code_source": "abstract",
            "first_seen_on": MAR1,
            "last_seen_on": APR2,
            "n_dumps": 3,
        },
        {
            "paper_id": P2,
            "arxiv_id": None,
            "title": "Beta",
            "abstract": "B1",
            "published_on": dt.date(2024, 2, 20),
            "n_authors": 7,
            "org_handle": "lab",
            "org_name": "The Lab",
            "upvotes_first_seen": 1,
            "upvotes_latest": 1,  # file c shows no count
            "upvotes_max": 1,
            "code_status": "claimed",  # a later 'none' does not weaken it
            "code_url": BETA,
            "code_source": "abstract",  # filled in by the migration for a text row without code_source
            "first_seen_on": MAR1,
            "last_seen_on": APR2,
            "n_dumps": 2,
        },
        {
            # Text file b first, API later: one paper keyed by the arXiv id, first seen in March.
            "paper_id": DELTA,
            "arxiv_id": DELTA,
            "title": "Delta",
            "abstract": "D1",
            "published_on": dt.date(2024, 2, 29),
            "n_authors": 2,  # the API (latest) says 2, the older text dump 3
            "org_handle": None,
            "org_name": None,
            "upvotes_first_seen": 2,  # text file b
            "upvotes_latest": 8,
            "upvotes_max": 8,
            "code_status": "repository",  # the API's repository link beats the abstract's claim
            "code_url": GH_DELTA,
            "code_source": "api",
            "first_seen_on": MAR1,
            "last_seen_on": APR2,
            "n_dumps": 2,
        },
        {
            # Two titles (two title hashes), one arXiv id: one paper, latest title.
            "paper_id": EPSILON,
            "arxiv_id": EPSILON,
            "title": "Epsilon revisited",
            "abstract": "E2",
            "published_on": dt.date(2024, 3, 30),
            "n_authors": 2,  # no count on day 2: the migration counts day 2's author list
            "org_handle": None,
            "org_name": None,
            "upvotes_first_seen": 6,
            "upvotes_latest": 7,
            "upvotes_max": 7,
            "code_status": "none",
            "code_url": None,
            "code_source": None,
            "first_seen_on": APR1,
            "last_seen_on": APR2,
            "n_dumps": 2,
        },
        {
            "paper_id": P3,
            "arxiv_id": None,
            "title": "Gamma",
            "abstract": None,
            "published_on": None,
            "n_authors": None,
            "org_handle": None,
            "org_name": None,
            "upvotes_first_seen": None,
            "upvotes_latest": None,
            "upvotes_max": None,
            "code_status": "none",
            "code_url": None,
            "code_source": None,
            "first_seen_on": APR2,
            "last_seen_on": APR2,
            "n_dumps": 1,
        },
    ]


# fmt: off
def test_paper_identity(marts: duckdb.DuckDBPyConnection) -> None:
    assert _rows(marts, "select * from intermediate.int_paper_identity order by title_key") == [
        {"title_key": P1, "paper_id": P1, "arxiv_id": None, "n_arxiv_ids": 0},
        {"title_key": P2, "paper_id": P2, "arxiv_id": None, "n_arxiv_ids": 0},
        {"title_key": P3, "paper_id": P3, "arxiv_id": None, "n_arxiv_ids": 0},
        {"title_key": P4, "paper_id": DELTA, "arxiv_id": DELTA, "n_arxiv_ids": 1},
        {"title_key": P5, "paper_id": EPSILON, "arxiv_id": EPSILON, "n_arxiv_ids": 1},
        {"title_key": P6, "paper_id": EPSILON, "arxiv_id": EPSILON, "n_arxiv_ids": 1},
    ]


def test_paper_first_seen(marts: duckdb.DuckDBPyConnection) -> None:
    assert _rows(marts, "select * from paper_first_seen order by paper_id") == [
        # Paper 1 is in both 2024-03-01 files: a wins on file name although it sits at position 1 there.
        {"paper_id": P1, "first_seen_on": MAR1, "first_seen_file": A, "published_on": dt.date(2024, 2, 28),
         "days_to_first_seen": 2},  # 2024 is a leap year
        {"paper_id": P2, "first_seen_on": MAR1, "first_seen_file": A, "published_on": dt.date(2024, 2, 20),
         "days_to_first_seen": 10},
        # Delta keeps the text dump's first sighting although the API showed it only in April.
        {"paper_id": DELTA, "first_seen_on": MAR1, "first_seen_file": B, "published_on": dt.date(2024, 2, 29),
         "days_to_first_seen": 1},
        {"paper_id": EPSILON, "first_seen_on": APR1, "first_seen_file": J1, "published_on": dt.date(2024, 3, 30),
         "days_to_first_seen": 2},
        {"paper_id": P3, "first_seen_on": APR2, "first_seen_file": C, "published_on": None,
         "days_to_first_seen": None},
    ]


def test_authors(marts: duckdb.DuckDBPyConnection) -> None:
    assert _rows(marts, "select * from authors_per_paper order by paper_id") == [
        {"paper_id": P1, "title": "Alpha (v2)", "published_on": dt.date(2024, 2, 28), "n_authors": 4,
         "author_names": None},
        {"paper_id": P2, "title": "Beta", "published_on": dt.date(2024, 2, 20), "n_authors": 7,
         "author_names": None},
        {"paper_id": DELTA, "title": "Delta", "published_on": dt.date(2024, 2, 29), "n_authors": 2,
         "author_names": ["Dana", "Dev"]},
        # Epsilon's latest list (day 2) has two names; day 1's third author is not merged in.
        {"paper_id": EPSILON, "title": "Epsilon revisited", "published_on": dt.date(2024, 3, 30), "n_authors": 2,
         "author_names": ["Eve", "Finn"]},
        {"paper_id": P3, "title": "Gamma", "published_on": None, "n_authors": None, "author_names": None},
    ]
    assert _rows(marts, "select * from paper_authors order by paper_id, author_position") == [
        {"paper_id": DELTA, "author_position": 0, "author_name": "Dana"},
        {"paper_id": DELTA, "author_position": 1, "author_name": "Dev"},
        {"paper_id": EPSILON, "author_position": 0, "author_name": "Eve"},
        {"paper_id": EPSILON, "author_position": 1, "author_name": "Finn"},
    ]
    assert _rows(marts, "select * from author_count_summary order by published_year nulls last") == [
        # counts 4, 7, 2, 2 -> sorted 2, 2, 4, 7: mean 3.75, median (2 + 4) / 2 = 3,
        # p90 at rank 0.9 * 3 = 2.7: 4 + 0.7 * (7 - 4) = 6.1
        {"published_year": 2024, "n_papers": 4, "n_papers_with_count": 4, "mean_authors": 3.75,
         "median_authors": 3.0, "p90_authors": 6.1},
        {"published_year": None, "n_papers": 1, "n_papers_with_count": 0, "mean_authors": None,
         "median_authors": None, "p90_authors": None},
    ]


def test_paper_upvotes_daily(marts: duckdb.DuckDBPyConnection) -> None:
    assert _rows(marts, "select * from paper_upvotes_daily order by paper_id, seen_on") == [
        # Files a (3) and b (5) on the same day: the highest count.
        {"paper_id": P1, "seen_on": MAR1, "upvotes": 5, "n_sightings": 2},
        {"paper_id": P1, "seen_on": APR2, "upvotes": 2, "n_sightings": 1},
        {"paper_id": P2, "seen_on": MAR1, "upvotes": 1, "n_sightings": 1},
        # Seen without a count: the day is kept, upvotes null.
        {"paper_id": P2, "seen_on": APR2, "upvotes": None, "n_sightings": 1},
        # Text day then API day, one history.
        {"paper_id": DELTA, "seen_on": MAR1, "upvotes": 2, "n_sightings": 1},
        {"paper_id": DELTA, "seen_on": APR2, "upvotes": 8, "n_sightings": 1},
        {"paper_id": EPSILON, "seen_on": APR1, "upvotes": 6, "n_sightings": 1},
        {"paper_id": EPSILON, "seen_on": APR2, "upvotes": 7, "n_sightings": 1},
        {"paper_id": P3, "seen_on": APR2, "upvotes": None, "n_sightings": 1},
    ]


def test_code_release_rates(marts: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(marts, "select * from code_release_rates order by period desc, first_seen_month")
    assert rows == [
        # March: paper 1 (repository), paper 2 (claimed), Delta (repository; first seen in a March text dump).
        {"period": "month", "first_seen_month": dt.date(2024, 3, 1), "n_papers": 3, "n_repository": 2,
         "n_claimed": 1, "n_promised": 0, "n_none": 0, "code_release_rate": 1.0, "repository_rate": round(2 / 3, 9),
         "promise_rate": 0.0},
        # April: Epsilon and paper 3 (none).
        {"period": "month", "first_seen_month": dt.date(2024, 4, 1), "n_papers": 2, "n_repository": 0,
         "n_claimed": 0, "n_promised": 0, "n_none": 2, "code_release_rate": 0.0, "repository_rate": 0.0,
         "promise_rate": 0.0},
        {"period": "all", "first_seen_month": None, "n_papers": 5, "n_repository": 2, "n_claimed": 1,
         "n_promised": 0, "n_none": 2, "code_release_rate": 0.6, "repository_rate": 0.4, "promise_rate": 0.0},
    ]
    assert _rows(marts, "select * from code_release_rates_by_year order by published_year nulls last") == [
        {"published_year": 2024, "n_papers": 4, "n_repository": 2, "n_claimed": 1, "n_promised": 0, "n_none": 1,
         "code_release_rate": 0.75, "repository_rate": 0.5, "promise_rate": 0.0},
        {"published_year": None, "n_papers": 1, "n_repository": 0, "n_claimed": 0, "n_promised": 0, "n_none": 1,
         "code_release_rate": 0.0, "repository_rate": 0.0, "promise_rate": 0.0},
    ]


# fmt: on


def test_marts_are_tables_in_main_and_staging_views_apart(marts: duckdb.DuckDBPyConnection) -> None:
    tables = dict(
        marts.execute(
            "select table_schema || '.' || table_name, table_type from information_schema.tables"
            " where table_schema in ('main', 'intermediate', 'staging')"
        ).fetchall()
    )
    assert tables == {
        **{f"main.{name}": "BASE TABLE" for name in MARTS},
        **{f"intermediate.int_{name}": "VIEW" for name in ("paper_identity", "paper_sightings")},
        **{
            f"staging.stg_raw__{name}": "VIEW"
            for name in ("paper_sightings", "paper_authors", "dumps", "rejected_entries", "quarantined_dumps")
        },
    }


def test_required_columns_are_enforced_by_duckdb(marts: duckdb.DuckDBPyConnection) -> None:
    """The marts' not-null rules are contract constraints: the table dbt built refuses, in DuckDB
    itself, a row that breaks one. Keys are data tests (below), so DuckDB builds no index for them."""
    ddl = marts.execute(
        "select sql from duckdb_tables() where schema_name = 'main' and table_name = 'papers'"
    ).fetchone()
    cursor = marts.execute("select * from main.papers order by paper_id limit 1")
    names = [column[0] for column in cursor.description]
    row = cursor.fetchone()
    assert ddl is not None
    assert row is not None
    placeholders = ", ".join("?" for _ in row)
    with duckdb.connect() as scratch:
        scratch.execute(ddl[0].replace("main.papers", "papers"))
        insert = f"insert into papers values ({placeholders})"  # noqa: S608  # placeholders only
        scratch.execute(insert, list(row))
        titleless = {**dict(zip(names, row, strict=True)), "paper_id": "another-paper", "title": None}
        with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
            scratch.execute(insert, list(titleless.values()))
    indexed = marts.execute("select table_name from duckdb_indexes() where schema_name = 'main'").fetchall()
    assert indexed == [], "a key constraint builds an index on every write"


def test_each_paper_level_mart_has_a_primary_key_test_that_fails_on_a_repeated_key(built: Path, tmp_path: Path) -> None:
    """The keys the served tables get (``mart_keys``) are the marts' ``primary_key`` tests, and each
    of them fails when a row of its mart appears twice."""
    keys = mart_keys(built / "target" / "manifest.json")
    assert keys == {
        "papers": ["paper_id"],
        "paper_first_seen": ["paper_id"],
        "authors_per_paper": ["paper_id"],
        "paper_authors": ["paper_id", "author_position"],
        "paper_upvotes_daily": ["paper_id", "seen_on"],
    }
    shutil.copy(built / "papers.duckdb", tmp_path / "papers.duckdb")
    with duckdb.connect(str(tmp_path / "papers.duckdb")) as con:
        for mart in keys:
            con.execute(f"insert into main.{mart} select * from main.{mart} limit 1")  # noqa: S608  # mart names from the manifest

    result = dbt(tmp_path, "test", "--select", "test_name:primary_key")

    assert result.returncode != 0
    failed = {line.split(" FAIL 1 ")[1].split()[0] for line in result.stdout.splitlines() if " FAIL 1 " in line}
    expected = {f"primary_key_{mart}_{'__'.join(columns)}" for mart, columns in keys.items()}
    assert failed == expected, result.stdout[-3000:]
