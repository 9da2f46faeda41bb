"""Reruns from the Dagster UI, through the GraphQL calls the UI makes and through the UI itself.

One ``dagster dev`` (webserver and daemon, as ``make dev`` runs it) serves a warehouse built
from six dumps. Before each rerun the test overwrites rows of the warehouse by hand; only a
real re-parse puts the parser's rows back. Each rerun is then judged in the warehouse: the
targeted dumps restored and no other, their ledger rows updated, the marts equal a clean build.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from orchestration.defs.dbt import dbt_models, warehouse_snapshot
from orchestration.defs.ingestion import SIGHTINGS_KEY, SKIP_LOADED_TAG
from orchestration.synthetic import generate_dumps, write_dumps
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Workspace, new_workspace, table_contents
from tests.dagster_dev import DagsterDev, dagster_dev

pytestmark = pytest.mark.slow

# Everything the UI's "materialize with downstream" selects: the partitioned raw asset and all below it.
WITH_DOWNSTREAM = [SIGHTINGS_KEY, *dbt_models.keys, warehouse_snapshot.key]
SCHEDULE_NEVER_DURING_THE_TEST = "0 0 1 1 *"

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) { launchRun(executionParams: $executionParams) {
    __typename ... on LaunchRunSuccess { run { id } } ... on InvalidSubsetError { message }
    ... on PythonError { message } } }
"""
LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
    launchPartitionBackfill(backfillParams: $backfillParams) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
        ... on PartitionKeysNotFoundError { message } } }
"""
REEXECUTE = """
mutation Reexecute($reexecutionParams: ReexecutionParams) {
    launchRunReexecution(reexecutionParams: $reexecutionParams) {
        __typename ... on LaunchRunSuccess { run { id } } ... on PythonError { message } } }
