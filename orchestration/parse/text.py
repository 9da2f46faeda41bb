"""Parse Hugging Face "Daily Papers" text dumps into sightings (pure: Polars + stdlib only).

A *dump* is the text of one Daily Papers page as copied from a browser.  ``parse_dumps`` turns a
batch of dumps into one row per paper entry (``contract.SIGHTINGS_SCHEMA``) plus the pieces it
could not read (``contract.REJECTS_SCHEMA``).  It imports neither Dagster nor DuckDB.

How a page is cut into lines and paragraphs, dated and classified is in ``text_layout``; this
module pairs the classified paragraphs into entries.

Pairing rules (deterministic, positional)
=========================================
An entry is ``title, abstract[, metadata]`` (layout ``A`` without metadata, ``B`` with).
Titles and abstracts cannot be told apart by content (a short abstract is legal), so pairing
is positional and restarts at *reset points* -- after every ``META``/``BADMETA``/``TEXT``/
``HUGE`` paragraph and at the start of the body -- where the next paragraph must be a title:

1. Within a run of ``SHORT`` paragraphs after a reset point, they alternate title, abstract,
   title, abstract... (a ``SHORT`` abstract is accepted).
2. A ``TEXT``/``HUGE`` paragraph is the abstract if the run before it ended on a title;
   otherwise it sits where a title should be and is rejected ("paragraph too long to be a
   title", "multi-line paragraph where a title was expected").
3. A metadata paragraph belongs to the entry whose title or abstract directly precedes it;
   a title directly followed by metadata is a layout-``B`` entry with a null abstract.  After
   anything else (page date, another metadata block, a rejected paragraph) it is rejected as
   "metadata block without a title".
4. A title with neither abstract nor metadata can only happen at the end of the dump (rule 1
   and 2 give every other title a partner): rejected as a truncated entry.
5. A whole entry is rejected (title, abstract and metadata together, at the title's line) when
   its abstract is ``HUGE``, its metadata is ``BADMETA`` or names a day that does not exist
   (``Feb 30, 2024``), or its title normalises to the empty string (no letter or digit).

The consequence of rule 1 is documented rather than guessed around: if an abstract goes
missing inside a run of short paragraphs the pairing shifts until the next reset point, and
the shift surfaces there as a reject (a long abstract lands in a title slot).  Nothing is
dropped silently: every body paragraph ends up in exactly one sighting or one reject.

Numbering
=========
``position`` counts *entry slots* in page order, 1-based: every title, every paragraph
rejected in a title slot and every orphan metadata block opens a slot.  Sightings therefore
keep their place on the page, with gaps where a reject took a slot (rejects carry their slot).
``line_number`` is the 1-based line (after CR/CRLF normalisation) where the piece starts.

Whole-dump rejections (``DumpRejected``)
========================================
Empty file; invalid UTF-8 (with the byte offset); more than ``MAX_DUMP_LINES`` lines; no
page-date line; a page date that is not a real day; zero sightings (header only, HTML, JSON,
binary noise...; the message counts the unreadable pieces).  One rejected dump never
affects the others in its batch.

Speed
=====
``parse_dumps`` runs the whole batch through one columnar Polars pipeline: lines, paragraphs,
classification, pairing (cumulative sums instead of a state machine), metadata regexes,
date inference and code links are expressions over all files at once.  Code links run once
per *distinct* abstract (papers recur across a batch's pages), and regexes that cost about a
microsecond per row run only on rows pre-selected by cheap literal tests.  Python touches each
*file* (hash, decode, file-name date) and each *distinct title* (``title_key_for``: Polars has
no SHA-256, and using the same Python function guarantees ``title_key == title_key_for(title)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from orchestration.parse import text_layout as layout
from orchestration.parse.code_links import code_link_columns
from orchestration.parse.common import (
    MAX_ABSTRACT_CHARS,
    MAX_RAW_TEXT_CHARS,
    MAX_TITLE_CHARS,
    DumpInput,
    ParsedDump,
    by_file,
    dump_identity,
    parse_one,
    title_keys,
)
from orchestration.parse.contract import REJECTS_SCHEMA, SIGHTINGS_SCHEMA, DumpRejected
from orchestration.parse.text_layout import MAX_PARAGRAPH_LINES

__all__ = ["MAX_DUMP_LINES", "parse_dump", "parse_dumps"]

MAX_DUMP_LINES = 2_000_000
"""Dumps with more lines are rejected whole: per-line bookkeeping is ~100 bytes (real pages
have a few hundred lines), so this bounds the pipeline's memory on hostile input."""

