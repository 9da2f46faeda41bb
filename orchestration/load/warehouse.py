"""The DuckDB warehouse file: its raw tables, how it is opened and checked, and the writer lock.

Who writes and when:
- Only pipeline steps write to the live file (``PAPERS_WAREHOUSE``), and only while
  holding ``writer_lock`` so two runs never fight over DuckDB's file lock.
- Analysts never open the live file; they read the snapshot (``snapshot``).

The raw tables' DDL is rendered from ``contract.RAW_TABLES``, their one declaration; opening the
file for writing creates what is missing and applies ``MIGRATIONS``, the one place that upgrades a
warehouse written by an older version.

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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from orchestration.parse.contract import RAW_TABLES, Column, PolarsType
from orchestration.settings import snapshot_path

# Files are written in a storage format that the DuckDB CLI from PyPI (``make sql``)
# and other 1.4+ clients can open.
STORAGE_VERSION = "v1.4.0"
# Every writer (this module and dbt's profile) attaches the file under this name, whatever the
# file is called. dbt names it in the views it creates, and DuckDB stores a view without the name
# of its own database, so a snapshot opened under another name still reads them.
CATALOG = "papers"
# Rows per row group in tables written to the warehouse, here and by dbt (``profiles.yml`` repeats
# the number; DuckDB's default is 122,880). The checkpoint after rows are appended to a table
# rewrites its last row group whole: with the default, ten years of ``papers`` (108,384 rows with
# their abstracts) were one row group, and each daily increment rewrote all of it (1.5-2 s).
ROW_GROUP_ROWS = 16_384


# The file header and the two database headers before the first block.
_HEADER_BYTES = 3 * 4096


_DUCKDB_TYPES: dict[PolarsType, str] = {
    pl.String: "varchar",
    pl.Date: "date",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.Boolean: "boolean",
}


def _sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(dtype: PolarsType) -> str:
    """The DuckDB type that holds a Polars column of ``dtype`` without loss, as Arrow hands it over."""
    if isinstance(dtype, pl.List):
        return f"{duckdb_type(dtype.inner)}[]"
    if isinstance(dtype, pl.Datetime):
        if dtype.time_unit != "us" or dtype.time_zone != "UTC":
            raise TypeError(f"raw tables hold UTC microsecond timestamps, not {dtype}")
        return "timestamptz"
    base = dtype.base_type()
    if base not in _DUCKDB_TYPES:
        raise TypeError(f"no DuckDB type declared for the Polars type {dtype}")
    return _DUCKDB_TYPES[base]


def _column_ddl(column: Column, *, constraints: bool = True) -> str:
    """``name type [not null] [default '...']``; without ``constraints``, what can be added to a table with rows."""
    parts = [column.name, duckdb_type(column.dtype)]
    if constraints and not column.nullable:
        parts.append("not null")
    if column.default is not None:
        parts.append(f"default {_sql_string(column.default)}")
    return " ".join(parts)


def create_table_ddl(table: str) -> str:
    """``create table if not exists raw.<table>`` with the columns ``contract.RAW_TABLES`` declares."""
    columns = ",\n".join(f"    {_column_ddl(column)}" for column in RAW_TABLES[table])
    return f"create table if not exists raw.{table} (\n{columns}\n);"


DDL = "\n".join(["create schema if not exists raw;", *(create_table_ddl(table) for table in RAW_TABLES)])


@dataclass(frozen=True)
class Migration:
    """One upgrade of a warehouse written by an older version; ``apply`` is idempotent (safe on every open)."""

    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from duckdb_columns() where schema_name = 'raw' and table_name = ? order by column_index",
        [table],
    ).fetchall()
    return [name for (name,) in rows]


def _rename_column(table: str, old: str, new: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def apply(con: duckdb.DuckDBPyConnection) -> None:
        if old in _columns(con, table):
            con.execute(f"alter table raw.{table} rename column {old} to {new}")

    return apply


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Columns declared after a table was first created: added nullable, with their declared default.

    Rows loaded before a column existed hold null there (or the default); the data migrations below
    fill what can be known.
    """
    for table, declared in RAW_TABLES.items():
        present = set(_columns(con, table))
        for column in declared:
            if column.name not in present:
                con.execute(f"alter table raw.{table} add column {_column_ddl(column, constraints=False)}")


def _run(sql: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def apply(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(sql)

    return apply


# Every upgrade an existing warehouse gets when it is opened for writing, in order. ``DDL`` creates
# what is missing; these bring tables created by older versions up to ``contract.RAW_TABLES``.
MIGRATIONS: tuple[Migration, ...] = (
    # The title hash was called paper_id, the name the marts give the resolved identity.
    Migration("paper_sightings.paper_id is title_key", _rename_column("paper_sightings", "paper_id", "title_key")),
    Migration("paper_authors.paper_id is title_key", _rename_column("paper_authors", "paper_id", "title_key")),
    # code_source, arxiv_id, source_format (default 'text') and n_comments came after the first
    # sightings; parser_version of quarantined_dumps after the first verdicts.
    Migration("columns declared since the table was created", _add_missing_columns),
    # Values the parsers compute and SQL used to recompute as a fallback for rows loaded before:
    # a text row's only code source is its abstract ...
    Migration(
        "code_source of older text rows",
        _run(
            "update raw.paper_sightings set code_source = 'abstract'"
            " where code_source is null and code_url is not null and source_format = 'text'"
        ),
    ),
    # ... and an API row's author count is the length of its author list (only API dumps have author
    # rows; the semi join keeps this cheap on every open once no such row is left).
    Migration(
        "n_authors of older API rows",
        _run(
            """
            update raw.paper_sightings as sightings set n_authors = listed.n_listed
            from (
                select authors.dump_id, authors.title_key, count(distinct authors.author_position)::integer as n_listed
                from raw.paper_authors as authors
                semi join raw.paper_sightings as missing
                    on authors.dump_id = missing.dump_id and authors.title_key = missing.title_key
                    and missing.n_authors is null and missing.source_format = 'api_json'
                group by authors.dump_id, authors.title_key
            ) as listed
            where sightings.n_authors is null
                and sightings.dump_id = listed.dump_id
                and sightings.title_key = listed.title_key
            """
        ),
    ),
)


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw tables and bring an older warehouse up to date, all or nothing."""
    con.execute("begin transaction")
    try:
        con.execute(DDL)
        for migration in MIGRATIONS:
            migration.apply(con)
        con.execute("commit")
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("rollback")
        raise


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
            con = _attach(path)
    except duckdb.IOException as error:
        if is_transient(error):
            raise
        raise damaged(path, error) from error
    except OSError as error:
        raise _unwritable(path, error) from error
    try:
        _check_length(con, path)
        if not read_only:
            upgrade(con)
    except BaseException:
        con.close()
        raise
    return con


def _attach(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse attached for writing as ``CATALOG``, with the project's row group size.

    DuckDB takes the row group size only as an option of ATTACH, so the connection starts in an
    in-memory database, which is detached once the warehouse is in use: cursors of the connection
    then start in the warehouse too. DuckDB would spill to ``.tmp`` in the working directory for
    an in-memory database, so the spill folder is set next to the warehouse, as for a file opened
    directly.
    """
    con = duckdb.connect(config={"storage_compatibility_version": STORAGE_VERSION, "temp_directory": f"{path}.tmp"})
    try:
        con.execute(f"attach {_sql_string(str(path))} as {CATALOG} (row_group_size {ROW_GROUP_ROWS})")
        con.execute(f"use {CATALOG}")
        con.execute("detach memory")
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
