"""Reruns of single runs from the UI (GraphQL): one partition with downstream, and re-executions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.defs.ingestion import SKIP_LOADED_TAG
from tests.conftest import duckdb_lock_held
from tests.reruns_ui import REEXECUTE, Served, loaded_at, serve, tamper, tampered

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory)


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


def test_a_failed_run_reexecuted_from_the_ui_reparses(served: Served) -> None:
    workspace, names = served.workspace, served.names
    # Another process holds DuckDB's lock on the live file: the ingest step retries, then fails.
    with duckdb_lock_held(workspace.warehouse):
        # Tagged as the sensor tags its runs: the re-execution inherits the tag, and must re-parse anyway.
        failed = served.launch_run(names[0], **{SKIP_LOADED_TAG: "true"})
        assert served.server.wait_for_run(failed) == "FAILURE"

    for strategy in ("FROM_FAILURE", "ALL_STEPS"):
        tamper(workspace, names)
        params = {"parentRunId": failed, "strategy": strategy}
        answer = served.server.graphql(REEXECUTE, {"reexecutionParams": params})["launchRunReexecution"]
        assert answer["__typename"] == "LaunchRunSuccess", answer
        assert served.server.wait_for_run(answer["run"]["id"]) == "SUCCESS", served.server.log_tail()
        assert tampered(workspace) == sorted(set(names) - {names[0]}), strategy