_FILES_SCHEMA = pl.Schema(
    {
        "file": pl.Int64,
        "dump_id": pl.String,
        "dump_file": pl.String,
        "text": pl.String,
        "name_date": pl.Date,
        "modified_on": pl.Date,
    }
)

# --- public API -------------------------------------------------------------------------------


def parse_dump(data: bytes, dump_file: str, *, modified_at: dt.datetime) -> ParsedDump:
    """Parse one dump; raise ``DumpRejected`` if the whole dump is unreadable."""
    return parse_one(parse_dumps, DumpInput(data, dump_file, modified_at))


def parse_dumps(inputs: Sequence[DumpInput]) -> tuple[list[ParsedDump], list[DumpRejected]]:
    """Parse a batch of dumps in one vectorised pipeline.

    Returns the readable dumps (in input order) and one ``DumpRejected`` per unreadable dump.
    """
    rejected: dict[int, DumpRejected] = {}
    columns: dict[str, list[object]] = {name: [] for name in _FILES_SCHEMA}
    for index, item in enumerate(inputs):
        dump_id, dated = dump_identity(item)
        text, reason = _decode(item.data)
        if text is None:
            rejected[index] = DumpRejected(item.dump_file, reason)
            continue
        columns["file"].append(index)
        columns["dump_id"].append(dump_id)
        columns["dump_file"].append(item.dump_file)
        columns["text"].append(text)
        columns["name_date"].append(dated)
        columns["modified_on"].append(item.modified_at.astimezone(dt.UTC).date())
    files = pl.DataFrame(
        {name: pl.Series(name, columns.pop(name), dtype=dtype) for name, dtype in _FILES_SCHEMA.items()}
    )
    parsed: dict[int, ParsedDump] = {}
    if files.height:
        parsed, late = _parse_batch(files, inputs)
        rejected.update(late)
    return (
        [parsed[i] for i in sorted(parsed)],
        [rejected[i] for i in sorted(rejected)],
    )


# --- per-file Python (cheap, O(files)) --------------------------------------------------------


def _decode(data: bytes) -> tuple[str | None, str]:
    """The text of a dump with LF line ends, or ``None`` and the reason it cannot be read."""
    if not data:
        return None, "empty file (0 bytes)"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"invalid UTF-8 at byte {error.start}"
    text = text.removeprefix("\ufeff")
    if not text.strip():
        return None, "empty file (only whitespace)"
    if "\r" in text:  # CRLF and lone CR become LF (the guard skips two copies of clean files)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    n_lines = text.count("\n") + 1
    if n_lines > MAX_DUMP_LINES:
        return None, f"too many lines ({n_lines} > {MAX_DUMP_LINES})"
    return text, ""


# --- the vectorised pipeline ------------------------------------------------------------------


