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
import errno
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

from orchestration.parse import contract
from orchestration.parse.common import ParsedDump
from orchestration.parse.contract import AUTHORS_SCHEMA, REJECTS_SCHEMA, SIGHTINGS_SCHEMA
from orchestration.settings import snapshot_path

# Files are written in a storage format that the DuckDB CLI from PyPI (``make sql``)
# and other 1.4+ clients can open.
STORAGE_VERSION = "v1.4.0"
# The file header and the two database headers before the first block.
_HEADER_BYTES = 3 * 4096

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
    quarantined_at timestamptz not null,
    parser_version varchar
);
alter table raw.quarantined_dumps add column if not exists parser_version varchar;
create table if not exists raw.build_state (
    project_digest varchar not null,
    built_at timestamptz not null
);
"""

# The columns of raw.dumps, for the ledger rows of a batch.
LEDGER_SCHEMA = pl.Schema(
    {  # type: ignore[arg-type]  # polars types Datetime(...) loosely
        "dump_id": pl.String,
        "dump_file": pl.String,
        "dump_date": pl.Date,
        "size_bytes": pl.Int64,
        "n_entries": pl.Int32,
        "n_rejected": pl.Int32,
        "loaded_at": pl.Datetime("us", "UTC"),
        "parser_version": pl.String,
        "is_current": pl.Boolean,
        "duplicate_of": pl.String,
    }
)

# loaded: a new file; replaced: new content for a known file; reparsed: the same content parsed again
# (a rerun, or a parser upgrade); unchanged: content already loaded by this parser, left alone;
# duplicate: content another file already carries, counted once.
LoadStatus = Literal["loaded", "replaced", "reparsed", "unchanged", "duplicate"]


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


class WarehouseDamaged(WarehouseError):
    """The warehouse file is gone or damaged while its history says it held data."""


REBUILD_HINT = (
    "The raw folder holds everything the warehouse is built from and is untouched: "
    "run `make rebuild` to build the warehouse again from it and swap it in."
)
# What DuckDB says about a file that is not (or no longer) a whole database.
_DAMAGE_MARKERS = ("not a valid DuckDB database file", "Corrupt database file", "Could not read enough bytes")


def is_damage(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and any(marker in str(error) for marker in _DAMAGE_MARKERS)


def damaged(path: Path, error: BaseException | str) -> WarehouseDamaged:
    return WarehouseDamaged(f"{path}: the warehouse file is damaged ({error}). {REBUILD_HINT}")


def is_disk_full(error: BaseException) -> bool:
    """Python's own ``OSError``, or DuckDB's or dbt's report of one."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return "No space left on device" in str(error)


