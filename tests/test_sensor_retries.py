"""Runs the sensor asked for that fail are asked for again, a bounded number of times, visibly.

The test plays the daemon with real runs: each tick's run requests are executed in-process on a
real Dagster instance, tagged with their run key as the daemon tags them, and the tick's asset
events are stored as the daemon stores them. Failures are real too: a DuckDB lock held by another
process (transient), or a file where the warehouse's folder should be (until the test removes it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import defs, ingest_job
from orchestration.defs.ingestion import CHECK_GIVEN_UP, given_up_dumps
from orchestration.defs.resources import PapersResource
from orchestration.defs.sensors import NEVER_LAUNCHED_S, RUN_KEY_TAG, Cursor, follow_runs, run_statuses
from orchestration.load.warehouse import connect
from orchestration.settings import Settings
from tests.conftest import Workspace, duckdb_lock_held
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow

SENSOR = defs.resolve_sensor_def("raw_folder_sensor")
JOB = defs.resolve_job_def(ingest_job.name)


@dataclass
class Tick:
    runs: list[dg.ExecuteInProcessResult]
    skip_message: str | None
    checks: list[dg.AssetCheckEvaluation]
    log: str


@dataclass
class Daemon:
    workspace: Workspace
    instance: dg.DagsterInstance
    capfd: pytest.CaptureFixture[str]
    cursor: str | None = None

    def tick(self) -> Tick:
        """Evaluate the sensor, store what it asks to store, and run what it requests."""
        self.capfd.readouterr()
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"papers": PapersResource()},
            definitions=defs,
            sensor_name=SENSOR.name,
        ) as context:
            data = SENSOR.evaluate_tick(context)
        log = "".join(self.capfd.readouterr())
        self.cursor = data.cursor
        for request in data.dynamic_partitions_requests or []:
            assert isinstance(request, dg.AddDynamicPartitionsRequest)
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        checks = [event for event in data.asset_events if isinstance(event, dg.AssetCheckEvaluation)]
        for event in checks:
            self.instance.report_runless_asset_event(event)
        runs = [
            JOB.execute_in_process(
                instance=self.instance,
                tags={**request.tags, "dagster/run_key": str(request.run_key), "dagster/sensor_name": SENSOR.name},
                raise_on_error=False,
            )
            for request in data.run_requests or []
        ]
        return Tick(runs, data.skip_message, checks, log)

    def tick_until_requested(self, timeout_s: float) -> Tick:
        """Tick until one requests runs; its log is the log of every tick on the way."""
        deadline = time.monotonic() + timeout_s
        log = ""
        while True:
            tick = self.tick()
            log += tick.log
            if tick.runs or time.monotonic() > deadline:
                tick.log = log
                return tick
            time.sleep(0.2)


@pytest.fixture
def daemon(
    workspace: Workspace, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Daemon]:
    monkeypatch.setenv("PAPERS_SENSOR_SETTLE_SECONDS", "0")
    monkeypatch.setenv("PAPERS_SENSOR_RETRY_SECONDS", "1")
    monkeypatch.setenv("PAPERS_SENSOR_RETRIES", "2")
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        yield Daemon(workspace, instance, capfd)


def loaded_files(workspace: Workspace) -> list[tuple[str, int]]:
    with duckdb.connect(str(workspace.warehouse), read_only=True) as con:
        return con.execute("select dump_file, count(*) from raw.dumps group by all order by all").fetchall()


def test_a_run_that_fails_on_a_held_lock_is_asked_for_again_and_then_loads(daemon: Daemon) -> None:
    space = daemon.workspace
    paths = write_dumps(space.raw_dir, generate_dumps(days=2, papers_per_day=4, seed=61))
    connect(space.warehouse).close()

    with duckdb_lock_held(space.warehouse):
        [failed] = daemon.tick().runs
    assert not failed.success

    after_failure = daemon.tick()
    assert after_failure.runs == []
    assert "the run for it failed; asking again in 1 s (retry 1 of 2)" in after_failure.log
    retry = daemon.tick_until_requested(timeout_s=10)
    [run] = retry.runs
    assert run.success
    assert loaded_files(space) == [(path.name, 1) for path in paths], "each dump loaded once"
    calm = daemon.tick()
    assert calm.runs == []
    assert calm.checks == []
    assert "retry" not in calm.log


def test_a_run_that_keeps_failing_is_retried_with_growing_delays_then_given_up_and_reported(
    daemon: Daemon, workspace: Workspace
) -> None:
    blocker = workspace.warehouse.parent
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the warehouse folder should be")
    [path] = write_dumps(workspace.raw_dir, generate_dumps(days=1, papers_per_day=4, seed=62))

    log = ""
    for _ in range(3):  # the first run and two retries
        tick = daemon.tick_until_requested(timeout_s=10)
        [run] = tick.runs
        assert not run.success
        log += tick.log
    gave_up = daemon.tick()
    log += gave_up.log

    assert "retry 1 of 2" in log
    assert "asking again in 2 s (retry 2 of 2)" in log
    assert f"{path.name!r}: gave up after 3 failed runs" in gave_up.log
    [check] = gave_up.checks
    assert check.check_name == CHECK_GIVEN_UP.name
    assert not check.passed
    assert given_up_dumps(daemon.instance) == {path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    time.sleep(2.5)
    assert daemon.tick().runs == [], "given up: not asked for again"

    blocker.unlink()
    result = workspace.make_run()
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"The sensor gave up on 1 dump(s) after repeated failed runs ({path.name})" in result.stdout
    assert "Given up by sensor: none" in result.stdout
    assert given_up_dumps(daemon.instance) == {}, "the run that loaded it passed the check"
    assert daemon.tick().runs == []


def test_a_dump_rejected_as_a_whole_is_quarantined_once_and_never_retried(daemon: Daemon) -> None:
    (daemon.workspace.raw_dir / "2026-03-01.txt").write_text("not a Daily Papers page\n")
    [run] = daemon.tick().runs
    assert run.success
    for _ in range(3):
        tick = daemon.tick()
        assert tick.runs == []
        assert "failed" not in tick.log
        time.sleep(0.5)


def test_each_retry_waits_twice_as_long_and_the_last_failure_gives_up() -> None:
    """The schedule of retries, tick by tick, on a clock the test sets (a run takes seconds in the
    test above, so its timings can't show the delays)."""
    settings = Settings(Path("raw"), Path("papers.duckdb"), sensor_retries=2, sensor_retry_s=10)
    cursor = Cursor(requested={"a.txt": "abc@3"}, runs={"a.txt": "run-1"})
    failed = dg.DagsterRunStatus.FAILURE

    follow_runs(settings, cursor, {"run-1": failed}, now=100)
    assert cursor.failures == {"a.txt": [1, 110]}
    follow_runs(settings, cursor, {}, now=109.9)
    assert "a.txt" in cursor.requested, "not due yet"
    follow_runs(settings, cursor, {}, now=110)
    assert "a.txt" not in cursor.requested, "due: this tick's plan asks for it again"

    cursor.requested["a.txt"], cursor.runs["a.txt"] = "abc@3", "run-2"
    follow_runs(settings, cursor, {"run-2": dg.DagsterRunStatus.STARTED}, now=115)
    assert cursor.runs == {"a.txt": "run-2"}, "a run on its way is waited for"
    follow_runs(settings, cursor, {"run-2": failed}, now=120)
    assert cursor.failures == {"a.txt": [2, 140]}

    follow_runs(settings, cursor, {}, now=140)
    cursor.requested["a.txt"], cursor.runs["a.txt"] = "abc@3", "run-3"
    [(level, message)] = follow_runs(settings, cursor, {"run-3": failed}, now=150)
    assert (level, cursor.given_up, cursor.failures, cursor.runs) == ("error", {"a.txt": "abc"}, {}, {})
    assert "gave up after 3 failed runs" in message


def test_a_run_key_no_run_carries_ten_minutes_later_is_forgotten_and_its_file_asked_for_again() -> None:
    """A request the daemon never launched would otherwise be waited for, and looked up, forever."""
    settings = Settings(Path("raw"), Path("papers.duckdb"))
    cursor = Cursor(requested={"a.txt": "abc@3", "b.txt": "def@3"}, runs={"a.txt": "run-1", "b.txt": "run-2"})
    cursor.asked = {"run-1": 100.0, "run-2": 100.0}
    queued = dg.DagsterRunStatus.QUEUED

    assert follow_runs(settings, cursor, {"run-2": queued}, now=100 + NEVER_LAUNCHED_S - 1) == []
    assert cursor.runs == {"a.txt": "run-1", "b.txt": "run-2"}, "not long enough to tell"
    [(level, message)] = follow_runs(settings, cursor, {"run-2": queued}, now=100 + NEVER_LAUNCHED_S)
    assert (level, cursor.runs, cursor.asked) == ("warning", {"b.txt": "run-2"}, {"run-2": 100.0})
    assert "a.txt" not in cursor.requested, "this tick's plan asks for it again"
    assert cursor.requested["b.txt"] == "def@3", "a queued run is waited for, however long"
    assert "'a.txt': no run was launched" in message


def test_the_runs_being_followed_are_looked_up_in_one_query(monkeypatch: pytest.MonkeyPatch) -> None:
    @dg.op
    def noop() -> None:
        pass

    @dg.job
    def job() -> None:
        noop()

    with dg.DagsterInstance.ephemeral() as instance:
        for key in ("run-1", "run-2", "unrelated"):
            job.execute_in_process(instance=instance, tags={RUN_KEY_TAG: key})
        queries: list[dg.RunsFilter | None] = []
        real_get_run_records = instance.get_run_records

        def counted(filters: dg.RunsFilter | None = None, **kwargs: object) -> object:
            queries.append(filters)
            return real_get_run_records(filters, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(instance, "get_run_records", counted)
        statuses = run_statuses(instance, {"a.txt": "run-1", "b.txt": "run-2", "c.txt": "run-2", "d.txt": "gone"})
    assert statuses == {"run-1": dg.DagsterRunStatus.SUCCESS, "run-2": dg.DagsterRunStatus.SUCCESS}
    assert len(queries) == 1
