"""Dagster's SQLite event log, with batches of asset events written in two transactions.

A single-run backfill of N dumps ends with N partition materializations of
``raw/paper_sightings``. Dagster hands them to the event log as one batch when
``DAGSTER_EVENT_BATCH_SIZE`` is set, but the stock SQLite storage still writes
them one by one: three connections and three commits per event, about 9 ms each,
which made the event log the largest single cost of a ten-year backfill.

The same holds for the batch Dagster writes when it creates a run: one "planned" event per
asset and per asset check the run will produce. For ``make run`` that is 78 events, and the time
from creating the run to starting it went from 2.65 s to 0.7-0.9 s once they were written as one
batch (one-dump increment, one-day warehouse, 2026-12-02).

This storage writes such a batch with the very same rows, in one transaction and one
``executemany`` INSERT on the run's shard and on the index shard; the asset-check rows are written by Dagster's own
code, handed that transaction. Everything else (other event types, mixed batches, reads, the
UI's watchers) is the stock ``SqliteEventLogStorage``. Configured in ``orchestration/dagster.yaml``.

What dropping it costs: the ten-year backfill (3,650 dumps through ``python -m orchestration.run``,
synthetic corpus, alternating, two runs each, 2026-12-02) took 87.5 and 86.1 s with it and 172.5
and 162.7 s with the stock SQLite event log, about 80 s more. It calls three private methods of
``SqliteEventLogStorage`` (``_event_to_row``, ``_store_asset_event_tags``, ``_store_asset_event``) and gives
``store_asset_check_event`` its open transaction through ``index_connection``;
``tests/test_event_storage.py`` names the Dagster version when they change. An instance on
PostgreSQL (``DAGSTER_POSTGRES_URL``) does not use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from dagster._config import StringSource
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData

# The index-shard transaction a batch is being written in, by this thread, and its storage.
_BATCH_INDEX: ContextVar[tuple[object, Any] | None] = ContextVar("batch_index_connection", default=None)


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
        if len(run_ids) != 1 or not all(_is_asset_event(event) or _is_check_event(event) for event in events):
            super().store_event_batch(events)
            return
        # The rows ``store_event`` writes, each event serialised once, inserted with one statement per shard.
        rows = [self._event_to_row(event) for event in events]
        with self.run_connection(run_ids.pop()) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        # Mirrored into the index shard exactly as ``store_event`` does, under the index's ids.
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
                rows,
            )
            event_ids = [int(event_id) for event_id in inserted.scalars()]
            stored = list(zip(events, event_ids, strict=True))
            assets = [(event, event_id) for event, event_id in stored if _is_asset_event(event)]
            self._store_asset_event_tags(conn, [event for event, _ in assets], [event_id for _, event_id in assets])
            for event, event_id in assets:
                self._store_asset_event(conn, event, event_id)
            token = _BATCH_INDEX.set((self, conn))
            try:
                for event, event_id in stored:
                    if _is_check_event(event):
                        self.store_asset_check_event(event, event_id)
            finally:
                _BATCH_INDEX.reset(token)

    def index_connection(self) -> contextlib.AbstractContextManager[Any]:
        """The stock connection, or, while this thread writes a batch, the batch's own transaction."""
        batch = _BATCH_INDEX.get()
        if batch is not None and batch[0] is self:
            return contextlib.nullcontext(batch[1])
        return super().index_connection()


def _is_check_event(event: EventLogEntry) -> bool:
    return event.dagster_event is not None and event.dagster_event.event_type in ASSET_CHECK_EVENTS


def _is_asset_event(event: EventLogEntry) -> bool:
    dagster_event = event.dagster_event
    return (
        dagster_event is not None and dagster_event.event_type in ASSET_EVENTS and dagster_event.asset_key is not None
    )
