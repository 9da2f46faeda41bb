"""One declaration of the raw tables (``contract.RAW_TABLES``), and everything that must agree with it.

The DDL the loader runs, dbt's ``__sources.yml`` and the staging models' ``_staging.yml`` are
checked column for column against the declaration; a warehouse written by an older version
(its DDL written out literally below) is opened through ``connect`` and must come out upgraded
with its rows intact.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
import yaml

from orchestration.load.ledger import Loaded, loaded_versions
from orchestration.load.warehouse import MIGRATIONS, ROW_GROUP_ROWS, connect
from orchestration.parse import contract
from tests.conftest import REPO_ROOT

STAGING = REPO_ROOT / "dbt_project" / "models" / "staging"
# Raw tables that are no dbt source: written and read by the loader alone.
NOT_SOURCES = {"build_state"}
# How staging names a raw column, where it does not keep the name.
STAGING_RENAMES = {"position": "entry_position"}
# Columns a staging model adds to its source's.
STAGING_ADDS = {"stg_raw__dumps": ["is_duplicate"]}


def declared(table: str) -> list[str]:
    return [column.name for column in contract.RAW_TABLES[table]]


def sources() -> dict[str, list[str]]:
    document = yaml.safe_load((STAGING / "__sources.yml").read_text())
    (raw,) = [source for source in document["sources"] if source["name"] == "raw"]
    return {table["name"]: [column["name"] for column in table.get("columns", [])] for table in raw["tables"]}


def staging_models() -> dict[str, list[str]]:
    document = yaml.safe_load((STAGING / "_staging.yml").read_text())
    return {model["name"]: [column["name"] for column in model.get("columns", [])] for model in document["models"]}


def referenced_columns(model: Path) -> set[str]:
    """Every column name a staging model's SQL refers to (parsed by sqlglot, which dagster-dbt brings)."""
    sql = re.sub(r"\{\{\s*source\('(\w+)',\s*'(\w+)'\)\s*\}\}", r"\1.\2", model.read_text())
    return {column.name for column in sqlglot.parse_one(sql, read="duckdb").find_all(sqlglot.exp.Column)}


def test_dbt_sources_declare_the_raw_tables_column_for_column() -> None:
    found = sources()
    assert set(found) == set(contract.RAW_TABLES) - NOT_SOURCES
    for table, columns in found.items():
        assert columns == declared(table), f"__sources.yml: raw.{table} disagrees with contract.RAW_TABLES"


def test_each_staging_model_passes_on_every_source_column() -> None:
    models = staging_models()
    assert set(models) == {f"stg_raw__{table}" for table in sources()}
    for model, columns in models.items():
        table = model.removeprefix("stg_raw__")
        expected = [STAGING_RENAMES.get(name, name) for name in declared(table)] + STAGING_ADDS.get(model, [])
        assert columns == expected, f"_staging.yml: {model} disagrees with raw.{table}"
        missing = set(declared(table)) - referenced_columns(STAGING / f"{model}.sql")
        assert not missing, f"{model}.sql does not select raw.{table}'s {sorted(missing)}"


def test_the_raw_title_hash_is_title_key_and_the_marts_id_is_paper_id() -> None:
    for table in ("paper_sightings", "paper_authors"):
        assert "title_key" in declared(table)
        assert "paper_id" not in declared(table)


def test_the_dagster_raw_assets_are_declared_tables() -> None:
    from orchestration.defs.ingestion import RAW_TABLES as ASSET_DESCRIPTIONS

    assert set(ASSET_DESCRIPTIONS) == set(contract.RAW_TABLES) - NOT_SOURCES


# What information_schema calls the DuckDB type that holds each Polars type (written out here, apart
# from the loader's own mapping, so a wrong mapping fails this test).
INFORMATION_SCHEMA_TYPES = {
    "String": "VARCHAR",
    "Date": "DATE",
    "Int32": "INTEGER",
    "Int64": "BIGINT",
    "Boolean": "BOOLEAN",
    "Datetime(time_unit='us', time_zone='UTC')": "TIMESTAMP WITH TIME ZONE",
    "List(String)": "VARCHAR[]",
}


def test_a_fresh_warehouse_has_exactly_the_declared_columns(tmp_path: Path) -> None:
    with connect(tmp_path / "fresh.duckdb") as con:
        rows = con.execute(
            "select table_name, column_name, data_type, is_nullable, column_default"
            " from information_schema.columns where table_schema = 'raw'"
            " order by table_name, ordinal_position"
        ).fetchall()
    found: dict[str, list[tuple[Any, ...]]] = {}
    for table, *column in rows:
        found.setdefault(table, []).append(tuple(column))
    expected = {
        table: [
            (
                column.name,
                INFORMATION_SCHEMA_TYPES[str(column.dtype)],
                "YES" if column.nullable else "NO",
                None if column.default is None else f"'{column.default}'",
            )
            for column in columns
        ]
        for table, columns in contract.RAW_TABLES.items()
    }
    assert found == expected


