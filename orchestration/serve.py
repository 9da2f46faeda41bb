"""Serve the marts from PostgreSQL: one schema, replaced in one swap by every publish.

With ``PAPERS_SERVE_URL`` set, every run that builds the marts also copies them from the read
snapshot into the schema ``papers`` of that database. The rows move as Arrow record batches
through ADBC's PostgreSQL driver, which writes them with binary ``COPY``. Readers never see a
half-built copy:

1. The new copy is built and committed in a schema of its own, ``papers__next``, that readers
   cannot reach.
2. One short transaction drops ``papers`` and renames ``papers__next`` in its place. Dropping takes
   each served table's exclusive lock: a query already reading finishes first, and a query that
   starts during the swap waits for it, then reads the new tables. The swap waits at most
   ``LOCK_TIMEOUT`` for a lock and then gives way and tries again, well inside PostgreSQL's
   deadlock timeout (1 s by default). A reader never waits long and never meets a deadlock.

A publish killed at any point leaves the served schema as it was. Until the swap commits,
PostgreSQL rolls back what the dead session began, and the next publish drops any committed
``papers__next`` and builds it again. Publishes to one database take turns through an advisory lock.

The role ``papers_reader`` gets ``usage`` on the schema and ``select`` on its tables, nothing else.
Analysts log in as their own roles, which are granted ``papers_reader``. The schema belongs to the
pipeline: each publish replaces it whole, so views kept there would be dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import duckdb

SCHEMA = "papers"
NEXT_SCHEMA = f"{SCHEMA}__next"
READER_ROLE = "papers_reader"
MARTS_SCHEMA = "main"  # where dbt builds the marts in the warehouse (profiles.yml)
LOCK_TIMEOUT = "200ms"
SWAP_DEADLINE_S = 120.0
BATCH_ROWS = 100_000
# pg_advisory_lock's key for "a publish of the served marts is in progress".
PUBLISH_LOCK = f"hashtextextended('papers-warehouse publish {SCHEMA}', 0)"
LOCK_NOT_AVAILABLE = "55P03"
INSUFFICIENT_PRIVILEGE = "42501"

_T = TypeVar("_T")


class ServeError(Exception):
    """The marts could not be served; the message names the server (never the password) and the fix."""


@dataclass(frozen=True)
class Published:
    server: str
    rows: dict[str, int]
    build: str
    seconds: float


def server_label(url: str) -> str:
    """``host:port/database`` of a connection URL: safe to log, as it carries no user or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}/{parts.path.lstrip('/') or '(default database)'}"


def snapshot_build(snapshot: Path) -> str:
    """When the marts in the read snapshot were built: the stamp a served copy is compared by."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        row = con.execute("select max(built_at) from raw.build_state").fetchone()
    return "" if row is None or row[0] is None else row[0].isoformat()


def served_build(url: str) -> str | None:
    """The build stamp of the served copy, or ``None`` when nothing is served yet."""
    with _connect(url) as con, con.cursor() as cur:
        cur.execute("select obj_description(oid, 'pg_namespace') from pg_namespace where nspname = $1", [SCHEMA])
        row = cur.fetchone()
    return None if row is None else str(row[0] or "")


def publish_marts(snapshot: Path, url: str, *, sleep: Callable[[float], None] = time.sleep) -> Published:
    """Copy every mart of the read snapshot into the served schema, swapped in atomically."""
    started = time.perf_counter()
    server = server_label(url)
    build = snapshot_build(snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as source, _connect(url) as con, con.cursor() as cur:
        marts = [
            str(row[0])
            for row in source.execute(
                "select table_name from information_schema.tables"
                " where table_schema = ? and table_type = 'BASE TABLE' order by 1",
                [MARTS_SCHEMA],
            ).fetchall()
        ]
        _run(server, "wait for another publish to finish", cur.execute, f"select pg_advisory_lock({PUBLISH_LOCK})")
        con.commit()
        _ensure_reader_role(server, con, cur)
        rows: dict[str, int] = {}
        _run(server, "prepare the new copy", cur.execute, f"drop schema if exists {NEXT_SCHEMA} cascade")
        cur.execute(f"create schema {NEXT_SCHEMA}")
        for mart in marts:
            batches = source.sql(f"select * from {MARTS_SCHEMA}.{mart}").to_arrow_reader(BATCH_ROWS)  # noqa: S608
            ingest = cur.adbc_ingest
            rows[mart] = _run(server, f"copy {mart}", ingest, mart, batches, mode="create", db_schema_name=NEXT_SCHEMA)
        cur.execute(f"grant usage on schema {NEXT_SCHEMA} to {READER_ROLE}")
        cur.execute(f"grant select on all tables in schema {NEXT_SCHEMA} to {READER_ROLE}")
        cur.execute(f"comment on schema {NEXT_SCHEMA} is '{build}'")
        con.commit()
        _swap(server, con, cur, sleep)
        cur.execute(f"select pg_advisory_unlock({PUBLISH_LOCK})")
        con.commit()
        # Fresh statistics for the planner; readers can query meanwhile.
        for mart in marts:
            cur.execute(f"analyze {SCHEMA}.{mart}")
        con.commit()
    return Published(server, rows, build, time.perf_counter() - started)


def _swap(server: str, con: adbc.Connection, cur: adbc.Cursor, sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + SWAP_DEADLINE_S
    pause = 0.05
    while True:
        try:
            cur.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
            cur.execute(f"drop schema if exists {SCHEMA} cascade")
            cur.execute(f"alter schema {NEXT_SCHEMA} rename to {SCHEMA}")
            con.commit()
            return
        except adbc_driver_manager.DatabaseError as error:
            con.rollback()
            if getattr(error, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                raise _error(server, "swap in the new copy", error) from None
            if time.monotonic() > deadline:
                raise ServeError(
                    f"PAPERS_SERVE_URL: could not swap in the new marts on {server}: for {SWAP_DEADLINE_S:.0f} s"
                    f" some session kept a transaction open on the served schema {SCHEMA}. Find it in pg_stat_activity"
                    " (state 'idle in transaction'), end it, and run again; the previous copy is still served."
                ) from None
            sleep(pause)
            pause = min(pause * 2, 1.0)


def _ensure_reader_role(server: str, con: adbc.Connection, cur: adbc.Cursor) -> None:
    cur.execute("select 1 from pg_roles where rolname = $1", [READER_ROLE])
    if cur.fetchone() is not None:
        return
    try:
        cur.execute(f"create role {READER_ROLE} nologin")
        con.commit()
    except adbc_driver_manager.DatabaseError as error:
        con.rollback()
        if getattr(error, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            raise ServeError(
                f"the role {READER_ROLE} does not exist on {server}, and the publishing role may not create it."
                f" As an administrator, run: create role {READER_ROLE} nologin;"
            ) from None
        raise _error(server, f"create the role {READER_ROLE}", error) from None


def _connect(url: str) -> adbc.Connection:
    try:
        return adbc.connect(url)
    except adbc_driver_manager.Error as error:
        raise _error(server_label(url), "connect", error) from None


def _run(server: str, doing: str, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    try:
        return call(*args, **kwargs)
    except adbc_driver_manager.Error as error:
        raise _error(server, doing, error) from None


def _error(server: str, doing: str, error: BaseException) -> ServeError:
    # libpq's messages name the host, port and user, never the password.
    detail = " ".join(str(error).replace("[libpq]", "").split())
    return ServeError(
        f"PAPERS_SERVE_URL: could not {doing} (PostgreSQL server {server}): {detail.rstrip('.')}."
        " The warehouse and its read snapshot are up to date; the previous served copy stays in place."
    )
