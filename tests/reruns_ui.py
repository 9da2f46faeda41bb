"""Reruns from the Dagster UI: a served warehouse, the GraphQL calls the UI makes, and hand-made damage.

Before each rerun a test overwrites rows of the warehouse by hand; only a real re-parse puts
the parser's rows back. Each rerun is then judged in the warehouse: the targeted dumps
restored and no other, their ledger rows updated, the marts equal a clean build.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pytest

from orchestration.defs.dbt import dbt_models, warehouse_snapshot
from orchestration.defs.ingestion import SIGHTINGS_KEY
from orchestration.load.warehouse import writer_lock
from orchestration.settings import Settings
from tests.conftest import Workspace, new_workspace, table_contents
from tests.dagster_dev import DagsterDev, dagster_dev
from tests.synthetic import generate_dumps, write_dumps

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
    """Overwrite the rows of ``names`` by hand, as a bug would have left them.

    Under the writer lock, as a pipeline step writes: the sensor's check of the live file opens
    it only when no one holds that lock.
    """
    with (
        writer_lock(Settings.from_env(workspace.env()).writer_lock),
        duckdb.connect(str(workspace.warehouse)) as con,
    ):
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


def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A warehouse built from six dumps, served by ``dagster dev`` until the generator is closed."""
    workspace = new_workspace(tmp_path_factory.mktemp("reruns"))
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=6, papers_per_day=5, seed=31), output_format="mixed")
    built = workspace.make_run()
    assert built.returncode == 0, built.stderr[-4000:]
    clean = table_contents(workspace.snapshot)
    env = {"PAPERS_SCHEDULE_CRON": SCHEDULE_NEVER_DURING_THE_TEST}
    with dagster_dev(workspace, workspace.raw_dir.parent / "dagster_dev.log", env=env) as server:
        location = server.graphql(LOCATION)["workspaceOrError"]["locationEntries"][0]["name"]
        yield Served(workspace, server, [path.name for path in paths], clean, location)