def test_rows_appended_to_a_long_table_leave_its_earlier_row_groups_as_they_were(tmp_path: Path) -> None:
    """A daily increment appends a day to tables holding years: the checkpoint when the warehouse
    is closed rewrites the row group the rows went to, and the row group size keeps that one small."""
    path = tmp_path / "papers.duckdb"

    def row_groups(con: duckdb.DuckDBPyConnection) -> list[tuple[int, list[int]]]:
        return con.execute(
            "select row_group_id, list(distinct block_id order by block_id) from pragma_storage_info('main.history')"
            " where block_id is not null group by all order by all"
        ).fetchall()

    with connect(path) as con:
        con.execute(
            "create table main.history as select range as id, 'abstract ' || range as abstract from range(?)",
            [3 * ROW_GROUP_ROWS + 100],
        )
    with connect(path) as con:
        before = row_groups(con)
        con.execute("insert into main.history select range + 1e9, 'the next day' from range(100)")
    with connect(path) as con:
        after = row_groups(con)
    assert len(before) == 4
    assert after[:3] == before[:3]


def test_the_polars_schemas_are_the_declaration() -> None:
    assert contract.SIGHTINGS_SCHEMA.names() == declared("paper_sightings")
    assert contract.AUTHORS_SCHEMA.names() == declared("paper_authors")
    assert contract.REJECTS_SCHEMA.names() == declared("rejected_entries")
    assert contract.LEDGER_SCHEMA.names() == declared("dumps")


# The raw tables as the version before the title_key rename wrote them (an old-version fixture:
# keep it literal, never derive it from the contract).
PREVIOUS_DDL = """
create schema raw;
create table raw.dumps (
    dump_id varchar not null, dump_file varchar not null, dump_date date not null, size_bytes bigint not null,
    n_entries integer not null, n_rejected integer not null, loaded_at timestamptz not null,
    parser_version varchar not null, is_current boolean not null, duplicate_of varchar
);
create table raw.paper_sightings (
    dump_id varchar not null, dump_file varchar not null, dump_date date not null, position integer not null,
    paper_id varchar not null, title varchar not null, abstract varchar, n_authors integer, org_handle varchar,
    org_name varchar, published_on date, upvotes integer, urls varchar[] not null, code_url varchar,
    code_status varchar not null, code_source varchar, layout varchar, arxiv_id varchar,
    source_format varchar not null default 'text', n_comments integer
);
create table raw.paper_authors (
    dump_id varchar not null, paper_id varchar not null, author_position integer not null, author_name varchar not null
);
create table raw.rejected_entries (
    dump_id varchar not null, dump_file varchar not null, position integer, line_number integer,
    reason varchar not null, raw_text varchar
);
create table raw.quarantined_dumps (
    dump_file varchar not null, dump_id varchar, size_bytes bigint, reason varchar not null,
    quarantined_at timestamptz not null, parser_version varchar
);
create table raw.build_state (project_digest varchar not null, built_at timestamptz not null);
"""
# The first raw tables: no code_source, arxiv_id, source_format or n_comments yet, no authors table,
# quarantine verdicts without a parser version.
FIRST_DDL = """
create schema raw;
create table raw.dumps (
    dump_id varchar not null, dump_file varchar not null, dump_date date not null, size_bytes bigint not null,
    n_entries integer not null, n_rejected integer not null, loaded_at timestamptz not null,
    parser_version varchar not null, is_current boolean not null, duplicate_of varchar
);
create table raw.paper_sightings (
    dump_id varchar not null, dump_file varchar not null, dump_date date not null, position integer not null,
    paper_id varchar not null, title varchar not null, abstract varchar, n_authors integer, org_handle varchar,
    org_name varchar, published_on date, upvotes integer, urls varchar[] not null, code_url varchar,
    code_status varchar not null, layout varchar
);
create table raw.quarantined_dumps (
    dump_file varchar not null, dump_id varchar, size_bytes bigint, reason varchar not null,
    quarantined_at timestamptz not null
);
"""
LOADED = dt.datetime(2024, 4, 3, tzinfo=dt.UTC)
DAY = dt.date(2024, 4, 1)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where schema_name = 'raw' and table_name = ? order by column_index",
        [table],
    ).fetchall()
    return [name for (name,) in rows]