def _parse_batch(
    files: pl.DataFrame, inputs: Sequence[DumpInput]
) -> tuple[dict[int, ParsedDump], dict[int, DumpRejected]]:
    lines = layout.lines(files)
    paragraphs = layout.paragraphs(lines.lazy()).collect()
    dumps = layout.dump_dates(files.lazy().drop("text"), paragraphs.lazy()).collect()

    readable = dumps.filter(pl.col("dump_date").is_not_null())
    body = layout.classified_body(paragraphs.lazy(), readable.lazy()).collect()

    ids = title_keys(body.filter(pl.col("role") == layout.TITLE).get_column("text").unique())
    entries = _entries(body.lazy(), ids.lazy()).collect()

    meta = readable.lazy().select("file", "dump_id", "dump_file", "dump_date")
    good = entries.lazy().filter(pl.col("problem").is_null())
    # Code links are computed once per distinct abstract: papers recur across a batch's pages.
    links = good.select("abstract").unique().with_columns(*code_link_columns(pl.col("abstract")))
    sightings = (
        good.join(meta, on="file", how="left", maintain_order="left")
        .join(links, on="abstract", how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            arxiv_id=pl.lit(None, dtype=pl.String),
            source_format=pl.lit("text"),
            code_source=pl.when(pl.col("code_url").is_not_null()).then(pl.lit("abstract")),
            n_comments=pl.lit(None, dtype=pl.Int32),
        )
        .select("file", *[pl.col(name).cast(dtype) for name, dtype in SIGHTINGS_SCHEMA.items()])
        .collect()
    )
    rejects = _rejects(body, entries, files, meta).collect()

    parsed: dict[int, ParsedDump] = {}
    rejected: dict[int, DumpRejected] = {}
    no_rejects = pl.DataFrame(schema=REJECTS_SCHEMA)
    sightings_by_file = by_file(sightings)
    rejects_by_file = by_file(rejects)
    for row in dumps.iter_rows(named=True):
        index: int = row["file"]
        name: str = row["dump_file"]
        reason = row["reason"]
        found = sightings_by_file.get(index)
        if reason is None and found is None:
            pieces = rejects_by_file.get(index)
            n_rejects = 0 if pieces is None else pieces.height
            reason = "no entries found" + (f" ({n_rejects} unreadable pieces)" if n_rejects else "")
        if reason is not None or found is None:
            rejected[index] = DumpRejected(name, reason or "no entries found")
            continue
        parsed[index] = ParsedDump(
            dump_id=row["dump_id"],
            dump_file=name,
            dump_date=row["dump_date"],
            size_bytes=len(inputs[index].data),
            sightings=found,
            rejects=rejects_by_file.get(index, no_rejects).clone(),
        )
    return parsed, rejected


def _entries(body: pl.LazyFrame, ids: pl.LazyFrame) -> pl.LazyFrame:
    """One row per title: the entry's fields and, if unreadable, the reason (``problem``)."""
    meta_cols = ["cls", "para", "n_authors", "org_handle", "org_name", "published_on", "upvotes"]
    meta_cols += ["meta_text"]
    shifted = [pl.col(name).shift(-n).alias(f"{name}_{n}") for n in (1, 2) for name in ["role", "text", *meta_cols]]
    has_abstract = (pl.col("role_1") == layout.ABSTRACT).fill_null(False)
    meta_at = (
        pl.when(pl.col("role_1") == layout.META_ROLE)
        .then(1)
        .when(has_abstract & (pl.col("role_2") == layout.META_ROLE))
        .then(2)
    )
    has_meta = pl.col("meta_at").is_not_null()

    def from_meta(name: str) -> pl.Expr:
        return (
            pl.when(pl.col("meta_at") == 1)
            .then(pl.col(f"{name}_1"))
            .when(pl.col("meta_at") == 2)
            .then(pl.col(f"{name}_2"))
            .alias(f"m_{name}")
        )

    problem = (
        pl.when(pl.col("title_empty"))
        .then(pl.lit("title has no letter or digit"))
        .when(has_abstract & (pl.col("cls_1") == layout.HUGE))
        .then(pl.lit(f"abstract too long (over {MAX_ABSTRACT_CHARS} chars or {MAX_PARAGRAPH_LINES} lines)"))
        .when(pl.col("m_cls") == layout.BADMETA)
        .then(
            pl.lit(
                "malformed metadata block (expected '• N authors' or '<org> <name>',"
                " then '·', then 'Mon D[, YYYY][ upvotes]')"
            )
        )
        .when(has_meta & pl.col("m_published_on").is_null())
        .then(pl.format("invalid publication date '{}'", pl.col("m_meta_text")))
        .when(~has_abstract & ~has_meta)
        .then(pl.lit("title without abstract at end of dump (truncated entry)"))
    )
    return (
        body.with_columns(shifted)
        .filter(pl.col("role") == layout.TITLE)
        .with_columns(meta_at.alias("meta_at"))
        .with_columns([from_meta(name) for name in meta_cols])
        .join(ids, on="text", how="left", maintain_order="left")
        .with_columns(problem.alias("problem"))
        .select(
            "file",
            "position",
            "line_no",
            "para",
            pl.when(has_abstract).then(pl.col("para_1")).alias("abstract_para"),
            pl.col("m_para").alias("meta_para"),
            "problem",
            "title_key",
            pl.col("text").alias("title"),
            pl.when(has_abstract).then(pl.col("text_1")).alias("abstract"),
            pl.col("m_n_authors").alias("n_authors"),
            pl.col("m_org_handle").alias("org_handle"),
            pl.col("m_org_name").alias("org_name"),
            pl.col("m_published_on").alias("published_on"),
            pl.col("m_upvotes").alias("upvotes"),
            pl.when(has_meta).then(pl.lit("B")).otherwise(pl.lit("A")).alias("layout"),
        )
    )


