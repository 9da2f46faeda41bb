"""Backfills from the UI (GraphQL): a range of three partitions, and all of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orchestration.defs.ingestion import SIGHTINGS_KEY
from tests.conftest import table_contents
from tests.reruns_ui import Served, loaded_at, serve, tamper, tampered

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory)


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
