"""Parse Hugging Face "Daily Papers" text dumps into sightings (pure: Polars + stdlib only).

A *dump* is the text of one Daily Papers page as copied from a browser.  ``parse_dumps`` turns a
batch of dumps into one row per paper entry (``contract.SIGHTINGS_SCHEMA``) plus the pieces it
could not read (``contract.REJECTS_SCHEMA``).  It imports neither Dagster nor DuckDB.

Format
======
Text is decoded as strict UTF-8 (a leading BOM is dropped); CRLF and lone CR become LF.  Every
line is *cleaned*: each run of Unicode whitespace (tabs, NBSP, ideographic space...) becomes
one space and the ends are stripped.  A line that cleans to nothing is blank, and a
*paragraph* is a maximal run of non-blank lines.  That is why BOMs, CRLF/CR, NBSPs, tabs,
trailing spaces, runs of (whitespace-only) blank lines and a missing final newline never change
the result: the page was copied by hand and only the paragraph structure carries meaning.

* **Header** -- every paragraph before the first *page-date* paragraph: a single line
  ``Mon D`` (``Mar 14``; English three-letter month, day 1-2 digits).  The header lines vary
  (``new``, ``Subscribe``, ``Daily Papers``...), so nothing else in it is interpreted.
* **Body** -- the paragraphs after the page date.  Each is classified as

  - ``META``: exactly three lines ``<who>`` / ``·`` / ``Mon D[, YYYY][ upvotes]`` where
    ``<who>`` is ``• N authors`` or ``<org-handle> <Org display name>`` (split at the first
    space; a handle without a name gives a null ``org_name``).  A year is only recognised
    after a comma, so ``Jan 29 4`` is 4 upvotes on Jan 29 of an inferred year.
  - ``BADMETA``: any paragraph with a metadata marker (a line that is exactly ``·`` or starts
    with ``•``) that is not a well-formed ``META``.  Markers are never text: a metadata block
    glued to an abstract must not end up inside the abstract.
  - ``SHORT``: one line of at most ``MAX_TITLE_CHARS`` characters (title-eligible).
  - ``TEXT``: longer, or several lines (joined with spaces), up to ``MAX_ABSTRACT_CHARS``.
  - ``HUGE``: over ``MAX_ABSTRACT_CHARS`` characters (or over ``MAX_PARAGRAPH_LINES``
    lines).  Real titles are < 200 and abstracts < 2,000 characters, so this is never data.

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

Dates
=====
``dump_date`` comes from an ISO date in ``dump_file`` (``2026-03-17`` or ``20260317``,
not touching another letter or digit, must be a real date; the last one in the path wins,
being closest to the file name).  Otherwise it is the header's ``Mon D`` in the latest year
that does not put it after ``modified_at`` (UTC): a page is saved on or after its date.  A
``Mon D`` publication date without a year gets the latest year that does not put it after
``dump_date`` (``Dec 3`` seen on 2026-01-10 is 2025-12-03); Feb 29 goes back to a leap year.

Whole-dump rejections (``DumpRejected``)
========================================
Empty file; invalid UTF-8 (with the byte offset); more than ``MAX_DUMP_LINES`` lines; no
page-date line; a page date that is not a real day; zero sightings (header only, HTML, JSON,
binary noise...; the message counts the unreadable pieces).  One rejected dump never
affects the others in its batch.

Bounded memory
==============
Lines are cut to ``MAX_ABSTRACT_CHARS + 1`` characters before any regex runs and only the
first ``MAX_PARAGRAPH_LINES`` lines of a paragraph are joined, so a 50 MB line or a 200 MB
dump costs a few copies of the input, never more; ``raw_text`` of a reject is capped at
``MAX_RAW_TEXT_CHARS``.  Per-line bookkeeping (~100 bytes a line) is bounded by rejecting
dumps of more than ``MAX_DUMP_LINES`` lines (real pages have a few hundred).

Speed
=====
``parse_dumps`` runs the whole batch through one columnar Polars pipeline: lines, paragraphs,
classification, pairing (cumulative sums instead of a state machine), metadata regexes,
date inference and code links are expressions over all files at once.  Code links run once
per *distinct* abstract (papers recur across a batch's pages), and regexes that cost about a
microsecond per row run only on rows pre-selected by cheap literal tests.  Python touches each
*file* (hash, decode, file-name date) and each *distinct title* (``paper_id_for``: Polars has
no SHA-256, and using the same Python function guarantees ``paper_id == paper_id_for(title)``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from orchestration.parse.code_links import code_link_columns
from orchestration.parse.common import (
    MAX_ABSTRACT_CHARS,
    MAX_RAW_TEXT_CHARS,
    MAX_TITLE_CHARS,
    DumpInput,
    ParsedDump,
    by_file,
    dump_identity,
    paper_ids,
)
from orchestration.parse.contract import REJECTS_SCHEMA, SIGHTINGS_SCHEMA, DumpRejected

__all__ = ["MAX_DUMP_LINES", "MAX_PARAGRAPH_LINES", "parse_dump", "parse_dumps"]

MAX_PARAGRAPH_LINES = 200
"""Paragraphs with more lines are neither titles nor abstracts."""
MAX_DUMP_LINES = 2_000_000
"""Dumps with more lines are rejected whole: per-line bookkeeping is ~100 bytes (real pages
have a few hundred lines), so this bounds the pipeline's memory on hostile input."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_MON = "(?<mon>" + "|".join(_MONTHS) + ")"
_PAGE_DATE_RE = rf"^{_MON} (?<day>\d{{1,2}})$"
_META_DATE_RE = rf"^{_MON} (?<day>\d{{1,2}})(?:, (?<year>\d{{4}}))?(?: (?<upvotes>\d{{1,9}}))?$"
_AUTHORS_RE = r"^• (\d{1,9}) authors?$"
_ORG_RE = r"^[^\s•·]\S*(?: .+)?$"


