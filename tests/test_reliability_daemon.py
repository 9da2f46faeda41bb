"""The unattended path for real: ``dagster dev`` with its daemon runs the sensor and the schedule.

The server runs on a temporary raw folder, warehouse and ``DAGSTER_HOME``, with a sensor interval
of 1 s and a schedule that fires every minute, set through the documented variables. A dump
written as ``*.part`` is ignored until it is renamed; then the sensor's run and the schedule's run
both start while the test holds the writer lock, so they overlap for certain and contend for the
warehouse when it is released. Both must succeed, with their tags in the run history, the dump
must be loaded once, the marts must equal a clean build, and the server must stop with no
process left behind (``tests/dagster_dev.py`` checks that).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestration.load.warehouse import writer_lock
from orchestration.settings import Settings
from tests.conftest import Workspace
from tests.dagster_dev import RUN_DONE, DagsterDev, dagster_dev
from tests.reruns_ui import LOCATION
from tests.synthetic import generate_dumps, write_dumps
from tests.test_reliability_concurrent import assert_marts_equal_a_clean_build, each_dump_loaded_once

pytestmark = pytest.mark.slow

RUNS_STARTED = {"STARTING", "STARTED", *RUN_DONE}
RUN_TIMEOUT_S = 900  # two runs one after the other, on a machine busy with other tests
SCHEDULE_STATE = """
query Schedule($selector: ScheduleSelector!) { scheduleOrError(scheduleSelector: $selector) {
    ... on Schedule { scheduleState { id } } } }
"""
STOP_SCHEDULE = "mutation Stop($id: String!) { stopRunningSchedule(id: $id) { __typename } }"


def stop_schedule(server: DagsterDev, name: str) -> None:
    """Turn the schedule off, as its toggle in the UI does: one run of it is all the test needs."""
    location = server.graphql(LOCATION)["workspaceOrError"]["locationEntries"][0]["name"]
    selector = {"repositoryLocationName": location, "repositoryName": "__repository__", "scheduleName": name}
    state = server.graphql(SCHEDULE_STATE, {"selector": selector})["scheduleOrError"]["scheduleState"]
    answer = server.graphql(STOP_SCHEDULE, {"id": state["id"]})["stopRunningSchedule"]
    assert answer["__typename"] == "ScheduleStateResult", answer


def partitions_of(tags: dict[str, str]) -> tuple[str, str]:
    """The first and last partition a run covers, from its tags."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"], tags["dagster/partition"]
    return tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]


def wait_for(
    server: DagsterDev, what: str, found: Callable[[], list[dict[str, Any]]], timeout_s: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while not (runs := found()):
        assert time.monotonic() < deadline, f"{what} not after {timeout_s} s; log tail:\n{server.log_tail()}"
        time.sleep(1)
    return runs


def test_the_daemon_runs_the_sensor_and_the_schedule_and_their_overlapping_runs_end_well(
    workspace: Workspace, tmp_path: Path
) -> None:
    [dump] = list(generate_dumps(days=1, papers_per_day=12, seed=81))
    [written] = write_dumps(tmp_path / "staging", [dump])
    part = workspace.raw_dir / f"{written.name}.part"
    env = {"PAPERS_SENSOR_INTERVAL_SECONDS": "1", "PAPERS_SCHEDULE_CRON": "* * * * *"}
    lock = Settings.from_env(workspace.env()).writer_lock

    with dagster_dev(workspace, tmp_path / "dagster_dev.log", env=env) as server:

        def started(**tags: str) -> Callable[[], list[dict[str, Any]]]:
            return lambda: [run for run in server.runs(**tags) if run["status"] in RUNS_STARTED]

        with writer_lock(lock):
            part.write_bytes(written.read_bytes())  # a dump still being copied
            time.sleep(5)
            assert server.runs(dagster__sensor_name="raw_folder_sensor") == [], "a *.part file is never ingested"
            part.rename(workspace.raw_dir / written.name)
            [sensor_run] = wait_for(server, "the sensor's run", started(dagster__sensor_name="raw_folder_sensor"), 120)
            [schedule_run, *_] = wait_for(
                server, "the schedule's run", started(dagster__schedule_name="daily_refresh"), 150
            )
            stop_schedule(server, "daily_refresh")  # no more runs queueing for the lock behind these two
        # Both runs are on their way and waited for the lock: now they contend for the warehouse.
        statuses = {run["id"]: server.wait_for_run(run["id"], RUN_TIMEOUT_S) for run in (sensor_run, schedule_run)}
        assert set(statuses.values()) == {"SUCCESS"}, server.log_tail()
        [sensor_run] = server.runs(dagster__sensor_name="raw_folder_sensor")  # still one, now with its tags
        tags = {tag["key"]: tag["value"] for tag in sensor_run["tags"]}
        assert tags["papers/skip_loaded"] == "true"
        # One partition: a range of one if the sensor registered it, or the partition itself if the
        # schedule's tick registered it first (then the sensor asks for it as a known, changed file).
        assert partitions_of(tags) == (written.name, written.name)
        schedule_tags = {tag["key"]: tag["value"] for tag in schedule_run["tags"]}
        assert schedule_tags["dagster/schedule_name"] == "daily_refresh"
        assert each_dump_loaded_once(workspace.snapshot) == [(written.name, 1, 1)]

    assert_marts_equal_a_clean_build(workspace, tmp_path / "clean")
