"""The batched event log records a single-run backfill exactly as Dagster's stock SQLite storage does."""

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.event_log import SqliteEventLogStorage

from orchestration.event_storage import BatchedSqliteEventLogStorage
from orchestration.instance import install_instance_config
from tests.conftest import REPO_ROOT

KEYS = [f"2026-01-{day:02d}.txt" for day in range(1, 29)] + [f"extra {n}.json" for n in range(30)]
PARTS = dg.DynamicPartitionsDefinition(name="files")
ASSET = dg.AssetKey(["raw", "things"])


@dg.asset(key=ASSET, partitions_def=PARTS, backfill_policy=dg.BackfillPolicy.single_run())
def things(context: dg.AssetExecutionContext) -> dg.MaterializeResult[Any]:
    return dg.MaterializeResult(metadata={"files_in_run": len(context.partition_keys), "note": "same for all"})


def _instance(home: Path, *, project_config: bool) -> dg.DagsterInstance:
    """An instance with the project's settings (the batched event log), or Dagster's stock ones."""
    if project_config:
        install_instance_config(home)
    else:
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return dg.DagsterInstance.from_config(str(home))


@pytest.fixture
def single_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The event types the batched storage writes one at a time (``store_event``), in order."""
    written: list[str] = []
    stock_store_event = BatchedSqliteEventLogStorage.store_event

    def counting_store_event(self: BatchedSqliteEventLogStorage, event: Any) -> None:
        written.append(event.dagster_event_type.value if event.dagster_event_type else "log")
        stock_store_event(self, event)

    monkeypatch.setattr(BatchedSqliteEventLogStorage, "store_event", counting_store_event)
    return written


def _backfill(home: Path, *, project_config: bool) -> dg.DagsterInstance:
    instance = _instance(home, project_config=project_config)
    instance.add_dynamic_partitions(PARTS.name or "", KEYS)
    job = dg.Definitions(assets=[things]).resolve_implicit_global_asset_job_def()
    tags = {"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]}
    assert job.execute_in_process(instance=instance, tags=tags).success
    return instance


def _recorded(instance: dg.DagsterInstance) -> dict[str, Any]:
    records = instance.fetch_materializations(ASSET, limit=1000).records
    latest = instance.get_latest_materialization_event(ASSET)
    assert latest is not None
    asset_record = instance.get_asset_records([ASSET])[0].asset_entry
    return {
        "partitions": instance.get_materialized_partitions(ASSET),
        "latest_by_partition": sorted(
            instance.event_log_storage.get_latest_storage_id_by_partition(
                ASSET, dg.DagsterEventType.ASSET_MATERIALIZATION
            )
        ),
        "metadata": sorted(
            (r.partition_key or "", sorted((k, v.value) for k, v in r.asset_materialization.metadata.items()))  # type: ignore[union-attr]
            for r in records
        ),
        "run_events": len(instance.all_logs(records[0].run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)),
        "latest_partition_is_recorded": latest.dagster_event.partition in KEYS,  # type: ignore[union-attr]
        "asset_record_latest": asset_record.last_materialization_record is not None,
        "tagged_partitions": sorted(
            t.get("dagster/partition", "")
            for t in instance.get_event_tags_for_asset(ASSET, filter_tags={}, filter_event_id=None)
        ),
        # Rows written for one event are keyed on that event's own storage id.
        "each_event_holds_its_own_tags": all(
            instance.get_event_tags_for_asset(ASSET, filter_tags={}, filter_event_id=r.storage_id)
            == [{"dagster/data_version": r.asset_materialization.tags["dagster/data_version"]}]  # type: ignore[union-attr]
            for r in records
        ),
        "latest_by_partition_is_its_event": instance.event_log_storage.get_latest_storage_id_by_partition(
            ASSET, dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        == {r.partition_key: r.storage_id for r in records},
        "asset_record_points_at_the_last_event": asset_record.last_materialization_record.storage_id  # type: ignore[union-attr]
        == max(r.storage_id for r in records),
    }


def test_project_instance_uses_the_batched_storage_in_its_own_home(tmp_path: Path) -> None:
    install_instance_config(tmp_path / "home")
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    assert isinstance(instance.event_log_storage, BatchedSqliteEventLogStorage)
    assert Path(instance.event_log_storage._base_dir) == (tmp_path / "home" / "history" / "runs").resolve()


def test_uninstalled_template_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    with pytest.raises(Exception, match="absolute path"):
        dg.DagsterInstance.from_config(str(tmp_path)).event_log_storage  # noqa: B018


def test_batched_backfill_is_recorded_like_the_stock_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, single_writes: list[str]
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "25")  # 58 partitions: batches of 25, 25 and 8
    batched = _backfill(tmp_path / "batched", project_config=True)
    assert isinstance(batched.event_log_storage, BatchedSqliteEventLogStorage)
    stock = _backfill(tmp_path / "stock", project_config=False)
    assert type(stock.event_log_storage).__name__ == "SqliteEventLogStorage"

    expected = _recorded(stock)
    assert expected["partitions"] == set(KEYS)
    assert expected["run_events"] == len(KEYS)
    assert expected["each_event_holds_its_own_tags"]
    assert expected["latest_by_partition_is_its_event"]
    assert expected["asset_record_points_at_the_last_event"]
    assert _recorded(batched) == expected
    # The batch path did the work: no materialization went through the one-event-at-a-time write.
    assert "ASSET_MATERIALIZATION" not in single_writes
    assert "STEP_START" in single_writes


CHECKED = dg.AssetKey("checked")
BROKEN = dg.AssetKey("broken")
CHECKS = [dg.AssetCheckKey(CHECKED, name) for name in ("passes", "fails")] + [dg.AssetCheckKey(BROKEN, "never_run")]


@dg.asset(key=CHECKED, check_specs=[dg.AssetCheckSpec(key.name, asset=CHECKED) for key in CHECKS[:2]])
def checked() -> Iterator[Any]:
    yield dg.MaterializeResult(metadata={"rows": 3})
    yield dg.AssetCheckResult(check_name="passes", passed=True)
    yield dg.AssetCheckResult(check_name="fails", passed=False)


@dg.asset(key=BROKEN, check_specs=[dg.AssetCheckSpec("never_run", asset=BROKEN)])
def broken() -> Iterator[Any]:
    raise RuntimeError("fails before its check: the check's planned row is all it leaves")
    yield  # a generator, as an asset with a check must be


SECOND = dg.AssetKey("downstream")


@dg.asset(key=SECOND, deps=[checked])
def downstream() -> None:
    return None


def _run_with_checks(home: Path, *, project_config: bool) -> dict[str, Any]:
    instance = _instance(home, project_config=project_config)
    job = dg.Definitions(assets=[checked, broken, downstream]).resolve_implicit_global_asset_job_def()
    run_id = job.execute_in_process(instance=instance, raise_on_error=False).run_id
    storage = instance.event_log_storage
    latest = storage.get_latest_asset_check_execution_by_key(CHECKS)
    return {
        "planned": sorted(
            str(event.dagster_event.event_type_value)  # type: ignore[union-attr]
            for event in instance.all_logs(run_id)
            if event.dagster_event and event.dagster_event.event_type_value.endswith("_PLANNED")
        ),
        "history": {
            key.name: [(r.status.value, r.run_id == run_id) for r in storage.get_asset_check_execution_history(key, 10)]
            for key in CHECKS
        },
        "latest": {key.name: latest[key].status.value for key in CHECKS},
        "planned_materializations": [
            instance.get_latest_planned_materialization_info(key) is not None for key in (CHECKED, SECOND)
        ],
        "materialized": [
            instance.get_latest_materialization_event(key) is not None for key in (CHECKED, downstream.key)
        ],
    }


def test_the_planned_events_of_a_run_are_written_in_one_batch_and_read_back_like_the_stock_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, single_writes: list[str]
) -> None:
    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "1000")
    batched = _run_with_checks(tmp_path / "batched", project_config=True)
    expected = _run_with_checks(tmp_path / "stock", project_config=False)

    assert expected["latest"] == {"passes": "SUCCEEDED", "fails": "FAILED", "never_run": "PLANNED"}
    assert expected["planned"].count("ASSET_CHECK_EVALUATION_PLANNED") == len(CHECKS)
    assert batched == expected
    # The batch path wrote the planned events: none went through the one-event-at-a-time write.
    assert not [kind for kind in single_writes if kind.endswith("_PLANNED")]
    assert "ASSET_CHECK_EVALUATION" in single_writes


def test_install_upgrades_an_earlier_install_but_not_a_hand_written_config(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    (ours / "dagster.yaml").write_text("# Instance settings for the project's DAGSTER_HOME (older)\ntelemetry: {}\n")
    hand_written = "storage:\n  postgres:\n    postgres_url: postgresql://localhost/dagster\n"
    (theirs / "dagster.yaml").write_text(hand_written)

    install_instance_config(ours)
    install_instance_config(theirs)

    assert f'base_dir: "{ours.resolve()}/history/runs"' in (ours / "dagster.yaml").read_text()
    assert (theirs / "dagster.yaml").read_text() == hand_written


# The parts of Dagster's SQL event log that BatchedSqliteEventLogStorage.store_event_batch calls,
# with the parameters it passes. Dagster does not promise to keep the private ones.
CALLED = {
    "_event_to_row": ["self", "event"],
    "run_connection": ["self", "run_id"],
    "index_transaction": ["self"],
    "_store_asset_event_tags": ["self", "conn", "events", "event_ids"],
    "_store_asset_event": ["self", "conn", "event", "event_id"],
    "store_asset_check_event": ["self", "event", "event_id"],
    "index_connection": ["self"],
}


def parameters(name: str) -> list[str] | None:
    method = getattr(SqliteEventLogStorage, name, None)
    return None if method is None else list(inspect.signature(method).parameters)


def test_the_dagster_methods_the_batched_log_calls_still_exist_as_it_calls_them() -> None:
    changed = {name: parameters(name) for name, expected in CALLED.items() if parameters(name) != expected}
    assert not changed, (
        f"dagster {dg.__version__} changed {sorted(changed)} of SqliteEventLogStorage (now: {changed}); "
        "review orchestration/event_storage.py against it, or drop it (its docstring says what that costs)"
    )
