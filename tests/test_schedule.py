"""The daily refresh: ingest whatever the published snapshot lacks, else rebuild the marts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy.exc

from orchestration.definitions import defs
from orchestration.defs.dbt import dbt_models, warehouse_snapshot
from orchestration.defs.dbt_project import project_digest
from orchestration.defs.ingestion import DUMPS, DUMPS_NAME, SKIP_LOADED_TAG
from orchestration.defs.report import warehouse_report
from orchestration.defs.resources import PapersResource
from orchestration.defs.schedules import plan_refresh, plan_rerun
from orchestration.load.ledger import load_dumps
from orchestration.load.snapshot import publish_snapshot, record_build
from orchestration.load.warehouse import connect
from orchestration.parse.common import DumpInput
from orchestration.parse.text import parse_dumps
from orchestration.settings import Settings
from tests.conftest import Workspace
from tests.synthetic import generate_dumps, write_dumps

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
SCHEDULE = defs.resolve_schedule_def("daily_refresh")
BUILD_KEYS = {*dbt_models.keys, warehouse_snapshot.key, warehouse_report.key}
INGEST_KEYS = {dg.AssetKey(["raw", table]) for table in ("paper_sightings", "dumps", "rejected_entries")}


def evaluate(workspace: Workspace, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    papers = PapersResource(raw_dir=str(workspace.raw_dir), warehouse=str(workspace.warehouse))
    with dg.build_schedule_context(
        instance_ref=instance.get_ref(),
        resources={"papers": papers},
        scheduled_execution_time=dt.datetime(2026, 3, 1, 6, tzinfo=dt.UTC),
    ) as context:
        data = SCHEDULE.evaluate_tick(context)
    assert data.skip_message is None
    return list(data.run_requests or [])


def publish(workspace: Workspace, paths: list[Path], *, digest: str | None = None) -> None:
    """Load ``paths`` and publish the snapshot, recording which dbt project built it."""
    parsed, rejected = parse_dumps([DumpInput(p.read_bytes(), p.name, dt.datetime.now(dt.UTC)) for p in paths])
    assert not rejected
    assert len(parsed) == len(paths)
    with connect(workspace.warehouse) as con:
        load_dumps(con, parsed)
        record_build(con, digest or project_digest())
        publish_snapshot(con, workspace.warehouse, workspace.snapshot)


def settings_for(workspace: Workspace) -> Settings:
    return PapersResource(raw_dir=str(workspace.raw_dir), warehouse=str(workspace.warehouse)).settings()


def test_unloaded_files_become_one_ranged_run_and_registered_partitions(
    workspace: Workspace, instance: dg.DagsterInstance
) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=4, papers_per_day=3, seed=3))
    names = [p.name for p in paths]
    (workspace.raw_dir / "partial.txt.part").write_bytes(b"still copying")

    requests = evaluate(workspace, instance)
    assert len(requests) == 1
    run = requests[0]
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == (names[0], names[-1])
    assert run.asset_selection is None, "the ranged run is the whole ingest_job: ingest, dbt, snapshot"
    assert SCHEDULE.job_name == "ingest_job"
    assert sorted(DUMPS.get_partition_keys(dynamic_partitions_store=instance)) == names


def test_only_files_missing_from_the_snapshot_are_in_the_range(
    workspace: Workspace, instance: dg.DagsterInstance
) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=4, papers_per_day=3, seed=3))
    publish(workspace, paths[:2])
    paths[3].write_bytes(paths[3].read_bytes() + b"\n")  # irrelevant: not loaded yet either way

    requests = evaluate(workspace, instance)
    assert len(requests) == 1
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == (paths[2].name, paths[3].name)
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == [paths[2].name, paths[3].name]


def test_changed_file_already_a_partition_is_reingested(workspace: Workspace, instance: dg.DagsterInstance) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=3, papers_per_day=3, seed=3))
    instance.add_dynamic_partitions(DUMPS_NAME, [p.name for p in paths])
    publish(workspace, paths)
    paths[1].write_bytes(paths[1].read_bytes() + b"\n")

    requests = evaluate(workspace, instance)
    assert len(requests) == 1
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == (paths[1].name, paths[1].name)
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == [p.name for p in paths]


def test_everything_loaded_rebuilds_dbt_and_snapshot_only(workspace: Workspace, instance: dg.DagsterInstance) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=3, papers_per_day=3, seed=3))
    instance.add_dynamic_partitions(DUMPS_NAME, [p.name for p in paths])
    publish(workspace, paths)

    requests = evaluate(workspace, instance)
    assert len(requests) == 1
    run = requests[0]
    assert set(run.asset_selection or []) == BUILD_KEYS
    assert not INGEST_KEYS & set(run.asset_selection or [])
    assert RANGE_START not in run.tags
    assert run.partition_key is None
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == [p.name for p in paths]


def test_empty_raw_folder_without_snapshot_still_builds(workspace: Workspace, instance: dg.DagsterInstance) -> None:
    requests = evaluate(workspace, instance)
    assert [set(r.asset_selection or []) for r in requests] == [BUILD_KEYS]


def test_plan_refresh_without_always_build_is_empty_when_up_to_date(
    workspace: Workspace, instance: dg.DagsterInstance
) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=2, papers_per_day=3, seed=3))
    publish(workspace, paths)
    settings = settings_for(workspace)

    up_to_date = plan_refresh(settings, instance, always_build=False)
    assert (up_to_date.requests, up_to_date.dumps) == ([], 2)
    # The same state with always_build asks for the rebuild.
    rebuild = plan_refresh(settings, instance, always_build=True)
    assert [set(r.asset_selection or []) for r in rebuild.requests] == [BUILD_KEYS]
    assert rebuild.dumps == 2


def test_plan_refresh_rebuilds_when_the_dbt_project_changed(workspace: Workspace, instance: dg.DagsterInstance) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=2, papers_per_day=3, seed=3))
    publish(workspace, paths, digest="built-by-an-older-dbt-project")
    requests = plan_refresh(settings_for(workspace), instance, always_build=False).requests
    assert [set(r.asset_selection or []) for r in requests] == [BUILD_KEYS]


def test_plan_refresh_with_new_file_ingests_even_without_always_build(
    workspace: Workspace, instance: dg.DagsterInstance
) -> None:
    dumps = list(generate_dumps(days=3, papers_per_day=3, seed=3))
    paths = write_dumps(workspace.raw_dir, dumps[:2])
    publish(workspace, paths)
    [new] = write_dumps(workspace.raw_dir, dumps[2:])
    requests = plan_refresh(settings_for(workspace), instance, always_build=False).requests
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [(new.name, new.name)]
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == [new.name]


def test_partitions_registered_by_another_process_at_the_same_moment_do_not_fail_the_plan(
    workspace: Workspace, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ``make run`` at once: the other one inserts the same keys between Dagster's read and its insert."""
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=3, papers_per_day=3, seed=3))
    real_add = instance.add_dynamic_partitions
    calls: list[list[str]] = []

    def add_after_the_other_process(name: str, keys: list[str]) -> None:
        calls.append(list(keys))
        if len(calls) == 1:
            real_add(name, keys)  # the other process wins the race ...
            raise sqlalchemy.exc.IntegrityError("INSERT INTO dynamic_partitions", None, Exception("UNIQUE"))
        real_add(name, keys)

    monkeypatch.setattr(instance, "add_dynamic_partitions", add_after_the_other_process)
    requests = plan_refresh(settings_for(workspace), instance, always_build=False).requests

    names = [path.name for path in paths]
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [(names[0], names[-1])]
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == names
    assert calls == [names]  # ... and the second read finds every key registered


