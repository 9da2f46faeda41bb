"""The read snapshot that analysts, the sensor and ``make run`` read instead of the live file.

After each successful run the pipeline publishes ``<name>.read.duckdb``: a checkpointed copy
swapped in with an atomic rename. A reader keeps the inode it opened, so it always sees one
complete, committed state and never takes or waits for the writer's lock.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import duckdb

from orchestration.load.ledger import Loaded, loaded_versions
from orchestration.load.warehouse import fsync_dir


def record_build(con: duckdb.DuckDBPyConnection, project_digest: str) -> None:
    """Remember which dbt project code built the marts now in the file."""
    con.execute("begin transaction")
    con.execute("delete from raw.build_state")
    con.execute("insert into raw.build_state values (?, ?)", [project_digest, dt.datetime.now(dt.UTC)])
    con.execute("commit")


def built_digest(con: duckdb.DuckDBPyConnection) -> str | None:
    """The digest ``record_build`` stored: which dbt project code built the marts in this file."""
    row = con.execute("select project_digest from raw.build_state").fetchone()
    return None if row is None else str(row[0])


def snapshot_state(snapshot: Path) -> tuple[dict[str, Loaded], str | None]:
    """What the published snapshot holds: each file's content seen (loaded or quarantined), and
    the digest of the dbt project that built its marts.

    Readers, sensors and ``make run`` consult the snapshot, never the live file, so
    they cannot collide with a writer.
    """
    if not snapshot.exists():
        return {}, None
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return loaded_versions(con), built_digest(con)


def publish_snapshot(con: duckdb.DuckDBPyConnection, warehouse: Path, snapshot: Path) -> None:
    """Swap in a fresh read-only copy of the warehouse.

    The caller holds the writer lock and an open read-write connection, so no one
    else can change the file while it is checkpointed and copied. ``os.replace``
    is atomic: readers see either the previous snapshot or the new one.
    """
    con.execute("checkpoint")
    for stale in snapshot.parent.glob(f".{snapshot.name}.*.tmp"):  # left by a publish that was killed
        stale.unlink(missing_ok=True)
    tmp = snapshot.with_name(f".{snapshot.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(warehouse, tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, snapshot)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(snapshot.parent)
