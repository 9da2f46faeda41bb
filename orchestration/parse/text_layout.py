"""Reading a text dump's page: lines, paragraphs, the page date, and each paragraph's class.

The first half of the text parser (``text`` pairs the classified paragraphs into entries).
All of it is Polars expressions over every file of a batch at once.

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

Dates
=====
``dump_date`` comes from an ISO date in ``dump_file`` (``2026-03-17`` or ``20260317``,
not touching another letter or digit, must be a real date; the last one in the path wins,
being closest to the file name).  Otherwise it is the header's ``Mon D`` in the latest year
that does not put it after ``modified_at`` (UTC): a page is saved on or after its date.  A
``Mon D`` publication date without a year gets the latest year that does not put it after
``dump_date`` (``Dec 3`` seen on 2026-01-10 is 2025-12-03); Feb 29 goes back to a leap year.

Bounded memory
==============
Lines are cut to ``MAX_ABSTRACT_CHARS + 1`` characters before any regex runs and only the
first ``MAX_PARAGRAPH_LINES`` lines of a paragraph are joined, so a 50 MB line or a 200 MB
dump costs a few copies of the input, never more; ``raw_text`` of a reject is capped at
``MAX_RAW_TEXT_CHARS``.  Per-line bookkeeping (~100 bytes a line) is bounded by rejecting
dumps of more than ``MAX_DUMP_LINES`` lines (real pages have a few hundred).
"""

from __future__ import annotations

import polars as pl

from orchestration.parse.common import MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS

MAX_PARAGRAPH_LINES = 200
"""Paragraphs with more lines are neither titles nor abstracts."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_MON = "(?<mon>" + "|".join(_MONTHS) + ")"
_PAGE_DATE_RE = rf"^{_MON} (?<day>\d{{1,2}})$"
_META_DATE_RE = rf"^{_MON} (?<day>\d{{1,2}})(?:, (?<year>\d{{4}}))?(?: (?<upvotes>\d{{1,9}}))?$"
_AUTHORS_RE = r"^• (\d{1,9}) authors?$"
_ORG_RE = r"^[^\s•·]\S*(?: .+)?$"


# Paragraph classes and roles (small ints keep the columnar pairing cheap).
SHORT, TEXT, HUGE, META, BADMETA = 1, 2, 3, 4, 5
TITLE, ABSTRACT, META_ROLE, ORPHAN_TEXT, ORPHAN_META = 1, 2, 3, 4, 5


def split_lines(files: pl.LazyFrame) -> pl.LazyFrame:
    """One row per line of every file: ``file``, ``line_no`` (1-based), ``raw``."""
    raw = pl.col("raw")
    return (
        files.select("file", pl.col("text").str.split("\n").alias("raw"))
        .with_columns(pl.int_ranges(1, raw.list.len() + 1, dtype=pl.Int32).alias("line_no"))
        .explode("raw", "line_no")
    )


def lines(files: pl.DataFrame) -> pl.DataFrame:
    """One row per non-blank line: file, line_no, para (global id), clean text and flags."""
    raw = pl.col("raw")
    clean = pl.col("clean")
    blank = clean == ""
    lines = (
        split_lines(files.lazy())
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


def paragraphs(lines: pl.LazyFrame) -> pl.LazyFrame:
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


def dump_dates(files: pl.LazyFrame, paragraphs: pl.LazyFrame) -> pl.LazyFrame:
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


def classified_body(paragraphs: pl.LazyFrame, dumps: pl.LazyFrame) -> pl.LazyFrame:
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
    short = (cls == SHORT).cast(pl.Int64)
    shorts_before = short.cum_sum() - short
    is_meta = cls.is_in([META, BADMETA])
    title_slot_parity = pl.col("k") % 2 == 0
    role_without_meta = (
        pl.when(cls == SHORT)
        .then(pl.when(title_slot_parity).then(TITLE).otherwise(ABSTRACT))
        .when(cls.is_in([TEXT, HUGE]))
        .then(pl.when(title_slot_parity).then(ORPHAN_TEXT).otherwise(ABSTRACT))
    )
    opens_slot = role.is_in([TITLE, ORPHAN_TEXT, ORPHAN_META]).cast(pl.Int32)
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
            .then(pl.when(well_formed_meta).then(META).otherwise(BADMETA))
            .when(
                pl.col("overlong") | (pl.col("chars") > MAX_ABSTRACT_CHARS) | (pl.col("n_lines") > MAX_PARAGRAPH_LINES)
            )
            .then(HUGE)
            .when((pl.col("n_lines") == 1) & (pl.col("chars") <= MAX_TITLE_CHARS))
            .then(SHORT)
            .otherwise(TEXT)
            .cast(pl.Int8)
            .alias("cls"),
            first_in_file.alias("first_in_file"),
        )
        .with_columns(
            # Reset points: the body start and after every paragraph that is not SHORT.
            (pl.col("first_in_file") | cls.shift(1).is_in([TEXT, HUGE, META, BADMETA])).alias("reset"),
            shorts_before.alias("shorts_before"),
        )
        .with_columns(
            (pl.col("shorts_before") - pl.when(pl.col("reset")).then(pl.col("shorts_before")).forward_fill()).alias("k")
        )
        .with_columns(role_without_meta.cast(pl.Int8).alias("role"))
        .with_columns(
            pl.when(is_meta)
            .then(
                pl.when(~pl.col("first_in_file") & role.shift(1).is_in([TITLE, ABSTRACT]))
                .then(META_ROLE)
                .otherwise(ORPHAN_META)
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
            pl.when(cls == META).then(l1.str.extract(_AUTHORS_RE, 1).cast(pl.Int32)).alias("n_authors"),
            pl.when((cls == META) & ~l1.str.starts_with("•")).then(l1.str.extract(r"^(\S+)", 1)).alias("org_handle"),
            pl.when((cls == META) & ~l1.str.starts_with("•")).then(l1.str.extract(r"^\S+ (.+)$", 1)).alias("org_name"),
            pl.when(cls == META).then(l3.str.extract_groups(_META_DATE_RE)).alias("meta_date"),
        )
        .with_columns(
            _month(date.field("mon")).alias("meta_month"),
            date.field("day").cast(pl.Int32).alias("meta_day"),
            date.field("year").cast(pl.Int32).alias("meta_year"),
            date.field("upvotes").cast(pl.Int32).alias("upvotes"),
            pl.when(cls == META).then(l3).alias("meta_text"),
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
