"""SIGKILL at seeded random moments of ``make run``; the warehouse must always recover.

Each trial starts ``python -m orchestration.run`` in its own session and kills the whole
process group (the run and its dbt child) with SIGKILL at a random delay after one phase began:
parsing, the load transaction, ``dbt build`` or publishing the read snapshot. To know the phase,
the run goes through a thin driver that wraps four product functions with markers written to a
pipe (``parse_dumps``, ``load_dumps``, ``DbtCliResource.cli``, ``publish_snapshot``) and then runs
``orchestration.run`` as ``__main__``; the last marker before the kill tells where it landed.

After every kill:

(a) a copy of the live warehouse (with its WAL) opens read-write;
(b) no dump is partly loaded: each current, non-duplicate ledger row has exactly ``n_entries``
    sightings and ``n_rejected`` rejects, and no sighting belongs to any other dump_id;
    the read snapshot, if one exists, opens read-only and is internally consistent.

(c) The next run starts from the crashed state: it is the next trial, which must reach the phase it
    is aimed at (or finish successfully when the kill comes too late). After the last trial a plain
    ``make run`` must succeed and every mart and raw table must equal a clean, uninterrupted build
    of the same raw folder. (One full recovery instead of one per kill keeps the test to minutes:
    each dbt build alone takes ~15 s.)

Kills that land after their phase ended are retried with a shorter delay; the test requires at
least two kills inside each of the four phases and prints a table of target, landing and count.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from orchestration.load.ingest import sha256_file
from orchestration.load.snapshot import publish_snapshot, snapshot_state
from orchestration.load.warehouse import connect
from tests.conftest import REPO_ROOT, Workspace, new_workspace, table_contents
from tests.synthetic import SyntheticDump, generate_dumps, write_dumps

SEED = 20260301
POOL_DAYS = 130  # every dump that may ever be dropped; the reference is built from all of them
INITIAL_DAYS = 60
CHUNK_DAYS = 10  # dropped when a trial needs work the warehouse has not seen yet
PAPERS_PER_DAY = 90  # many entries per dump: long enough parse and load phases, few Dagster partitions
ROUNDS = 3  # each round targets parse, load, dbt and publish once: 12 planned kills
MAX_ATTEMPTS = 3  # a kill that lands after its phase ended is retried with a shorter delay
RUN_TIMEOUT_S = 400.0
PHASES = ("parse", "load", "dbt", "publish")

DRIVER = r"""
import os
import runpy

from dagster_dbt import DbtCliResource

import orchestration.defs.dbt as dbt_defs
import orchestration.load.ingest as ingest

FD = int(os.environ["CRASH_PHASE_FD"])


def around(owner, name, start, end=None):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        os.write(FD, f"{start}\n".encode())
        result = original(*args, **kwargs)
        if end:
            os.write(FD, f"{end}\n".encode())
        return result

    setattr(owner, name, wrapper)


around(ingest, "parse_dumps", "parse")
around(ingest, "load_dumps", "load", "load-done")
around(DbtCliResource, "cli", "dbt")
around(dbt_defs, "publish_snapshot", "publish", "publish-done")
runpy.run_module("orchestration.run", run_name="__main__")
"""

# Where a kill landed, from the last marker written before it.
LANDED = {
    None: "startup",
    "parse": "parse",
    "load": "load",
    "load-done": "after load",
    "dbt": "dbt",
    "publish": "publish",
    "publish-done": "after publish",
}


@dataclass
class Trial:
    target: str
    delay_s: float
    landed: str
    markers: list[tuple[str, float]]
    returncode: int | None
    log: Path
    seconds: float


def run_with_markers(space: Workspace, log: Path, target: str | None = None, delay_s: float = 0.0) -> Trial:
    """Run the pipeline through the marker driver; SIGKILL its process group ``delay_s`` after ``target``."""
    read_end, write_end = os.pipe()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER],
            cwd=REPO_ROOT,
            env={**space.env(), "CRASH_PHASE_FD": str(write_end)},
            pass_fds=(write_end,),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    os.close(write_end)
    started = time.monotonic()
    markers: list[tuple[str, float]] = []
    kill_at: float | None = None
    pending = b""
    killed = False
    try:
        while True:
            now = time.monotonic()
            if now - started > RUN_TIMEOUT_S:
                raise AssertionError(f"run did not finish in {RUN_TIMEOUT_S} s; log: {log}")
            if kill_at is not None and now >= kill_at and not killed:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
            wait = 0.5 if kill_at is None or killed else max(kill_at - now, 0.0)
            ready, _, _ = select.select([read_end], [], [], wait)
            if not ready:
                continue
            chunk = os.read(read_end, 4096)
            if not chunk:  # every writer is gone: the run exited or was killed
                break
            pending += chunk
            *lines, rest = pending.split(b"\n")
            pending = rest
            for line in lines:
                markers.append((line.decode(), time.monotonic() - started))
                if line.decode() == target and kill_at is None:
                    kill_at = time.monotonic() + delay_s
    finally:
        os.close(read_end)
        if not killed and proc.poll() is None:
            proc.wait(timeout=RUN_TIMEOUT_S)
    returncode = proc.wait(timeout=60)
    wait_for_group_to_die(proc.pid)
    landed = LANDED[markers[-1][0] if markers else None] if killed else "finished"
    return Trial(target or "-", delay_s, landed, markers, returncode, log, time.monotonic() - started)


def wait_for_group_to_die(pgid: int, timeout_s: float = 10.0) -> None:
    """Wait until no live process (the dbt child included) is left in the killed process group."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive = True
                break
        if not alive:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {pgid} still alive {timeout_s} s after SIGKILL")


