"""The drop-folder sensor, tick by tick, against the spec in ``orchestration/defs/sensors.py``.

Each test drives the real sensor definition the way the daemon does: the cursor of one
tick feeds the next, dynamic partitions requested by a tick are added to the instance
before the next one, and a run key the daemon has already launched is skipped (Dagster's
run-key idempotence). Expected outcomes come from the files the test writes, never from
the sensor's own bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from orchestration.definitions import defs
from orchestration.defs.dbt_project import project_digest
from orchestration.defs.ingestion import DUMPS, DUMPS_NAME, SKIP_LOADED_TAG
from orchestration.defs.resources import PapersResource
from orchestration.load.ledger import load_dumps
from orchestration.load.snapshot import publish_snapshot, record_build
from orchestration.load.warehouse import connect
from orchestration.parse import contract
from orchestration.parse.common import DumpInput
from orchestration.parse.text import parse_dumps
from tests.conftest import Workspace
from tests.synthetic import generate_dumps, write_dumps

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Tick:
    runs: list[dg.RunRequest]  # requests the daemon would launch (new run keys only)
    requested: list[dg.RunRequest]  # everything the sensor returned
    skip_message: str | None
    log: str


@dataclass
class Daemon:
    """Plays the sensor daemon: chains cursors, registers partitions, dedups run keys."""

    workspace: Workspace
    capfd: pytest.CaptureFixture[str]
    instance: dg.DagsterInstance
    cursor: str | None = None
    launched_keys: set[str] = field(default_factory=set)

    def evaluate_tick(self, cursor: str | None) -> SensorExecutionData:
        papers = PapersResource(raw_dir=str(self.workspace.raw_dir), warehouse=str(self.workspace.warehouse))
        with dg.build_sensor_context(
            instance_ref=self.instance.get_ref(),  # the daemon hands sensors a ref, not an object
            cursor=cursor,
            resources={"papers": papers},
            definitions=defs,  # lets Dagster validate partition keys against ingest_job, as the daemon does
            sensor_name=SENSOR.name,
        ) as context:
            return SENSOR.evaluate_tick(context)

    def evaluate(self, cursor: str | None) -> dg.SensorResult:
        """One evaluation from ``cursor`` without committing anything (no daemon side effects)."""
        data = self.evaluate_tick(cursor)
        return dg.SensorResult(run_requests=data.run_requests, cursor=data.cursor)

    def tick(self) -> Tick:
        self.capfd.readouterr()
        data = self.evaluate_tick(self.cursor)
        log = "".join(self.capfd.readouterr())
        self.cursor = data.cursor
        for request in data.dynamic_partitions_requests or []:
            assert isinstance(request, dg.AddDynamicPartitionsRequest), request
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        runs = []
        for request in data.run_requests or []:
            assert request.run_key, "every sensor run request must carry a run key"
            if request.run_key not in self.launched_keys:
                self.launched_keys.add(request.run_key)
                runs.append(request)
        return Tick(runs, list(data.run_requests or []), data.skip_message, log)

    def partitions(self) -> list[str]:
        return list(DUMPS.get_partition_keys(dynamic_partitions_store=self.instance))


SENSOR = defs.resolve_sensor_def("raw_folder_sensor")


@pytest.fixture
def daemon(workspace: Workspace, capfd: pytest.CaptureFixture[str], instance: dg.DagsterInstance) -> Daemon:
    return Daemon(workspace, capfd, instance)


def write(path: Path, data: bytes, *, mtime_s: float | None = None) -> Path:
    path.write_bytes(data)
    if mtime_s is not None:
        os.utime(path, (mtime_s, mtime_s))
    return path


def later(seconds: float) -> float:
    """An mtime ``seconds`` from now: recent enough that a first sighting must wait a tick."""
    return time.time() + seconds


def settle(daemon: Daemon) -> Tick:
    """A freshly written file waits on first sighting; the next tick (size held still) decides."""
    first = daemon.tick()
    assert first.runs == [], "a file seen for the first time must wait one tick"
    return daemon.tick()


def only_range(tick: Tick) -> tuple[str, str]:
    assert len(tick.runs) == 1, tick.runs
    run = tick.runs[0]
    assert run.partition_key is None
    return run.tags[RANGE_START], run.tags[RANGE_END]


def publish(workspace: Workspace, paths: list[Path]) -> None:
    """Load ``paths`` into the live warehouse and publish the read snapshot, as a run would."""
    inputs = [DumpInput(p.read_bytes(), p.name, dt.datetime.now(dt.UTC)) for p in paths]
    parsed, rejected = parse_dumps(inputs)
    assert not rejected
    assert len(parsed) == len(paths)
    with connect(workspace.warehouse) as con:
        load_dumps(con, parsed)
        record_build(con, project_digest())
        publish_snapshot(con, workspace.warehouse, workspace.snapshot)


# --- new, same, changed, touched, growing ---------------------------------------------------


def test_new_file_waits_one_tick_then_gets_one_run_and_its_partition(daemon: Daemon) -> None:
    write(daemon.workspace.raw_dir / "2026-03-01.txt", b"first dump\n")

    first = daemon.tick()
    assert first.requested == []
    assert "waiting for 1 file" in (first.skip_message or "")
    assert daemon.partitions() == []

    second = daemon.tick()
    assert only_range(second) == ("2026-03-01.txt", "2026-03-01.txt")
    assert daemon.partitions() == ["2026-03-01.txt"]

    third = daemon.tick()
    assert third.requested == [], "an unchanged file must not be requested again"
    assert daemon.partitions() == ["2026-03-01.txt"]


def test_dropping_the_same_file_again_does_nothing(daemon: Daemon) -> None:
    path = write(daemon.workspace.raw_dir / "a.txt", b"same bytes\n", mtime_s=later(0))
    assert len(settle(daemon).runs) == 1

    # Re-dropped: replaced by an identical copy (new inode and mtime).
    path.unlink()
    write(path, b"same bytes\n", mtime_s=later(500))
    for _ in range(3):
        assert daemon.tick().requested == []
    assert daemon.partitions() == ["a.txt"]


def test_changed_file_triggers_exactly_one_run_keyed_on_name_and_new_hash(daemon: Daemon) -> None:
    path = write(daemon.workspace.raw_dir / "a.txt", b"version one\n", mtime_s=later(0))
    assert len(settle(daemon).runs) == 1

    new = b"version two, longer\n"
    write(path, new, mtime_s=later(100))
    assert daemon.tick().requested == [], "an edited file waits until it holds still"
    changed = daemon.tick()
    assert len(changed.runs) == 1
    run = changed.runs[0]
    assert run.partition_key == "a.txt"
    assert run.run_key is not None
    assert "a.txt" in run.run_key
    assert sha(new) in run.run_key
    assert daemon.partitions() == ["a.txt"], "a changed file is not registered twice"
    for _ in range(2):
        assert daemon.tick().requested == []


def test_touched_file_with_same_content_does_nothing(daemon: Daemon) -> None:
    path = write(daemon.workspace.raw_dir / "a.txt", b"content\n", mtime_s=later(0))
    assert len(settle(daemon).runs) == 1
    os.utime(path, (later(999), later(999)))
    for _ in range(3):
        assert daemon.tick().requested == []


def test_growing_file_waits_until_its_size_holds_still(daemon: Daemon) -> None:
    path = daemon.workspace.raw_dir / "big.txt"
    write(path, b"x" * 1000)
    assert daemon.tick().requested == []
    with path.open("ab") as handle:
        handle.write(b"y" * 1000)
    grown = daemon.tick()
    assert grown.requested == []
    assert "waiting for 1 file" in (grown.skip_message or "")
    assert daemon.partitions() == []
    done = daemon.tick()
    assert only_range(done) == ("big.txt", "big.txt")
    assert daemon.partitions() == ["big.txt"]


def test_first_seen_file_untouched_for_the_settle_time_runs_at_once(daemon: Daemon) -> None:
    """A whole file copied in (mtime older than PAPERS_SENSOR_SETTLE_SECONDS, 3 s by default) needn't wait a tick."""
    path = write(daemon.workspace.raw_dir / "copied.txt", b"copied in whole\n", mtime_s=time.time() - 60)
    tick = daemon.tick()
    assert only_range(tick) == ("copied.txt", "copied.txt")
    assert daemon.partitions() == ["copied.txt"]
    # Should it grow after all, the new content waits a tick and then runs as a change.
    with path.open("ab") as handle:
        handle.write(b"more\n")
    assert daemon.tick().requested == []
    grown = daemon.tick()
    assert [run.partition_key for run in grown.runs] == ["copied.txt"]


