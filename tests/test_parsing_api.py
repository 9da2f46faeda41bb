"""Tests for the API JSON dump parser ``orchestration.parse.api``.

Generated API dumps must parse back to exactly the generated entries; hostile, ill-typed and
malformed input must give clean rows, item rejects or a whole-dump reject -- never a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from orchestration.parse import api_decode
from orchestration.parse.api import parse_api_dump, parse_api_dumps
from orchestration.parse.common import MAX_RAW_TEXT_CHARS, DumpInput, ParsedDump, title_key_for
from orchestration.parse.contract import AUTHORS_SCHEMA, REJECTS_SCHEMA, SIGHTINGS_SCHEMA, DumpRejected
from orchestration.parse.text import parse_dump
from tests.synthetic import ApiVariant, Entry, SyntheticDump, generate_dumps

REPO = Path(__file__).resolve().parents[1]
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def corpus() -> list[SyntheticDump]:
    return list(generate_dumps(12, 12, seed=11))


def parse(data: bytes | str, name: str = "2024-01-23.json") -> ParsedDump:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return parse_api_dump(raw, name, modified_at=NOW)


def rejected(data: bytes | str, name: str = "2024-01-23.json") -> DumpRejected:
    with pytest.raises(DumpRejected) as info:
        parse(data, name)
    assert info.value.dump_file == name
    assert str(info.value).startswith(f"{name}: ")
    return info.value


def item(paper_id: Any = "2401.12345", title: Any = "A Title", **fields: Any) -> dict[str, Any]:
    """A minimal API item; ``paper_*`` keyword arguments go into ``paper``."""
    paper: dict[str, Any] = {"id": paper_id, "title": title}
    top: dict[str, Any] = {"publishedAt": "2024-01-23T09:00:00.000Z"}
    for key, value in fields.items():
        if key.startswith("paper_"):
            paper[key.removeprefix("paper_")] = value
        else:
            top[key] = value
    return {"paper": paper, **top}


def dumps(*items: Any) -> str:
    return json.dumps(list(items))


def expected_row(entry: Entry, position: int, variant: ApiVariant) -> dict[str, Any]:
    """What the parser must return for ``entry`` rendered at ``position`` with ``variant``."""
    if variant.strips(position) or variant.nulls(position):
        return {
            "position": position,
            "title": entry.title,
            "abstract": None,
            "n_authors": None,
            "org_handle": None,
            "org_name": None,
            "published_on": None,
            "upvotes": None,
            "arxiv_id": entry.arxiv_id,
            "n_comments": None,
            "code_status": "none",
            "code_url": None,
            "code_source": None,
            "authors": [],
        }
    status, url, source = entry.api_code
    with_org = variant.organizations and entry.org_handle is not None
    return {
        "position": position,
        "title": entry.title,
        "abstract": entry.abstract,
        "n_authors": len(entry.authors),
        "org_handle": entry.org_handle if with_org else None,
        "org_name": entry.org_name if with_org else None,
        "published_on": entry.published_on,
        "upvotes": entry.upvotes,
        "arxiv_id": entry.arxiv_id,
        "n_comments": entry.n_comments,
        "code_status": status,
        "code_url": url,
        "code_source": source,
        "authors": list(entry.authors),
    }


def actual_rows(parsed: ParsedDump) -> list[dict[str, Any]]:
    names = parsed.authors.group_by("title_key", maintain_order=True).agg(pl.col("author_name"))
    by_paper = dict(names.iter_rows())
    keys = list(expected_row(Entry("t", "a", "A"), 1, ApiVariant()))
    rows = []
    for row in parsed.sightings.iter_rows(named=True):
        out = {key: row[key] for key in keys if key != "authors"}
        out["authors"] = by_paper.get(row["title_key"], [])
        rows.append(out)
    return rows


def check_roundtrip(dump: SyntheticDump, variant: ApiVariant) -> ParsedDump:
    parsed = parse(dump.render_api(variant), dump.api_file_name)
    entries = dump.api_entries(variant)
    assert parsed.rejects.height == 0, parsed.rejects.rows()
    assert actual_rows(parsed) == [expected_row(e, i, variant) for i, e in enumerate(entries, start=1)]
    return parsed


# --- round trip -------------------------------------------------------------------------------


def test_generated_dumps_parse_back_exactly(corpus: list[SyntheticDump]) -> None:
    inputs = [DumpInput(d.render_api(), d.api_file_name, NOW) for d in corpus]
    parsed, failed = parse_api_dumps(inputs)
    assert failed == []
    assert len(parsed) == len(corpus)
    for dump, result in zip(corpus, parsed, strict=True):
        assert result.sightings.schema == SIGHTINGS_SCHEMA
        assert result.authors.schema == AUTHORS_SCHEMA
        assert result.rejects.schema == REJECTS_SCHEMA
        assert result.dump_file == dump.api_file_name
        assert result.dump_date == dump.page_date
        assert result.size_bytes == len(inputs[corpus.index(dump)].data)
        assert actual_rows(result) == [expected_row(e, i, ApiVariant()) for i, e in enumerate(dump.entries, start=1)]
        sightings = result.sightings
        assert sightings["title_key"].to_list() == [title_key_for(e.title) for e in dump.entries]
        assert set(sightings["source_format"]) == {"api_json"}
        assert sightings["layout"].null_count() == sightings.height
        assert set(sightings["dump_id"]) == {result.dump_id}
        assert set(result.authors["dump_id"]) == {result.dump_id}
    sources = pl.concat([p.sightings for p in parsed])["code_source"].value_counts()
    assert {"api", "abstract", None} <= set(sources["code_source"])


def test_api_only_repositories_are_reported(corpus: list[SyntheticDump]) -> None:
    only_api = [(d, e) for d in corpus for e in d.entries if e.api_github_repo and e.code_status != "repository"]
    assert only_api, "the generator must produce githubRepo for papers without a repository link"
    dump, entry = only_api[0]
    row = parse(dump.render_api(), dump.api_file_name).sightings.filter(pl.col("arxiv_id") == entry.arxiv_id)
    assert row.select("code_status", "code_url", "code_source").row(0) == ("repository", entry.api_github_repo, "api")


def test_same_page_as_text_and_as_json_agree(corpus: list[SyntheticDump]) -> None:
    for dump in corpus[:4]:
        text = parse_dump(dump.render(), dump.file_name, modified_at=NOW).sightings
        api = parse(dump.render_api(), dump.api_file_name).sightings
        shared = ["dump_date", "position", "title_key", "title", "abstract", "urls"]
        assert text.select(shared).equals(api.select(shared))
        for t, a, entry in zip(text.iter_rows(named=True), api.iter_rows(named=True), dump.entries, strict=True):
            if entry.layout == "B":
                for key in ("org_handle", "org_name", "published_on", "upvotes"):
                    assert t[key] == a[key]
                if t["n_authors"] is not None:
                    assert t["n_authors"] == a["n_authors"]
            if entry.api_github_repo is None:
                assert (t["code_status"], t["code_url"], t["code_source"]) == (
                    a["code_status"],
                    a["code_url"],
                    a["code_source"],
                )


@pytest.mark.parametrize(
    "variant",
    [
        ApiVariant(missing_optional=True),
        ApiVariant(null_optional=True),
        ApiVariant(missing_optional=True, null_optional=True),
        ApiVariant(extra_fields=True),
        ApiVariant(organizations=False),
        ApiVariant(indent=2),
        ApiVariant(hostile=True),
        ApiVariant(True, True, True, False, True, 1),
    ],
    ids=["missing", "nulls", "missing+nulls", "extra-fields", "no-orgs", "pretty", "hostile", "everything"],
)
def test_optional_field_variants(corpus: list[SyntheticDump], variant: ApiVariant) -> None:
    for dump in corpus[:3]:
        check_roundtrip(dump, variant)


def test_hostile_values_are_plain_data(corpus: list[SyntheticDump]) -> None:
    variant = ApiVariant(hostile=True)
    parsed = check_roundtrip(corpus[0], variant)
    titles = parsed.sightings["title"].to_list()
    assert "'); DROP TABLE papers; --" in titles
    assert any("<script>" in t for t in titles)
    assert any("\u202e" in t for t in titles)
    assert any("\U0001f680" in t for t in titles)
    assert parsed.sightings["abstract"].str.len_chars().max() > 8_000  # type: ignore[operator]
    assert "Robert'); DROP TABLE authors; --" in parsed.authors["author_name"].to_list()


def test_unknown_fields_are_ignored() -> None:
    noisy = item(
        paper_ai_summary={"deep": [[{"x": None}]]},
        paper_mediaUrls=["a", 1, None],
        paper_githubStars="lots",
        brandNew=[1, {"a": "b"}],
        organization={"name": "acme", "fullname": "Acme AI", "avatar": {"nested": True}},
    )
    plain = item(organization={"name": "acme", "fullname": "Acme AI"})
    a, b = parse(dumps(noisy)), parse(dumps(plain))
    assert a.sightings.drop("dump_id", "dump_file").equals(b.sightings.drop("dump_id", "dump_file"))
    assert a.sightings.select("org_handle", "org_name").row(0) == ("acme", "Acme AI")


# --- types and item rejects --------------------------------------------------------------------


def test_wrong_typed_optional_fields_become_null() -> None:
    text = dumps(
        item(
            paper_upvotes="many",
            paper_authors="x",
            paper_summary=["not", "text"],
            paper_publishedAt={"when": "now"},
            numComments="7",
            organization="acme",
        ),
        item("2401.00002", "Second", paper_upvotes="12", numComments=5.5),
        item("2401.00003", "Third", paper_upvotes=True, numComments=-3),
        item("2401.00004", "Fourth", paper_upvotes=10**30, numComments=1e300),
    )
    parsed = parse(text)
    assert parsed.rejects.height == 0
    rows = parsed.sightings.select(
        "title", "abstract", "n_authors", "published_on", "upvotes", "n_comments", "org_handle"
    ).rows()
    assert rows == [
        ("A Title", None, None, None, None, 7, None),
        ("Second", None, None, None, 12, None, None),
        ("Third", None, None, None, None, None, None),
        ("Fourth", None, None, None, None, None, None),
    ]


def test_authors_keep_source_positions() -> None:
    authors = [
        {"name": "  Ada \t Lovelace\n"},
        "not an object",
        {"name": 5},
        {"name": None},
        {"name": "   "},
        {"fullname": "no name key"},
        {"name": {"first": "x"}},
        {"name": "x" * 400},
        {"name": "Grace Hopper", "hidden": True, "_id": "abc"},
    ]
    parsed = parse(dumps(item(paper_authors=authors)))
    assert parsed.sightings["n_authors"].to_list() == [9]
    assert parsed.authors.select("author_position", "author_name").rows() == [
        (1, "Ada Lovelace"),
        (3, "5"),
        (9, "Grace Hopper"),
    ]
    assert parse(dumps(item(paper_authors=[]))).sightings["n_authors"].to_list() == [0]
    assert parse(dumps(item(paper_authors=None))).sightings["n_authors"].to_list() == [None]


def test_fallback_gives_the_same_rows_as_the_fast_path(corpus: list[SyntheticDump]) -> None:
    dump = corpus[1]
    items = json.loads(dump.render_api(ApiVariant(extra_fields=True)))
    fast = parse(json.dumps(items), dump.api_file_name)
    slow = parse(json.dumps([*items, 42, {"paper": {"id": {"x": 1}}}]), dump.api_file_name)
    n = len(items)
    assert slow.sightings.drop("dump_id").equals(fast.sightings.drop("dump_id"))
    assert slow.authors.drop("dump_id").equals(fast.authors.drop("dump_id"))
    assert slow.rejects.select("position", "reason").rows() == [
        (n + 1, "item is not a JSON object (number)"),
        (n + 2, "paper.id is not a string (object)"),
    ]


def test_missing_id_rejects_the_item_and_the_rest_loads() -> None:
    text = (
        "[\n"
        + ",\n".join(
            json.dumps(x)
            for x in (
                item("2401.00001", "First"),
                {"paper": {"title": "No Id"}, "publishedAt": "2024-01-23T00:00:00Z"},
                item("   ", "Blank Id"),
                None,
                item("2401.00005", "Fifth"),
            )
        )
        + "\n]"
    )
    parsed = parse(text)
    assert parsed.sightings.select("position", "title").rows() == [(1, "First"), (5, "Fifth")]
    rejects = parsed.rejects
    assert rejects.select("position", "line_number", "reason").rows() == [
        (2, 3, "item without paper.id"),
        (3, 4, "item without paper.id"),
        (4, 5, "item is not a JSON object (null)"),
    ]
    assert json.loads(rejects["raw_text"][0]) == {"paper": {"title": "No Id"}, "publishedAt": "2024-01-23T00:00:00Z"}
    assert rejects["raw_text"][2] == "null"
    assert set(rejects["dump_id"]) == {parsed.dump_id}
    assert set(rejects["dump_file"]) == {parsed.dump_file}


@pytest.mark.parametrize(
    ("paper_id", "arxiv_id"),
    [
        ("2401.12345", "2401.12345"),
        ("0704.0001", "0704.0001"),
        (" 2401.12345v3 ", "2401.12345"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.GT/0309136v2", "math.GT/0309136"),
        (2401.12345, "2401.12345"),
    ],
)
def test_arxiv_ids(paper_id: Any, arxiv_id: str) -> None:
    assert parse(dumps(item(paper_id))).sightings["arxiv_id"].to_list() == [arxiv_id]


@pytest.mark.parametrize("paper_id", ["1", "abc", "2401.123", "2401.12345/x", "'); drop table papers; --", True])
def test_ids_of_another_shape_reject_the_item(paper_id: Any) -> None:
    parsed = parse(dumps(item(paper_id), item("2401.00002", "Fine")))
    assert parsed.sightings["title"].to_list() == ["Fine"]
    assert parsed.rejects["reason"][0].startswith("paper.id '")
    assert parsed.rejects["reason"][0].endswith("' is not an arXiv id")


def test_title_rules() -> None:
    text = dumps(
        {"paper": {"id": "2401.00001"}, "title": "  Top \n Level   Title ", "publishedAt": "2024-01-23T00:00:00Z"},
        {**item("2401.00002", {"not": "a string"}), "title": "Fallback Title"},
        item("2401.00003", None),
        item("2401.00004", "!!! ???"),
        item("2401.00005", "x" * 301),
        item("2401.00006", "Long Summary", paper_summary="y " * 6_000),
        item("2401.00007", "   Spaced\u00a0\u3000Out\tTitle  ", paper_summary="  a\n\n b\t c  "),
        # stg_raw__paper_sightings takes the abstract as loaded: stripped, and null when blank
        item("2401.00008", "Blank Summary", paper_summary=" \u00a0\t\n "),
    )
    parsed = parse(text)
    assert parsed.sightings.select("position", "title", "abstract").rows() == [
        (1, "Top Level Title", None),
        (2, "Fallback Title", None),
        (7, "Spaced Out Title", "a b c"),
        (8, "Blank Summary", None),
    ]
    assert parsed.rejects.select("position", "reason").rows() == [
        (3, "item without a title (paper.title or title)"),
        (4, "title has no letter or digit"),
        (5, "title too long (301 chars > 300)"),
        (6, "summary too long (11999 chars > 10000)"),
    ]
    raw = parsed.rejects.filter(pl.col("position") == 6)["raw_text"][0]
    assert len(raw) == MAX_RAW_TEXT_CHARS + len(" [...]")
    assert raw.endswith(" [...]")


def test_hostile_values_never_crash() -> None:
    junk: list[Any] = [
        item("2401.00001", "'); DROP TABLE sightings; --", paper_summary="<script>alert(1)</script>"),
        item("2401.00002", "\u202eRTL \u05e9\u05dc\u05d5\u05dd \U0001f600", paper_githubRepo="javascript:alert(1)"),
        item("2401.00003", "NUL\u0000byte", paper_githubRepo="https://github.com/o/r" + "x" * 5_000),
        item("2401.00004", "Lone \ud800 surrogate"),
        {"paper": [1, 2, 3]},
        {"paper": {"id": "2401.00006", "title": "Deep", "x": [[[[[[[[[[[]]]]]]]]]]]}},
        "a string item",
        [],
        item("2401.00009", "Nested Org", organization={"name": ["x"], "fullname": {"y": 1}}),
    ]
    parsed = parse(json.dumps(junk))
    assert parsed.sightings["position"].to_list() == [1, 2, 3, 4, 6, 9]
    titles = parsed.sightings["title"].to_list()
    assert titles[0] == "'); DROP TABLE sightings; --"
    assert titles[1].startswith("\u202eRTL")
    assert parsed.sightings["code_url"].to_list() == [None] * 6  # junk githubRepo is not a repository
    assert parsed.rejects.select("position", "reason").rows() == [
        (5, "item without paper.id"),
        (7, "item is not a JSON object (string)"),
        (8, "item is not a JSON object (array)"),
    ]


# --- whole-dump rejects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"  \n\t ", "no JSON value (only whitespace)"),
        (b'{"paper": {"id": "2401.12345", "title": "T"}}', "top-level JSON object, expected an array of papers"),
        (b'"just a string"', "not a JSON array (starts with '\"just a string\"')"),
        (b"Daily Papers\n\nMar 14\n", "not a JSON array (starts with 'Daily Papers\\n\\nMar 14')"),
        (b'[{"paper": {"id": "2401.12345", "title": "T"}', "invalid JSON ("),
        (b'[{"paper": {"id": "2401.12345", "title": "T"}}] trailing', "invalid JSON ("),
        (b'[{"a": NaN}]', "invalid JSON ("),
        (b"[" * 5_000 + b"]" * 5_000, "invalid JSON ("),
        (b'[{"paper": {"id": 1}}, 2]', "no readable item (2 of 2 items rejected, first: "),
    ],
)
def test_whole_dump_rejects(data: bytes, reason: str) -> None:
    error = rejected(data)
    assert error.reason.startswith(reason), error.reason


@pytest.mark.parametrize("data", [b"[]", b" \n[ \n ] \n"])
def test_an_empty_array_is_a_day_with_no_papers(data: bytes) -> None:
    parsed = parse(data, "2024-01-23.json")
    assert (parsed.dump_date, parsed.sightings.height, parsed.authors.height, parsed.rejects.height) == (
        dt.date(2024, 1, 23),
        0,
        0,
        0,
    )
    assert rejected(data, "saved.json").reason.startswith("no dump date")


def test_invalid_json_says_where() -> None:
    error = rejected(b'[{"paper": {"id": "2401.12345", "title": "T"}}, {"paper": ]')
    assert "character" in error.reason


@pytest.mark.parametrize("offset", [0, 17, (1 << 20) - 1, 1 << 20, (1 << 20) + 5])
def test_invalid_utf8_gives_the_byte_offset(offset: int) -> None:
    prefix = b'[{"paper": {"id": "2401.12345", "title": "'
    filler = b"a" * max(0, offset - len(prefix))
    data = (prefix + filler)[:offset] + b"\xe9" + b'"}}]' if offset else b"\xff[]"
    assert rejected(data).reason == f"invalid UTF-8 at byte {offset}"


def test_utf8_split_across_chunks_is_fine() -> None:
    prefix = b'[{"paper": {"id": "2401.12345", "title": "T\xc3\xa9"}, "junk": "'
    filler = b"a" * ((1 << 20) - len(prefix) - 1)  # the 2-byte "\u00e9" straddles the 1 MiB chunk end
    parsed = parse(prefix + filler + "\u00e9\u2603".encode() + b'", "publishedAt": "2024-01-23T00:00:00Z"}]')
    assert parsed.sightings["title"].to_list() == ["T\u00e9"]


def test_bom_is_accepted() -> None:
    assert parse(b"\xef\xbb\xbf" + dumps(item()).encode()).sightings.height == 1


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = dumps(item()).encode()
    monkeypatch.setattr(api_decode, "MAX_API_DUMP_BYTES", len(data) - 1)
    assert rejected(data).reason == f"file too large ({len(data)} bytes > {len(data) - 1})"


def test_too_many_values_are_rejected_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    dense = json.dumps([item(x=[0] * 400)])
    monkeypatch.setattr(api_decode, "MAX_JSON_TOKENS", 100)
    assert rejected(dense).reason.startswith("too many JSON values to decode within the memory budget (")
    assert parse(dumps(item())).sightings.height == 1  # small files are not even counted


def test_naive_modified_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_api_dump(b"[]", "x.json", modified_at=dt.datetime(2026, 1, 1))


# --- dump dates ------------------------------------------------------------------------------


def featured(day: str | None, n: int = 1, start: int = 1) -> list[dict[str, Any]]:
    out = []
    for i in range(start, start + n):
        x = item(f"2401.{i:05d}", f"Paper {i}")
        if day is None:
            del x["publishedAt"]
        else:
            x["publishedAt"] = f"{day}T23:59:59.000Z"
        out.append(x)
    return out


def test_dump_date_from_the_file_name_wins() -> None:
    text = json.dumps(featured("2024-01-23"))
    assert parse(text, "daily/2025-02-03.json").dump_date == dt.date(2025, 2, 3)
    assert parse(text, "papers_20250204.json").dump_date == dt.date(2025, 2, 4)
    assert parse(text, "export.json").dump_date == dt.date(2024, 1, 23)


def test_dump_date_from_items_most_common_then_latest() -> None:
    majority = featured("2024-01-22", 3) + featured("2024-01-23", 2, start=10) + featured(None, 4, start=20)
    assert parse(json.dumps(majority), "export.json").dump_date == dt.date(2024, 1, 22)
    tie = featured("2024-01-22", 2) + featured("2024-01-24", 2, start=10) + featured("bogus", 5, start=20)
    assert parse(json.dumps(tie), "export.json").dump_date == dt.date(2024, 1, 24)


def test_no_dump_date_rejects_the_dump() -> None:
    error = rejected(json.dumps(featured(None, 2) + featured("2024-13-45", 1, start=5)), "export.json")
    assert error.reason.startswith("no dump date")


# --- batches -----------------------------------------------------------------------------------


def test_batch_isolation(corpus: list[SyntheticDump]) -> None:
    good = [DumpInput(d.render_api(), d.api_file_name, NOW) for d in corpus[:2]]
    bad = [
        DumpInput(b"{}", "object.json", NOW),
        DumpInput(b"[1, 2]", "numbers.json", NOW),
        DumpInput(b"\xff", "binary.json", NOW),
        DumpInput(json.dumps(featured(None)).encode(), "undated.json", NOW),
    ]
    batch = [bad[0], good[0], bad[1], bad[2], good[1], bad[3]]
    parsed, failed = parse_api_dumps(batch)
    assert [p.dump_file for p in parsed] == [g.dump_file for g in good]
    assert [f.dump_file for f in failed] == [b.dump_file for b in bad]
    for one, alone in zip(parsed, good, strict=True):
        single = parse(alone.data, alone.dump_file)
        assert one.sightings.equals(single.sightings)
        assert one.authors.equals(single.authors)
        assert one.rejects.equals(single.rejects)
    assert parse_api_dumps([]) == ([], [])


def test_duplicate_papers_in_one_dump_are_both_kept() -> None:
    parsed = parse(dumps(item(), item()))
    assert parsed.sightings["position"].to_list() == [1, 2]


# --- scale -------------------------------------------------------------------------------------

_LARGE_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, json, resource, sys, time
    from orchestration.parse.api import parse_api_dump
    from tests.synthetic import generate_dumps

    target = int(sys.argv[1])
    items = [json.loads(d.render_api()) for d in generate_dumps(1, 200, seed=3)][0]
    chunks, size, n = [], 0, 0
    while size < target:
        for entry in items:
            n += 1
            entry["paper"]["id"] = f"2401.{n % 100000:05d}"
            text = json.dumps(entry)
            chunks.append(text)
            size += len(text) + 1
    data = ("[" + ",".join(chunks) + "]").encode()
    del chunks
    start = time.perf_counter()
    parsed = parse_api_dump(data, "2026-03-02.json", modified_at=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"bytes": len(data), "items": n, "sightings": parsed.sightings.height,
                      "rejects": parsed.rejects.height, "seconds": seconds, "peak_mib": peak_kib / 1024}))
    """
)


