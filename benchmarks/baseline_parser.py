"""A straightforward pure-Python parser: the yardstick for ``orchestration.parse.text``.

It implements the same documented rules as ``orchestration.parse.text`` (see that module's
docstring) the obvious way -- decode, clean lines, group paragraphs, then one loop over the
paragraphs of each dump with a small state machine -- and applies the code-status rules of
``orchestration.parse.code_links`` per abstract with Python's ``re``, reusing that module's regex
constants.  It is deliberately unoptimised beyond compiling each regex once: it is what someone
would write first, so ``benchmarks.run`` can say how much the vectorised Polars pipeline buys.

Output is plain tuples/dicts (no Polars), one ``Sighting`` per entry and one ``Reject`` per
unreadable piece.  ``benchmarks.run`` checks on a sample that both parsers agree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

from orchestration.parse import code_links as cl
from orchestration.parse.common import MAX_ABSTRACT_CHARS, MAX_RAW_TEXT_CHARS, MAX_TITLE_CHARS
from orchestration.parse.text_layout import MAX_PARAGRAPH_LINES

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name: number for number, name in enumerate(_MONTHS, start=1)}
_MON = "(?P<mon>" + "|".join(_MONTHS) + ")"
_PAGE_DATE = re.compile(rf"{_MON} (?P<day>\d{{1,2}})")
_META_DATE = re.compile(rf"{_MON} (?P<day>\d{{1,2}})(?:, (?P<year>\d{{4}}))?(?: (?P<upvotes>\d{{1,9}}))?")
_AUTHORS = re.compile(r"• (\d{1,9}) authors?")
_ORG = re.compile(r"[^\s•·]\S*(?: .+)?")
_NAME_DATE = re.compile(r"(?<![A-Za-z0-9])(\d{4})(?:-(\d{2})-(\d{2})|(\d{2})(\d{2}))(?![A-Za-z0-9])")
_NON_ALNUM = re.compile(r"[\W_]+")
_WHITESPACE = re.compile(r"\s+")

# Code links: the very regexes of orchestration.parse.code_links, compiled for Python's re.
_URL = re.compile(cl.URL_PATTERN)
_HAS_HOST = re.compile(rf"(?i){cl._HAS_HOST}")
_REPOSITORY = re.compile(cl.REPOSITORY_URL_PATTERN)
_NOT_REPOSITORY = re.compile(cl._NOT_REPOSITORY_PATTERN)
_TOPIC = re.compile(cl._TOPIC_PATTERN)
_FUTURE_NOUN = re.compile(cl._FUTURE_NOUN_PATTERN)
_CLAIMED_STRICT = re.compile(cl._CLAIMED_STRICT_PATTERN)
_PROMISED = re.compile(cl._PROMISED_PATTERN)
_CLAIMED_LOOSE = re.compile(cl._CLAIMED_LOOSE_PATTERN)

SHORT, TEXT, HUGE, META, BADMETA = "short", "text", "huge", "meta", "badmeta"


@dataclass
class Paragraph:
    line_no: int  # 1-based line of its first line
    lines: list[str]  # cleaned lines
    overlong: bool
    cls: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(self.lines[:MAX_PARAGRAPH_LINES])

    @property
    def chars(self) -> int:
        return sum(len(line) for line in self.lines) + len(self.lines) - 1


@dataclass(frozen=True)
class Sighting:
    dump_id: str
    dump_file: str
    dump_date: dt.date
    position: int
    title_key: str
    title: str
    abstract: str | None
    n_authors: int | None
    org_handle: str | None
    org_name: str | None
    published_on: dt.date | None
    upvotes: int | None
    urls: tuple[str, ...]
    code_url: str | None
    code_status: str
    layout: str


@dataclass(frozen=True)
class Reject:
    dump_file: str
    position: int
    line_number: int
    reason: str
    raw_text: str


@dataclass
class Parsed:
    dump_file: str
    dump_date: dt.date | None
    sightings: list[Sighting]
    rejects: list[Reject]
    error: str | None = None  # whole-dump rejection


# --- small helpers ----------------------------------------------------------------------------


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _infer_date(month: int, day: int, year: int | None, reference: dt.date) -> dt.date | None:
    """Given year, else the latest year not putting the date after ``reference`` (leap-aware)."""
    if year is None:
        year = reference.year - ((month, day) > (reference.month, reference.day))
        if (month, day) == (2, 29):
            year = next((year - k for k in range(8) if _is_leap(year - k)), year)
    return _make_date(year, month, day)


def _name_date(dump_file: str) -> dt.date | None:
    found = None
    for match in _NAME_DATE.finditer(dump_file):
        month, day = match.group(2) or match.group(4), match.group(3) or match.group(5)
        found = _make_date(int(match.group(1)), int(month), int(day)) or found
    return found


def title_key_of(title: str) -> str:
    normalised = _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", title).casefold()).strip()
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def code_links(abstract: str | None) -> tuple[tuple[str, ...], str | None, str]:
    """``urls``, ``code_url`` and ``code_status`` of one abstract (rules of ``code_links``)."""
    text = abstract or ""
    urls = []
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(cl._TRAILING_PUNCTUATION)
        if _HAS_HOST.search(url):
            urls.append(url)
    code_url = next((u for u in urls if _REPOSITORY.search(u) and not _NOT_REPOSITORY.search(u)), None)
    if code_url is not None:
        return tuple(urls), code_url, "repository"
    masked = _TOPIC.sub(f" {cl._TOPIC} ", _URL.sub(f" {cl._LINK} ", text))
    present = _FUTURE_NOUN.sub(f" {cl._FUTURE} ", masked)
    if _CLAIMED_STRICT.search(present):
        status = "claimed"
    elif _PROMISED.search(masked):
        status = "promised"
    elif _CLAIMED_LOOSE.search(present):
        status = "claimed"
    else:
        status = "none"
    return tuple(urls), None, status


# --- the parser -------------------------------------------------------------------------------


def _paragraphs(raw_lines: list[str]) -> list[Paragraph]:
    paragraphs: list[Paragraph] = []
    current: Paragraph | None = None
    for number, raw in enumerate(raw_lines, start=1):
        clean = _WHITESPACE.sub(" ", raw[: MAX_ABSTRACT_CHARS + 1]).strip()
        if not clean:
            current = None
            continue
        if current is None:
            current = Paragraph(number, [], False)
            paragraphs.append(current)
        current.lines.append(clean)
        current.overlong |= len(raw) > MAX_ABSTRACT_CHARS
    return paragraphs


def _classify(paragraph: Paragraph, dump_date: dt.date) -> None:
    lines = paragraph.lines
    if any(line == "·" or line.startswith("•") for line in lines):
        paragraph.cls = BADMETA
        if len(lines) != 3 or lines[1] != "·":
            return
        when = _META_DATE.fullmatch(lines[2])
        authors = _AUTHORS.fullmatch(lines[0])
        if when is None or (authors is None and _ORG.fullmatch(lines[0]) is None):
            return
        paragraph.cls = META
        year = when.group("year")
        upvotes = when.group("upvotes")
        handle, _, name = lines[0].partition(" ")
        paragraph.meta = {
            "n_authors": int(authors.group(1)) if authors else None,
            "org_handle": None if authors else handle,
            "org_name": None if authors or not name else name,
            "published_on": _infer_date(
                _MONTH_NUMBER[when.group("mon")], int(when.group("day")), int(year) if year else None, dump_date
            ),
            "upvotes": int(upvotes) if upvotes else None,
            "meta_text": lines[2],
        }
    elif paragraph.overlong or paragraph.chars > MAX_ABSTRACT_CHARS or len(lines) > MAX_PARAGRAPH_LINES:
        paragraph.cls = HUGE
    elif len(lines) == 1 and paragraph.chars <= MAX_TITLE_CHARS:
        paragraph.cls = SHORT
    else:
        paragraph.cls = TEXT


def _raw_text(raw_lines: list[str], pieces: list[Paragraph]) -> str:
    text = "\n\n".join(
        "\n".join(raw[: MAX_RAW_TEXT_CHARS + 1] for raw in raw_lines[p.line_no - 1 : p.line_no - 1 + len(p.lines)])
        for p in pieces
    )
    return text[:MAX_RAW_TEXT_CHARS] + " [...]" if len(text) > MAX_RAW_TEXT_CHARS else text


def parse(data: bytes, dump_file: str, modified_at: dt.datetime) -> Parsed:
    """Parse one dump; a whole-dump rejection comes back as ``Parsed.error``."""
    if not data:
        return Parsed(dump_file, None, [], [], "empty file (0 bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return Parsed(dump_file, None, [], [], f"invalid UTF-8 at byte {error.start}")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    raw_lines = text.split("\n")
    paragraphs = _paragraphs(raw_lines)

    date_at = next(
        (i for i, p in enumerate(paragraphs) if len(p.lines) == 1 and _PAGE_DATE.fullmatch(p.lines[0])),
        None,
    )
    if date_at is None:
        return Parsed(dump_file, None, [], [], "no page-date line ('Mon D', e.g. 'Mar 14') found")
    page = _PAGE_DATE.fullmatch(paragraphs[date_at].lines[0])
    assert page is not None
    modified_on = modified_at.astimezone(dt.UTC).date()
    header_date = _infer_date(_MONTH_NUMBER[page.group("mon")], int(page.group("day")), None, modified_on)
    if header_date is None:
        return Parsed(dump_file, None, [], [], f"invalid page date '{paragraphs[date_at].lines[0]}'")
    dump_date = _name_date(dump_file) or header_date
    dump_id = hashlib.sha256(data).hexdigest()

    body = paragraphs[date_at + 1 :]
    for paragraph in body:
        _classify(paragraph, dump_date)

    # Roles: the positional pairing rules, as a state machine over the body.
    roles: list[str] = []
    k = 0  # SHORT paragraphs since the last reset point
    previous: str | None = None  # role before metadata roles are assigned
    for index, paragraph in enumerate(body):
        if index == 0 or body[index - 1].cls in (TEXT, HUGE, META, BADMETA):
            k = 0
        role: str | None
        if paragraph.cls == SHORT:
            role = "title" if k % 2 == 0 else "abstract"
            k += 1
        elif paragraph.cls in (TEXT, HUGE):
            role = "orphan_text" if k % 2 == 0 else "abstract"
        else:
            role = "meta" if index > 0 and previous in ("title", "abstract") else "orphan_meta"
            previous = None
            roles.append(role)
            continue
        previous = role
        roles.append(role)

    sightings: list[Sighting] = []
    rejects: list[Reject] = []
    position = 0
    for index, (paragraph, role) in enumerate(zip(body, roles, strict=True)):
        if role in ("orphan_text", "orphan_meta"):
            position += 1
            if role == "orphan_meta":
                reason = "metadata block without a title"
            elif paragraph.cls == HUGE:
                reason = (
                    f"paragraph too long to be a title (over {MAX_ABSTRACT_CHARS} chars or {MAX_PARAGRAPH_LINES} lines)"
                )
            elif len(paragraph.lines) == 1:
                reason = f"paragraph too long to be a title ({paragraph.chars} chars > {MAX_TITLE_CHARS})"
            else:
                reason = "multi-line paragraph where a title was expected"
            rejects.append(Reject(dump_file, position, paragraph.line_no, reason, _raw_text(raw_lines, [paragraph])))
            continue
        if role != "title":
            continue
        position += 1
        following = roles[index + 1 : index + 3]
        has_abstract = following[:1] == ["abstract"]
        abstract = body[index + 1] if has_abstract else None
        meta = None
        if following[:1] == ["meta"]:
            meta = body[index + 1]
        elif has_abstract and following[1:2] == ["meta"]:
            meta = body[index + 2]
        title = paragraph.text
        key = title_key_of(title)
        problem = None
        if _NON_ALNUM.sub(" ", unicodedata.normalize("NFKC", title).casefold()).strip() == "":
            problem = "title has no letter or digit"
        elif abstract is not None and abstract.cls == HUGE:
            problem = f"abstract too long (over {MAX_ABSTRACT_CHARS} chars or {MAX_PARAGRAPH_LINES} lines)"
        elif meta is not None and meta.cls == BADMETA:
            problem = (
                "malformed metadata block (expected '• N authors' or '<org> <name>',"
                " then '·', then 'Mon D[, YYYY][ upvotes]')"
            )
        elif meta is not None and meta.meta["published_on"] is None:
            problem = f"invalid publication date '{meta.meta['meta_text']}'"
        elif abstract is None and meta is None:
            problem = "title without abstract at end of dump (truncated entry)"
        if problem is not None:
            pieces = [p for p in (paragraph, abstract, meta) if p is not None]
            rejects.append(Reject(dump_file, position, paragraph.line_no, problem, _raw_text(raw_lines, pieces)))
            continue
        abstract_text = abstract.text if abstract is not None else None
        urls, code_url, status = code_links(abstract_text)
        fields = meta.meta if meta is not None else {}
        sightings.append(
            Sighting(
                dump_id=dump_id,
                dump_file=dump_file,
                dump_date=dump_date,
                position=position,
                title_key=key,
                title=title,
                abstract=abstract_text,
                n_authors=fields.get("n_authors"),  # type: ignore[arg-type]
                org_handle=fields.get("org_handle"),  # type: ignore[arg-type]
                org_name=fields.get("org_name"),  # type: ignore[arg-type]
                published_on=fields.get("published_on"),  # type: ignore[arg-type]
                upvotes=fields.get("upvotes"),  # type: ignore[arg-type]
                urls=urls,
                code_url=code_url,
                code_status=status,
                layout="B" if meta is not None else "A",
            )
        )
    if not sightings:
        suffix = f" ({len(rejects)} unreadable pieces)" if rejects else ""
        return Parsed(dump_file, dump_date, [], rejects, "no entries found" + suffix)
    return Parsed(dump_file, dump_date, sightings, rejects)