# Paragraph classes and roles (small ints keep the columnar pairing cheap).
_SHORT, _TEXT, _HUGE, _META, _BADMETA = 1, 2, 3, 4, 5
_TITLE, _ABSTRACT, _META_ROLE, _ORPHAN_TEXT, _ORPHAN_META = 1, 2, 3, 4, 5


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
    parsed, rejected = parse_dumps([DumpInput(data, dump_file, modified_at)])
    if rejected:
        raise rejected[0]
    return parsed[0]


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
    lines = _lines(files)
    paragraphs = _paragraphs(lines.lazy()).collect()
    dumps = _dump_dates(files.lazy().drop("text"), paragraphs.lazy()).collect()

    readable = dumps.filter(pl.col("dump_date").is_not_null())
    body = _classified_body(paragraphs.lazy(), readable.lazy()).collect()

    ids = paper_ids(body.filter(pl.col("role") == _TITLE).get_column("text").unique())
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


def _split_lines(files: pl.LazyFrame) -> pl.LazyFrame:
    """One row per line of every file: ``file``, ``line_no`` (1-based), ``raw``."""
    raw = pl.col("raw")
    return (
        files.select("file", pl.col("text").str.split("\n").alias("raw"))
        .with_columns(pl.int_ranges(1, raw.list.len() + 1, dtype=pl.Int32).alias("line_no"))
        .explode("raw", "line_no")
    )


def _lines(files: pl.DataFrame) -> pl.DataFrame:
    """One row per non-blank line: file, line_no, para (global id), clean text and flags."""
    raw = pl.col("raw")
    clean = pl.col("clean")
    blank = clean == ""
    lines = (
        _split_lines(files.lazy())
        .select(
            "file",
            "line_no",
            (raw.str.len_chars() > MAX_ABSTRACT_CHARS).alias("overlong"),
            # Cut first so that no regex ever sees a hostile 50 MB line.
            raw.str.slice(0, MAX_ABSTRACT_CHARS + 1).str.strip_chars().alias("clean"),
        )
        .with_columns(
            (~blank & (blank.shift(1, fill_value=True) | (pl.col("line_no") == 1))).cum_sum().alias("para"),
        )
        .filter(~blank)
        .collect()
    )
    # Collapse inner whitespace runs (r"\s+" -> " ").  Regexes cost about a microsecond per
    # row whatever the row, so they only run on the rows that can need them: non-ASCII rows
    # (NBSP & co.) and rows with a tab, vertical tab, form feed or two spaces in a row.
    text = lines.get_column("clean")
    needs = (
        (text.str.len_bytes() != text.str.len_chars().cast(pl.UInt32))
        | text.str.contains("\t", literal=True)
        | text.str.contains("  ", literal=True)
        | text.str.contains("\x0b", literal=True)
        | text.str.contains("\x0c", literal=True)
    )
    rows = needs.arg_true()
    if rows.len():
        fixed = text.gather(rows).str.replace_all(r"\s{2,}|[^\S ]", " ")
        lines = lines.with_columns(text.clone().scatter(rows, fixed).alias("clean"))
    return lines.with_columns(
        ((clean == "·") | clean.str.starts_with("•")).alias("marker"),
        # 0-based line index inside the paragraph (rows of a paragraph are contiguous).
        (
            pl.int_range(pl.len())
            - pl.when(pl.col("para") != pl.col("para").shift(1, fill_value=-1))
            .then(pl.int_range(pl.len()))
            .forward_fill()
        ).alias("line_in_para"),
    )


