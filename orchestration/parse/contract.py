"""The sightings contract shared by the parser, the loader and the tests.

Pure: imports neither Dagster nor DuckDB, so the parser can depend on it.
"""

from __future__ import annotations

import polars as pl

PARSER_VERSION = "3"

CODE_STATUSES = ("repository", "claimed", "promised", "none")

SIGHTINGS_SCHEMA = pl.Schema(
    {  # type: ignore[arg-type]  # polars types the nested List(...) loosely
        "dump_id": pl.String,
        "dump_file": pl.String,
        "dump_date": pl.Date,
        "position": pl.Int32,
        "paper_id": pl.String,
        "title": pl.String,
        "abstract": pl.String,
        "n_authors": pl.Int32,
        "org_handle": pl.String,
        "org_name": pl.String,
        "published_on": pl.Date,
        "upvotes": pl.Int32,
        "urls": pl.List(pl.String),
        "code_url": pl.String,
        "code_status": pl.String,
        "code_source": pl.String,
        "layout": pl.String,
        "arxiv_id": pl.String,
        "source_format": pl.String,
        "n_comments": pl.Int32,
    }
)

SOURCE_FORMATS = ("text", "api_json")
# Where a sighting's code_url came from: the abstract's text, or the API's githubRepo field.
CODE_SOURCES = ("abstract", "api")

AUTHORS_SCHEMA = pl.Schema(
    {
        "dump_id": pl.String,
        "paper_id": pl.String,
        "author_position": pl.Int32,
        "author_name": pl.String,
    }
)

REJECTS_SCHEMA = pl.Schema(
    {
        "dump_id": pl.String,
        "dump_file": pl.String,
        "position": pl.Int32,
        "line_number": pl.Int32,
        "reason": pl.String,
        "raw_text": pl.String,
    }
)


class DumpRejected(ValueError):
    """A whole dump cannot be read; the message names the file and the reason."""

    def __init__(self, dump_file: str, reason: str) -> None:
        super().__init__(f"{dump_file}: {reason}")
        self.dump_file = dump_file
        self.reason = reason