def _rejects(body: pl.DataFrame, entries: pl.DataFrame, files: pl.DataFrame, dumps: pl.LazyFrame) -> pl.LazyFrame:
    """Orphan paragraphs and unreadable entries, with the raw text of their paragraphs."""
    cls = pl.col("cls")
    orphan_reason = (
        pl.when(pl.col("role") == layout.ORPHAN_META)
        .then(pl.lit("metadata block without a title"))
        .when(cls == layout.HUGE)
        .then(
            pl.lit(f"paragraph too long to be a title (over {MAX_ABSTRACT_CHARS} chars or {MAX_PARAGRAPH_LINES} lines)")
        )
        .when(pl.col("n_lines") == 1)
        .then(
            pl.format(
                "paragraph too long to be a title ({} chars > {})",
                "chars",
                pl.lit(MAX_TITLE_CHARS),
            )
        )
        .otherwise(pl.lit("multi-line paragraph where a title was expected"))
    )
    orphans = (
        body.lazy()
        .filter(pl.col("role").is_in([layout.ORPHAN_TEXT, layout.ORPHAN_META]))
        .select(
            "file",
            "position",
            "line_no",
            orphan_reason.alias("reason"),
            pl.concat_list(pl.col("para")).alias("paras"),
        )
    )
    bad_entries = (
        entries.lazy()
        .filter(pl.col("problem").is_not_null())
        .select(
            "file",
            "position",
            "line_no",
            pl.col("problem").alias("reason"),
            pl.concat_list("para", "abstract_para", "meta_para").list.drop_nulls().alias("paras"),
        )
    )
    pieces = pl.concat([orphans, bad_entries]).with_row_index("piece").collect()
    # Raw lines are re-read only for the (rare) files with rejects: the main pipeline keeps
    # cleaned text only.  A paragraph spans lines line_no .. line_no + n_lines - 1.
    wanted = (
        pieces.lazy()
        .select("piece", pl.col("paras").alias("para"))
        .explode("para")
        .join(body.lazy().select("para", "line_no", "n_lines"), on="para", how="left")
        .with_columns(
            pl.int_ranges(
                "line_no",
                pl.col("line_no") + pl.col("n_lines").clip(upper_bound=MAX_RAW_TEXT_CHARS),
                dtype=pl.Int32,
            ).alias("line_no")
        )
        .explode("line_no")
    )
    with_rejects = files.lazy().join(pieces.lazy().select("file"), on="file", how="semi")
    raw_lines = layout.split_lines(with_rejects).select(
        "file", "line_no", pl.col("raw").str.slice(0, MAX_RAW_TEXT_CHARS + 1)
    )
    raw = pl.col("raw")
    raw_text = (
        wanted.join(pieces.lazy().select("piece", "file"), on="piece", how="left")
        .join(raw_lines, on=["file", "line_no"], how="left")
        .group_by("piece", "para")
        .agg(raw.sort_by("line_no").str.join("\n"))
        .group_by("piece")
        .agg(raw.sort_by("para").str.join("\n\n"))
        .with_columns(
            pl.when(raw.str.len_chars() > MAX_RAW_TEXT_CHARS)
            .then(raw.str.slice(0, MAX_RAW_TEXT_CHARS) + " [...]")
            .otherwise(raw)
            .alias("raw_text")
        )
    )
    return (
        pieces.lazy()
        .join(raw_text, on="piece", how="left")
        .join(dumps, on="file", how="inner")
        .sort("file", "line_no")
        .select(
            "file",
            *[
                pl.col("line_no" if name == "line_number" else name).cast(dtype).alias(name)
                for name, dtype in REJECTS_SCHEMA.items()
            ],
        )
    )
