"""Property test: render random entries with layout noise, parse, get the same entries back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.parse.common import normalise_title, title_key_for
from orchestration.parse.text import parse_dump

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Letters, digits, punctuation and symbols from all of Unicode, minus the two metadata markers
# (a line starting with "•" or equal to "·" is never text, by design).
CHARS = st.characters(categories=("L", "N", "P", "S"), exclude_characters="•·")
WORD = st.text(CHARS, min_size=1, max_size=10)
TITLE = st.lists(WORD, min_size=1, max_size=10).map(" ".join).filter(lambda title: normalise_title(title) != "")
ABSTRACT = st.lists(WORD, min_size=1, max_size=80).map(" ".join)
HANDLE = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", min_size=1)
ORG_NAME = st.none() | st.lists(WORD, min_size=1, max_size=4).map(" ".join)
DATES = st.dates(dt.date(2019, 1, 1), dt.date(2030, 12, 31))
BLANK = st.sampled_from(["", " ", "\t", "\u00a0", "  \t "])
SPACE = st.sampled_from([" ", "  ", "\t", "\u00a0", " \u00a0\t", "\u2003"])
EDGE = st.sampled_from(["", "", " ", "\t", "\u00a0 "])


@dataclass(frozen=True)
class Entry:
    title: str
    abstract: str | None
    n_authors: int | None = None
    org_handle: str | None = None
    org_name: str | None = None
    published_on: dt.date | None = None
    upvotes: int | None = None
    show_year: bool = True

    @property
    def layout(self) -> str:
        return "A" if self.published_on is None else "B"

    def paragraphs(self) -> list[list[str]]:
        paragraphs = [[self.title]]
        if self.abstract is not None:
            paragraphs.append([self.abstract])
        if self.published_on is not None:
            if self.n_authors is not None:
                who = f"  • {self.n_authors} authors"
            else:
                who = f"{self.org_handle} {self.org_name}" if self.org_name else f"{self.org_handle}"
            day = self.published_on
            when = f"{MONTHS[day.month - 1]} {day.day}"
            if self.show_year:
                when += f", {day.year}"
            if self.upvotes is not None:
                when += f" {self.upvotes}"
            paragraphs.append([who, "·", when])
        return paragraphs


def latest_on_or_before(month: int, day: int, reference: dt.date) -> dt.date:
    """Independent reference for the year rule: walk back year by year."""
    for year in range(reference.year, reference.year - 9, -1):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue
        if candidate <= reference:
            return candidate
    raise AssertionError("no year found")


@st.composite
def entries(draw: st.DrawFn, dump_date: dt.date) -> Entry:
    title = draw(TITLE)
    kind = draw(st.sampled_from(["A", "authors", "org"]))
    if kind == "A":
        return Entry(title, draw(ABSTRACT))
    abstract = draw(st.none() | ABSTRACT)
    published = draw(st.dates(dt.date(2019, 1, 1), dump_date))
    show_year = draw(st.booleans())
    upvotes = draw(st.none() | st.integers(0, 10_000))
    if kind == "authors":
        who: dict[str, object] = {"n_authors": draw(st.integers(1, 500))}
    else:
        who = {"org_handle": draw(HANDLE), "org_name": draw(ORG_NAME)}
    return Entry(title, abstract, published_on=published, upvotes=upvotes, show_year=show_year, **who)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    data: bytes
    name: str
    modified_at: dt.datetime
    dump_date: dt.date
    entries: list[Entry]


def noisy_line(draw: st.DrawFn, line: str) -> str:
    """Replace single spaces with random whitespace runs; pad the ends."""
    parts = line.split(" ")
    out = parts[0]
    for part in parts[1:]:
        out += draw(SPACE) + part
    return draw(EDGE) + out + draw(EDGE)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    dump_date = draw(DATES)
    if draw(st.booleans()):
        stamp = dump_date.isoformat() if draw(st.booleans()) else f"{dump_date:%Y%m%d}"
        name = f"raw/{stamp}.txt"
        modified = dt.datetime.combine(dump_date, dt.time(), dt.UTC) + dt.timedelta(days=draw(st.integers(0, 900)))
    else:
        name = "raw/dump.txt"
        modified = dt.datetime.combine(dump_date, dt.time(), dt.UTC) + dt.timedelta(
            seconds=draw(st.integers(0, 300 * 86_400))
        )
    items = draw(st.lists(entries(dump_date), min_size=1, max_size=12))

    header = draw(st.lists(st.sampled_from(["beta", "Sign up now", "Feed of papers"]), max_size=3))
    paragraphs = [[line] for line in header]
    paragraphs.append([f"{MONTHS[dump_date.month - 1]} {dump_date.day}"])
    for item in items:
        paragraphs.extend(item.paragraphs())

    lines: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            lines.extend(draw(st.lists(BLANK, min_size=1, max_size=3)))
        lines.extend(noisy_line(draw, line) for line in paragraph)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    bom = draw(st.booleans())
    return Case(
        data=("\ufeff" if bom else "").encode() + text.encode("utf-8"),
        name=name,
        modified_at=modified,
        dump_date=dump_date,
        entries=items,
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_rendered_entries_round_trip(case: Case) -> None:
    parsed = parse_dump(case.data, case.name, modified_at=case.modified_at)
    assert parsed.dump_date == case.dump_date
    assert parsed.rejects.height == 0, parsed.rejects.to_dicts()
    got = parsed.sightings.to_dicts()
    assert len(got) == len(case.entries)
    for position, (row, entry) in enumerate(zip(got, case.entries, strict=True), start=1):
        published = entry.published_on
        if published is not None and not entry.show_year:
            published = latest_on_or_before(published.month, published.day, case.dump_date)
        expected = {
            "position": position,
            "title": entry.title,
            "title_key": title_key_for(entry.title),
            "abstract": entry.abstract,
            "n_authors": entry.n_authors,
            "org_handle": entry.org_handle,
            "org_name": entry.org_name,
            "published_on": published,
            "upvotes": entry.upvotes,
            "layout": entry.layout,
            "dump_date": case.dump_date,
            "dump_file": case.name,
        }
        assert {key: row[key] for key in expected} == expected
