"""The DuckDB warehouse file: its raw tables, how it is opened and checked, and the writer lock.

Who writes and when:
- Only pipeline steps write to the live file (``PAPERS_WAREHOUSE``), and only while
  holding ``writer_lock`` so two runs never fight over DuckDB's file lock.
- Analysts never open the live file; they read the snapshot (``snapshot``).

A file that is gone or damaged while its history says it held data is a ``WarehouseDamaged``
error whose message says how to rebuild it; a full disk or an unwritable folder is a
``WarehouseError`` that names the path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

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


def fsync_dir(folder: Path) -> None:
    """Make the renames in ``folder`` durable."""
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