def test_large_file_parses_with_bounded_memory() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LARGE_SCRIPT, str(50_000_000)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads(result.stdout)
    assert stats["bytes"] >= 50_000_000
    assert stats["sightings"] == stats["items"]
    assert stats["rejects"] == 0
    assert stats["peak_mib"] < 2048, stats


# --- variants of the API's fields ------------------------------------------------------------------


@pytest.mark.parametrize("fallback", [False, True], ids=["fast path", "fallback"])
@pytest.mark.parametrize(
    ("github", "code_url"),
    [
        ("https://github.com/owner/repo", "https://github.com/owner/repo"),
        ("owner/repo", "https://github.com/owner/repo"),
        (" some-org/repo.name_2 ", "https://github.com/some-org/repo.name_2"),
        ("owner/repo/tree/main", None),
        ("-owner/repo", None),
        ("owner/", None),
        ("just-a-word", None),
    ],
)
def test_github_repo_as_url_or_owner_slash_name(github: str, code_url: str | None, fallback: bool) -> None:
    extra = {"paper_upvotes": {"wrong": "type"}} if fallback else {}  # forces the item-by-item decode
    row = parse(dumps(item(paper_githubRepo=github, **extra))).sightings.row(0, named=True)
    assert row["code_url"] == code_url
    assert (row["code_status"], row["code_source"]) == (("repository", "api") if code_url else ("none", None))


