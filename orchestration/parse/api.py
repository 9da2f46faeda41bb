"""Parse Hugging Face daily-papers *API* dumps (JSON) into sightings (pure: Polars + stdlib only).

Users save the response of ``/api/daily_papers?date=YYYY-MM-DD`` as ``<something>.json``: a JSON
array with one item per paper of the day.  ``parse_api_dumps`` turns a batch of such files into
the same ``contract.SIGHTINGS_SCHEMA`` rows as the text parser (``source_format = 'api_json'``),
one ``contract.AUTHORS_SCHEMA`` row per named author, and ``contract.REJECTS_SCHEMA`` rows for the
items it cannot use.  It imports neither Dagster nor DuckDB.

How each file is checked and decoded into items, within bounded memory, is in ``api_decode``;
this module turns the items of a batch into sightings, authors and rejects.

Columns
=======
* ``dump_id`` sha256 of the bytes; ``position`` the 1-based array index (rejected items keep
  their index, so positions have gaps exactly like text dumps).
* ``dump_date``: an ISO date in the file name wins (the text parser's rule, same helper);
  otherwise the day of the items' top-level ``publishedAt`` (the day the paper was featured),
  the most common one if items disagree, ties going to the latest; otherwise the dump is
  rejected ("no dump date").  Timestamps are read as the calendar day they are written in (the
  API writes UTC ``...Z``), the same for ``published_on`` (``paper.publishedAt``).
* ``title_key = title_key_for(title)`` (the title hash, as for text dumps: identity across formats
  is resolved downstream through ``arxiv_id``).
* ``arxiv_id`` = ``paper.id`` when it is a new-style (``2401.12345``) or old-style
  (``hep-th/9901001``, ``math.GT/0309136``) arXiv id; a version suffix (``v2``) is stripped
  because the id names the paper, not a revision, and versions would split identity.  Any
  other shape rejects the item: the id is the cross-format identity, and a junk id would merge
  unrelated records downstream.
* ``title`` / ``abstract`` (``paper.summary``) / organisation / author names are whitespace-
  collapsed like text dumps (runs of Unicode whitespace -> one space, ends stripped, blank ->
  null).  Nothing else is changed: SQL, HTML, bidi controls and emoji are plain data.
* ``n_authors`` = length of ``paper.authors`` (null when the list is absent or null);
  ``org_handle`` / ``org_name`` = ``organization.name`` / ``.fullname`` of the item, else of
  ``paper.organization`` (the API has carried it in both places); ``upvotes`` =
  ``paper.upvotes``; ``n_comments`` = ``numComments``; ``layout`` null.  Authors marked
  ``"hidden": true`` are authors like any other.
* ``urls`` / ``code_url`` / ``code_status`` from the abstract with
  ``code_links.code_link_columns`` (``code_source = 'abstract'`` when it finds a repository),
  unless ``paper.githubRepo`` is a repository URL (``code_links.is_repository_url``, at most
  ``MAX_URL_CHARS``) or the short ``owner/name`` form some endpoints return (read as
  ``https://github.com/owner/name``): then ``code_status = 'repository'``, ``code_url`` = that
  URL and ``code_source = 'api'`` -- the API field is curated by the authors.  ``urls`` stays
  the abstract's.

Authors (``AUTHORS_SCHEMA``): one row per named author of each sighting, in order.
``author_position`` is the 1-based index in ``paper.authors``; entries with a null, blank,
wrong-typed or over-``MAX_TITLE_CHARS`` name are skipped *without renumbering*, so positions
always point back into the source list (``n_authors`` counts every entry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from orchestration.parse import api_decode as decode
from orchestration.parse.code_links import code_link_columns, is_repository_url
from orchestration.parse.common import (
    MAX_ABSTRACT_CHARS,
    MAX_TITLE_CHARS,
    DumpInput,
    ParsedDump,
    by_file,
    dump_identity,
    parse_one,
    title_keys,
)
from orchestration.parse.contract import AUTHORS_SCHEMA, REJECTS_SCHEMA, SIGHTINGS_SCHEMA, DumpRejected

__all__ = [
    "ARXIV_ID_PATTERN",
    "GITHUB_SHORT_PATTERN",
    "MAX_URL_CHARS",
    "parse_api_dump",
    "parse_api_dumps",
]

MAX_URL_CHARS = 2_000
"""A longer ``githubRepo`` is ignored (no real URL is that long)."""

GITHUB_SHORT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]*[A-Za-z0-9_-]$"
"""``githubRepo`` as ``owner/name`` (a GitHub user or organisation name, then a repository)."""

ARXIV_ID_PATTERN = r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$"
"""New-style ``YYMM.NNNN[N]`` or old-style ``archive[.SC]/YYMMNNN``, optional version."""

# --- public API -------------------------------------------------------------------------------


def parse_api_dump(data: bytes, dump_file: str, *, modified_at: dt.datetime) -> ParsedDump:
    """Parse one API dump; raise ``DumpRejected`` if the whole dump is unreadable."""
    return parse_one(parse_api_dumps, DumpInput(data, dump_file, modified_at))


def parse_api_dumps(inputs: Sequence[DumpInput]) -> tuple[list[ParsedDump], list[DumpRejected]]:
    """Parse a batch of API dumps: one Polars decode per file, then one pipeline for the batch.

    Returns the readable dumps (in input order) and one ``DumpRejected`` per unreadable dump.
    ``modified_at`` is not needed to date an API dump (the items carry their day) but must be
    timezone-aware, as for text dumps, so that both parsers take the same inputs.
    """
    rejected: dict[int, DumpRejected] = {}
    frames: list[pl.DataFrame] = []
    files: dict[int, tuple[str, dt.date | None]] = {}
    for index, item in enumerate(inputs):
        identity = dump_identity(item)
        try:
            items = decode.read_items(item.data, item.dump_file)
        except DumpRejected as error:
            rejected[index] = error
            continue
        frames.append(items.with_columns(pl.lit(index, dtype=pl.Int32).alias("file")))
        files[index] = identity
    parsed: dict[int, ParsedDump] = {}
    if frames:
        batch = pl.concat([frame.select(decode.ITEMS_SCHEMA.names()) for frame in frames])
        del frames
        parsed, late = _parse_batch(batch, files, inputs)
        rejected.update(late)
    return [parsed[i] for i in sorted(parsed)], [rejected[i] for i in sorted(rejected)]


# --- the batch pipeline -----------------------------------------------------------------------


def _clean(column: str) -> pl.Expr:
    """Whitespace-collapsed, stripped; blank -> null (the text parser's cleaning)."""
    cleaned = pl.col(column).str.strip_chars().str.replace_all(r"\s+", " ")
    return pl.when(cleaned != "").then(cleaned)


def _count(column: str) -> pl.Expr:
    """A non-negative Int32 from a string, else null."""
    number = pl.col(column).str.strip_chars().cast(pl.Int32, strict=False)
    return pl.when(number >= 0).then(number)


def _day(column: str) -> pl.Expr:
    """The ``YYYY-MM-DD`` a timestamp string starts with, if it is a real day."""
    return pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def _github_url(column: str) -> pl.Expr:
    """``githubRepo`` cleaned, with the short ``owner/name`` form spelled as a GitHub URL."""
    cleaned = _clean(column)
    return pl.when(cleaned.str.contains(GITHUB_SHORT_PATTERN)).then("https://github.com/" + cleaned).otherwise(cleaned)


def _parse_batch(
    batch: pl.DataFrame, files: dict[int, tuple[str, dt.date | None]], inputs: Sequence[DumpInput]
) -> tuple[dict[int, ParsedDump], dict[int, DumpRejected]]:
    identifier = pl.col("id").str.strip_chars()
    items = batch.with_columns(
        identifier.alias("id"),
        pl.coalesce(_clean("paper_title"), _clean("item_title")).alias("title"),
        _clean("summary").alias("abstract"),
        _clean("org_handle").alias("org_handle"),
        _clean("org_name").alias("org_name"),
        pl.col("authors").list.len().cast(pl.Int32).alias("n_authors"),
        _day("paper_published").alias("published_on"),
        _day("item_published").alias("featured_on"),
        _count("upvotes").alias("upvotes"),
        _count("comments").alias("n_comments"),
        pl.when(pl.col("github").str.len_chars() <= MAX_URL_CHARS).then(_github_url("github")).alias("github"),
    )
    titles = items.get_column("title").drop_nulls().unique()
    ids = title_keys(titles).rename({"text": "title"})
    title_chars = pl.col("title").str.len_chars()
    abstract_chars = pl.col("abstract").str.len_chars()
    reason = (
        pl.when(pl.col("problem").is_not_null())
        .then(pl.col("problem"))
        .when(pl.col("id").is_null() | (pl.col("id") == ""))
        .then(pl.lit("item without paper.id"))
        .when(~pl.col("id").str.contains(ARXIV_ID_PATTERN))
        .then(pl.format("paper.id '{}' is not an arXiv id", pl.col("id").str.slice(0, 60)))
        .when(pl.col("title").is_null())
        .then(pl.lit("item without a title (paper.title or title)"))
        .when(title_chars > MAX_TITLE_CHARS)
        .then(pl.format("title too long ({} chars > {})", title_chars, pl.lit(MAX_TITLE_CHARS)))
        .when(pl.col("title_empty"))
        .then(pl.lit("title has no letter or digit"))
        .when(abstract_chars > MAX_ABSTRACT_CHARS)
        .then(pl.format("summary too long ({} chars > {})", abstract_chars, pl.lit(MAX_ABSTRACT_CHARS)))
    )
    items = items.join(ids, on="title", how="left", maintain_order="left").with_columns(reason.alias("reason"))

    # dump_date: the file name's ISO date, else the most common featured day (ties -> latest).
    meta = pl.DataFrame(
        {
            "file": list(files),
            "dump_id": [dump_id for dump_id, _ in files.values()],
            "dump_file": [inputs[index].dump_file for index in files],
            "name_date": [name_date for _, name_date in files.values()],
        },
        schema={"file": pl.Int32, "dump_id": pl.String, "dump_file": pl.String, "name_date": pl.Date},
    )
    featured = (
        items.lazy()
        .filter(pl.col("featured_on").is_not_null())
        .group_by("file", "featured_on")
        .len()
        .sort("file", "len", "featured_on", descending=[False, True, True])
        .group_by("file", maintain_order=True)
        .first()
        .select("file", pl.col("featured_on").alias("item_date"))
    )
    meta = (
        meta.lazy()
        .join(featured, on="file", how="left", maintain_order="left")
        .with_columns(pl.coalesce("name_date", "item_date").alias("dump_date"))
        .collect()
    )

    good = items.lazy().filter(pl.col("reason").is_null())
    # Code links once per distinct abstract (papers recur across a batch's days).
    links = good.select("abstract").unique().with_columns(*code_link_columns(pl.col("abstract")))
    api_repo = pl.col("github").is_not_null() & is_repository_url(pl.col("github")).fill_null(False)
    with_meta = good.join(
        meta.lazy().select("file", "dump_id", "dump_file", "dump_date"), on="file", how="left", maintain_order="left"
    )
    sightings = (
        with_meta.join(links, on="abstract", how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            pl.when(api_repo).then(pl.lit("repository")).otherwise(pl.col("code_status")).alias("code_status"),
            pl.when(api_repo).then(pl.col("github")).otherwise(pl.col("code_url")).alias("code_url"),
            pl.when(api_repo)
            .then(pl.lit("api"))
            .when(pl.col("code_url").is_not_null())
            .then(pl.lit("abstract"))
            .alias("code_source"),
            pl.col("id").str.replace(r"v\d+$", "").alias("arxiv_id"),
            pl.lit(None, dtype=pl.String).alias("layout"),
            pl.lit("api_json").alias("source_format"),
        )
        .sort("file", "position")
        .select("file", *[pl.col(name).cast(dtype) for name, dtype in SIGHTINGS_SCHEMA.items()])
        .collect()
    )
    name = pl.col("authors").struct.field("name").str.strip_chars().str.replace_all(r"\s+", " ")
    authors = (
        with_meta.select(
            "file",
            "position",
            "dump_id",
            "title_key",
            "authors",
            pl.int_ranges(1, pl.col("authors").list.len() + 1, dtype=pl.Int32).alias("author_position"),
        )
        .filter(pl.col("authors").list.len() > 0)
        .explode("authors", "author_position")
        .with_columns(name.alias("author_name"))
        .filter((pl.col("author_name") != "") & (pl.col("author_name").str.len_chars() <= MAX_TITLE_CHARS))
        .sort("file", "position", "author_position")
        .select("file", *[pl.col(column).cast(dtype) for column, dtype in AUTHORS_SCHEMA.items()])
        .collect()
    )
    rejects = items.filter(pl.col("reason").is_not_null()).select("file", "position", "reason")
    return _assemble(meta, sightings, authors, rejects, inputs)


def _assemble(
    meta: pl.DataFrame,
    sightings: pl.DataFrame,
    authors: pl.DataFrame,
    rejects: pl.DataFrame,
    inputs: Sequence[DumpInput],
) -> tuple[dict[int, ParsedDump], dict[int, DumpRejected]]:
    """Split the batch frames per file and decide which dumps are rejected whole."""
    parsed: dict[int, ParsedDump] = {}
    rejected: dict[int, DumpRejected] = {}
    sightings_by_file = by_file(sightings)
    authors_by_file = by_file(authors)
    rejects_by_file = by_file(rejects)
    for row in meta.iter_rows(named=True):
        index: int = row["file"]
        dump_file: str = row["dump_file"]
        found = sightings_by_file.get(index)
        bad = rejects_by_file.get(index)
        if found is None and bad is None:  # an empty array: a day with no papers
            found = pl.DataFrame(schema=SIGHTINGS_SCHEMA)
        if found is None:
            assert bad is not None
            first = bad.get_column("reason")[0]
            reason = f"no readable item ({bad.height} of {bad.height} items rejected, first: {first})"
            rejected[index] = DumpRejected(dump_file, reason)
            continue
        if row["dump_date"] is None:
            reason = "no dump date (no ISO date in the file name and no item has a top-level publishedAt day)"
            rejected[index] = DumpRejected(dump_file, reason)
            continue
        data = inputs[index].data
        parsed[index] = ParsedDump(
            dump_id=row["dump_id"],
            dump_file=dump_file,
            dump_date=row["dump_date"],
            size_bytes=len(data),
            sightings=found,
            rejects=_reject_rows(bad, data, row["dump_id"], dump_file),
            authors=authors_by_file.get(index, pl.DataFrame(schema=AUTHORS_SCHEMA)),
        )
    return parsed, rejected


def _reject_rows(bad: pl.DataFrame | None, data: bytes, dump_id: str, dump_file: str) -> pl.DataFrame:
    """``REJECTS_SCHEMA`` rows for one file, with line numbers and raw JSON of the items."""
    if bad is None or bad.height == 0:
        return pl.DataFrame(schema=REJECTS_SCHEMA)
    positions = bad.get_column("position").to_list()
    raw = decode.raw_items(data, set(positions))
    return pl.DataFrame(
        {
            "dump_id": [dump_id] * bad.height,
            "dump_file": [dump_file] * bad.height,
            "position": positions,
            "line_number": [raw[p][0] if p in raw else None for p in positions],
            "reason": bad.get_column("reason").to_list(),
            "raw_text": [raw[p][1] if p in raw else None for p in positions],
        },
        schema=REJECTS_SCHEMA,
    )
