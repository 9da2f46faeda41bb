"""Bad and odd files dropped together with good dumps: each gets one clear, documented outcome.

One drop holds good synthetic dumps and 30 strange entries. After one ``make run``:

* every good dump is loaded with exactly the generator's entry count;
* every unreadable file is in ``raw.quarantined_dumps`` with a reason that names the problem;
* everything that is not a dump is ignored by the scan with a reason (and never read);
* the raw folder is untouched: same names, bytes, modes and mtimes, symlinks and all;
* a 200 MB dump and a 50 MB line load in bounded memory (peak RSS of the run below 2 GiB).

Then a file goes v1 -> v2 -> v1 and another is deleted after loading, one run each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.load.ingest import scan_raw_dir
from tests.conftest import Workspace
from tests.synthetic import Entry, RenderStyle, SyntheticDump, format_day, generate_dumps

MiB = 1 << 20
PEAK_RSS_LIMIT = 2 << 30

# Runs `python -m orchestration.run` and reports the peak RSS of it and its children (dbt).
MEASURED_RUN = r"""
import resource, subprocess, sys
code = subprocess.run([sys.executable, "-m", "orchestration.run"]).returncode
print(f"PEAK_RSS_KIB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(code)
"""


@dataclass(frozen=True)
class Expect:
    outcome: str  # "loaded", "duplicate", "quarantined" or "ignored"
    reason: str = ""  # a piece of the recorded reason
    entries: int = 0  # sightings (loaded) ...
    rejects: int = 0  # ... and rejected entries


def fingerprint(root: Path) -> dict[str, tuple[object, ...]]:
    """Names, types, bytes (sha256), modes and mtimes of everything under ``root``; links are not followed."""
    found: dict[str, tuple[object, ...]] = {".": ("dir", root.lstat().st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            info = path.lstat()
            key = str(path.relative_to(root))
            if path.is_symlink():
                found[key] = ("link", os.readlink(path), info.st_mtime_ns)
            elif path.is_dir():
                found[key] = ("dir", info.st_mode, info.st_mtime_ns)
            elif not path.is_file():
                found[key] = ("special", info.st_mode, info.st_mtime_ns)
            else:
                digest = hashlib.sha256()
                with path.open("rb") as handle:
                    while chunk := handle.read(8 * MiB):
                        digest.update(chunk)
                found[key] = ("file", info.st_size, info.st_mode, info.st_mtime_ns, digest.hexdigest())
    return found


def split_page(dump: SyntheticDump) -> tuple[bytes, bytes]:
    """The header (through the page-date line and its blank line) and the entries of a rendered dump."""
    data = dump.render()
    marker = f"\n{format_day(dump.page_date, with_year=False)}\n\n".encode()
    head, body = data.split(marker, 1)
    return head + marker, body


def write_repeated(path: Path, dump: SyntheticDump, size: int) -> int:
    """Stream a dump of at least ``size`` bytes that repeats ``dump``'s entries; return the entry count."""
    head, body = split_page(dump)
    block = body + b"\n"
    repeats = (size - len(head)) // len(block) + 1
    with path.open("wb") as handle:
        handle.write(head)
        for start in range(0, repeats, 1000):
            handle.write(block * min(1000, repeats - start))
    return repeats * len(dump.entries)


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def measured_run(space: Workspace) -> tuple[subprocess.CompletedProcess[str], int]:
    result = space.python("-c", MEASURED_RUN, timeout=1200)
    peak = [line for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KIB=")]
    assert peak, result.stderr[-4000:]
    return result, int(peak[-1].split("=")[1]) * 1024


def build_drop(raw: Path, outside: Path) -> tuple[dict[str, Expect], dict[str, list[Entry]]]:
    """Write the drop; return the expected outcome per name and the entries of each loaded file."""
    good = list(generate_dumps(days=16, papers_per_day=8, seed=99, start=dt.date(2026, 1, 5)))
    expect: dict[str, Expect] = {}
    content: dict[str, list[Entry]] = {}

    def dump(name: str, source: SyntheticDump, data: bytes | None = None, rejects: int = 0) -> None:
        (raw / name).write_bytes(source.render() if data is None else data)
        expect[name] = Expect("loaded", entries=len(source.entries), rejects=rejects)
        content[name] = list(source.entries)

    def bad(name: str, data: bytes, outcome: str, reason: str) -> None:
        (raw / name).write_bytes(data)
        expect[name] = Expect(outcome, reason)

    # Good dumps, some with odd names or byte-level noise.
    for source in good[:5]:
        dump(source.file_name, source)
    noisy = RenderStyle(line_ending="\r\n", bom=True, trailing_spaces=True, nbsp=True, final_newline=False)
    dump("with space 2026-01-10.txt", good[5], good[5].render(noisy))
    dump("論文 ünïcødé 2026-01-11.txt", good[6])
    dump("SHOUTING-2026-01-12.TXT", good[7])
    dump("no date in the name.txt", good[8])  # dump date from the header and the file's mtime
    page_day = dt.datetime.combine(good[8].page_date, dt.time(18), tzinfo=dt.UTC).timestamp()
    os.utime(raw / "no date in the name.txt", (page_day, page_day))
    dump("copy-a 2026-01-14.txt", good[9])
    (raw / "copy-b 2026-01-14.txt").write_bytes(good[9].render())
    expect["copy-b 2026-01-14.txt"] = Expect("duplicate", entries=len(good[9].entries))
    (raw / "alias-2026-01-05.txt").symlink_to(good[0].file_name)  # inside the folder: allowed
    expect["alias-2026-01-05.txt"] = Expect("duplicate", entries=len(good[0].entries))

    # Readable dumps with unreadable parts.
    data = good[10].render()
    last_title = data.rindex(good[10].entries[-1].title.encode())
    cut = SyntheticDump(good[10].file_name, good[10].page_date, good[10].entries[:-1])
    dump("truncated-2026-01-15.txt", cut, data[: last_title + 12], rejects=1)
    dump("long-line-2026-01-16.txt", good[11], good[11].render() + b"\n" + b"y" * (50 * MiB) + b"\n", rejects=1)
    big = raw / "big-2026-01-17.txt"
    write_repeated(big, good[12], 200 * MiB)
    expect[big.name] = Expect("quarantined", reason="file too large")
    dump("versioned-2026-01-18.txt", good[13])
    dump("deleted-later-2026-01-19.txt", good[14])

    # Whole files that cannot be read as a dump.
    head, body = split_page(good[15])
    latin1 = good[15].render()
    offset = latin1.index(b"e", len(head))
    bad("blank.txt", b" \n\n\t  \n\n", "quarantined", "empty")
    bad("zero.txt", b"", "quarantined", "empty file (0 bytes)")
    bad("binary.txt", random.Random(1).randbytes(4096), "quarantined", "invalid UTF-8 at byte")
    latin1 = latin1[:offset] + b"\xe9" + latin1[offset + 1 :]
    bad("latin1.txt", latin1, "quarantined", f"invalid UTF-8 at byte {offset}")
    bad("utf16.txt", good[15].render().decode().encode("utf-16"), "quarantined", "invalid UTF-8 at byte 0")
    bad("header-only.txt", head, "quarantined", "no entries")
    bad("no-page-date.txt", head.replace(format_day(good[15].page_date, with_year=False).encode(), b"") + body,
        "quarantined", "no page-date line")  # fmt: skip
    html = b"<!DOCTYPE html>\n<html><head><title>Daily Papers</title></head>\n<body><h1>Jan 5</h1></body></html>\n"
    bad("saved-page.txt", html, "quarantined", "no page-date line")
    bad("api.txt", json.dumps({"papers": [{"title": "X", "upvotes": 3}]}).encode(), "quarantined", "no page-date line")
    bad("one-line.txt", b"z" * (50 * MiB), "quarantined", "no page-date line")

    # Not dumps: the scan skips them and never opens them.
    secret = outside / "outside-2026-01-05.txt"
    secret.write_bytes(good[15].render())
    (raw / "outside-2026-01-05.txt").symlink_to(secret)
    expect["outside-2026-01-05.txt"] = Expect("ignored", "symlink points outside the raw folder")
    (raw / "loop-a.txt").symlink_to("loop-b.txt")
    (raw / "loop-b.txt").symlink_to("loop-a.txt")
    expect["loop-a.txt"] = Expect("ignored", "cannot be read")
    expect["loop-b.txt"] = Expect("ignored", "cannot be read")
    (raw / "dangling.txt").symlink_to("nowhere.txt")
    expect["dangling.txt"] = Expect("ignored", "cannot be read")
    for name, reason in {
        "new\nline-2026-01-05.txt": "control characters",
        "tab\there-2026-01-05.txt": "control characters",
        "wait...-2026-01-05.txt": "'...'",
        ".hidden-2026-01-05.txt": "hidden file",
        ".draft.txt.swp": "hidden file",
        "draft-2026-01-05.txt~": "editor leftover",
        "#draft-2026-01-05.txt#": "editor leftover",
        "incoming-2026-01-05.txt.part": "still being written",
        "download-2026-01-05.txt.crdownload": "still being written",
        "notes.md": "not a dump",
        "page.html": "not a dump",
    }.items():
        bad(name, good[0].render(), "ignored", reason)
    (raw / "nested.txt").mkdir()
    (raw / "nested.txt" / good[15].file_name).write_bytes(good[15].render())
    expect["nested.txt"] = Expect("ignored", "directory")
    os.mkfifo(raw / "pipe.txt")  # reading it would block forever
    expect["pipe.txt"] = Expect("ignored", "not a regular file")
    return expect, content


@pytest.mark.slow
def test_one_drop_of_bad_and_odd_files(workspace: Workspace, tmp_path: Path) -> None:
    raw, snapshot = workspace.raw_dir, workspace.snapshot
    outside = tmp_path / "outside"
    outside.mkdir()
    expect, content = build_drop(raw, outside)
    odd = [name for name in expect if not name[0].isdigit()]
    assert len(odd) >= 25

    before = fingerprint(raw)
    run, peak = measured_run(workspace)
    assert run.returncode == 0, run.stderr[-4000:]
    assert fingerprint(raw) == before, "the run changed the raw folder"

    ledger = {
        file: (dump_id, n_entries, n_rejected, duplicate_of)
        for file, dump_id, n_entries, n_rejected, duplicate_of in query(
            snapshot, "select dump_file, dump_id, n_entries, n_rejected, duplicate_of from raw.dumps where is_current"
        )
    }
    quarantined = dict(query(snapshot, "select dump_file, reason from raw.quarantined_dumps"))
    sightings = dict(query(snapshot, "select dump_file, count(*) from raw.paper_sightings group by all"))
    rejects = dict(query(snapshot, "select dump_file, string_agg(reason, '; ') from raw.rejected_entries group by all"))
    skipped = {item.name: item.reason for item in scan_raw_dir(raw).skipped}

    outcomes: dict[str, str] = {}
    wrong: list[str] = []  # every finding, so that one run reports all of them
    for name, want in sorted(expect.items()):
        if name in ledger:
            _, n_entries, n_rejected, duplicate_of = ledger[name]
            outcomes[name] = "duplicate" if duplicate_of else "loaded"
            if (n_entries, n_rejected) != (want.entries, want.rejects):
                wrong.append(f"{name!r}: {n_entries} entries, {n_rejected} rejects; want {want}")
            if duplicate_of is None and sightings.get(name) != want.entries:
                wrong.append(f"{name!r}: {sightings.get(name)} sightings; want {want.entries}")
        elif name in quarantined:
            outcomes[name] = "quarantined"
            if want.reason not in quarantined[name]:
                wrong.append(f"{name!r}: quarantined with {quarantined[name]!r}; want a reason with {want.reason!r}")
        elif name in skipped:
            outcomes[name] = "ignored"
            if want.reason not in skipped[name]:
                wrong.append(f"{name!r}: ignored with {skipped[name]!r}; want a reason with {want.reason!r}")
        else:
            outcomes[name] = "nothing recorded"
        if outcomes[name] != want.outcome:
            wrong.append(f"{name!r}: {outcomes[name]}; want {want.outcome}")
        print(f"{name!r:40} -> {outcomes[name]:12} {quarantined.get(name) or skipped.get(name) or ''}")
    assert wrong == []
    assert set(ledger) | set(quarantined) <= set(expect), "rows for a file that is not in the drop"
    assert sum(sightings.values()) == sum(want.entries for name, want in expect.items() if want.outcome == "loaded")

    # The unreadable pieces of readable dumps are named too, and a 50 MB line is not stored whole.
    assert quarantined["latin1.txt"] == expect["latin1.txt"].reason  # the exact offset, not a prefix of it
    assert "truncated entry" in rejects["truncated-2026-01-15.txt"]
    assert "too long to be a title" in rejects["long-line-2026-01-16.txt"]
    longest = query(snapshot, "select max(length(raw_text)) from raw.rejected_entries")[0][0]
    assert isinstance(longest, int)
    assert longest < 10_000

    # The copy is counted once; the header date plus the mtime dated the file without a date in its name.
    assert ledger["copy-b 2026-01-14.txt"][3] == "copy-a 2026-01-14.txt"
    assert query(snapshot, "select dump_date from raw.dumps where dump_file = 'no date in the name.txt'") == [
        (dt.date(2026, 1, 13),)
    ]
    # Every good paper is in the marts, and nothing else is.
    titles = [title for (title,) in query(snapshot, "select title from papers")]
    assert sorted(titles) == sorted({entry.title for entries in content.values() for entry in entries})

    # Rerun 1: a newer version of one file, and another file deleted after it was loaded.
    versioned, deleted = raw / "versioned-2026-01-18.txt", raw / "deleted-later-2026-01-19.txt"
    v1 = versioned.read_bytes()
    v1_rows = query(snapshot, "select * exclude (dump_id) from raw.paper_sightings where dump_file = ? order by all",
                    [versioned.name])  # fmt: skip
    versioned.write_bytes(v1 + b"\nAn Extra Paper Added In Version Two\n\nIts abstract, one short paragraph.\n")
    deleted.unlink()
    before = fingerprint(raw)
    second = workspace.make_run()
    assert second.returncode == 0, second.stderr[-4000:]
    assert fingerprint(raw) == before
    assert query(snapshot, "select count(*) from raw.paper_sightings where dump_file = ?", [versioned.name]) == [
        (len(content[versioned.name]) + 1,)
    ]
    assert query(snapshot, "select count(*) from raw.paper_sightings where dump_file = ?", [deleted.name]) == [
        (len(content[deleted.name]),)
    ], "rows of a deleted file must stay"
    assert query(snapshot, "select count(*) from papers where title = 'An Extra Paper Added In Version Two'") == [(1,)]

    # Rerun 2: the old version comes back; it is current again, with exactly its old rows.
    versioned.write_bytes(v1)
    before = fingerprint(raw)
    third = workspace.make_run()
    assert third.returncode == 0, third.stderr[-4000:]
    assert fingerprint(raw) == before
    history = query(
        snapshot, "select dump_id, is_current from raw.dumps where dump_file = ? order by is_current", [versioned.name]
    )
    assert [current for _, current in history] == [False, True]
    assert history[1][0] == hashlib.sha256(v1).hexdigest()
    rows = query(snapshot, "select * exclude (dump_id) from raw.paper_sightings where dump_file = ? order by all",
                 [versioned.name])  # fmt: skip
    assert rows == v1_rows
    assert query(snapshot, "select count(*) from papers where title = 'An Extra Paper Added In Version Two'") == [(0,)]

    # Last, so that every other finding above is reported first.
    print(f"peak RSS of the first run (200 MB dump, two 50 MB lines): {peak / MiB:.0f} MiB")
    assert peak < PEAK_RSS_LIMIT, f"peak RSS {peak / MiB:.0f} MiB for a 200 MB dump"
