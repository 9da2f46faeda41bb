"""The loop closed: ``dagster dev`` fetches three days from a local API and the sensor loads them.

Nothing but the fetch job is launched by hand: the drop-folder sensor sees the new files and
its runs build the marts, exactly as a user with ``PAPERS_FETCH=1`` and ``make dev`` gets it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.defs.fetching import FETCH_JOB_NAME
from orchestration.fetch import window
from tests.conftest import Workspace
from tests.dagster_dev import RUN_DONE, dagster_dev
from tests.fake_api import Answer, serve_api
from tests.reruns_ui import LAUNCH_RUN, LOCATION, SCHEDULE_NEVER_DURING_THE_TEST
from tests.synthetic import generate_dumps, render_api

pytestmark = pytest.mark.slow


def marts_reach(snapshot: Path, day: dt.date) -> bool:
    """Whether the published marts hold a sighting of ``day``."""
    if not snapshot.exists():
        return False
    with duckdb.connect(str(snapshot), read_only=True) as con:
        row = con.execute("select max(last_seen_on) from papers").fetchone()
    return row is not None and row[0] == day


def test_fetched_days_reach_the_marts_through_the_sensor(workspace: Workspace, tmp_path: Path) -> None:
    days = window(dt.datetime.now(dt.UTC).date(), 3)
    dumps = list(generate_dumps(days=3, papers_per_day=5, seed=31, start=days[0]))
    served = {dump.page_date: render_api(dump.page_date, dump.entries) for dump in dumps}
    with serve_api() as api:
        api.script = {day.isoformat(): [Answer(body=body)] for day, body in served.items()}
        env = {
            "PAPERS_FETCH_BASE_URL": api.url,
            "PAPERS_FETCH_DAYS": "3",
            "PAPERS_SENSOR_INTERVAL_SECONDS": "1",
            "PAPERS_SCHEDULE_CRON": SCHEDULE_NEVER_DURING_THE_TEST,
        }
        with dagster_dev(workspace, tmp_path / "dagster_dev.log", env=env) as server:
            location = server.graphql(LOCATION)["workspaceOrError"]["locationEntries"][0]["name"]
            repository = {"repositoryLocationName": location, "repositoryName": "__repository__"}
            job = {**repository, "pipelineName": FETCH_JOB_NAME}
            params = {"mode": "default", "runConfigData": "{}", "selector": job}
            answer = server.graphql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
            assert answer["__typename"] == "LaunchRunSuccess", answer
            assert server.wait_for_run(answer["run"]["id"]) == "SUCCESS", server.log_tail()

            # The sensor may split the three files over two runs (the fetch writes one a second);
            # wait until every run it launched is done and the snapshot has the last day's marts.
            deadline = time.monotonic() + 300
            while not (
                (runs := server.runs(dagster__sensor_name="raw_folder_sensor"))
                and all(run["status"] in RUN_DONE for run in runs)
                and marts_reach(workspace.snapshot, days[-1])
            ):
                assert time.monotonic() < deadline, f"the sensor's runs never finished; log tail:\n{server.log_tail()}"
                time.sleep(1)
            assert [run["status"] for run in runs] == ["SUCCESS"] * len(runs), server.log_tail()

    assert {path.name: path.read_bytes() for path in workspace.raw_dir.iterdir()} == {
        f"{day}.json": body for day, body in served.items()
    }
    assert [request.day for request in api.requests] == [day.isoformat() for day in days]
    papers = {entry.arxiv_id for dump in dumps for entry in dump.entries if entry.arxiv_id}
    with duckdb.connect(str(workspace.snapshot), read_only=True) as con:
        loaded = con.execute("select dump_file from raw.dumps where is_current order by 1").fetchall()
        marts = con.execute("select arxiv_id from papers").fetchall()
    assert loaded == [(f"{day}.json",) for day in days]
    assert {arxiv_id for (arxiv_id,) in marts} == papers
