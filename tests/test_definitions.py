"""The code location's shape: lineage, checks, sensor and schedule can't drift silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.definitions import defs
from orchestration.defs.fetching import build_fetch_schedule
from orchestration.settings import Settings
from tests.conftest import MARTS as ALL_MARTS
from tests.conftest import REPO_ROOT

MARTS = set(ALL_MARTS)
STAGING = {
    f"staging/stg_raw__{table}"
    for table in ("paper_sightings", "dumps", "rejected_entries", "quarantined_dumps", "paper_authors")
}
INTERMEDIATE = {"intermediate/int_paper_identity", "intermediate/int_paper_sightings"}
RAW = {
    f"raw/{table}"
    for table in (
        "api_fetch",
        "dump_files",
        "paper_sightings",
        "dumps",
        "rejected_entries",
        "quarantined_dumps",
        "paper_authors",
    )
}


def test_asset_keys_are_exactly_the_lineage() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == RAW | STAGING | INTERMEDIATE | MARTS | {"warehouse_snapshot", "warehouse_report"}


def test_lineage_runs_from_dump_files_through_staging_to_marts() -> None:
    graph = defs.resolve_asset_graph()

    def parents(key: str) -> set[str]:
        return {parent.to_user_string() for parent in graph.get(dg.AssetKey.from_user_string(key)).parent_keys}

    assert parents("raw/paper_sightings") == {"raw/dump_files"}
    assert parents("raw/dump_files") == {"raw/api_fetch"}
    assert parents("staging/stg_raw__paper_sightings") == {"raw/paper_sightings"}
    assert "staging/stg_raw__paper_sightings" in parents("intermediate/int_paper_sightings")
    assert "intermediate/int_paper_sightings" in parents("papers")
    assert parents("warehouse_snapshot") >= MARTS


def test_ingestion_checks_and_dbt_tests_are_asset_checks() -> None:
    checks = {(key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    assert {
        ("raw/paper_sightings", "no_empty_dumps"),
        ("raw/paper_sightings", "rejects_below_5_percent"),
        ("raw/paper_sightings", "no_quarantined_dumps"),
        ("raw/api_fetch", "window_complete"),
    } <= checks
    assert ("papers", "accepted_values_papers_code_status__repository__claimed__promised__none") in checks
    assert any(asset == "code_release_rates" for asset, _ in checks)
    # Singular tests reading several models name the asset they check in their dbt meta.
    assert ("code_release_rates", "assert_code_release_all_row_covers_every_paper") in checks
    assert ("staging/stg_raw__paper_authors", "assert_paper_authors_belong_to_a_sighting") in checks


def test_sensor_and_schedule_are_on_by_default() -> None:
    sensor = defs.resolve_sensor_def("raw_folder_sensor")
    schedule = defs.resolve_schedule_def("daily_refresh")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == 30
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == "UTC"


def test_the_fetch_schedule_is_off_unless_papers_fetch_is_set() -> None:
    schedule = defs.resolve_schedule_def("daily_fetch")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == ("0 5 * * *", "UTC", "fetch_job")
    enabled = Settings.from_env({"PAPERS_FETCH": "1"})
    assert build_fetch_schedule(enabled.fetch_cron, enabled=enabled.fetch_enabled).default_status == (
        dg.DefaultScheduleStatus.RUNNING
    )


def test_marts_follow_a_rerun_of_the_raw_asset_alone() -> None:
    sensor = defs.resolve_sensor_def("marts_follow_reruns")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    graph = defs.resolve_asset_graph()
    followers = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).automation_condition}
    assert followers == STAGING | INTERMEDIATE | MARTS | {"warehouse_snapshot", "warehouse_report"}


def test_sightings_backfill_is_a_single_run() -> None:
    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "paper_sightings"]))
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)


def dg_command(*args: str) -> subprocess.CompletedProcess[str]:
    """``dg`` from the repo root, as a user runs it (``[tool.dg]`` in pyproject.toml), with a scratch Dagster home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PAPERS_", "DAGSTER_"))}
    return subprocess.run(
        [str(Path(sys.executable).with_name("dg")), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_dg_check_defs_passes_and_dg_lists_the_same_code_location() -> None:
    check = dg_command("check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully." in check.stdout
    listed = dg_command("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert {asset["asset_key"] for asset in found["assets"]} == {
        key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()
    }
    assert {sensor["name"] for sensor in found["sensors"]} == {"raw_folder_sensor", "marts_follow_reruns"}
    assert {schedule["name"] for schedule in found["schedules"]} == {"daily_refresh", "daily_fetch"}
