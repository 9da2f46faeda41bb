"""The DuckDB warehouse: raw tables, the dump ledger, atomic loads and the read snapshot.

Who writes and when:
- Only pipeline steps write to the live file (``PAPERS_WAREHOUSE``), and only while
  holding ``writer_lock`` so two runs never fight over DuckDB's file lock.
- Analysts never open the live file. After each successful run the pipeline
  publishes ``<name>.read.duckdb``: a checkpointed copy swapped in with an atomic
  rename. A reader keeps the inode it opened, so it always sees one complete,
  committed state and never takes or waits for the writer's lock.

Frames reach DuckDB as Arrow tables (Polars -> Arrow -> DuckDB); no value is ever
formatted into SQL text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl

from orchestration.contract import AUTHORS_SCHEMA, PARSER_VERSION, REJECTS_SCHEMA, SIGHTINGS_SCHEMA
from orchestration.parsing import ParsedDump

# Files are written in a storage format that the DuckDB CLI from PyPI (``make sql``)
# and other 1.4+ clients can open.
STORAGE_VERSION = "v1.4.0"

DDL = """
create schema if not exists raw;
create table if not exists raw.dumps (
    dump_id varchar not null,
    dump_file varchar not null,
    dump_date date not null,
    size_bytes bigint not null,
    n_entries integer not null,
    n_rejected integer not null,
    loaded_at timestamptz not null,
    parser_version varchar not null,
    is_current boolean not null,
    duplicate_of varchar
);
create table if not exists raw.paper_sightings (
    dump_id varchar not null,
    dump_file varchar not null,
    dump_date date not null,
    position integer not null,
    paper_id varchar not null,
    title varchar not null,
    abstract varchar,
    n_authors integer,
    org_handle varchar,
    org_name varchar,
    published_on date,
    upvotes integer,
    urls varchar[] not null,
    code_url varchar,
    code_status varchar not null,
    code_source varchar,
    layout varchar,
    arxiv_id varchar,
    source_format varchar not null default 'text',
    n_comments integer
);
alter table raw.paper_sightings add column if not exists code_source varchar;
alter table raw.paper_sightings add column if not exists arxiv_id varchar;
alter table raw.paper_sightings add column if not exists source_format varchar default 'text';
alter table raw.paper_sightings add column if not exists n_comments integer;
create table if not exists raw.paper_authors (
    dump_id varchar not null,
    paper_id varchar not null,
    author_position integer not null,
    author_name varchar not null
);
create table if not exists raw.rejected_entries (
    dump_id varchar not null,
    dump_file varchar not null,
    position integer,
    line_number integer,
    reason varchar not null,
    raw_text varchar
);
create table if not exists raw.quarantined_dumps (
    dump_file varchar not null,
    dump_id varchar,
    size_bytes bigint,
    reason varchar not null,
    quarantined_at timestamptz not null
);
create table if not exists raw.build_state (
    project_digest varchar not null,
    built_at timestamptz not null
);
"""

LoadStatus = Literal["loaded", "replaced", "unchanged", "duplicate"]


@dataclass(frozen=True)
class LoadOutcome:
    dump_file: str
    dump_id: str
    status: LoadStatus
    n_entries: int
    n_rejected: int


@dataclass(frozen=True)
class Quarantine:
    """A whole file that could not be read, and why."""

    dump_file: str
    dump_id: str | None
    size_bytes: int | None
    reason: str


class WarehouseError(Exception):
    """A permanent problem with the warehouse file: retrying cannot help, the message says what to do."""


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` can pass by waiting: another process holds the warehouse's lock."""
    if isinstance(error, TimeoutError):
        return True
    return isinstance(error, duckdb.IOException) and "Could not set lock" in str(error)


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, creating the file and the raw tables on first use.

    A file that cannot be written or is not a DuckDB database raises ``WarehouseError``; a lock
    held by another process raises DuckDB's own ``IOException`` (see ``is_transient``).
    """
    try:
        if read_only:
            return duckdb.connect(str(path), read_only=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    except duckdb.IOException as error:
        if is_transient(error):
            raise
        raise WarehouseError(
            f"{path}: cannot open the warehouse: {error}. The warehouse is built from the raw folder alone: "
            f"move {path.name} and its read snapshot aside and run `make run` to build it again."
        ) from error
    except OSError as error:
        raise _unwritable(path, error) from error
    con.execute(DDL)
    return con


def check_writable(path: Path) -> None:
    """Raise ``WarehouseError`` unless the warehouse file (and its folder) can be created and written.

    Tries the real operations rather than asking ``os.access``, which says yes to root on a
    read-only disk. Cheap enough to run before any other work, so a wrong path fails at once.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
        if path.exists():
            with path.open("r+b"):
                pass
    except OSError as error:
        raise _unwritable(path, error) from error


