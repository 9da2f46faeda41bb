"""What both parsers share: their input and output types, the limits, and the per-file steps.

A dump is identified by the SHA-256 of its bytes and dated by the ISO date in its file name when
there is one; a paper is first identified by the hash of its normalised title, its title key (``title_key_for``),
so a text and an API sighting of one title get the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from orchestration.parse.contract import AUTHORS_SCHEMA, DumpRejected

MAX_TITLE_CHARS = 300
"""A title is one line of at most this many characters (after whitespace collapsing)."""
MAX_ABSTRACT_CHARS = 10_000
"""Longer paragraphs are neither titles nor abstracts."""
MAX_RAW_TEXT_CHARS = 2_000
"""``raw_text`` of a reject is cut to this many characters (plus an ellipsis marker)."""

_NAME_DATE_RE = re.compile(r"(?<![A-Za-z0-9])(\d{4})(?:-(\d{2})-(\d{2})|(\d{2})(\d{2}))(?![A-Za-z0-9])")
_NON_ALNUM_RE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class DumpInput:
    """The bytes of one dump, its path relative to the raw folder, and its mtime (UTC)."""

    data: bytes
    dump_file: str
    modified_at: dt.datetime  # tz-aware UTC


@dataclass(frozen=True)
class ParsedDump:
    """One readable dump: its sightings and the pieces of it that could not be read."""

    dump_id: str
    dump_file: str
    dump_date: dt.date
    size_bytes: int
    sightings: pl.DataFrame  # SIGHTINGS_SCHEMA
    rejects: pl.DataFrame  # REJECTS_SCHEMA
    # Author names, in order (AUTHORS_SCHEMA); only API dumps carry them.
    authors: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=AUTHORS_SCHEMA))


BatchParser = Callable[[Sequence[DumpInput]], tuple[list[ParsedDump], list[DumpRejected]]]
"""``parse_dumps`` or ``parse_api_dumps``: readable dumps in input order, and the rejected ones."""


def parse_one(parse: BatchParser, item: DumpInput) -> ParsedDump:
    """Parse a batch of one dump; raise ``DumpRejected`` if the whole dump is unreadable."""
    parsed, rejected = parse([item])
    if rejected:
        raise rejected[0]
    return parsed[0]


def dump_identity(item: DumpInput) -> tuple[str, dt.date | None]:
    """The dump's id (SHA-256 of its bytes) and the date in its file name, if any."""
    if item.modified_at.tzinfo is None:
        raise ValueError(f"{item.dump_file}: modified_at must be timezone-aware")
    return hashlib.sha256(item.data).hexdigest(), name_date(item.dump_file)


def name_date(dump_file: str) -> dt.date | None:
    """The last valid ``YYYY-MM-DD`` or ``YYYYMMDD`` date in a file name."""
    found: dt.date | None = None
    for match in _NAME_DATE_RE.finditer(dump_file):
        year, month, day = match.group(1), match.group(2) or match.group(4), match.group(3)
        day = day or match.group(5)
        try:
            found = dt.date(int(year), int(month), int(day))
        except ValueError:
            continue
    return found


def normalise_title(title: str) -> str:
    """NFKC, casefold, each run of non-alphanumerics (``_`` included) -> one space, strip."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return _NON_ALNUM_RE.sub(" ", folded).strip()


def title_key_for(title: str) -> str:
    """First 16 hex digits of the SHA-256 of the normalised title."""
    return hashlib.sha256(normalise_title(title).encode("utf-8")).hexdigest()[:16]


def title_keys(titles: pl.Series) -> pl.DataFrame:
    """``title_key`` and emptiness of the normalised title, per distinct title.

    ASCII titles are normalised by Polars (NFKC is the identity on ASCII and casefold is
    lowercasing, so this is exactly ``normalise_title``); the rare others go through
    ``normalise_title`` itself.  Hashing is Python's: Polars has no SHA-256.
    """
    ascii_only = titles.str.len_bytes() == titles.str.len_chars().cast(pl.UInt32)
    fast = titles.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", " ").str.strip_chars(" ")
    slow = titles.filter(~ascii_only)
    slow_normalised = pl.Series([normalise_title(title) for title in slow], dtype=pl.String)
    normalised = fast.scatter((~ascii_only).arg_true(), slow_normalised) if slow.len() else fast
    digests = [hashlib.sha256(value.encode("utf-8")).hexdigest()[:16] for value in normalised]
    return pl.DataFrame(
        {
            "text": titles,
            "title_key": pl.Series(digests, dtype=pl.String),
            "title_empty": normalised == "",
        },
        schema={"text": pl.String, "title_key": pl.String, "title_empty": pl.Boolean},
    )


def by_file(frame: pl.DataFrame) -> dict[int, pl.DataFrame]:
    """A batch frame's rows per input file (its ``file`` column, dropped)."""
    return {key[0]: part for key, part in frame.partition_by("file", as_dict=True, include_key=False).items()}