def test_settle_time_comes_from_the_environment(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: PAPERS_SENSOR_SETTLE_SECONDS sets how long a first-seen file must be untouched."""
    monkeypatch.setenv("PAPERS_SENSOR_SETTLE_SECONDS", "3600")
    write(daemon.workspace.raw_dir / "recent.txt", b"written a minute ago\n", mtime_s=time.time() - 60)
    assert daemon.tick().requested == [], "60 s untouched is not settled when the settle time is an hour"
    assert only_range(daemon.tick()) == ("recent.txt", "recent.txt")


# --- files that must never become runs -------------------------------------------------------


IGNORED = {
    "2026-03-01.txt.part": "temporary name",
    "2026-03-02.txt.tmp": "temporary name",
    "dump.tmp": "temporary name",
    ".hidden.txt": "hidden file",
    "notes.txt~": "editor leftover",
    ".notes.txt.swp": "hidden file",
    "#notes.txt#": "editor leftover",
    "readme.md": "not a dump",
    "data.csv": "not a dump",
}


def test_temporary_hidden_editor_and_non_txt_files_never_run(daemon: Daemon) -> None:
    raw = daemon.workspace.raw_dir
    for name in IGNORED:
        write(raw / name, b"looks like a dump\n")
    (raw / "subdir.txt").mkdir()
    write(raw / "subdir.txt" / "inner.txt", b"nested dump\n")
    write(raw / "real.txt", b"the only dump\n")

    ticks = [daemon.tick() for _ in range(4)]
    runs = [run for tick in ticks for run in tick.runs]
    assert len(runs) == 1
    assert (runs[0].tags[RANGE_START], runs[0].tags[RANGE_END]) == ("real.txt", "real.txt")
    assert daemon.partitions() == ["real.txt"]
    for name, reason in {**IGNORED, "subdir.txt": "directory"}.items():
        assert f"{name!r}: ignored: {reason}" in ticks[0].log, name


def test_symlink_loop_and_symlink_outside_are_reported_once_and_never_run(daemon: Daemon, tmp_path: Path) -> None:
    raw = daemon.workspace.raw_dir
    os.symlink("loop_b.txt", raw / "loop_a.txt")
    os.symlink("loop_a.txt", raw / "loop_b.txt")
    os.symlink("self.txt", raw / "self.txt")
    outside = write(tmp_path / "outside.txt", b"not in the raw folder\n")
    os.symlink(outside, raw / "escape.txt")
    os.symlink(tmp_path / "missing.txt", raw / "dangling.txt")
    write(raw / "real.txt", b"dump\n")

    first = daemon.tick()
    second = daemon.tick()
    third = daemon.tick()
    assert only_range(second) == ("real.txt", "real.txt")
    assert first.runs == third.runs == []
    assert daemon.partitions() == ["real.txt"]
    for name in ("loop_a.txt", "loop_b.txt", "self.txt", "dangling.txt"):
        assert f"{name!r}: ignored: cannot be read" in first.log, name
    assert "'escape.txt': ignored: symlink points outside the raw folder" in first.log
    for name in ("loop_a.txt", "loop_b.txt", "self.txt", "escape.txt", "dangling.txt"):
        assert name not in second.log + third.log, f"{name} must be reported once, not every tick"


def test_unreadable_file_is_reported_and_others_still_run(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    import orchestration.load.ingest as ingest

    real_sha = ingest.sha256_file

    def sha_or_denied(path: Path) -> str:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_sha(path)

    # Tests run as root in CI, where chmod 000 does not stop reads; fail the read itself.
    monkeypatch.setattr(ingest, "sha256_file", sha_or_denied)
    write(daemon.workspace.raw_dir / "locked.txt", b"secret\n")
    write(daemon.workspace.raw_dir / "open.txt", b"public\n")

    daemon.tick()
    second = daemon.tick()
    assert only_range(second) == ("open.txt", "open.txt")
    assert "'locked.txt': cannot be read" in second.log
    assert daemon.partitions() == ["open.txt"]


def test_a_settled_file_is_read_once_not_on_every_tick(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cursor keeps each settled file's hash: a quiet raw folder costs a directory listing per tick."""
    import orchestration.load.ingest as ingest

    real_sha = ingest.sha256_file
    reads: list[str] = []

    def counted(path: Path) -> str:
        reads.append(path.name)
        return real_sha(path)

    monkeypatch.setattr(ingest, "sha256_file", counted)
    write(daemon.workspace.raw_dir / "a.txt", b"one\n", mtime_s=time.time() - 60)
    write(daemon.workspace.raw_dir / "b.txt", b"two\n", mtime_s=time.time() - 60)
    assert len(daemon.tick().runs) == 1
    for _ in range(3):
        assert daemon.tick().runs == []
    assert sorted(reads) == ["a.txt", "b.txt"]
    write(daemon.workspace.raw_dir / "b.txt", b"two, edited\n", mtime_s=time.time() - 60)
    daemon.tick()  # changed since the last tick: it may still be being written
    assert len(daemon.tick().runs) == 1
    assert sorted(reads) == ["a.txt", "b.txt", "b.txt"], "only the edited file is read again"


# --- many files, deletions ---------------------------------------------------------------------


def test_fifty_files_dropped_together_become_one_ranged_run(daemon: Daemon) -> None:
    names = [f"{dt.date(2026, 1, 1) + dt.timedelta(days=i)}.txt" for i in range(50)]
    for index, name in enumerate(reversed(names)):  # write order must not matter
        write(daemon.workspace.raw_dir / name, f"dump {index}\n".encode())

    tick = settle(daemon)
    assert only_range(tick) == (names[0], names[-1])
    assert tick.runs[0].run_key is not None
    assert tick.runs[0].run_key.startswith("new:")
    partitions = daemon.partitions()
    assert sorted(partitions) == names
    # The range resolves over the instance's partition order: it must cover exactly the 50 files.
    start, end = partitions.index(names[0]), partitions.index(names[-1])
    assert partitions[start : end + 1] == names
    assert daemon.tick().requested == []


def test_new_files_range_covers_only_the_new_ones_after_earlier_partitions(daemon: Daemon) -> None:
    raw = daemon.workspace.raw_dir
    write(raw / "2026-01-05.txt", b"early\n")
    assert only_range(settle(daemon)) == ("2026-01-05.txt", "2026-01-05.txt")
    # Names sorting before and after the known partition arrive together.
    for name in ("2026-01-01.txt", "2026-01-09.txt"):
        write(raw / name, name.encode())
    start, end = only_range(settle(daemon))
    partitions = daemon.partitions()
    covered = partitions[partitions.index(start) : partitions.index(end) + 1]
    assert covered == ["2026-01-01.txt", "2026-01-09.txt"]


def test_deleted_file_is_reported_without_a_run_and_without_crashing(daemon: Daemon) -> None:
    raw = daemon.workspace.raw_dir
    write(raw / "a.txt", b"a\n")
    write(raw / "b.txt", b"b\n")
    assert len(settle(daemon).runs) == 1

    (raw / "a.txt").unlink()
    gone = daemon.tick()
    assert gone.requested == []
    assert "'a.txt': deleted from the raw folder" in gone.log
    after = daemon.tick()
    assert after.requested == []
    assert "a.txt" not in after.log, "a deletion is reported once"
    assert daemon.partitions() == ["a.txt", "b.txt"], "a deleted file keeps its partition (and rows)"


def test_deleted_before_it_settled_is_not_requested(daemon: Daemon) -> None:
    path = write(daemon.workspace.raw_dir / "flash.txt", b"here and gone\n")
    assert daemon.tick().requested == []
    path.unlink()
    gone = daemon.tick()
    assert gone.requested == []
    assert daemon.partitions() == []


# --- the published snapshot --------------------------------------------------------------------


def test_file_already_in_the_published_snapshot_is_not_requested(daemon: Daemon) -> None:
    paths = write_dumps(daemon.workspace.raw_dir, generate_dumps(days=2, papers_per_day=3, seed=5))
    publish(daemon.workspace, paths)
    for _ in range(3):
        assert daemon.tick().requested == []
    assert daemon.partitions() == []


def test_file_whose_snapshot_version_is_older_is_requested(daemon: Daemon) -> None:
    dumps = list(generate_dumps(days=2, papers_per_day=3, seed=5))
    paths = write_dumps(daemon.workspace.raw_dir, dumps)
    publish(daemon.workspace, paths)
    write(paths[1], paths[1].read_bytes() + b"\n\n")  # new content after the snapshot
    tick = settle(daemon)
    assert only_range(tick) == (paths[1].name, paths[1].name)
    assert daemon.partitions() == [paths[1].name]


def test_dumps_read_by_an_older_parser_are_requested_once_in_one_run(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = write_dumps(daemon.workspace.raw_dir, generate_dumps(days=4, papers_per_day=3, seed=5))
    with monkeypatch.context() as old_parser:
        old_parser.setattr(contract, "PARSER_VERSION", "0-old")
        publish(daemon.workspace, paths)
    daemon.instance.add_dynamic_partitions(DUMPS_NAME, [p.name for p in paths])
    (daemon.workspace.raw_dir / "new.txt").write_bytes(paths[0].read_bytes() + b"\n")

    first = settle(daemon)
    assert only_range(first) == (paths[0].name, "new.txt"), "the outdated dumps and the new one, in one range"
    assert first.runs[0].tags[SKIP_LOADED_TAG] == "true", "dumps in the range already current are skipped"
    assert "4 dump(s) were read by an older parser" in first.log
    assert daemon.tick().requested == [], "requested once, not again while the run is on its way"

    publish(daemon.workspace, paths)  # what that run publishes: every dump read by this parser
    assert daemon.tick().requested == []


def test_sensor_reads_the_snapshot_not_the_live_warehouse(daemon: Daemon) -> None:
    paths = write_dumps(daemon.workspace.raw_dir, generate_dumps(days=1, papers_per_day=3, seed=5))
    publish(daemon.workspace, paths)
    daemon.workspace.snapshot.unlink()  # loaded in the live file, never published
    assert daemon.workspace.warehouse.exists()
    assert only_range(settle(daemon)) == (paths[0].name, paths[0].name)


# --- run keys ----------------------------------------------------------------------------------


def test_same_drop_evaluated_twice_from_the_same_cursor_has_the_same_run_key(daemon: Daemon) -> None:
    raw = daemon.workspace.raw_dir
    write(raw / "a.txt", b"a\n")
    write(raw / "b.txt", b"b\n")
    daemon.tick()
    cursor = daemon.cursor
    once, twice = daemon.evaluate(cursor), daemon.evaluate(cursor)
    assert len(once.run_requests or []) == 1
    assert [r.run_key for r in once.run_requests or []] == [r.run_key for r in twice.run_requests or []]

    # Same for a changed file.
    daemon.tick()
    write(raw / "a.txt", b"a, edited\n")
    daemon.tick()
    cursor = daemon.cursor
    once, twice = daemon.evaluate(cursor), daemon.evaluate(cursor)
    assert [r.partition_key for r in once.run_requests or []] == ["a.txt"]
    assert [r.run_key for r in once.run_requests or []] == [r.run_key for r in twice.run_requests or []]


def test_different_content_gets_a_different_run_key(daemon: Daemon) -> None:
    path = write(daemon.workspace.raw_dir / "a.txt", b"one\n")
    daemon.tick()
    first = daemon.evaluate(daemon.cursor).run_requests or []
    write(path, b"two\n")
    daemon.cursor = None  # a fresh cursor, as if the sensor had been reset
    daemon.tick()
    second = daemon.evaluate(daemon.cursor).run_requests or []
    assert len(first) == len(second) == 1
    assert first[0].run_key != second[0].run_key


def test_content_flipping_back_to_an_earlier_version_still_runs(daemon: Daemon) -> None:
    """Spec: every content change triggers exactly one run -- even a change back to old bytes.

    The daemon skips any run key it launched before, so a key built only from name + hash
    silently drops the third edit in v1 -> v2 -> v1 -> v2.
    """
    path = daemon.workspace.raw_dir / "a.txt"
    versions = [b"version one\n", b"version two!\n", b"version one\n", b"version two!\n"]
    write(path, versions[0], mtime_s=later(0))
    assert len(settle(daemon).runs) == 1
    for step, data in enumerate(versions[1:], start=1):
        write(path, data, mtime_s=later(100 * step))
        assert daemon.tick().requested == []
        tick = daemon.tick()
        assert len(tick.requested) == 1, f"edit {step}: the sensor must request a run"
        assert len(tick.runs) == 1, f"edit {step}: run key {tick.requested[0].run_key} was used before"
        assert tick.runs[0].partition_key == "a.txt"


def test_partition_name_is_the_dynamic_partitions_definition() -> None:
    assert DUMPS_NAME == "dumps"
    assert SENSOR.job_name == "ingest_job"
    assert SENSOR.minimum_interval_seconds == 30
