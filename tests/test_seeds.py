"""Facts about the real sample dumps in /work/shared/seeds (skipped when the folder is absent).

The seed files are read at run time and never copied: assertions use counts, dates and
numbers only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import polars as pl
import pytest

from orchestration.parse.common import DumpInput, ParsedDump, title_key_for
from orchestration.parse.contract import SIGHTINGS_SCHEMA
from orchestration.parse.text import parse_dump, parse_dumps

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
MTIME = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)

pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason=f"seed dumps not found at {SEEDS}")


def seed(prefix: str) -> Path:
    matches = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if len(matches) != 1:
        pytest.skip(f"seed {prefix}_*.txt not found in {SEEDS}")
    return matches[0]


def parse_seed(prefix: str, *, mtime: dt.datetime = MTIME, name: str | None = None) -> ParsedDump:
    path = seed(prefix)
    return parse_dump(path.read_bytes(), name or path.name, modified_at=mtime)


@pytest.mark.parametrize(("prefix", "entries"), [("000", 80), ("003", 101)])
def test_layout_a_seeds(prefix: str, entries: int) -> None:
    parsed = parse_seed(prefix)
    frame = parsed.sightings
    assert frame.schema == SIGHTINGS_SCHEMA
    assert frame.height == entries
    assert frame.get_column("position").to_list() == list(range(1, entries + 1))
    assert frame.get_column("layout").unique().to_list() == ["A"]
    assert frame.get_column("abstract").null_count() == 0
    assert frame.get_column("n_authors").null_count() == entries
    assert frame.get_column("published_on").null_count() == entries
    assert parsed.rejects.height == 0


def test_mixed_layout_seed() -> None:
    parsed = parse_seed("002")
    frame = parsed.sightings
    assert frame.height == 44
    assert parsed.rejects.height == 0
    layouts = frame.get_column("layout").value_counts().sort("layout").rows()
    assert layouts == [("A", 2), ("B", 42)]
    b = frame.filter(pl.col("layout") == "B")
    # The brief said two organisation blocks; the file has three (39 author counts + 3 orgs).
    orgs = b.filter(pl.col("org_handle").is_not_null())
    assert orgs.height == 3
    assert orgs.get_column("org_name").null_count() == 0
    assert orgs.get_column("n_authors").null_count() == 3
    assert b.get_column("n_authors").null_count() == 3  # exactly the organisation blocks
    assert b.get_column("n_authors").drop_nulls().min() == 1
    assert b.get_column("published_on").null_count() == 0
    assert frame.filter(pl.col("layout") == "A").get_column("published_on").null_count() == 2
    assert frame.get_column("abstract").null_count() == 0


def test_seed_titles_come_from_the_file_and_ids_match() -> None:
    path = seed("002")
    text = path.read_text(encoding="utf-8")
    frame = parse_seed("002").sightings
    for title, abstract, title_key in frame.select("title", "abstract", "title_key").iter_rows():
        assert f"\n{title}\n" in text
        assert f"\n{abstract}" in text
        assert len(abstract) > len(title)
        assert title_key == title_key_for(title)


def test_seed_publication_year_inference() -> None:
    frame = parse_seed("002").sightings.sort("position")
    first, second, third = frame.head(3).iter_rows(named=True)
    # "Nov 1, 2023 1": explicit year and one upvote.
    assert (first["published_on"], first["upvotes"], first["n_authors"]) == (
        dt.date(2023, 11, 1),
        1,
        3,
    )
    # "May 22, 2023": explicit year and no upvote count.
    assert (second["published_on"], second["upvotes"], second["n_authors"]) == (
        dt.date(2023, 5, 22),
        None,
        11,
    )
    # "Jan 29 4": no year; the page is dated 2026-04-15, so January is this year's.
    assert (third["published_on"], third["upvotes"]) == (dt.date(2026, 1, 29), 4)
    # Inference never puts a publication date after the page date.
    latest = frame.get_column("published_on").max()
    assert isinstance(latest, dt.date)
    assert latest <= dt.date(2026, 4, 15)


def test_seed_publication_year_follows_the_dump_date() -> None:
    # With the page read as Apr 15 of 2025 (mtime before Apr 15 2026), Jan 29 is 2025's.
    frame = parse_seed("002", mtime=dt.datetime(2026, 4, 10, tzinfo=dt.UTC)).sightings
    third = frame.filter(pl.col("position") == 3).row(0, named=True)
    assert (third["dump_date"], third["published_on"]) == (dt.date(2025, 4, 15), dt.date(2025, 1, 29))


@pytest.mark.parametrize(
    ("mtime", "expected"),
    [
        (dt.datetime(2026, 5, 1, tzinfo=dt.UTC), dt.date(2026, 4, 15)),
        (dt.datetime(2026, 4, 10, tzinfo=dt.UTC), dt.date(2025, 4, 15)),
    ],
)
def test_seed_dump_date_from_mtime(mtime: dt.datetime, expected: dt.date) -> None:
    assert parse_seed("002", mtime=mtime).dump_date == expected


def test_seed_dump_date_from_file_name() -> None:
    parsed = parse_seed("000", name="raw/2026-03-17_copy.txt")
    assert parsed.dump_date == dt.date(2026, 3, 17)
    assert parsed.dump_file == "raw/2026-03-17_copy.txt"


def test_seeds_in_one_batch_match_single_parses() -> None:
    paths = [seed(prefix) for prefix in ("000", "002", "003")]
    inputs = [DumpInput(p.read_bytes(), p.name, MTIME) for p in paths]
    parsed, rejected = parse_dumps(inputs)
    assert rejected == []
    assert [p.sightings.height for p in parsed] == [80, 44, 101]
    for item, one in zip(inputs, parsed, strict=True):
        assert one.dump_id == hashlib.sha256(item.data).hexdigest()
        assert one.size_bytes == len(item.data)
        single = parse_dump(item.data, item.dump_file, modified_at=MTIME)
        assert one.sightings.equals(single.sightings)


@pytest.mark.parametrize("prefix", ["000", "002", "003"])
def test_seed_with_crlf_and_bom_parses_identically(prefix: str) -> None:
    data = seed(prefix).read_bytes()
    noisy = b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n") + b"\r\n\r\n"
    clean = parse_dump(data, "x.txt", modified_at=MTIME)
    other = parse_dump(noisy, "x.txt", modified_at=MTIME)
    assert other.rejects.height == 0
    assert other.sightings.drop("dump_id").equals(clean.sightings.drop("dump_id"))


def test_synthetic_entries_are_as_long_as_real_ones() -> None:
    """The benchmark corpus stands for real dumps: its bytes per entry are within 10% of the seeds'."""
    from tests.synthetic import generate_dumps

    real = [parse_seed(prefix) for prefix in ("000", "002", "003")]
    real_bytes_per_entry = sum(p.size_bytes for p in real) / sum(p.sightings.height for p in real)
    dumps = list(generate_dumps(days=10, papers_per_day=100, seed=3))
    synthetic_bytes_per_entry = sum(len(d.render()) for d in dumps) / sum(len(d.entries) for d in dumps)
    assert synthetic_bytes_per_entry == pytest.approx(real_bytes_per_entry, rel=0.10)