def durations(markers: list[tuple[str, float]]) -> dict[str, float]:
    """Phase lengths of an uninterrupted run, from the first occurrence of each marker."""
    at = dict(reversed(markers))
    return {
        "parse": at["load"] - at["parse"],
        "load": at["load-done"] - at["load"],
        "dbt": at["publish"] - at["dbt"],
        "publish": at["publish-done"] - at["publish"],
    }


def check_after_kill(space: Workspace, scratch: Path) -> dict[str, str]:
    """(a) and (b) on a copy of the crashed live file; returns the live ledger (file -> current dump_id)."""
    if not space.warehouse.exists():
        return {}
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    copy = scratch / space.warehouse.name
    for suffix in ("", ".wal"):
        source = space.warehouse.with_name(space.warehouse.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
    with duckdb.connect(str(copy)) as con:  # (a) read-write, replaying the WAL if there is one
        raw_tables = "select table_name from duckdb_tables() where schema_name = 'raw'"
        tables = {name for (name,) in con.execute(raw_tables).fetchall()}
        if "dumps" not in tables:  # killed before the first load transaction committed its DDL
            return {}
        partial = con.execute(
            """
            select d.dump_file, d.n_entries, d.n_rejected,
                (select count(*) from raw.paper_sightings s where s.dump_id = d.dump_id),
                (select count(*) from raw.rejected_entries r where r.dump_id = d.dump_id)
            from raw.dumps d
            where d.is_current and d.duplicate_of is null
                and (
                    d.n_entries <> (select count(*) from raw.paper_sightings s where s.dump_id = d.dump_id)
                    or d.n_rejected <> (select count(*) from raw.rejected_entries r where r.dump_id = d.dump_id)
                )
            """
        ).fetchall()
        assert partial == [], f"partly loaded dumps (file, n_entries, n_rejected, sightings, rejects): {partial}"
        stray = con.execute(
            """
            select count(*) from raw.paper_sightings
            where dump_id not in (select dump_id from raw.dumps where is_current and duplicate_of is null)
            """
        ).fetchone()
        assert stray == (0,), f"{stray} sightings without a current ledger row"
        ledger = dict(con.execute("select dump_file, dump_id from raw.dumps where is_current").fetchall())
    if space.snapshot.exists():
        with duckdb.connect(str(space.snapshot), read_only=True) as con:
            total, papers, orphans = con.execute(
                """
                select
                    (select n_repository + n_claimed + n_promised + n_none
                     from code_release_rates where period = 'all'),
                    (select count(*) from papers),
                    (select count(*) from paper_first_seen anti join papers using (paper_id))
                """
            ).fetchone() or (None, None, None)
            assert (total, orphans) == (papers, 0), "the published snapshot is inconsistent"
    return {str(file): str(dump_id) for file, dump_id in ledger.items()}


@pytest.mark.slow
def test_sigkill_in_every_phase_never_leaves_a_partial_dump_or_wrong_marts(
    workspace: Workspace, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    pool = list(generate_dumps(POOL_DAYS, PAPERS_PER_DAY, seed=SEED, start=dt.date(2025, 6, 1)))
    dropped = INITIAL_DAYS
    write_dumps(workspace.raw_dir, pool[:dropped])

    # The reference: a clean, uninterrupted build of everything the raw folder will finally hold.
    # It also measures how long each phase lasts, to aim the kills.
    reference = new_workspace(tmp_path / "reference")
    write_dumps(reference.raw_dir, pool)
    clean = run_with_markers(reference, tmp_path / "reference.log")
    assert clean.returncode == 0, clean.log.read_text()[-4000:]
    length = durations(clean.markers)
    print(f"\nclean build in {clean.seconds:.0f} s; phase lengths {length}")

    def drop_more(dumps: list[SyntheticDump]) -> None:
        nonlocal dropped
        assert dropped < len(pool), "the pool of dumps ran out; raise POOL_DAYS"
        write_dumps(workspace.raw_dir, dumps[dropped : dropped + CHUNK_DAYS])
        dropped += CHUNK_DAYS

    trials: list[Trial] = []
    ledger: dict[str, str] = {}
    for _ in range(ROUNDS):
        order = rng.sample(PHASES[:2], 2) + rng.sample(PHASES[2:], 2)
        for target in order:
            for attempt in range(MAX_ATTEMPTS):
                # Each run starts from the state the previous kill left: it must get to its phase.
                on_disk = {path.name: sha256_file(path) for path in workspace.raw_dir.iterdir()}
                published = {name: seen.dump_id for name, seen in snapshot_state(workspace.snapshot)[0].items()}
                if all(published.get(name) == sha for name, sha in on_disk.items()) or (
                    target == "load" and all(ledger.get(name) == sha for name, sha in on_disk.items())
                ):
                    drop_more(pool)  # give the run something to do in the target phase
                    on_disk = {path.name: sha256_file(path) for path in workspace.raw_dir.iterdir()}
                if target == "parse":
                    share = sum(published.get(n) != s for n, s in on_disk.items()) / len(pool)
                elif target == "load":
                    share = sum(ledger.get(n) != s for n, s in on_disk.items()) / len(pool)
                else:
                    share = 1.0
                delay = rng.uniform(0.05, 0.7) * length[target] * share * 0.3**attempt
                log = tmp_path / f"trial-{len(trials):02d}.log"
                trial = run_with_markers(workspace, log, target, delay)
                trials.append(trial)
                assert trial.landed != "finished" or trial.returncode == 0, (
                    f"a run after a crash failed (target {target}): {log.read_text()[-4000:]}"
                )
                assert trial.landed == "finished" or trial.returncode == -signal.SIGKILL, trial
                ledger = check_after_kill(workspace, tmp_path / "scratch")
                print(f"trial {len(trials):2}: {target:7} +{delay:6.3f} s -> {trial.landed:13} ({trial.seconds:.0f} s)")
                if trial.landed == target:
                    break
    table = Counter((trial.target, trial.landed) for trial in trials)
    print("target    | landed in     | trials | outcome")
    for (target, landed), count in sorted(table.items()):
        print(f"{target:9} | {landed:13} | {count:6} | no partial dump, next run got through")

    # (c) Everything in the pool dropped, one plain run, then the same tables as the clean build.
    write_dumps(workspace.raw_dir, pool)
    final = workspace.make_run()
    assert final.returncode == 0, final.stderr[-4000:]
    want = table_contents(reference.snapshot)
    got = table_contents(workspace.snapshot)
    assert set(got) == set(want)
    assert "main.papers" in got
    for name, rows in want.items():
        assert got[name] == rows, f"{name} differs from the clean build"
    assert len(got["raw.dumps"]) == len(pool)

    landed_in = Counter(trial.landed for trial in trials)
    assert len(trials) >= 12
    for phase in PHASES:
        assert landed_in[phase] >= 2, f"only {landed_in[phase]} kills landed in {phase}: {table}"


PUBLISH_THEN_HANG = r"""
import shutil
import sys
import time
from pathlib import Path

from orchestration.load.warehouse import connect

from orchestration.load.snapshot import publish_snapshot

copy = shutil.copyfile


def copy_then_hang(source, target, **kwargs):
    copy(source, target, **kwargs)
    print("copied", flush=True)
    time.sleep(120)


shutil.copyfile = copy_then_hang
warehouse = Path(sys.argv[1])
with connect(warehouse) as con:
    publish_snapshot(con, warehouse, Path(sys.argv[2]))
"""


def test_a_publish_killed_mid_copy_leaves_no_stale_copy_behind(tmp_path: Path) -> None:
    """A SIGKILL between the copy and the rename leaves ``.<snapshot>.<pid>.tmp``; the next publish clears it."""
    warehouse, snapshot = tmp_path / "papers.duckdb", tmp_path / "papers.read.duckdb"
    connect(warehouse).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISH_THEN_HANG, str(warehouse), str(snapshot)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "copied"
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert list(tmp_path.glob(".*.tmp")), "the kill should have left the half-published copy"
    assert not snapshot.exists()

    with connect(warehouse) as con:
        publish_snapshot(con, warehouse, snapshot)
    assert snapshot.exists()
    leftovers = [path.name for path in tmp_path.glob(".*.tmp")]
    assert leftovers == [], f"copies left by killed publishes pile up next to the warehouse: {leftovers}"