@pytest.mark.parametrize("fallback", [False, True], ids=["fast path", "fallback"])
def test_organization_at_the_top_or_inside_the_paper(fallback: bool) -> None:
    extra = {"paper_upvotes": {"wrong": "type"}} if fallback else {}
    inner = {"name": "inner", "fullname": "Inner Lab"}
    parsed = parse(
        dumps(
            item("2401.00001", "Top only", organization={"name": "top", "fullname": "Top Lab"}, **extra),
            item("2401.00002", "Paper only", organization=None, paper_organization=inner, **extra),
            item("2401.00003", "Both", organization={"name": "top", "fullname": None}, paper_organization=inner),
            item("2401.00004", "Neither", **extra),
        )
    )
    assert parsed.sightings.select("org_handle", "org_name").rows() == [
        ("top", "Top Lab"),
        ("inner", "Inner Lab"),
        ("top", None),  # one record, never a mix of two
        (None, None),
    ]


def test_hidden_authors_are_authors() -> None:
    authors = [{"name": "Ada One"}, {"name": "Hidden Two", "hidden": True}, {"hidden": True}]
    parsed = parse(dumps(item(paper_authors=authors)))
    assert parsed.sightings.get_column("n_authors").to_list() == [3]
    assert parsed.authors.select("author_position", "author_name").rows() == [(1, "Ada One"), (2, "Hidden Two")]