def _sightings(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    return con.execute(
        "select dump_id, position, title_key, title, n_authors, code_url, code_source, source_format"
        " from raw.paper_sightings order by dump_id, position"
    ).fetchall()


@pytest.fixture
def previous_warehouse(tmp_path: Path) -> Path:
    """A warehouse of the previous version: title hashes in paper_id, rows whose derived values SQL filled in."""
    path = tmp_path / "previous.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(PREVIOUS_DDL)
        con.executemany(
            "insert into raw.dumps values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [("t", "2024-04-01.txt", DAY, 10, 2, 0, LOADED, "3", True, None),
             ("j", "2024-04-01.json", DAY, 10, 2, 0, LOADED, "3", True, None)],
        )  # fmt: skip
        insert = (
            "insert into raw.paper_sightings (dump_id, dump_file, dump_date, position, paper_id, title, n_authors,"
            " urls, code_url, code_status, code_source, layout, arxiv_id, source_format) values"
            " (?, ?, ?, ?, ?, ?, ?, [], ?, ?, ?, ?, ?, ?)"
        )
        con.executemany(
            insert,
            [
                # a text row loaded before code_source was set: its only code source is the abstract
                ("t", "2024-04-01.txt", DAY, 1, "aaaa", "Alpha", None, "https://github.com/a/b", "repository", None,
                 "A", None, "text"),
                # a text row without code
                ("t", "2024-04-01.txt", DAY, 2, "bbbb", "Beta", 4, None, "none", None, "B", None, "text"),
                # an API row without a count, and one whose count is shown
                ("j", "2024-04-01.json", DAY, 1, "cccc", "Gamma", None, None, "none", None, None, "2404.00001",
                 "api_json"),
                ("j", "2024-04-01.json", DAY, 2, "dddd", "Delta", 9, "https://github.com/d/d", "repository", "api",
                 None, "2404.00002", "api_json"),
            ],
        )  # fmt: skip
        con.executemany(
            "insert into raw.paper_authors values (?, ?, ?, ?)",
            [("j", "cccc", 1, "Ada"), ("j", "cccc", 2, "Bo"), ("j", "dddd", 1, "Cy")],
        )
    return path


def test_a_previous_warehouse_is_upgraded_when_opened_for_writing(previous_warehouse: Path) -> None:
    # Read-only (the read snapshot of a warehouse not yet upgraded): the ledger still reads.
    with connect(previous_warehouse, read_only=True) as con:
        assert loaded_versions(con) == {"2024-04-01.txt": Loaded("t", "3"), "2024-04-01.json": Loaded("j", "3")}
        assert "paper_id" in _columns(con, "paper_sightings")
    with connect(previous_warehouse) as con:
        for table in ("paper_sightings", "paper_authors"):
            assert "title_key" in _columns(con, table)
            assert "paper_id" not in _columns(con, table)
        assert _sightings(con) == [
            ("j", 1, "cccc", "Gamma", 2, None, None, "api_json"),  # n_authors: its author list's length
            ("j", 2, "dddd", "Delta", 9, "https://github.com/d/d", "api", "api_json"),  # a shown count is kept
            ("t", 1, "aaaa", "Alpha", None, "https://github.com/a/b", "abstract", "text"),  # code_source filled in
            ("t", 2, "bbbb", "Beta", 4, None, None, "text"),
        ]
        assert con.execute("select * from raw.paper_authors order by title_key, author_position").fetchall() == [
            ("j", "cccc", 1, "Ada"),
            ("j", "cccc", 2, "Bo"),
            ("j", "dddd", 1, "Cy"),
        ]
        upgraded = _sightings(con)
    # Every migration is idempotent: opening the upgraded file again changes nothing.
    with connect(previous_warehouse) as con:
        assert _sightings(con) == upgraded
        assert {table: _columns(con, table) for table in contract.RAW_TABLES} == {
            table: declared(table) for table in contract.RAW_TABLES
        }


def test_a_first_version_warehouse_gets_the_later_columns(tmp_path: Path) -> None:
    path = tmp_path / "first.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(FIRST_DDL)
        con.execute(
            "insert into raw.paper_sightings values ('t', 'a.txt', ?, 1, 'aaaa', 'Alpha', null, 3, null, null, null,"
            " null, ['https://github.com/a/b'], 'https://github.com/a/b', 'repository', 'A')",
            [DAY],
        )
        con.execute("insert into raw.quarantined_dumps values ('x.json', null, 1, 'not valid JSON', ?)", [LOADED])
    with connect(path) as con:
        for table in contract.RAW_TABLES:
            assert set(_columns(con, table)) == set(declared(table)), table
        assert _sightings(con) == [("t", 1, "aaaa", "Alpha", 3, "https://github.com/a/b", "abstract", "text")]
        assert con.execute("select parser_version from raw.quarantined_dumps").fetchall() == [(None,)]


def test_migrations_have_names() -> None:
    names = [migration.name for migration in MIGRATIONS]
    assert len(set(names)) == len(names)
