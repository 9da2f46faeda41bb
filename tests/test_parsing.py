"""Unit tests for orchestration.parse.text on small made-up dumps."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

import polars as pl
import pytest

from orchestration.parse.common import (
    MAX_RAW_TEXT_CHARS,
    MAX_TITLE_CHARS,
    DumpInput,
    ParsedDump,
    normalise_title,
    title_key_for,
)
from orchestration.parse.contract import REJECTS_SCHEMA, SIGHTINGS_SCHEMA, DumpRejected
from orchestration.parse.text import MAX_DUMP_LINES, parse_dump, parse_dumps

MTIME = dt.datetime(2026, 4, 20, 12, 0, tzinfo=dt.UTC)

ABSTRACT_1 = (
    "We teach a small robot to fold towels by watching videos of octopuses. The method "
    "transfers surprisingly well to napkins."
)
ABSTRACT_2 = "A survey of tea-brewing heuristics for distributed compilers, with ten case studies."
ABSTRACT_3 = "Lorem-free abstract three describing a benchmark for counting sheep in satellite images."


def render(*paragraphs: str, date: str = "Apr 15", header: tuple[str, ...] = ("beta",)) -> str:
    """A dump: header paragraphs, the page date, then the given paragraphs, blank-separated."""
    return "\n\n".join([*header, "Sign up for the weekly digest", date, *paragraphs]) + "\n"


def parse(text: str | bytes, name: str = "dump.txt", mtime: dt.datetime = MTIME) -> ParsedDump:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_dump(data, name, modified_at=mtime)


def rows(parsed: ParsedDump) -> list[dict[str, object]]:
    return parsed.sightings.to_dicts()


def meta(who: str, when: str) -> str:
    return f"{who}\n·\n{when}"


# --- layouts and metadata ---------------------------------------------------------------------


def test_layout_a_entries() -> None:
    text = render("Octopus Towel Folding", ABSTRACT_1, "Tea Heuristics for Compilers", ABSTRACT_2)
    parsed = parse(text, name="sub/dump.txt")
    assert parsed.dump_file == "sub/dump.txt"
    assert parsed.dump_id == hashlib.sha256(text.encode()).hexdigest()
    assert parsed.size_bytes == len(text.encode())
    assert parsed.dump_date == dt.date(2026, 4, 15)
    assert parsed.sightings.schema == SIGHTINGS_SCHEMA
    assert parsed.rejects.schema == REJECTS_SCHEMA
    assert parsed.rejects.height == 0
    got = rows(parsed)
    assert [r["position"] for r in got] == [1, 2]
    assert [r["title"] for r in got] == ["Octopus Towel Folding", "Tea Heuristics for Compilers"]
    assert [r["abstract"] for r in got] == [ABSTRACT_1, ABSTRACT_2]
    assert [r["layout"] for r in got] == ["A", "A"]
    assert got[0]["title_key"] == title_key_for("Octopus Towel Folding")
    assert {r["dump_id"] for r in got} == {parsed.dump_id}
    assert {r["dump_date"] for r in got} == {dt.date(2026, 4, 15)}
    for r in got:
        assert r["n_authors"] is None
        assert r["org_handle"] is None
        assert r["published_on"] is None
        assert r["upvotes"] is None


@pytest.mark.parametrize(
    ("who", "when", "expected"),
    [
        ("  • 3 authors", "Nov 1, 2023 1", (3, None, None, dt.date(2023, 11, 1), 1)),
        ("  • 11 authors", "May 22, 2023", (11, None, None, dt.date(2023, 5, 22), None)),
        ("  • 1 author", "Jan 29 4", (1, None, None, dt.date(2026, 1, 29), 4)),
        ("  • 6 authors", "Mar 20", (6, None, None, dt.date(2026, 3, 20), None)),
        (
            "acme-lab Acme Research Lab",
            "Dec 1, 2025 12",
            (None, "acme-lab", "Acme Research Lab", dt.date(2025, 12, 1), 12),
        ),
        ("ZetaAI ZetaAI", "Mar 28 2", (None, "ZetaAI", "ZetaAI", dt.date(2026, 3, 28), 2)),
        ("soloorg", "Feb 2, 2024", (None, "soloorg", None, dt.date(2024, 2, 2), None)),
    ],
)
def test_layout_b_metadata_variants(
    who: str, when: str, expected: tuple[object, object, object, object, object]
) -> None:
    parsed = parse(render("Octopus Towel Folding", ABSTRACT_1, meta(who, when)))
    (got,) = rows(parsed)
    assert got["layout"] == "B"
    assert got["abstract"] == ABSTRACT_1
    assert (
        got["n_authors"],
        got["org_handle"],
        got["org_name"],
        got["published_on"],
        got["upvotes"],
    ) == expected


def test_layouts_mixed_in_one_dump() -> None:
    parsed = parse(
        render(
            "First Paper",
            ABSTRACT_1,
            meta("  • 2 authors", "Apr 2, 2026 7"),
            "Second Paper",
            ABSTRACT_2,
            "Third Paper",
            ABSTRACT_3,
            meta("org Org Name", "Apr 1"),
        )
    )
    got = rows(parsed)
    assert [(r["position"], r["title"], r["layout"]) for r in got] == [
        (1, "First Paper", "B"),
        (2, "Second Paper", "A"),
        (3, "Third Paper", "B"),
    ]
    assert got[1]["abstract"] == ABSTRACT_2
    assert got[2]["org_handle"] == "org"
    assert parsed.rejects.height == 0


def test_title_directly_followed_by_metadata_has_null_abstract() -> None:
    parsed = parse(render("Lonely Title", meta("  • 4 authors", "Apr 3"), "Next Paper", ABSTRACT_2))
    got = rows(parsed)
    assert got[0]["title"] == "Lonely Title"
    assert got[0]["abstract"] is None
    assert got[0]["layout"] == "B"
    assert got[0]["n_authors"] == 4
    assert (got[1]["position"], got[1]["title"], got[1]["abstract"]) == (2, "Next Paper", ABSTRACT_2)


def test_short_abstract_is_paired_positionally() -> None:
    parsed = parse(render("Tiny Paper", "Short abstract.", "Big Paper", ABSTRACT_1))
    got = rows(parsed)
    assert [(r["title"], r["abstract"]) for r in got] == [
        ("Tiny Paper", "Short abstract."),
        ("Big Paper", ABSTRACT_1),
    ]


def test_hard_wrapped_abstract_is_joined() -> None:
    parsed = parse(render("Wrapped Paper", "first half of the abstract\n  second half  "))
    assert rows(parsed)[0]["abstract"] == "first half of the abstract second half"


def test_sql_looking_title_is_plain_text() -> None:
    title = "Robert'); drop table papers; -- and Other Tricks"
    (got,) = rows(parse(render(title, ABSTRACT_1)))
    assert got["title"] == title
    assert got["title_key"] == title_key_for(title)


def test_code_links_are_attached() -> None:
    abstract = "We fold towels. Code is available at https://github.com/someone/towels."
    (got,) = rows(parse(render("Linked Paper", abstract)))
    assert got["urls"] == ["https://github.com/someone/towels"]
    assert got["code_url"] == "https://github.com/someone/towels"
    assert got["code_status"] == "repository"


def test_unicode_titles_get_the_python_title_key() -> None:
    titles = ["Straße über \uff26\uff55\uff4c\uff4c-Width", "ΣΟΦΙΑ: ﬁne_tuning", "Plain ASCII: title_v2!"]
    parsed = parse(render(*[p for t in titles for p in (t, ABSTRACT_1)]))
    got = rows(parsed)
    assert [r["title"] for r in got] == titles
    assert [r["title_key"] for r in got] == [title_key_for(t) for t in titles]


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page_date", "meta_date", "mtime", "dump_date", "published"),
    [
        ("Apr 15", "Jan 29 4", dt.datetime(2026, 5, 1, tzinfo=dt.UTC), (2026, 4, 15), (2026, 1, 29)),
        ("Jan 10", "Dec 3", dt.datetime(2026, 1, 12, tzinfo=dt.UTC), (2026, 1, 10), (2025, 12, 3)),
        ("Jan 10", "Jan 10", dt.datetime(2026, 1, 12, tzinfo=dt.UTC), (2026, 1, 10), (2026, 1, 10)),
        ("Mar 1", "Feb 29", dt.datetime(2026, 3, 2, tzinfo=dt.UTC), (2026, 3, 1), (2024, 2, 29)),
        ("Apr 15", "Apr 16", dt.datetime(2026, 5, 1, tzinfo=dt.UTC), (2026, 4, 15), (2025, 4, 16)),
    ],
)
def test_publication_year_inference(
    page_date: str,
    meta_date: str,
    mtime: dt.datetime,
    dump_date: tuple[int, int, int],
    published: tuple[int, int, int],
) -> None:
    parsed = parse(
        render("Dated Paper", ABSTRACT_1, meta("  • 2 authors", meta_date), date=page_date),
        mtime=mtime,
    )
    assert parsed.dump_date == dt.date(*dump_date)
    assert rows(parsed)[0]["published_on"] == dt.date(*published)


@pytest.mark.parametrize(
    ("mtime", "expected"),
    [
        (dt.datetime(2026, 5, 1, tzinfo=dt.UTC), dt.date(2026, 4, 15)),
        (dt.datetime(2026, 4, 15, 0, 0, tzinfo=dt.UTC), dt.date(2026, 4, 15)),
        (dt.datetime(2026, 4, 10, tzinfo=dt.UTC), dt.date(2025, 4, 15)),
        # 01:00 at +05:00 is still Apr 14 in UTC, so Apr 15 must be last year's.
        (
            dt.datetime(2026, 4, 15, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=5))),
            dt.date(2025, 4, 15),
        ),
    ],
)
def test_dump_date_from_modification_time(mtime: dt.datetime, expected: dt.date) -> None:
    assert parse(render("A Paper", ABSTRACT_1), mtime=mtime).dump_date == expected


def test_page_date_feb_29_goes_back_to_a_leap_year() -> None:
    mtime = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    assert parse(render("A Paper", ABSTRACT_1, date="Feb 29"), mtime=mtime).dump_date == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("2026-03-17.txt", dt.date(2026, 3, 17)),
        ("papers_20260317.txt", dt.date(2026, 3, 17)),
        ("2025/daily-2025-12-31-page.txt", dt.date(2025, 12, 31)),
        ("2024-01-01/2026-03-17.txt", dt.date(2026, 3, 17)),  # the last (closest) date wins
        ("bad-2026-02-30.txt", dt.date(2026, 4, 15)),  # not a real date: mtime rule
        ("hash_a20260317b.txt", dt.date(2026, 4, 15)),  # digits inside a token: not a date
        ("2026-0317.txt", dt.date(2026, 4, 15)),  # mixed separators: not a date
    ],
)
def test_iso_date_in_file_name_wins(name: str, expected: dt.date) -> None:
    parsed = parse(render("A Paper", ABSTRACT_1, meta("  • 2 authors", "Dec 20")), name=name)
    assert parsed.dump_date == expected
    # Publication years are inferred against the dump date, whichever rule produced it.
    published = rows(parsed)[0]["published_on"]
    assert published == dt.date(expected.year - 1, 12, 20) or (
        expected >= dt.date(expected.year, 12, 20) and published == dt.date(expected.year, 12, 20)
    )


def test_naive_modification_time_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse(render("A Paper", ABSTRACT_1), mtime=dt.datetime(2026, 4, 20))


# --- robustness: noise gives the same sightings -----------------------------------------------

CLEAN = render(
    "Octopus Towel Folding",
    ABSTRACT_1,
    meta("  • 3 authors", "Nov 1, 2023 1"),
    "Tea Heuristics for Compilers",
    ABSTRACT_2,
    "Third Paper About Sheep",
    ABSTRACT_3,
    meta("org-x Org X Display", "Apr 9"),
)


def _add_nbsp(text: str) -> str:
    return text.replace("Towel Folding", "Towel\u00a0Folding").replace("\n·\n", "\n\u00a0·\u00a0\n")


def _add_tabs(text: str) -> str:
    return text.replace("Tea Heuristics", "Tea\tHeuristics").replace("  •", "\t•")


def _blank_runs(text: str) -> str:
    return text.replace("\n\n", "\n \n\t\n\n\u00a0\n")


def _trailing_spaces(text: str) -> str:
    return "\n".join(line + "  \t" for line in text.split("\n"))


NOISE: dict[str, Callable[[str], str]] = {
    "bom": lambda t: "\ufeff" + t,
    "crlf": lambda t: t.replace("\n", "\r\n"),
    "cr": lambda t: t.replace("\n", "\r"),
    "nbsp": _add_nbsp,
    "tabs": _add_tabs,
    "blank_runs": _blank_runs,
    "trailing_spaces": _trailing_spaces,
    "no_final_newline": lambda t: t.rstrip("\n"),
    "leading_blank_lines": lambda t: "\n \n\n" + t,
    "all_at_once": lambda t: (
        "\ufeff" + _trailing_spaces(_blank_runs(_add_tabs(_add_nbsp(t)))).replace("\n", "\r\n").rstrip()
    ),
}


@pytest.mark.parametrize("noise", sorted(NOISE))
def test_noise_gives_identical_sightings(noise: str) -> None:
    clean = parse(CLEAN)
    noisy_text = NOISE[noise](CLEAN)
    assert noisy_text != CLEAN
    noisy = parse(noisy_text)
    assert noisy.dump_id == hashlib.sha256(noisy_text.encode()).hexdigest()
    assert noisy.dump_id != clean.dump_id
    assert noisy.rejects.height == 0
    assert clean.sightings.height == 3
    assert noisy.sightings.drop("dump_id").equals(clean.sightings.drop("dump_id"))


def test_inner_whitespace_is_collapsed() -> None:
    (got,) = rows(parse(render("  Spaced \t  Out\u2003Title  ", "An  \u00a0 abstract\t.")))
    assert got["title"] == "Spaced Out Title"
    assert got["abstract"] == "An abstract ."


# --- entry rejects ----------------------------------------------------------------------------

# render() puts the header on lines 1 and 3 and the page date on line 5; paragraph k of the
# body (1-based, one line each) starts on line 5 + 2k.


def _rejects(parsed: ParsedDump) -> list[dict[str, object]]:
    assert parsed.rejects.schema == REJECTS_SCHEMA
    return parsed.rejects.to_dicts()


def test_metadata_without_title_is_rejected() -> None:
    parsed = parse(render(meta("  • 2 authors", "Apr 1"), "Good Paper", ABSTRACT_1))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "metadata block without a title"
    assert (reject["position"], reject["line_number"]) == (1, 7)
    assert reject["raw_text"] == "  • 2 authors\n·\nApr 1"
    assert reject["dump_id"] == parsed.dump_id
    assert reject["dump_file"] == "dump.txt"
    (good,) = rows(parsed)
    assert (good["position"], good["title"]) == (2, "Good Paper")


def test_second_metadata_block_in_a_row_is_rejected() -> None:
    parsed = parse(
        render(
            "Paper One",
            ABSTRACT_1,
            meta("  • 2 authors", "Apr 1"),
            meta("  • 5 authors", "Apr 2"),
            "Paper Two",
            ABSTRACT_2,
        )
    )
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "metadata block without a title"
    assert reject["position"] == 2
    assert reject["line_number"] == 15  # title 7, abstract 9, first block 11-13
    assert [(r["position"], r["title"], r["n_authors"]) for r in rows(parsed)] == [
        (1, "Paper One", 2),
        (3, "Paper Two", None),
    ]


def test_truncated_entry_at_end_of_file_is_rejected() -> None:
    parsed = parse(render("Paper One", ABSTRACT_1, "Cut Off Paper").rstrip("\n"))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "title without abstract at end of dump (truncated entry)"
    assert (reject["position"], reject["line_number"], reject["raw_text"]) == (2, 11, "Cut Off Paper")
    assert [r["title"] for r in rows(parsed)] == ["Paper One"]


def test_paragraph_too_long_for_a_title_is_rejected_and_pairing_resumes() -> None:
    orphan = "word " * 100  # 500 characters where a title is expected
    parsed = parse(render("Paper One", ABSTRACT_1, orphan, "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == f"paragraph too long to be a title (499 chars > {MAX_TITLE_CHARS})"
    assert (reject["position"], reject["line_number"]) == (2, 11)
    assert [(r["position"], r["title"], r["abstract"]) for r in rows(parsed)] == [
        (1, "Paper One", ABSTRACT_1),
        (3, "Paper Two", ABSTRACT_2),
    ]


def test_multi_line_paragraph_in_a_title_slot_is_rejected() -> None:
    parsed = parse(render("Paper One", ABSTRACT_1, "two\nlines", "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "multi-line paragraph where a title was expected"
    assert reject["raw_text"] == "two\nlines"
    assert len(rows(parsed)) == 2


def test_malformed_metadata_rejects_the_whole_entry() -> None:
    parsed = parse(
        render(
            "Paper One",
            ABSTRACT_1,
            meta("  • many authors", "Apr 1"),
            "Paper Two",
            ABSTRACT_2,
        )
    )
    (reject,) = _rejects(parsed)
    assert str(reject["reason"]).startswith("malformed metadata block")
    assert (reject["position"], reject["line_number"]) == (1, 7)
    assert reject["raw_text"] == f"Paper One\n\n{ABSTRACT_1}\n\n  • many authors\n·\nApr 1"
    assert [(r["position"], r["title"]) for r in rows(parsed)] == [(2, "Paper Two")]


def test_metadata_glued_to_the_abstract_is_not_swallowed() -> None:
    glued = ABSTRACT_1 + "\n  • 3 authors\n·\nApr 1"
    parsed = parse(render("Paper One", glued, "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert str(reject["reason"]).startswith("malformed metadata block")
    assert [r["title"] for r in rows(parsed)] == ["Paper Two"]


def test_invalid_publication_date_rejects_the_entry() -> None:
    parsed = parse(render("Paper One", ABSTRACT_1, meta("  • 2 authors", "Feb 30, 2024"), "Paper Two", "x y"))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "invalid publication date 'Feb 30, 2024'"
    assert [r["title"] for r in rows(parsed)] == ["Paper Two"]


def test_title_without_letters_or_digits_is_rejected() -> None:
    parsed = parse(render("— … —", ABSTRACT_1, "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert reject["reason"] == "title has no letter or digit"
    assert [(r["position"], r["title"]) for r in rows(parsed)] == [(2, "Paper Two")]


def test_hostile_50mb_line_is_rejected_with_bounded_raw_text() -> None:
    huge = "x" * 50_000_000
    parsed = parse(render("Paper One", ABSTRACT_1, huge, "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert str(reject["reason"]).startswith("paragraph too long to be a title")
    raw_text = str(reject["raw_text"])
    assert len(raw_text) <= MAX_RAW_TEXT_CHARS + 10
    assert raw_text.endswith("[...]")
    assert [r["title"] for r in rows(parsed)] == ["Paper One", "Paper Two"]


def test_huge_abstract_rejects_its_entry() -> None:
    parsed = parse(render("Paper One", "y" * 20_000, "Paper Two", ABSTRACT_2))
    (reject,) = _rejects(parsed)
    assert str(reject["reason"]).startswith("abstract too long")
    assert reject["position"] == 1
    assert [r["title"] for r in rows(parsed)] == ["Paper Two"]


def test_rejects_line_numbers_count_crlf_lines_once() -> None:
    text = render("Paper One", ABSTRACT_1, "Cut Off Paper").replace("\n", "\r\n")
    (reject,) = _rejects(parse(text))
    assert reject["line_number"] == 11


# --- whole-dump rejects -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"Apr 3\n\nTitle\n\nAbstract \xff\xfe tail", "invalid UTF-8 at byte 23"),
        (b"<html><body><p>Not a dump</p></body></html>", "no page-date line"),
        (b'{"papers": [{"title": "x"}]}', "no page-date line"),
        (b"beta\n\nSign up\n\nApr 3\n", "no entries found"),
        (b"beta\n\nApr 3\n\nOnly A Title", "no entries found (1 unreadable pieces)"),
        (b"beta\n\nFeb 30\n\nTitle\n\nAbstract", "invalid page date 'Feb 30'"),
        ("Apr 3\n\nTitle\n\nAbstract".encode("utf-16"), "invalid UTF-8 at byte 0"),
        (bytes(range(256)) * 4, "invalid UTF-8 at byte 128"),
        (b"\xef\xbb\xbf \n\t\n", "empty file (only whitespace)"),
        (b"Apr 3\n\nTitle\n\nAbstract" + b"\n" * MAX_DUMP_LINES, f"too many lines ({MAX_DUMP_LINES + 5} >"),
    ],
)
def test_whole_dump_rejections(data: bytes, reason: str) -> None:
    with pytest.raises(DumpRejected) as caught:
        parse(data, name="bad/file.txt")
    assert caught.value.dump_file == "bad/file.txt"
    assert caught.value.reason.startswith(reason)
    assert str(caught.value).startswith(f"bad/file.txt: {reason}")


def test_batch_isolation() -> None:
    good_1 = render("Paper One", ABSTRACT_1).encode()
    good_2 = render("Paper Two", ABSTRACT_2, meta("  • 2 authors", "Apr 1")).encode()
    batch = [
        DumpInput(good_1, "a.txt", MTIME),
        DumpInput(b"", "empty.txt", MTIME),
        DumpInput(b"\xff\xff", "binary.txt", MTIME),
        DumpInput(good_2, "b.txt", MTIME),
        DumpInput(b"no date here\n\nat all", "nodate.txt", MTIME),
    ]
    parsed, rejected = parse_dumps(batch)
    assert [p.dump_file for p in parsed] == ["a.txt", "b.txt"]
    assert [(r.dump_file, r.reason) for r in rejected] == [
        ("empty.txt", "empty file (0 bytes)"),
        ("binary.txt", "invalid UTF-8 at byte 0"),
        ("nodate.txt", "no page-date line ('Mon D', e.g. 'Mar 14') found"),
    ]
    alone = [parse(good_1, name="a.txt"), parse(good_2, name="b.txt")]
    for in_batch, single in zip(parsed, alone, strict=True):
        assert in_batch.dump_id == single.dump_id
        assert in_batch.dump_date == single.dump_date
        assert in_batch.sightings.equals(single.sightings)
        assert in_batch.rejects.equals(single.rejects)


def test_batch_keeps_rejects_with_their_own_dump() -> None:
    with_reject = render("Paper One", ABSTRACT_1, "Cut Off Paper").encode()
    clean = render("Paper Two", ABSTRACT_2).encode()
    parsed, rejected = parse_dumps([DumpInput(clean, "clean.txt", MTIME), DumpInput(with_reject, "cut.txt", MTIME)])
    assert not rejected
    assert parsed[0].rejects.height == 0
    assert parsed[1].rejects.get_column("dump_file").to_list() == ["cut.txt"]


def test_empty_batch() -> None:
    assert parse_dumps([]) == ([], [])


# --- title normalisation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "normalised"),
    [
        ("Hello, World!", "hello world"),
        ("  snake_case__title  ", "snake case title"),
        ("\uff26\uff55\uff4c\uff4c\uff0d\uff37\uff49\uff44\uff54\uff48", "full width"),
        ("Straße", "strasse"),
        ("ﬁne-tuning", "fine tuning"),
        ("ΣΟΦΙΑ\u2019s Model", "σοφια s model"),
        ("GPT-4o: 2\u00d7 faster?", "gpt 4o 2 faster"),
        ("Café Crème", "café crème"),
        ("x\u0301y", "x y"),  # a lone combining mark is not alphanumeric
        ("深度学习 (Deep Learning)", "深度学习 deep learning"),
        ("---", ""),
    ],
)
def test_normalise_title(title: str, normalised: str) -> None:
    assert normalise_title(title) == normalised


def test_title_key_is_sha256_prefix_of_normalised_title() -> None:
    expected = hashlib.sha256(b"hello world").hexdigest()[:16]
    assert title_key_for("Hello, World!") == expected
    assert title_key_for("  HELLO___world ") == expected
    assert title_key_for("Hello Worlds") != expected
    assert len(title_key_for("anything")) == 16


def test_sightings_frame_types_are_exact() -> None:
    parsed = parse(CLEAN)
    assert parsed.sightings.schema == SIGHTINGS_SCHEMA
    assert parsed.sightings.get_column("position").dtype == pl.Int32
