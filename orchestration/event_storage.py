"""Dagster's SQLite event log, with batches of asset events written in two transactions.

A single-run backfill of N dumps ends with N partition materializations of
``raw/paper_sightings``. Dagster hands them to the event log as one batch when
``DAGSTER_EVENT_BATCH_SIZE`` is set, but the stock SQLite storage still writes
them one by one: three connections and three commits per event, about 9 ms each,
which made the event log the largest single cost of a ten-year backfill.

This storage writes such a batch with the very same rows, in one transaction on
the run's shard and one on the index shard. Everything else (other event types,
mixed batches, reads, the UI's watchers) is the stock ``SqliteEventLogStorage``.
Configured in ``orchestration/dagster.yaml``.

What dropping it costs: the ten-year backfill (3,650 dumps through ``python -m orchestration.run``,
synthetic corpus, alternating, two runs each, 2026-12-02) took 87.5 and 86.1 s with it and 172.5
and 162.7 s with the stock SQLite event log, about 80 s more. It calls two private methods of
``SqliteEventLogStorage`` (``_store_asset_event_tags``, ``_store_asset_event``);
``tests/test_event_storage.py`` names the Dagster version when they change. An instance on
PostgreSQL (``DAGSTER_POSTGRES_URL``) does not use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster._config import StringSource
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData


class BatchedSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` whose ``store_event_batch`` commits a batch at once."""

    @classmethod
    def config_type(cls) -> Mapping[str, Any]:
        return {"base_dir": StringSource}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> BatchedSqliteEventLogStorage:
        base_dir = os.path.expanduser(config_value["base_dir"])
        if not os.path.isabs(base_dir):
            raise ValueError(
                f"event_log_storage base_dir must be an absolute path, got {base_dir!r}: "
                "install orchestration/dagster.yaml with `python -m orchestration.instance`"
            )
        return cls(inst_data=inst_data, base_dir=base_dir)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        run_ids = {event.run_id for event in events}
        if len(run_ids) != 1 or not all(_is_asset_event(event) for event in events):
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(run_ids.pop()) as conn:
            for statement in statements:
                conn.execute(statement)
        # Mirrored into the index shard exactly as ``store_event`` does, under the index's ids.
        with self.index_transaction() as conn:
            event_ids = [_inserted_id(conn.execute(statement)) for statement in statements]
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in zip(events, event_ids, strict=True):
                self._store_asset_event(conn, event, event_id)


def _inserted_id(result: Any) -> int:  # a SQLAlchemy CursorResult
    key = result.inserted_primary_key
    if key is None or key[0] is None:
        raise DagsterInvariantViolationError("Cannot store asset event tags for null event id.")
    return int(key[0])


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None and dagster_event.event_type in ASSET_EVENTS and dagster_event.asset_key is not None
    )
