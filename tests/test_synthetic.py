"""Tests for the synthetic dump generator ``tests.synthetic``."""

from __future__ import annotations

import datetime
import inspect
import itertools
import json
import re
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from orchestration.parse.code_links import code_link_columns, is_repository_url
from orchestration.parse.contract import CODE_STATUSES
from tests.synthetic import (
    HOSTILE_TITLES,
    ApiVariant,
    Entry,
    RenderStyle,
    SyntheticDump,
    generate_dumps,
    hostile_entries,
    normalise_title,
    render_dump,
    write_dumps,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus() -> list[SyntheticDump]:
    return list(generate_dumps(60, 30, seed=7))


def all_bytes(seed: int) -> list[bytes]:
    return [dump.render() for dump in generate_dumps(10, 12, seed=seed)]


def test_same_seed_same_bytes_different_seed_different() -> None:
    assert all_bytes(3) == all_bytes(3)
    assert all_bytes(3) != all_bytes(4)


def test_generate_dumps_is_streaming() -> None:
    assert inspect.isgeneratorfunction(generate_dumps)
    dumps = generate_dumps(10**6, 5)  # a huge corpus costs nothing until iterated
    first = next(dumps)
    assert first.page_date == datetime.date(2026, 3, 2)


def test_one_dump_per_consecutive_day(corpus: list[SyntheticDump]) -> None:
    start = corpus[0].page_date
    for offset, dump in enumerate(corpus):
        assert dump.page_date == start + datetime.timedelta(days=offset)
        assert dump.file_name == f"{dump.page_date.isoformat()}.txt"
        assert len(dump.entries) == 30
        assert len({e.title for e in dump.entries}) == 30  # distinct papers within a dump


def test_papers_overlap_and_stay_consistent(corpus: list[SyntheticDump]) -> None:
    sightings: dict[str, list[tuple[datetime.date, Entry]]] = defaultdict(list)
    for dump in corpus:
        for entry in dump.entries:
            sightings[entry.title].append((dump.page_date, entry))
    repeated = [s for s in sightings.values() if len(s) > 1]
    assert len(repeated) > len(sightings) // 4
    comebacks = 0
    for seen in repeated:
        days = [d for d, _ in seen]
        if any((b - a).days > 1 for a, b in itertools.pairwise(days)):
            comebacks += 1
        truths = {(e.abstract, e.code_status, e.code_url) for _, e in seen}
        assert len(truths) == 1
        meta = [e for _, e in seen if e.layout == "B"]
        assert len({(e.n_authors, e.org_handle, e.org_name, e.published_on) for e in meta}) <= 1
        votes = [e.upvotes or 0 for e in meta]
        assert votes == sorted(votes)
        first_day = days[0]
        assert all(e.published_on is not None and e.published_on <= first_day for e in meta)
    assert comebacks > 0


def test_titles_unique_per_paper_after_normalisation(corpus: list[SyntheticDump]) -> None:
    by_key: dict[str, str] = {}
    for dump in corpus:
        for entry in dump.entries:
            key = normalise_title(entry.title)
            assert by_key.setdefault(key, entry.title) == entry.title


def test_mix_of_statuses_layouts_and_metadata(corpus: list[SyntheticDump]) -> None:
    entries = [e for dump in corpus for e in dump.entries]
    assert {e.code_status for e in entries} == set(CODE_STATUSES)
    assert {e.layout for e in entries} == {"A", "B"}
    assert all(len({e.layout for e in dump.entries}) == 2 for dump in corpus)
    layout_b = [e for e in entries if e.layout == "B"]
    assert any(e.abstract is None for e in layout_b)
    assert any(e.org_handle for e in layout_b)
    assert any(e.n_authors for e in layout_b)
    assert any(e.upvotes is None for e in layout_b)
    assert any(e.upvotes for e in layout_b)
    assert any(e.show_year for e in layout_b)
    assert any(not e.show_year for e in layout_b)
    lengths = [len(e.abstract) for e in entries if e.abstract]
    assert min(lengths) >= 1300
    assert max(lengths) <= 2100
    assert 1450 <= statistics.median(lengths) <= 1700


def test_status_shares_roughly_as_designed() -> None:
    papers = {e.title: e.code_status for d in generate_dumps(100, 50, seed=1) for e in d.entries}
    shares = pl.Series(list(papers.values())).value_counts(normalize=True)
    share = dict(shares.iter_rows())
    assert 0.28 < share["repository"] < 0.42
    assert 0.28 < share["none"] < 0.42
    assert 0.10 < share["claimed"] < 0.20
    assert 0.10 < share["promised"] < 0.20


def test_show_year_false_only_when_valid(corpus: list[SyntheticDump]) -> None:
    long = list(generate_dumps(400, 10, seed=2, start=datetime.date(2025, 12, 1)))
    for dump in [*corpus, *long]:
        for e in dump.entries:
            if e.layout == "B" and not e.show_year:
                assert e.published_on is not None
                assert e.published_on.year == dump.page_date.year
                assert e.published_on <= dump.page_date


def test_truth_agrees_with_classifier(corpus: list[SyntheticDump]) -> None:
    rows = [(e.abstract, e.code_status, e.code_url) for dump in corpus for e in dump.entries if e.abstract is not None]
    frame = pl.DataFrame(rows, schema=["abstract", "truth", "truth_url"], orient="row")
    out = frame.with_columns(code_link_columns(pl.col("abstract")))
    disagree = out.filter(
        (pl.col("truth") != pl.col("code_status")) | ~pl.col("truth_url").eq_missing(pl.col("code_url"))
    )
    assert disagree.height == 0, disagree.head(5).rows()
    assert set(out["code_status"]) == set(CODE_STATUSES)


def test_render_layout_exact() -> None:
    entries = [
        Entry(title="Alpha Title", abstract="First abstract.", layout="A"),
        Entry(
            title="Beta Title",
            abstract="Second abstract.",
            layout="B",
            n_authors=3,
            published_on=datetime.date(2025, 11, 1),
            upvotes=4,
        ),
        Entry(
            title="Gamma Title",
            abstract=None,
            layout="B",
            org_handle="acme-ai",
            org_name="Acme AI",
            published_on=datetime.date(2026, 3, 5),
            show_year=False,
        ),
    ]
    text = render_dump(datetime.date(2026, 3, 7), entries).decode("utf-8")
    assert text == (
        "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        "byAK and the research community\n\nMar 7\n\n"
        "Alpha Title\n\nFirst abstract.\n\n"
        "Beta Title\n\nSecond abstract.\n\n  \u2022 3 authors\n\u00b7\nNov 1, 2025 4\n\n"
        "Gamma Title\n\nacme-ai Acme AI\n\u00b7\nMar 5\n"
    )


def test_render_style_noise() -> None:
    dump = next(generate_dumps(1, 20, seed=5))
    clean = dump.render()
    noisy = dump.render(
        RenderStyle(
            line_ending="\r\n",
            bom=True,
            trailing_spaces=True,
            extra_blank_lines=True,
            nbsp=True,
            final_newline=False,
            daily_papers_header=False,
        )
    )
    text = noisy.decode("utf-8")
    assert noisy.startswith(b"\xef\xbb\xbf")
    assert "\r\n" in text
    assert "\n" not in text.replace("\r\n", "")
    assert not text.endswith("\r\n")
    assert "\u00a0" in text
    assert " \r\n" in text
    assert "\r\n\r\n\r\n" in text
    assert "Daily Papers" not in text
    assert b"Daily Papers" in clean
    assert dump.render(RenderStyle(line_ending="\r")).count(b"\r") == clean.count(b"\n")


def test_invalid_entries_rejected() -> None:
    with pytest.raises(ValueError, match="layout A"):
        Entry(title="t", abstract=None, layout="A")
    with pytest.raises(ValueError, match="exactly one"):
        Entry(title="t", abstract="a", layout="B", published_on=datetime.date(2026, 1, 1))
    bad_year = Entry(
        title="t",
        abstract="a",
        layout="B",
        n_authors=1,
        published_on=datetime.date(2025, 12, 30),
        show_year=False,
    )
    with pytest.raises(ValueError, match="show_year"):
        render_dump(datetime.date(2026, 1, 2), [bad_year])


def test_write_dumps_idempotent_and_refuses_overwrite(tmp_path: Path) -> None:
    dumps = list(generate_dumps(3, 5, seed=1))
    paths = write_dumps(tmp_path, dumps)
    assert [p.name for p in paths] == [d.file_name for d in dumps]
    assert write_dumps(tmp_path, dumps) == paths  # identical content: fine
    other = list(generate_dumps(3, 5, seed=2))
    with pytest.raises(FileExistsError):
        write_dumps(tmp_path, other)
    assert paths[0].read_bytes() == dumps[0].render()
    write_dumps(tmp_path, other, overwrite=True)
    assert paths[0].read_bytes() == other[0].render()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.synthetic", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    base = ["--days", "3", "--papers-per-day", "4", "--start", "2026-01-30"]
    first = run_cli(str(out), *base, "--seed", "1")
    assert first.returncode == 0, first.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2026-01-30.txt", "2026-01-31.txt", "2026-02-01.txt"]
    before = (out / names[0]).read_bytes()
    assert run_cli(str(out), *base, "--seed", "1").returncode == 0  # same content
    refused = run_cli(str(out), *base, "--seed", "2")
    assert refused.returncode != 0
    assert "refusing to overwrite" in refused.stderr
    assert (out / names[0]).read_bytes() == before
    assert run_cli(str(out), *base, "--seed", "2", "--force").returncode == 0
    assert (out / names[0]).read_bytes() != before


# --- API JSON rendering --------------------------------------------------------------------------


def test_demo_dumps_are_reproducible(tmp_path: Path) -> None:
    """`make demo-dumps` reproduces the shipped demo dumps in raw/ byte for byte."""
    demo = sorted((REPO / "raw").glob("2026-03-*"))
    assert demo, "the demo dumps in raw/ are missing"
    args = ("--days", "7", "--papers-per-day", "12", "--seed", "7", "--start", "2026-03-09", "--format", "mixed")
    result = run_cli(str(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in demo]
    for path in demo:
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_render_api_deterministic_json_array() -> None:
    def api_bytes(seed: int) -> list[bytes]:
        return [d.render_api(ApiVariant(extra_fields=True)) for d in generate_dumps(6, 10, seed=seed)]

    assert api_bytes(3) == api_bytes(3)
    assert api_bytes(3) != api_bytes(4)
    dump = next(generate_dumps(1, 10, seed=3))
    items = json.loads(dump.render_api())
    assert isinstance(items, list)
    assert [i["paper"]["title"] for i in items] == [e.title for e in dump.entries]
    assert dump.api_file_name == "2026-03-02.json"
    assert all(i["publishedAt"].startswith("2026-03-02T") for i in items)


def test_api_facts_of_generated_papers(corpus: list[SyntheticDump]) -> None:
    entries = [e for dump in corpus for e in dump.entries]
    by_title: dict[str, set[tuple[object, ...]]] = defaultdict(set)
    for e in entries:
        by_title[e.title].add((e.arxiv_id, e.authors, e.n_comments, e.api_github_repo))
        assert e.arxiv_id is not None
        assert re.fullmatch(r"\d{4}\.\d{5}", e.arxiv_id)
        if e.published_on is not None:
            assert e.arxiv_id.startswith(e.published_on.strftime("%y%m"))
        assert e.authors, "every paper has authors in the API, organisation papers too"
        if e.n_authors is not None:
            assert len(e.authors) == e.n_authors
        assert e.n_comments >= 0
    assert all(len(facts) == 1 for facts in by_title.values())  # stable across sightings
    ids = [next(iter(facts))[0] for facts in by_title.values()]
    assert len(set(ids)) == len(ids)
    assert any(e.org_handle for e in entries)
    assert any(e.n_comments for e in entries)

    with_repo = [e for e in entries if e.api_github_repo is not None]
    urls = pl.Series([e.api_github_repo for e in with_repo])
    assert pl.select(is_repository_url(pl.lit(urls))).to_series().all()
    assert all(str(e.api_github_repo).startswith("https://github.com/") for e in with_repo)
    echoed = [e for e in with_repo if e.code_status == "repository"]
    api_only = [e for e in with_repo if e.code_url is None]
    assert echoed
    assert api_only
    for e in echoed:
        assert e.code_url is not None
        assert str(e.api_github_repo).split("github.com/")[1] in e.code_url
    assert all(e.api_code == ("repository", e.api_github_repo, "api") for e in with_repo)
    plain = [e for e in entries if e.api_github_repo is None]
    assert {e.api_code[2] for e in plain} == {"abstract", None}
    assert all(e.api_code == (e.code_status, e.code_url, "abstract" if e.code_url else None) for e in plain)


def test_entry_api_fields_default() -> None:
    entry = Entry(title="t", abstract="a", layout="A")
    assert (entry.arxiv_id, entry.authors, entry.n_comments, entry.api_github_repo) == (None, (), 0, None)
    assert entry.api_code == ("none", None, None)
    item = json.loads(render_dump_api([entry]))[0]
    assert "id" not in item["paper"]
    assert item["paper"]["authors"] == []


def render_dump_api(entries: list[Entry]) -> bytes:
    return SyntheticDump("2026-01-01.txt", datetime.date(2026, 1, 1), tuple(entries)).render_api()


def test_api_variants() -> None:
    dump = next(generate_dumps(1, 12, seed=9))
    plain = json.loads(dump.render_api())
    variant = ApiVariant(missing_optional=True, null_optional=True, extra_fields=True, organizations=False)
    noisy = json.loads(dump.render_api(variant))
    for position, (a, b) in enumerate(zip(plain, noisy, strict=True), start=1):
        assert b["paper"]["id"] == a["paper"]["id"]
        assert b["paper"]["title"] == a["paper"]["title"] == b["title"]
        assert "x_unknown" in b
        assert "x_unknown" in b["paper"]
        assert "organization" not in b or b["organization"] is None
        if variant.strips(position):
            assert not {"summary", "authors", "upvotes", "publishedAt"} & set(b["paper"])
            assert "numComments" not in b
        elif variant.nulls(position):
            assert b["paper"]["authors"] is None
            assert b["numComments"] is None
            assert "summary" in b["paper"]
            assert b["paper"]["summary"] is None
        else:
            assert b["paper"]["authors"][0]["name"] == a["paper"]["authors"][0]["name"]
    assert [ApiVariant(missing_optional=True).strips(p) for p in range(1, 7)] == [0, 1, 0, 0, 1, 0]
    assert [ApiVariant(null_optional=True).nulls(p) for p in range(1, 7)] == [0, 0, 1, 0, 0, 1]
    assert not ApiVariant().strips(2)
    assert not ApiVariant().nulls(3)
    pretty = dump.render_api(ApiVariant(indent=2))
    assert b"\n  " in pretty
    assert json.loads(pretty) == plain


def test_hostile_entries_keep_layout_and_truth(corpus: list[SyntheticDump]) -> None:
    for dump in corpus[:5]:
        hostile = hostile_entries(dump.entries)
        assert dump.api_entries(ApiVariant(hostile=True)) == hostile
        assert dump.api_entries() == dump.entries
        assert len({e.title for e in hostile}) == len(hostile)
        assert {e.title for e in hostile} & set(HOSTILE_TITLES)
        for before, after in zip(dump.entries, hostile, strict=True):
            assert (after.layout, after.code_status, after.code_url, after.arxiv_id) == (
                before.layout,
                before.code_status,
                before.code_url,
                before.arxiv_id,
            )
            assert len(after.authors) == len(before.authors)
            assert (after.abstract is None) == (before.abstract is None)
            assert after.abstract is None or len(after.abstract) <= 10_000
        abstracts = [e.abstract for e in hostile if e.abstract is not None]
        assert max(len(a) for a in abstracts) > 8_000
    # the ground truth still agrees with the classifier on the altered abstracts
    rows = [(e.abstract, e.code_status) for d in corpus[:5] for e in hostile_entries(d.entries) if e.abstract]
    frame = pl.DataFrame(rows, schema=["abstract", "truth"], orient="row").with_columns(
        code_link_columns(pl.col("abstract"))
    )
    assert frame.filter(pl.col("truth") != pl.col("code_status")).height == 0


def test_write_dumps_formats(tmp_path: Path) -> None:
    dumps = list(generate_dumps(6, 4, seed=1))
    api = write_dumps(tmp_path / "api", dumps, output_format="api_json")
    assert [p.name for p in api] == [d.api_file_name for d in dumps]
    assert api[0].read_bytes() == dumps[0].render_api()
    mixed = write_dumps(tmp_path / "mixed", dumps, output_format="mixed")
    assert [p.suffix for p in mixed] == [".txt", ".txt", ".json", ".txt", ".txt", ".json"]
    assert write_dumps(tmp_path / "mixed", dumps, output_format="mixed") == mixed  # idempotent
    text = write_dumps(tmp_path / "text", dumps)
    assert [p.read_bytes() for p in text] == [d.render() for d in dumps]
    with pytest.raises(ValueError, match="unknown output format"):
        write_dumps(tmp_path / "x", dumps, output_format="xml")  # type: ignore[arg-type]


def test_cli_format_option(tmp_path: Path) -> None:
    base = ["--days", "4", "--papers-per-day", "3", "--start", "2026-01-30", "--seed", "1"]
    assert run_cli(str(tmp_path / "m"), *base, "--format", "mixed").returncode == 0
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == ["2026-01-30.txt", "2026-01-31.txt", "2026-02-01.json", "2026-02-02.txt"]
    assert run_cli(str(tmp_path / "j"), *base, "--format", "api_json").returncode == 0
    assert all(p.suffix == ".json" for p in (tmp_path / "j").iterdir())
    assert run_cli(str(tmp_path / "t"), *base).returncode == 0
    assert all(p.suffix == ".txt" for p in (tmp_path / "t").iterdir())
    assert run_cli(str(tmp_path / "x"), *base, "--format", "xml").returncode != 0