def test_unreadable_file_does_not_stop_the_refresh(
    workspace: Workspace, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file that can't be hashed (permissions, or deleted mid-scan) must not cancel the daily run."""
    import orchestration.load.ingest as ingest

    paths = write_dumps(workspace.raw_dir, generate_dumps(days=2, papers_per_day=3, seed=3))
    (workspace.raw_dir / "locked.txt").write_bytes(b"secret\n")
    real_sha = ingest.sha256_file

    def sha_or_denied(path: Path) -> str:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_sha(path)

    # Tests run as root in CI, where chmod 000 does not stop reads; fail the read itself.
    monkeypatch.setattr(ingest, "sha256_file", sha_or_denied)
    requests = evaluate(workspace, instance)
    assert len(requests) == 1
    assert (requests[0].tags[RANGE_START], requests[0].tags[RANGE_END]) == (paths[0].name, paths[-1].name)
    assert DUMPS.get_partition_keys(dynamic_partitions_store=instance) == [p.name for p in paths]


def test_a_rerun_of_all_dumps_is_one_run_over_every_partition(
    workspace: Workspace, instance: dg.DagsterInstance
) -> None:
    paths = write_dumps(workspace.raw_dir, generate_dumps(days=3, papers_per_day=3, seed=3))
    plan = plan_rerun(settings_for(workspace), instance, ["all"])
    [run] = plan.requests
    assert (run.tags[RANGE_START], run.tags[RANGE_END]) == (paths[0].name, paths[-1].name)
    assert SKIP_LOADED_TAG not in run.tags, "a rerun someone asked for re-parses"
    assert plan.count("rerun") == 3
    assert plan.dumps == 3
