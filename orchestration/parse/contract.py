"""The raw tables' columns, declared once, and the sightings contract shared by the parser, the loader and the tests.

``RAW_TABLES`` is the one declaration of the warehouse's raw schema: names, order, types,
nullability and defaults. The Polars schemas the parsers produce (``SIGHTINGS_SCHEMA`` ...) and
the DDL the loader runs (``load.warehouse``) are both derived from it; a test checks that dbt's
``__sources.yml`` and ``_staging.yml`` agree with it column for column.

Pure: imports neither Dagster nor DuckDB, so the parser can depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from polars.datatypes import DataTypeClass

# A Polars type, as a class (pl.String) or an instance (pl.List(pl.String)).
PolarsType = pl.DataType | DataTypeClass

PARSER_VERSION = "3"

CODE_STATUSES = ("repository", "claimed", "promised", "none")
SOURCE_FORMATS = ("text", "api_json")
# Where a sighting's code_url came from: the abstract's text, or the API's githubRepo field.
CODE_SOURCES = ("abstract", "api")


@dataclass(frozen=True)
class Column:
    """One column of a raw table. ``default`` is a string constant that rows without the column get."""

    name: str
    dtype: PolarsType
    nullable: bool = True
    default: str | None = None


def _required(name: str, dtype: PolarsType, default: str | None = None) -> Column:
    return Column(name, dtype, nullable=False, default=default)


RAW_TABLES: dict[str, tuple[Column, ...]] = {
    # The ledger: one row per (dump_file, dump_id) version seen; exactly one current per file.
    "dumps": (
        _required("dump_id", pl.String),
        _required("dump_file", pl.String),
        _required("dump_date", pl.Date),
        _required("size_bytes", pl.Int64),
        _required("n_entries", pl.Int32),
        _required("n_rejected", pl.Int32),
        _required("loaded_at", pl.Datetime("us", "UTC")),
        _required("parser_version", pl.String),
        _required("is_current", pl.Boolean),
        Column("duplicate_of", pl.String),
    ),
    "paper_sightings": (
        _required("dump_id", pl.String),
        _required("dump_file", pl.String),
        _required("dump_date", pl.Date),
        _required("position", pl.Int32),
        # 16 hex digits of the SHA-256 of the normalised title (``common.title_key_for``); not the
        # marts' paper_id, which is the resolved identity (arXiv id first).
        _required("title_key", pl.String),
        _required("title", pl.String),
        Column("abstract", pl.String),
        Column("n_authors", pl.Int32),
        Column("org_handle", pl.String),
        Column("org_name", pl.String),
        Column("published_on", pl.Date),
        Column("upvotes", pl.Int32),
        _required("urls", pl.List(pl.String)),
        Column("code_url", pl.String),
        _required("code_status", pl.String),
        Column("code_source", pl.String),
        Column("layout", pl.String),
        Column("arxiv_id", pl.String),
        _required("source_format", pl.String, default="text"),
        Column("n_comments", pl.Int32),
    ),
    # Author names of API sightings, keyed like their sighting by (dump_id, title_key).
    "paper_authors": (
        _required("dump_id", pl.String),
        _required("title_key", pl.String),
        _required("author_position", pl.Int32),
        _required("author_name", pl.String),
    ),
    "rejected_entries": (
        _required("dump_id", pl.String),
        _required("dump_file", pl.String),
        Column("position", pl.Int32),
        Column("line_number", pl.Int32),
        _required("reason", pl.String),
        Column("raw_text", pl.String),
    ),
    "quarantined_dumps": (
        _required("dump_file", pl.String),
        Column("dump_id", pl.String),
        Column("size_bytes", pl.Int64),
        _required("reason", pl.String),
        _required("quarantined_at", pl.Datetime("us", "UTC")),
        Column("parser_version", pl.String),
    ),
    # The digest of the dbt project that built the marts, and when (``load.snapshot``).
    "build_state": (
        _required("project_digest", pl.String),
        _required("built_at", pl.Datetime("us", "UTC")),
    ),
}


def schema(table: str) -> pl.Schema:
    """The Polars schema of a raw table's rows, in the table's column order."""
    return pl.Schema({column.name: column.dtype for column in RAW_TABLES[table]})


SIGHTINGS_SCHEMA = schema("paper_sightings")
AUTHORS_SCHEMA = schema("paper_authors")
REJECTS_SCHEMA = schema("rejected_entries")
LEDGER_SCHEMA = schema("dumps")


class DumpRejected(ValueError):
    """A whole dump cannot be read; the message names the file and the reason."""

    def __init__(self, dump_file: str, reason: str) -> None:
        super().__init__(f"{dump_file}: {reason}")
        self.dump_file = dump_file
        self.reason = reason