def _unwritable(path: Path, error: OSError) -> WarehouseError:
    where = Path(error.filename or path.parent)
    reason = error.strerror or str(error)
    if isinstance(error, FileExistsError | NotADirectoryError) and where.exists() and not where.is_dir():
        reason = "it is a file, not a folder"
    return WarehouseError(
        f"PAPERS_WAREHOUSE: cannot write {where}: {reason}. "
        f"The warehouse ({path}) must be a file in a folder you can write: fix its permissions or set "
        "PAPERS_WAREHOUSE to another path."
    )


@contextlib.contextmanager
def writer_lock(lock_path: Path, *, timeout_s: float = 3600.0) -> Iterator[None]:
    """Serialise writers across processes; a second writer waits instead of failing."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as error:
        raise _unwritable(lock_path, error) from error
    with handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{lock_path}: another writer held the lock for {timeout_s:.0f} s") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def current_versions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Map each dump file to the dump_id of its current content."""
    rows = con.execute("select dump_file, dump_id from raw.dumps where is_current").fetchall()
    return {file: dump_id for file, dump_id in rows}


def load_dumps(
    con: duckdb.DuckDBPyConnection,
    parsed: Sequence[ParsedDump],
    quarantined: Sequence[Quarantine] = (),
    *,
    loaded_at: dt.datetime | None = None,
) -> list[LoadOutcome]:
    """Load a batch of parsed dumps in one transaction.

    The batch is all-or-nothing, so each dump is too: a crash leaves no dump half
    loaded. Per file: identical content is a no-op; new content for a known file
    replaces the old version's rows; content already carried by another file is
    recorded in the ledger as a duplicate and counted once.
    """
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    outcomes: list[LoadOutcome] = []
    new_sightings: list[pl.DataFrame] = []
    new_rejects: list[pl.DataFrame] = []
    new_authors: list[pl.DataFrame] = []
    con.execute("begin transaction")
    try:
        ledger = con.execute("select dump_file, dump_id, is_current, duplicate_of from raw.dumps").fetchall()
        known = {(file, dump_id) for file, dump_id, _, _ in ledger}
        current = {file: dump_id for file, dump_id, is_current, _ in ledger if is_current}
        carrier = {dump_id: file for file, dump_id, is_current, dup in ledger if is_current and dup is None}
        for dump in parsed:
            old_id = current.get(dump.dump_file)
            if old_id == dump.dump_id:
                outcomes.append(_outcome(dump, "unchanged"))
                continue
            if old_id is not None:
                _retire(con, dump.dump_file, old_id, current, carrier)
            owner = carrier.get(dump.dump_id)
            if (dump.dump_file, dump.dump_id) in known:
                con.execute(
                    "delete from raw.dumps where dump_file = ? and dump_id = ?",
                    [dump.dump_file, dump.dump_id],
                )
            con.execute(
                "insert into raw.dumps values (?, ?, ?, ?, ?, ?, ?, ?, true, ?)",
                [
                    dump.dump_id,
                    dump.dump_file,
                    dump.dump_date,
                    dump.size_bytes,
                    dump.sightings.height,
                    dump.rejects.height,
                    loaded_at,
                    PARSER_VERSION,
                    owner,
                ],
            )
            known.add((dump.dump_file, dump.dump_id))
            current[dump.dump_file] = dump.dump_id
            if owner is not None:
                outcomes.append(_outcome(dump, "duplicate"))
                continue
            carrier[dump.dump_id] = dump.dump_file
            new_sightings.append(dump.sightings)
            new_rejects.append(dump.rejects)
            new_authors.append(dump.authors)
            outcomes.append(_outcome(dump, "replaced" if old_id else "loaded"))
        _insert_frames(con, "raw.paper_sightings", new_sightings, SIGHTINGS_SCHEMA.names())
        _insert_frames(con, "raw.rejected_entries", new_rejects, REJECTS_SCHEMA.names())
        _insert_frames(con, "raw.paper_authors", new_authors, AUTHORS_SCHEMA.names())
        _record_quarantine(con, quarantined, loaded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return outcomes


def _insert_frames(con: duckdb.DuckDBPyConnection, table: str, frames: list[pl.DataFrame], columns: list[str]) -> None:
    """Hand DuckDB one Arrow table for the whole batch: no rows in SQL text, no row loop."""
    if not frames:
        return
    con.register("incoming", pl.concat(frames).select(columns).to_arrow())
    try:
        con.execute(f"insert into {table} by name select * from incoming")  # noqa: S608
    finally:
        con.unregister("incoming")


def _outcome(dump: ParsedDump, status: LoadStatus) -> LoadOutcome:
    return LoadOutcome(dump.dump_file, dump.dump_id, status, dump.sightings.height, dump.rejects.height)


def _retire(
    con: duckdb.DuckDBPyConnection,
    dump_file: str,
    old_id: str,
    current: dict[str, str],
    carrier: dict[str, str],
) -> None:
    """Retire a file's previous content; its rows move to a twin file or are deleted."""
    con.execute(
        "update raw.dumps set is_current = false where dump_file = ? and dump_id = ?",
        [dump_file, old_id],
    )
    del current[dump_file]
    if carrier.get(old_id) != dump_file:
        return
    twins = sorted(file for file, dump_id in current.items() if dump_id == old_id)
    if twins:
        heir = twins[0]
        carrier[old_id] = heir
        con.execute(
            "update raw.dumps set duplicate_of = null where dump_file = ? and dump_id = ?",
            [heir, old_id],
        )
        con.execute(
            "update raw.dumps set duplicate_of = ? where dump_id = ? and is_current and dump_file <> ?",
            [heir, old_id, heir],
        )
        for table in ("raw.paper_sightings", "raw.rejected_entries"):
            con.execute(f"update {table} set dump_file = ? where dump_id = ?", [heir, old_id])  # noqa: S608
    else:
        del carrier[old_id]
        for table in ("raw.paper_sightings", "raw.rejected_entries", "raw.paper_authors"):
            con.execute(f"delete from {table} where dump_id = ?", [old_id])  # noqa: S608


def _record_quarantine(con: duckdb.DuckDBPyConnection, quarantined: Sequence[Quarantine], at: dt.datetime) -> None:
    for item in quarantined:
        already = con.execute(
            "select count(*) from raw.quarantined_dumps where dump_file = ? and dump_id is not distinct from ?",
            [item.dump_file, item.dump_id],
        ).fetchone()
        if already and already[0]:
            continue
        con.execute(
            "insert into raw.quarantined_dumps values (?, ?, ?, ?, ?)",
            [item.dump_file, item.dump_id, item.size_bytes, item.reason, at],
        )


def record_build(con: duckdb.DuckDBPyConnection, project_digest: str) -> None:
    """Remember which dbt project code built the marts now in the file."""
    con.execute("begin transaction")
    con.execute("delete from raw.build_state")
    con.execute("insert into raw.build_state values (?, ?)", [project_digest, dt.datetime.now(dt.UTC)])
    con.execute("commit")


def snapshot_state(snapshot: Path) -> tuple[dict[str, str], str | None]:
    """What the published snapshot holds: file -> dump_id seen (loaded or quarantined), digest.

    Readers, sensors and ``make run`` consult the snapshot, never the live file, so
    they cannot collide with a writer.
    """
    if not snapshot.exists():
        return {}, None
    with duckdb.connect(str(snapshot), read_only=True) as con:
        rows = con.execute(
            """
            with seen as (
                select dump_file, dump_id, loaded_at as seen_at from raw.dumps where is_current
                union all
                select dump_file, dump_id, quarantined_at from raw.quarantined_dumps
                where dump_id is not null
            )
            select dump_file, arg_max(dump_id, seen_at) from seen group by dump_file
            """
        ).fetchall()
        versions = {file: str(dump_id) for file, dump_id in rows}
        row = con.execute("select project_digest from raw.build_state").fetchone()
    return versions, None if row is None else str(row[0])


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
    directory = os.open(snapshot.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