def _paragraphs(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One row per paragraph.  ``l1``-``l3`` (its first lines) are kept only for paragraphs
    with a metadata marker; single-line paragraphs (almost all) skip the group-by."""
    clean = pl.col("clean")
    single = (pl.col("line_in_para") == 0) & (pl.col("para") != pl.col("para").shift(-1, fill_value=-1))
    lines = lines.with_columns(single.alias("single"))
    one_line = lines.filter(pl.col("single")).select(
        "para",
        "file",
        "line_no",
        pl.lit(1, dtype=pl.Int32).alias("n_lines"),
        clean.str.len_chars().cast(pl.Int64).alias("chars"),
        "overlong",
        "marker",
        clean.alias("text"),
        pl.when(pl.col("marker")).then(clean).alias("l1"),
        pl.lit(None, dtype=pl.String).alias("l2"),
        pl.lit(None, dtype=pl.String).alias("l3"),
    )
    marked = pl.col("marker").any()
    several_lines = (
        lines.filter(~pl.col("single"))
        .group_by("para")
        .agg(
            pl.col("file").first(),
            pl.col("line_no").first(),
            pl.len().cast(pl.Int32).alias("n_lines"),
            (clean.str.len_chars().sum() + pl.len() - 1).cast(pl.Int64).alias("chars"),
            pl.col("overlong").any(),
            marked,
            clean.filter(pl.col("line_in_para") < MAX_PARAGRAPH_LINES).str.join(" ").alias("text"),
            pl.when(marked).then(clean.first()).alias("l1"),
            pl.when(marked).then(clean.get(1, null_on_oob=True)).alias("l2"),
            pl.when(marked).then(clean.get(2, null_on_oob=True)).alias("l3"),
        )
    )
    return pl.concat([one_line, several_lines]).sort("para")


def _month(name: pl.Expr) -> pl.Expr:
    return name.replace_strict(_MONTH_NUMBER, default=None, return_dtype=pl.Int32)


def _is_leap(year: pl.Expr) -> pl.Expr:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def _with_date(
    frame: pl.LazyFrame,
    out: str,
    *,
    month: str,
    day: str,
    year: str | None = None,
    reference: str | None = None,
) -> pl.LazyFrame:
    """Add Date column ``out`` from Int32 columns; null (not an error) for days that do not exist.

    Without a ``year`` (or where it is null) the year is the latest one that does not put the
    date after the ``reference`` date; for Feb 29 that is the latest such leap year.  Steps are
    materialised one by one so that the expression trees stay small.
    """
    m, d, y = pl.col(month), pl.col(day), pl.col("_year")
    given = pl.lit(None, dtype=pl.Int32) if year is None else pl.col(year).cast(pl.Int32)
    if reference is None:
        frame = frame.with_columns(given.alias("_year"))
    else:
        ref = pl.col(reference)
        ref_month, ref_day = ref.dt.month().cast(pl.Int32), ref.dt.day().cast(pl.Int32)
        later_in_year = (m > ref_month) | ((m == ref_month) & (d > ref_day))
        frame = frame.with_columns((ref.dt.year().cast(pl.Int32) - later_in_year.cast(pl.Int32)).alias("_year"))
        leap_year = pl.coalesce([pl.when(_is_leap(y - k)).then(y - k) for k in range(8)])
        frame = frame.with_columns(
            pl.coalesce(given, pl.when((m == 2) & (d == 29)).then(leap_year).otherwise(y)).alias("_year")
        )
    days_in_month = (
        pl.when(m == 2)
        .then(pl.when(_is_leap(y)).then(29).otherwise(28))
        .when(m.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    valid = pl.col("_valid")
    return (
        frame.with_columns(
            (m.is_between(1, 12) & d.is_between(1, days_in_month) & y.is_between(1, 9999))
            .fill_null(False)
            .alias("_valid")
        )
        .with_columns(
            pl.when(valid)
            .then(
                pl.date(
                    pl.when(valid).then(y).otherwise(2000),
                    pl.when(valid).then(m).otherwise(1),
                    pl.when(valid).then(d).otherwise(1),
                )
            )
            .alias(out)
        )
        .drop("_year", "_valid")
    )


def _dump_dates(files: pl.LazyFrame, paragraphs: pl.LazyFrame) -> pl.LazyFrame:
    """Per file: the page-date paragraph, ``dump_date`` and a whole-dump rejection reason."""
    text = pl.col("text")
    # Cheap length test first (eagerly): the regex then only sees a handful of rows.
    short = paragraphs.filter((pl.col("n_lines") == 1) & (pl.col("chars") <= len("Mar 14"))).collect()
    page_dates = (
        short.lazy()
        .filter(text.str.contains(_PAGE_DATE_RE))
        .group_by("file")
        .agg(
            pl.col("para").min().alias("date_para"),
            text.sort_by("para").first().alias("page_date"),
        )
        .with_columns(
            pl.col("page_date").str.extract_groups(_PAGE_DATE_RE).struct.unnest(),
        )
        .with_columns(_month(pl.col("mon")), pl.col("day").cast(pl.Int32))
    )
    dates = files.join(page_dates, on="file", how="left", maintain_order="left")
    dates = _with_date(dates, "header_date", month="mon", day="day", reference="modified_on")
    return (
        dates.with_columns(pl.coalesce("name_date", "header_date").alias("dump_date"))
        .with_columns(
            pl.when(pl.col("date_para").is_null())
            .then(pl.lit("no page-date line ('Mon D', e.g. 'Mar 14') found"))
            # A header day that exists in no year (inference tries leap years for Feb 29).
            .when(pl.col("header_date").is_null())
            .then(pl.format("invalid page date '{}'", pl.col("page_date")))
            .alias("reason")
        )
        .with_columns(pl.when(pl.col("reason").is_null()).then(pl.col("dump_date")).alias("dump_date"))
        .select("file", "dump_id", "dump_file", "dump_date", "date_para", "reason")
    )


def _classified_body(paragraphs: pl.LazyFrame, dumps: pl.LazyFrame) -> pl.LazyFrame:
    """Body paragraphs with class, role, entry position and parsed metadata fields."""
    l1, l2, l3 = pl.col("l1"), pl.col("l2"), pl.col("l3")
    cls, role = pl.col("cls"), pl.col("role")
    well_formed_meta = (
        (pl.col("n_lines") == 3)
        & (l2 == "·")
        & l3.str.contains(_META_DATE_RE)
        & (l1.str.contains(_AUTHORS_RE) | l1.str.contains(_ORG_RE))
    )
    first_in_file = pl.col("file") != pl.col("file").shift(1, fill_value=-1)
    short = (cls == _SHORT).cast(pl.Int64)
    shorts_before = short.cum_sum() - short
    is_meta = cls.is_in([_META, _BADMETA])
    title_slot_parity = pl.col("k") % 2 == 0
    role_without_meta = (
        pl.when(cls == _SHORT)
        .then(pl.when(title_slot_parity).then(_TITLE).otherwise(_ABSTRACT))
        .when(cls.is_in([_TEXT, _HUGE]))
        .then(pl.when(title_slot_parity).then(_ORPHAN_TEXT).otherwise(_ABSTRACT))
    )
    opens_slot = role.is_in([_TITLE, _ORPHAN_TEXT, _ORPHAN_META]).cast(pl.Int32)
    slots = opens_slot.cum_sum()
    date = pl.col("meta_date").struct
    body = (
        paragraphs.join(
            dumps.select("file", "date_para", "dump_date"),
            on="file",
            how="inner",
            maintain_order="left",
        )
        .filter(pl.col("para") > pl.col("date_para"))
        .with_columns(
            pl.when(pl.col("marker"))
            .then(pl.when(well_formed_meta).then(_META).otherwise(_BADMETA))
            .when(
                pl.col("overlong") | (pl.col("chars") > MAX_ABSTRACT_CHARS) | (pl.col("n_lines") > MAX_PARAGRAPH_LINES)
            )
            .then(_HUGE)
            .when((pl.col("n_lines") == 1) & (pl.col("chars") <= MAX_TITLE_CHARS))
            .then(_SHORT)
            .otherwise(_TEXT)
            .cast(pl.Int8)
            .alias("cls"),
            first_in_file.alias("first_in_file"),
        )
        .with_columns(
            # Reset points: the body start and after every paragraph that is not SHORT.
            (pl.col("first_in_file") | cls.shift(1).is_in([_TEXT, _HUGE, _META, _BADMETA])).alias("reset"),
            shorts_before.alias("shorts_before"),
        )
        .with_columns(
            (pl.col("shorts_before") - pl.when(pl.col("reset")).then(pl.col("shorts_before")).forward_fill()).alias("k")
        )
        .with_columns(role_without_meta.cast(pl.Int8).alias("role"))
        .with_columns(
            pl.when(is_meta)
            .then(
                pl.when(~pl.col("first_in_file") & role.shift(1).is_in([_TITLE, _ABSTRACT]))
                .then(_META_ROLE)
                .otherwise(_ORPHAN_META)
            )
            .otherwise(role)
            .cast(pl.Int8)
            .alias("role")
        )
        .with_columns(
            (slots - pl.when(pl.col("first_in_file")).then(slots - opens_slot).forward_fill())
            .cast(pl.Int32)
            .alias("position"),
            slots.alias("entry"),
            # Metadata fields (null unless the paragraph is a well-formed block).
            pl.when(cls == _META).then(l1.str.extract(_AUTHORS_RE, 1).cast(pl.Int32)).alias("n_authors"),
            pl.when((cls == _META) & ~l1.str.starts_with("•")).then(l1.str.extract(r"^(\S+)", 1)).alias("org_handle"),
            pl.when((cls == _META) & ~l1.str.starts_with("•")).then(l1.str.extract(r"^\S+ (.+)$", 1)).alias("org_name"),
            pl.when(cls == _META).then(l3.str.extract_groups(_META_DATE_RE)).alias("meta_date"),
        )
        .with_columns(
            _month(date.field("mon")).alias("meta_month"),
            date.field("day").cast(pl.Int32).alias("meta_day"),
            date.field("year").cast(pl.Int32).alias("meta_year"),
            date.field("upvotes").cast(pl.Int32).alias("upvotes"),
            pl.when(cls == _META).then(l3).alias("meta_text"),
        )
    )
    body = _with_date(
        body,
        "published_on",
        month="meta_month",
        day="meta_day",
        year="meta_year",
        reference="dump_date",
    )
    return body.drop("meta_date", "meta_month", "meta_day", "meta_year", "l1", "l2", "l3", "marker", "overlong").drop(
        "reset", "shorts_before", "k"
    )


def _entries(body: pl.LazyFrame, ids: pl.LazyFrame) -> pl.LazyFrame:
    """One row per title: the entry's fields and, if unreadable, the reason (``problem``)."""
    meta_cols = ["cls", "para", "n_authors", "org_handle", "org_name", "published_on", "upvotes"]
    meta_cols += ["meta_text"]
    shifted = [pl.col(name).shift(-n).alias(f"{name}_{n}") for n in (1, 2) for name in ["role", "text", *meta_cols]]
    has_abstract = (pl.col("role_1") == _ABSTRACT).fill_null(False)
    meta_at = (
        pl.when(pl.col("role_1") == _META_ROLE).then(1).when(has_abstract & (pl.col("role_2") == _META_ROLE)).then(2)
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
        .when(has_abstract & (pl.col("cls_1") == _HUGE))
        .then(pl.lit(f"abstract too long (over {MAX_ABSTRACT_CHARS} chars or {MAX_PARAGRAPH_LINES} lines)"))
        .when(pl.col("m_cls") == _BADMETA)
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
        .filter(pl.col("role") == _TITLE)
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
            "paper_id",
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
        pl.when(pl.col("role") == _ORPHAN_META)
        .then(pl.lit("metadata block without a title"))
        .when(cls == _HUGE)
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
        .filter(pl.col("role").is_in([_ORPHAN_TEXT, _ORPHAN_META]))
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
    raw_lines = _split_lines(with_rejects).select("file", "line_no", pl.col("raw").str.slice(0, MAX_RAW_TEXT_CHARS + 1))
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
