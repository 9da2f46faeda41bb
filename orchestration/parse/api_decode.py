"""Decode one daily-papers API file into item rows, leniently and in bounded memory.

The first half of the API parser (``api`` turns the items of a batch into sightings).

Decoding
========
Real responses vary over time (fields appear, disappear, become null), so only ``paper.id`` and
a title (``paper.title``, else the item's ``title``) are required; every other field is optional
and unknown fields are ignored.  Each file is decoded by Polars in one call with the explicit
schema ``ITEM_SCHEMA`` -- never inferred, never a Python loop per item.  Scalars are read as
strings (Polars turns JSON numbers and booleans into their text) and numbers are then cast with
``strict=False``, so ``"upvotes": "12"`` is 12 while ``"many"``, ``5.5``, ``true``, negative or
out-of-range values become null.

Polars refuses a whole file when one value has an incompatible *shape* (an object where a string
is expected, ``"authors": "x"``, an item that is a number...).  Only then a fallback walks the
array with the standard library's ``raw_decode``, one item at a time, and rewrites every item
into the schema's shape: **a wrong-typed optional field becomes null** (an author entry that is
not an object keeps its place with a null name; a wrong-typed ``paper.title`` falls back to the
item's ``title``).  A wrong-typed ``paper.id`` or an item that is not an object is an item
reject.  The rewritten items go through the very same Polars decode and pipeline, so both paths
give identical results for the items they share.

Items (``REJECTS_SCHEMA``: ``position`` = 1-based array index, ``line_number`` = line where the
item starts, ``raw_text`` = the item's JSON cut to ``MAX_RAW_TEXT_CHARS``) are rejected, first
reason wins, when: the item is not an object; it has no ``paper.id`` (or a blank one);
``paper.id`` is not an arXiv id (see below); it has no title; the title has no letter or digit;
the title is over ``MAX_TITLE_CHARS`` or the summary over ``MAX_ABSTRACT_CHARS`` characters (the
limits of the text parser: real titles are < 200 and abstracts < 2,000 characters, so longer
values are junk, not data).

Whole-dump rejections (``DumpRejected``): empty file; over ``MAX_API_DUMP_BYTES``; invalid UTF-8
(with the byte offset); a first value that is not an array (an object, a string...); invalid
JSON (with Polars' or the standard library's location); no readable item; no dump date.  One
rejected dump never affects the others in its batch.  An empty array is a day with no papers:
a dump of zero entries (dated by its file name, else rejected for "no dump date").

Memory
======
Polars' JSON decoder builds a document tree of the *whole* file (unknown fields included)
before it keeps the few known fields, so its transient peak is about ``2 x bytes + 60 bytes x
values`` -- the number of values matters more than the size: a 200 MB file of realistic items
(19 M values) peaks at ~1.8 GiB RSS in all, a 200 MB file of ``[0,0,0,...]`` junk (100 M values)
would need 6.5 GiB.  Two cheap checks therefore bound the peak near 2 GiB before decoding:
``MAX_API_DUMP_BYTES`` (256 MiB) and ``MAX_JSON_TOKENS`` (20 M structural characters ``, : { [``,
counted with ``bytes.count`` only for files over 40 MB).  Real responses are under 1 MB, so the
limits never bite real data.  UTF-8 is validated in 1 MiB chunks without materialising the text.
The fallback and the ``raw_text`` of rejects decode the text as a Python string (one more copy of
the file) and the fallback hands rewritten items to Polars in chunks of ``_CHUNK_ITEMS``.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import polars as pl

from orchestration.parse.common import MAX_RAW_TEXT_CHARS
from orchestration.parse.contract import DumpRejected

__all__ = ["ITEMS_SCHEMA", "ITEM_SCHEMA", "MAX_API_DUMP_BYTES", "MAX_JSON_TOKENS", "raw_items", "read_items"]

MAX_API_DUMP_BYTES = 256 * 1024 * 1024
"""Larger files are rejected whole (see "Memory" in the module docstring); real API responses
are a few hundred kilobytes."""
MAX_JSON_TOKENS = 20_000_000
"""Files with more structural characters (``,`` ``:`` ``{`` ``[``, an upper bound on the number
of JSON values) are rejected whole: the decoder costs ~60 bytes per value whatever the bytes."""
_AUTHOR = pl.Struct({"name": pl.String})
_ORGANIZATION = pl.Struct({"name": pl.String, "fullname": pl.String})
_PAPER = pl.Struct(
    {
        "id": pl.String,
        "title": pl.String,
        "summary": pl.String,
        "authors": pl.List(_AUTHOR),
        "publishedAt": pl.String,
        "upvotes": pl.String,
        "githubRepo": pl.String,
        "organization": _ORGANIZATION,
    }
)
ITEM_SCHEMA = pl.Schema(
    {  # type: ignore[arg-type]  # polars types nested dtypes loosely (as in contract.py)
        "paper": _PAPER,
        "title": pl.String,
        "publishedAt": pl.String,
        "numComments": pl.String,
        "organization": _ORGANIZATION,
    }
)
"""The only fields read; scalars as String (numbers are cast afterwards, leniently)."""

_PAPER_FIELDS = ("id", "title", "summary", "publishedAt", "upvotes", "githubRepo")
_ITEM_FIELDS = ("title", "publishedAt", "numComments")
_UTF8_CHUNK = 1 << 20
_CHUNK_ITEMS = 20_000
_JSON_WS = re.compile(r"[ \t\n\r]*")
_FIRST_VALUE = re.compile(rb"[^ \t\n\r]")
_BOM = b"\xef\xbb\xbf"

# Columns of the per-item frame every file is turned into before the batch pipeline.
ITEMS_SCHEMA = pl.Schema(
    {  # type: ignore[arg-type]  # polars types nested dtypes loosely (as in contract.py)
        "file": pl.Int32,
        "position": pl.Int32,
        "problem": pl.String,
        "id": pl.String,
        "paper_title": pl.String,
        "item_title": pl.String,
        "summary": pl.String,
        "authors": pl.List(_AUTHOR),
        "paper_published": pl.String,
        "upvotes": pl.String,
        "github": pl.String,
        "item_published": pl.String,
        "comments": pl.String,
        "org_handle": pl.String,
        "org_name": pl.String,
    }
)


# --- per file: checks and decoding --------------------------------------------------------------


def read_items(data: bytes, dump_file: str) -> pl.DataFrame:
    """The file's items as ``ITEMS_SCHEMA`` rows (without ``file``), or ``DumpRejected``."""
    if not data:
        raise DumpRejected(dump_file, "empty file (0 bytes)")
    if len(data) > MAX_API_DUMP_BYTES:
        raise DumpRejected(dump_file, f"file too large ({len(data)} bytes > {MAX_API_DUMP_BYTES})")
    # A value takes at least two bytes with its separator, so a file of up to 2 x MAX_JSON_TOKENS
    # bytes cannot hold too many values and skips the (fast, ~3 ms/MB) count.
    if len(data) > 2 * MAX_JSON_TOKENS:
        tokens = sum(data.count(char) for char in (b",", b":", b"{", b"["))
        if tokens > MAX_JSON_TOKENS:
            reason = f"too many JSON values to decode within the memory budget ({tokens} structural characters"
            raise DumpRejected(dump_file, f"{reason} > {MAX_JSON_TOKENS})")
    bad_byte = _invalid_utf8_at(data)
    if bad_byte is not None:
        raise DumpRejected(dump_file, f"invalid UTF-8 at byte {bad_byte}")
    start = len(_BOM) if data.startswith(_BOM) else 0
    first = _FIRST_VALUE.search(data, start)
    if first is None:
        raise DumpRejected(dump_file, "no JSON value (only whitespace)")
    if data[first.start() : first.start() + 1] == b"{":
        raise DumpRejected(dump_file, "top-level JSON object, expected an array of papers")
    if data[first.start() : first.start() + 1] != b"[":
        head = data[first.start() : first.start() + 20].decode("utf-8", errors="replace")
        raise DumpRejected(dump_file, f"not a JSON array (starts with {head!r})")
    try:
        decoded = pl.read_json(data, schema=ITEM_SCHEMA)
    except MemoryError:
        raise
    except (Exception, pl.exceptions.PanicException) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        # "error deserializing value ..." / "cannot deserialize struct with nulls": a value of the
        # wrong shape, which the fallback handles; anything else (syntax, depth) is final.
        if "deserializ" not in message:
            raise DumpRejected(dump_file, f"invalid JSON ({message})") from None
        decoded = _lenient_decode(data, dump_file)
    return _flatten(decoded)


def _invalid_utf8_at(data: bytes) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence, checked in chunks (no full copy)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for offset in range(0, len(data), _UTF8_CHUNK):
        chunk = view[offset : offset + _UTF8_CHUNK]
        try:
            decoder.decode(chunk, final=offset + _UTF8_CHUNK >= len(data))
        except UnicodeDecodeError as error:
            # The decoder may hold back up to 3 bytes of an unfinished sequence from the
            # previous chunk; the exact offset comes from re-decoding around the error.
            low = max(0, offset - 4)
            try:
                bytes(view[low : offset + _UTF8_CHUNK]).decode("utf-8")
            except UnicodeDecodeError as exact:
                return low + exact.start
            return offset + error.start  # pragma: no cover - decoding again always fails
    return None


def _flatten(decoded: pl.DataFrame) -> pl.DataFrame:
    """One row per item with the fields as flat columns and a null ``problem``."""
    paper = pl.col("paper").struct
    top = pl.col("organization")
    # The item's organisation if it names one, else the paper's: one record, never a mix of both.
    has_top = top.struct.field("name").is_not_null() | top.struct.field("fullname").is_not_null()
    org = pl.when(has_top).then(top).otherwise(paper.field("organization")).struct
    if "problem" not in decoded.columns:
        decoded = decoded.with_columns(pl.lit(None, dtype=pl.String).alias("problem"))
    return decoded.select(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("position"),
        pl.col("problem"),
        paper.field("id").alias("id"),
        paper.field("title").alias("paper_title"),
        pl.col("title").alias("item_title"),
        paper.field("summary").alias("summary"),
        paper.field("authors").alias("authors"),
        paper.field("publishedAt").alias("paper_published"),
        paper.field("upvotes").alias("upvotes"),
        paper.field("githubRepo").alias("github"),
        pl.col("publishedAt").alias("item_published"),
        pl.col("numComments").alias("comments"),
        org.field("name").alias("org_handle"),
        org.field("fullname").alias("org_name"),
    )


# --- the fallback for ill-typed files -------------------------------------------------------------


def _skip_ws(text: str, index: int) -> int:
    """The index of the first non-whitespace character at or after ``index``."""
    match = _JSON_WS.match(text, index)
    return index if match is None else match.end()


def _scan_items(text: str) -> Iterator[tuple[int, int, int, int, Any]]:
    """``(position, line, start, end, value)`` for each item of the top-level array in ``text``.

    The standard library decodes one item at a time, so only one item's Python objects are
    alive at once.  Raises ``ValueError`` (``json.JSONDecodeError``) on malformed JSON and
    ``RecursionError`` on absurd nesting.
    """
    decoder = json.JSONDecoder()
    index = _skip_ws(text, 1 if text.startswith("\ufeff") else 0)
    if text[index : index + 1] != "[":
        raise json.JSONDecodeError("expected '['", text, index)
    index = _skip_ws(text, index + 1)
    if text[index : index + 1] == "]":
        return
    line, counted = 1, 0
    position = 0
    while True:
        value, end = decoder.raw_decode(text, index)
        position += 1
        line += text.count("\n", counted, index)
        counted = index
        yield position, line, index, end, value
        index = _skip_ws(text, end)
        separator = text[index : index + 1]
        if separator == "]":
            return
        if separator != ",":
            raise json.JSONDecodeError("expected ',' or ']'", text, index)
        index = _skip_ws(text, index + 1)


def _scalar(value: Any) -> Any:
    """A value Polars can read as a String, or None (objects, arrays, NaN/inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if isinstance(value, str | int | float) or value is None else None


def _json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for reject reasons."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _rewrite(value: Any) -> tuple[dict[str, Any], str | None]:
    """An item in ``ITEM_SCHEMA``'s shape (wrong-typed optional fields -> null) and a reason."""
    if not isinstance(value, dict):
        return {}, f"item is not a JSON object ({_json_type(value)})"
    raw_paper = value.get("paper")
    paper: dict[str, Any] | None = None
    problem = None
    if isinstance(raw_paper, dict):
        paper = {name: _scalar(raw_paper.get(name)) for name in _PAPER_FIELDS}
        if raw_paper.get("id") is not None and paper["id"] is None:
            problem = f"paper.id is not a string ({_json_type(raw_paper['id'])})"
        authors = raw_paper.get("authors")
        paper["authors"] = (
            [{"name": _scalar(a.get("name")) if isinstance(a, dict) else None} for a in authors]
            if isinstance(authors, list)
            else None
        )
        paper["organization"] = _organization(raw_paper.get("organization"))
    item: dict[str, Any] = {name: _scalar(value.get(name)) for name in _ITEM_FIELDS}
    item["paper"] = paper
    item["organization"] = _organization(value.get("organization"))
    return item, problem


def _organization(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    return {"name": _scalar(value.get("name")), "fullname": _scalar(value.get("fullname"))}


def _lenient_decode(data: bytes, dump_file: str) -> pl.DataFrame:
    """Decode a syntactically valid file whose values Polars refused, item by item."""
    text = data.decode("utf-8")
    chunks: list[pl.DataFrame] = []
    rewritten: list[str] = []
    problems: list[str | None] = []

    def flush() -> None:
        if rewritten:
            frame = pl.read_json(("[" + ",".join(rewritten) + "]").encode("ascii"), schema=ITEM_SCHEMA)
            chunks.append(frame.with_columns(pl.Series("problem", problems, dtype=pl.String)))
            rewritten.clear()
            problems.clear()

    try:
        for _position, _line, _start, _end, value in _scan_items(text):
            item, problem = _rewrite(value)
            # ASCII escapes: a lone surrogate ("\\ud800") survives the round trip as an escape.
            rewritten.append(json.dumps(item))
            problems.append(problem)
            if len(rewritten) >= _CHUNK_ITEMS:
                flush()
    except RecursionError:
        raise DumpRejected(dump_file, "invalid JSON (nested too deeply)") from None
    except ValueError as error:
        raise DumpRejected(dump_file, f"invalid JSON ({error})") from None
    flush()
    if not chunks:
        return pl.DataFrame(schema={**ITEM_SCHEMA, "problem": pl.String})
    return pl.concat(chunks)


def raw_items(data: bytes, positions: set[int]) -> dict[int, tuple[int, str]]:
    """``position -> (line, raw JSON cut to MAX_RAW_TEXT_CHARS)`` for the wanted items.

    Only called for files with rejects; stops after the last wanted item.
    """
    found: dict[int, tuple[int, str]] = {}
    text = data.decode("utf-8")
    last = max(positions)
    try:
        for position, line, start, end, _value in _scan_items(text):
            if position in positions:
                raw = text[start : min(end, start + MAX_RAW_TEXT_CHARS + 1)]
                if len(raw) > MAX_RAW_TEXT_CHARS:
                    raw = raw[:MAX_RAW_TEXT_CHARS] + " [...]"
                found[position] = (line, raw)
            if position >= last:
                break
    except (ValueError, RecursionError):  # pragma: no cover - the file decoded before
        pass
    return found