def disk_full(path: Path) -> WarehouseError:
    return WarehouseError(
        f"no space left on the disk that holds {path.parent}. The write that hit it was rolled back: the "
        "warehouse holds only whole dumps, its read snapshot is as it was, and the raw folder is untouched. "
        "Free some space there and run again (`make run`, or let the sensor retry)."
    )


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` can pass by waiting: another process holds the warehouse's lock."""
    if isinstance(error, TimeoutError):
        return True
    return isinstance(error, duckdb.IOException) and "Could not set lock" in str(error)


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, creating the file and the raw tables on first use.

    Never creates an empty warehouse where a read snapshot says one existed: that file would be
    published over the good snapshot. A missing, truncated or unreadable file raises
    ``WarehouseDamaged``; a folder that cannot be written, ``WarehouseError``; a lock held by
    another process, DuckDB's own ``IOException`` (see ``is_transient``).
    """
    if not path.exists() and snapshot_path(path).exists():
        raise _missing(path, f"its read snapshot {snapshot_path(path).name}")
    try:
        if read_only:
            con = duckdb.connect(str(path), read_only=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_VERSION})
    except duckdb.IOException as error:
        if is_transient(error):
            raise
        raise damaged(path, error) from error
    except OSError as error:
        raise _unwritable(path, error) from error
    try:
        _check_length(con, path)
        if not read_only:
            con.execute(DDL)
    except BaseException:
        con.close()
        raise
    return con


def _missing(path: Path, evidence: str) -> WarehouseDamaged:
    return WarehouseDamaged(
        f"{path}: the warehouse file is missing, but {evidence} says dumps were loaded into it. Nothing was "
        f"written: an empty warehouse must not start in its place and be published over the good data. {REBUILD_HINT}"
    )


def _check_length(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A file too short for the blocks in use was cut off (a crash or a full disk mid-copy).

    Only blocks in use count: a checkpoint cuts free blocks off the end of the file but keeps them
    in the header's total. With a write-ahead log the open replayed it into blocks not yet in the
    file, so the check waits for a file without one.
    """
    if path.with_name(f"{path.name}.wal").exists():
        return
    used_blocks, block_size = con.execute("select used_blocks, block_size from pragma_database_size()").fetchone()  # type: ignore[misc]
    expected = _HEADER_BYTES + int(used_blocks) * int(block_size)
    actual = path.stat().st_size
    if actual < expected:
        raise damaged(path, f"it is {actual:,} bytes long but holds {expected:,} bytes of blocks in use")


def check_intact(path: Path, lock_path: Path, *, loaded_before: bool = False) -> None:
    """Raise ``WarehouseDamaged`` if the warehouse is missing although it held data, or cannot be read.

    ``loaded_before`` is what the caller's own history says (the Dagster instance). The file
    is opened only when no writer holds it: a running writer would notice damage itself.
    """
    if not path.exists():
        if snapshot_path(path).exists():
            raise _missing(path, f"its read snapshot {snapshot_path(path).name}")
        if loaded_before:
            raise _missing(path, "the Dagster history")
        return
    try:
        with writer_lock(lock_path, timeout_s=0):
            connect(path, read_only=True).close()
    except TimeoutError:
        return
    except duckdb.IOException as error:
        if not is_transient(error):
            raise


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


@dataclass(frozen=True)
class Loaded:
    """What the warehouse holds for one file: its content (sha256) and the parser version that read it."""

    dump_id: str
    parser_version: str | None  # None: quarantined before versions were recorded

    @property
    def is_current(self) -> bool:
        """Read by the parser that runs now: nothing to gain from reading it again."""
        return self.parser_version == contract.PARSER_VERSION


def loaded_versions(con: duckdb.DuckDBPyConnection) -> dict[str, Loaded]:
    """Each file's latest content in the ledger or the quarantine, with the parser version that read it."""
    # A snapshot published before quarantine verdicts carried a version (it can't be migrated: it is
    # read-only) counts its verdicts as made by an older parser, so they are tried once more.
    versioned = con.execute(
        "select count(*) from duckdb_columns()"
        " where schema_name = 'raw' and table_name = 'quarantined_dumps' and column_name = 'parser_version'"
    ).fetchone() != (0,)
    quarantine_version = "parser_version" if versioned else "null"
    rows = con.execute(
        f"""
        with seen as (
            select dump_file, dump_id, parser_version, loaded_at as seen_at from raw.dumps where is_current
            union all
            select dump_file, dump_id, {quarantine_version}, quarantined_at from raw.quarantined_dumps
            where dump_id is not null
        )
        select dump_file, arg_max(dump_id, seen_at), arg_max_null(parser_version, seen_at) from seen group by dump_file
        """  # noqa: S608  # a column name or null, never data
    ).fetchall()
    return {file: Loaded(str(dump_id), version) for file, dump_id, version in rows}


def load_dumps(
    con: duckdb.DuckDBPyConnection,
    parsed: Sequence[ParsedDump],
    quarantined: Sequence[Quarantine] = (),
    *,
    loaded_at: dt.datetime | None = None,
    reparse: bool = False,
) -> list[LoadOutcome]:
    """Load a batch of parsed dumps in one transaction.

    The batch is all-or-nothing, so each dump is too: a crash leaves no dump half
    loaded. Per file: content already loaded by this parser version is a no-op,
    unless ``reparse`` (a rerun someone asked for); content loaded by an older
    parser, or rerun, has its rows replaced by this parse; new content for a known
    file replaces the old version's rows; content already carried by another file
    is recorded in the ledger as a duplicate and counted once.
    """
    loaded_at = loaded_at or dt.datetime.now(dt.UTC)
    version = contract.PARSER_VERSION
    outcomes: list[LoadOutcome] = []
    new_sightings: list[pl.DataFrame] = []
    new_rejects: list[pl.DataFrame] = []
    new_authors: list[pl.DataFrame] = []
    con.execute("begin transaction")
    try:
        ledger = con.execute(
            "select dump_file, dump_id, is_current, duplicate_of, parser_version from raw.dumps"
        ).fetchall()
        known = {(file, dump_id) for file, dump_id, *_ in ledger}
        current = {file: dump_id for file, dump_id, is_current, *_ in ledger if is_current}
        read_by = {file: parser for file, _, is_current, _, parser in ledger if is_current}
        carrier = {dump_id: file for file, dump_id, is_current, dup, _ in ledger if is_current and dup is None}
        pending: list[tuple[object, ...]] = []  # new ledger rows, inserted together

        def write_pending() -> None:
            if pending:
                rows = pl.DataFrame(pending, schema=LEDGER_SCHEMA, orient="row")
                _insert_frames(con, "raw.dumps", [rows], list(LEDGER_SCHEMA))
                pending.clear()

        for dump in parsed:
            old_id = current.get(dump.dump_file)
            if old_id == dump.dump_id:
                if not reparse and read_by[dump.dump_file] == version:
                    outcomes.append(_outcome(dump, "unchanged"))
                    continue
                con.execute(
                    "update raw.dumps set n_entries = ?, n_rejected = ?, loaded_at = ?, parser_version = ?"
                    " where dump_file = ? and dump_id = ?",
                    [dump.sightings.height, dump.rejects.height, loaded_at, version, dump.dump_file, dump.dump_id],
                )
                if carrier[dump.dump_id] != dump.dump_file:
                    outcomes.append(_outcome(dump, "duplicate"))  # its rows belong to the carrier's parse
                    continue
                _delete_rows(con, dump.dump_id)
                new_sightings.append(dump.sightings)
                new_rejects.append(dump.rejects)
                new_authors.append(dump.authors)
                outcomes.append(_outcome(dump, "reparsed"))
                continue
            if old_id is not None or (dump.dump_file, dump.dump_id) in known:
                write_pending()  # the statements below may touch rows of this batch
            if old_id is not None:
                _retire(con, dump.dump_file, old_id, current, carrier)
            owner = carrier.get(dump.dump_id)
            if (dump.dump_file, dump.dump_id) in known:
                con.execute(
                    "delete from raw.dumps where dump_file = ? and dump_id = ?",
                    [dump.dump_file, dump.dump_id],
                )
            pending.append(
                (
                    dump.dump_id,
                    dump.dump_file,
                    dump.dump_date,
                    dump.size_bytes,
                    dump.sightings.height,
                    dump.rejects.height,
                    loaded_at,
                    version,
                    True,
                    owner,
                )
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
        write_pending()
        for item in quarantined:
            if item.dump_id is not None and current.get(item.dump_file) == item.dump_id:
                # Content that an older parser could read and this one cannot: a clean build would
                # hold none of its rows, so neither does this warehouse.
                _retire(con, item.dump_file, item.dump_id, current, carrier)
        _insert_frames(con, "raw.paper_sightings", new_sightings, SIGHTINGS_SCHEMA.names())
        _insert_frames(con, "raw.rejected_entries", new_rejects, REJECTS_SCHEMA.names())
        _insert_frames(con, "raw.paper_authors", new_authors, AUTHORS_SCHEMA.names())
        # A file read at last (a parser upgrade, a rerun) is no longer quarantined.
        if outcomes:
            con.execute(
                """
                delete from raw.quarantined_dumps
                where (dump_file, dump_id) in (select unnest(?::varchar[]), unnest(?::varchar[]))
                """,
                [[o.dump_file for o in outcomes], [o.dump_id for o in outcomes]],
            )
        _record_quarantine(con, quarantined, loaded_at)
        con.execute("commit")
    except BaseException:
        # A commit that failed (a full disk) has rolled back already; keep its error, not this one's.
        with contextlib.suppress(duckdb.TransactionException):
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
        _delete_rows(con, old_id)


def _delete_rows(con: duckdb.DuckDBPyConnection, dump_id: str) -> None:
    for table in ("raw.paper_sightings", "raw.rejected_entries", "raw.paper_authors"):
        con.execute(f"delete from {table} where dump_id = ?", [dump_id])  # noqa: S608


def _record_quarantine(con: duckdb.DuckDBPyConnection, quarantined: Sequence[Quarantine], at: dt.datetime) -> None:
    """One row per file and content: the latest verdict, with the parser version that gave it."""
    for item in quarantined:
        con.execute(
            "delete from raw.quarantined_dumps where dump_file = ? and dump_id is not distinct from ?",
            [item.dump_file, item.dump_id],
        )
        con.execute(
            "insert into raw.quarantined_dumps by name"
            " select ? as dump_file, ? as dump_id, ? as size_bytes, ? as reason, ? as quarantined_at,"
            " ? as parser_version",
            [item.dump_file, item.dump_id, item.size_bytes, item.reason, at, contract.PARSER_VERSION],
        )


def record_build(con: duckdb.DuckDBPyConnection, project_digest: str) -> None:
    """Remember which dbt project code built the marts now in the file."""
    con.execute("begin transaction")
    con.execute("delete from raw.build_state")
    con.execute("insert into raw.build_state values (?, ?)", [project_digest, dt.datetime.now(dt.UTC)])
    con.execute("commit")


def snapshot_state(snapshot: Path) -> tuple[dict[str, Loaded], str | None]:
    """What the published snapshot holds: each file's content seen (loaded or quarantined), and
    the digest of the dbt project that built its marts.

    Readers, sensors and ``make run`` consult the snapshot, never the live file, so
    they cannot collide with a writer.
    """
    if not snapshot.exists():
        return {}, None
    with duckdb.connect(str(snapshot), read_only=True) as con:
        versions = loaded_versions(con)
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
    fsync_dir(snapshot.parent)


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable."""
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