"""
LOCATION = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"


@dataclass
class Served:
    workspace: Workspace
    server: DagsterDev
    names: list[str]
    clean: dict[str, list[tuple[object, ...]]]
    location: str

    def selection(self) -> list[dict[str, list[str]]]:
        return [{"path": key.path} for key in WITH_DOWNSTREAM]

    def launch_run(self, partition: str, **tags: str) -> str:
        """What the UI sends for "Materialize" of one partition with its downstream assets."""
        params = {
            "mode": "default",
            "runConfigData": "{}",
            "selector": {
                "repositoryLocationName": self.location,
                "repositoryName": "__repository__",
                "pipelineName": "__ASSET_JOB",
                "assetSelection": self.selection(),
                "assetCheckSelection": [],
            },
            "executionMetadata": {
                "tags": [
                    {"key": key, "value": value} for key, value in {"dagster/partition": partition, **tags}.items()
                ]
            },
        }
        answer = self.server.graphql(LAUNCH_RUN, {"executionParams": params})["launchRun"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        return str(answer["run"]["id"])

    def launch_backfill(self, partitions: list[str] | None) -> str:
        """What the UI sends for several partitions, a range, or all (``None``)."""
        params: dict[str, Any] = {"assetSelection": self.selection(), "tags": []}
        params.update({"allPartitions": True} if partitions is None else {"partitionNames": partitions})
        answer = self.server.graphql(LAUNCH_BACKFILL, {"backfillParams": params})["launchPartitionBackfill"]
        assert answer["__typename"] == "LaunchBackfillSuccess", answer
        return str(answer["backfillId"])


def tamper(workspace: Workspace, names: list[str]) -> None:
    """Overwrite the rows of ``names`` by hand, as a bug would have left them."""
    with duckdb.connect(str(workspace.warehouse)) as con:
        con.execute(
            "update raw.paper_sightings set title = 'tampered' where dump_file in (select unnest(?::varchar[]))",
            [names],
        )


def tampered(workspace: Workspace, *, live: bool = False) -> list[str]:
    """Dumps with hand-made rows, in the read snapshot (or the live warehouse)."""
    with duckdb.connect(str(workspace.warehouse if live else workspace.snapshot), read_only=True) as con:
        rows = con.execute("select distinct dump_file from raw.paper_sightings where title = 'tampered'").fetchall()
    return sorted(file for (file,) in rows)


def loaded_at(workspace: Workspace) -> dict[str, dt.datetime]:
    with duckdb.connect(str(workspace.snapshot), read_only=True) as con:
        return dict(con.execute("select dump_file, loaded_at from raw.dumps where is_current").fetchall())


def wait_for(found: Callable[[], list[Any]], timeout_s: float) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while not (result := found()):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout_s} s")
        time.sleep(2)
    return result


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workspace = new_workspace(tmp_path_factory.mktemp("reruns"))
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=6, papers_per_day=5, seed=31), output_format="mixed")
    built = workspace.make_run()
    assert built.returncode == 0, built.stderr[-4000:]
    clean = table_contents(workspace.snapshot)
    env = {"PAPERS_SCHEDULE_CRON": SCHEDULE_NEVER_DURING_THE_TEST}
    with dagster_dev(workspace, workspace.raw_dir.parent / "dagster_dev.log", env=env) as server:
        location = server.graphql(LOCATION)["workspaceOrError"]["locationEntries"][0]["name"]
        yield Served(workspace, server, [path.name for path in paths], clean, location)


def test_one_partition_with_downstream_reparses_that_dump(served: Served) -> None:
    workspace, names = served.workspace, served.names
    tamper(workspace, names)
    before = loaded_at(workspace)

    run_id = served.launch_run(names[1])
    assert served.server.wait_for_run(run_id) == "SUCCESS", served.server.log_tail()

    assert tampered(workspace) == sorted(set(names) - {names[1]})
    after = loaded_at(workspace)
    assert after[names[1]] > before[names[1]]
    assert {n: t for n, t in after.items() if n != names[1]} == {n: t for n, t in before.items() if n != names[1]}


def test_a_range_of_three_partitions_is_one_backfill_that_reparses_them(served: Served) -> None:
    workspace, names = served.workspace, served.names
    tamper(workspace, names)
    backfill_id = served.launch_backfill(names[2:5])
    assert served.server.wait_for_backfill(backfill_id) == "COMPLETED_SUCCESS", served.server.log_tail()

    assert tampered(workspace) == sorted({names[0], names[1], names[5]})
    runs = served.server.runs(dagster__backfill=backfill_id)
    ingest_runs = [run for run in runs if {"path": SIGHTINGS_KEY.path} in run["assetSelection"]]
    assert len(ingest_runs) == 1, "the three dumps are parsed in one run"
    tags = {tag["key"]: tag["value"] for tag in ingest_runs[0]["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        names[2],
        names[4],
    )


def test_a_failed_run_reexecuted_from_the_ui_reparses(served: Served) -> None:
    workspace, names = served.workspace, served.names
    # Another process holds DuckDB's lock on the live file: the ingest step retries, then fails.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(workspace.warehouse)!r}); print(1, flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "1"
        # Tagged as the sensor tags its runs: the re-execution inherits the tag, and must re-parse anyway.
        failed = served.launch_run(names[0], **{SKIP_LOADED_TAG: "true"})
        assert served.server.wait_for_run(failed) == "FAILURE"
    finally:
        holder.kill()
        holder.wait()

    for strategy in ("FROM_FAILURE", "ALL_STEPS"):
        tamper(workspace, names)
        params = {"parentRunId": failed, "strategy": strategy}
        answer = served.server.graphql(REEXECUTE, {"reexecutionParams": params})["launchRunReexecution"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        assert served.server.wait_for_run(answer["run"]["id"]) == "SUCCESS", served.server.log_tail()
        assert tampered(workspace) == sorted(set(names) - {names[0]}), strategy


def test_all_partitions_backfill_reparses_every_dump_and_equals_a_clean_build(served: Served) -> None:
    workspace, names = served.workspace, served.names
    tamper(workspace, names)
    before = loaded_at(workspace)
    backfill_id = served.launch_backfill(None)
    assert served.server.wait_for_backfill(backfill_id) == "COMPLETED_SUCCESS", served.server.log_tail()

    assert tampered(workspace) == []
    after = loaded_at(workspace)
    assert all(after[name] > before[name] for name in names)
    assert table_contents(workspace.snapshot) == served.clean


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it via .ci/run)")
def test_two_partitions_picked_in_the_real_ui_are_rerun(served: Served) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, names = served.workspace, served.names
    picked = [names[0], names[5]]
    tamper(workspace, names)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{served.server.url}/assets/raw/paper_sightings")
            # The button's accessible name starts with its icon's: "materialization Materialize…".
            materialize = page.get_by_role("button", name=re.compile("Materialize…$"))
            sync_api.expect(materialize).to_be_enabled(timeout=60_000)
            materialize.click()
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            dialog.get_by_text("Select a partition or create one").click()
            for name in picked:  # the partition menu is rendered outside the dialog
                page.get_by_placeholder("Filter partitions").fill(name)
                item = page.get_by_role("menuitem").filter(has=page.get_by_text(name, exact=True))
                item.click()
                sync_api.expect(item.get_by_role("checkbox")).to_be_checked()
            dialog.get_by_text("Launch runs to materialize").click()  # closes the menu, keeps the dialog
            sync_api.expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible()
            dialog.get_by_role("button", name="Launch backfill").click()
            page.get_by_role("link", name="View", exact=True).click()  # the "Created backfill" toast
            page.wait_for_url(re.compile("/runs/b/"))
            status = page.get_by_text("Status", exact=True).locator("xpath=..")
            sync_api.expect(status).to_contain_text(re.compile("Succeeded|Failed|Canceled"), timeout=300_000)
            page.screenshot(path=str(workspace.raw_dir.parent / "backfill.png"))
            shown = status.inner_text()
        finally:
            browser.close()
    print(f"screenshot: {workspace.raw_dir.parent / 'backfill.png'}")
    assert "Succeeded" in shown
    # The asset page materializes raw/paper_sightings alone: the raw rows are re-parsed at once ...
    assert tampered(workspace, live=True) == sorted(set(names) - set(picked))
    # ... and marts_follow_reruns then rebuilds the marts and the snapshot, in one run.
    follow_ups = wait_for(lambda: served.server.runs(dagster__sensor_name="marts_follow_reruns"), timeout_s=180)
    assert served.server.wait_for_run(follow_ups[0]["id"]) == "SUCCESS", served.server.log_tail()
    assert tampered(workspace) == sorted(set(names) - set(picked))
    # No other rerun of this module left the marts behind, so none was followed up.
    assert len(served.server.runs(dagster__sensor_name="marts_follow_reruns")) == 1
