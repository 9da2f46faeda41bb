"""Loading parsed dumps into the raw tables, and the ledger of what each file holds.

``load_dumps`` writes a batch in one transaction: each file's sightings, authors and rejects, and
its row in ``raw.dumps`` (the ledger: content hash, parser version, whether it is current).
New content for a known file retires the old rows; a rerun or a parser upgrade replaces them.
Frames reach DuckDB as Arrow tables (Polars -> Arrow -> DuckDB); no value is ever formatted
into SQL text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import duckdb
import polars as pl

from orchestration.parse import contract
from orchestration.parse.common import ParsedDump
from orchestration.parse.contract import AUTHORS_SCHEMA, LEDGER_SCHEMA, REJECTS_SCHEMA, SIGHTINGS_SCHEMA

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
