"""Serve the marts from PostgreSQL: the schema ``papers``, brought up to date in one transaction per publish.

With ``PAPERS_SERVE_URL`` set, every run that builds the marts also publishes them from the read
snapshot to that database. Rows move as Arrow record batches through ADBC's PostgreSQL driver,
which writes them with binary ``COPY``. A publish takes one of two paths:

- **Changes** (the daily case): the served tables have the snapshot's layout, so one transaction
  replaces only what changed. Each mart with a key (the columns its dbt ``primary_key`` test
  names, passed in as ``keys``) has a hash of every row in the writer-only schema
  ``papers_publish``. Rows whose hash changed or whose key is gone are deleted and the new
  versions are copied in. Marts without a key, which are small, are replaced whole.
  PostgreSQL's MVCC shows readers the old marts until the commit and the new ones after it, and
  a reader never waits.
- **Whole** (the first publish, or when a mart's columns or key changed): the copy is built and
  committed in schemas of its own (``papers__next``, ``papers_publish__next``). One short
  transaction then drops the served schemas and renames the new ones in their place. Dropping
  takes each served table's exclusive lock: a query already reading finishes first, and a query
  that starts during the swap waits for it, then reads the new tables. The swap waits at most
  ``LOCK_TIMEOUT`` for a lock, then gives way and tries again, well inside PostgreSQL's deadlock
  timeout (1 s by default).

A publish killed at any point leaves the served copy as it was, because PostgreSQL rolls back what
a dead session began; the next publish drops any leftover ``*__next`` schema. Publishes to one
database take turns through an advisory lock.

The role ``papers_reader`` gets ``usage`` on ``papers`` and ``select`` on the marts, nothing else.
Analysts log in as their own roles, which are granted ``papers_reader``. The schema belongs to the
pipeline, so views kept there are dropped by the next whole publish.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import duckdb

SCHEMA = "papers"
HASHES = f"{SCHEMA}_publish"  # row hashes of the served marts; the reader role has no access
READER_ROLE = "papers_reader"
MARTS_SCHEMA = "main"  # where dbt builds the marts in the warehouse (profiles.yml)
LOCK_TIMEOUT = "200ms"
SWAP_DEADLINE_S = 120.0
CHANGES_LOCK_TIMEOUT = "120s"
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
    mode: Literal["whole", "changes"]
    rows: dict[str, int]  # rows served, per mart
    copied: dict[str, int]  # rows written by this publish, per mart
    build: str
    seconds: float


@dataclass(frozen=True)
class Mart:
    name: str
    columns: list[tuple[str, str]]  # (name, DuckDB type)
    key: list[str]  # the key's columns; empty if the mart has none

    @property
    def keys(self) -> str:
        return _quoted(self.key)

    @property
    def row_hash(self) -> str:
        """A 63-bit hash of the whole row, as DuckDB computes it."""
        return f"(hash({_quoted(name for name, _ in self.columns)}) >> 1)::bigint as row_hash"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


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


def publish_marts(
    snapshot: Path,
    url: str,
    *,
    keys: Mapping[str, Sequence[str]],
    sleep: Callable[[float], None] = time.sleep,
) -> Published:
    """Bring the served schema up to date with every mart of the read snapshot, atomically.

    ``keys``: each mart's key columns (``orchestration.defs.dbt_project.mart_keys``); the served
    table gets them as its primary key. A mart without a key is replaced whole on every publish.
    """
    started = time.perf_counter()
    server = server_label(url)
    build = snapshot_build(snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as source, _connect(url) as con, con.cursor() as cur:
        marts = _marts(source, keys)
        layout = json.dumps({mart.name: [mart.columns, mart.key] for mart in marts}, sort_keys=True)
        _run(server, "wait for another publish to finish", cur.execute, f"select pg_advisory_lock({PUBLISH_LOCK})")
        con.commit()
        _ensure_reader_role(server, con, cur)
        # The layout the served copy was built with is the comment on the hashes' schema.
        cur.execute(
            "select nspname, obj_description(oid, 'pg_namespace') from pg_namespace where nspname in ($1, $2)",
            [SCHEMA, HASHES],
        )
        served = dict(cur.fetchall())
        con.commit()
        publish = Publish(server, source, con, cur, build)
        if SCHEMA in served and served.get(HASHES) == layout:
            mode: Literal["whole", "changes"] = "changes"
            copied = publish.changes(marts)
        else:
            mode = "whole"
            copied = publish.whole(marts, layout, sleep)
        cur.execute(f"select pg_advisory_unlock({PUBLISH_LOCK})")
        con.commit()
        rows = {
            mart.name: int(source.execute(f'select count(*) from {MARTS_SCHEMA}."{mart.name}"').fetchall()[0][0])  # noqa: S608
            for mart in marts
        }
    return Published(server, mode, rows, copied, build, time.perf_counter() - started)


def _marts(source: duckdb.DuckDBPyConnection, keys: Mapping[str, Sequence[str]]) -> list[Mart]:
    tables = source.execute(
        "select table_name from duckdb_tables() where schema_name = ? order by 1", [MARTS_SCHEMA]
    ).fetchall()
    marts = []
    for (name,) in tables:
        columns = source.execute(
            "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ?"
            " order by column_index",
            [MARTS_SCHEMA, name],
        ).fetchall()
        marts.append(Mart(str(name), [(str(c), str(t)) for c, t in columns], list(keys.get(str(name), ()))))
    return marts


@dataclass
class Publish:
    """One publish's connections: the snapshot it reads and the PostgreSQL session it writes with."""

    server: str
    source: duckdb.DuckDBPyConnection
    con: adbc.Connection
    cur: adbc.Cursor
    build: str

    def copy(self, query: str, table: str, schema: str | None, mode: str) -> int:
        """Copy the rows of a DuckDB query into ``schema.table`` (a temporary table if ``schema`` is None)."""
        batches = self.source.sql(query).to_arrow_reader(BATCH_ROWS)
        where: dict[str, Any] = {"db_schema_name": schema} if schema else {"temporary": True}
        return int(_run(self.server, f"copy {table}", self.cur.adbc_ingest, table, batches, mode=mode, **where))

    def whole(self, marts: list[Mart], layout: str, sleep: Callable[[float], None]) -> dict[str, int]:
        """Build both schemas under ``*__next`` and commit, then swap them in."""
        cur, copied = self.cur, {}
        for schema in (SCHEMA, HASHES):
            _run(self.server, "prepare the new copy", cur.execute, f"drop schema if exists {schema}__next cascade")
            cur.execute(f"create schema {schema}__next")
        for mart in marts:
            table = f'{MARTS_SCHEMA}."{mart.name}"'
            copied[mart.name] = self.copy(f"select * from {table}", mart.name, f"{SCHEMA}__next", "create")  # noqa: S608
            cur.execute(f'grant select on {SCHEMA}__next."{mart.name}" to {READER_ROLE}')
            if mart.key:
                cur.execute(f'alter table {SCHEMA}__next."{mart.name}" add primary key ({mart.keys})')
                self.copy(f"select {mart.keys}, {mart.row_hash} from {table}", mart.name, f"{HASHES}__next", "create")  # noqa: S608
                cur.execute(f'alter table {HASHES}__next."{mart.name}" add primary key ({mart.keys})')
        cur.execute(f"grant usage on schema {SCHEMA}__next to {READER_ROLE}")
        cur.execute(f"comment on schema {SCHEMA}__next is '{self.build}'")
        cur.execute(f"comment on schema {HASHES}__next is '{layout}'")
        self.con.commit()
        self._swap(sleep)
        for mart in marts:  # fresh statistics for the planner; readers query meanwhile
            cur.execute(f'analyze {SCHEMA}."{mart.name}"')
        self.con.commit()
        return copied

    def changes(self, marts: list[Mart]) -> dict[str, int]:
        """In one transaction: per keyed mart, replace the rows whose hash changed; replace small marts whole."""
        cur, copied = self.cur, {}
        cur.execute(f"set local lock_timeout = '{CHANGES_LOCK_TIMEOUT}'")
        try:
            for mart in marts:
                table = f'{MARTS_SCHEMA}."{mart.name}"'
                served = f'{SCHEMA}."{mart.name}"'
                if not mart.key:
                    cur.execute(f"delete from {served}")  # noqa: S608  # not truncate: readers keep reading meanwhile
                    copied[mart.name] = self.copy(f"select * from {table}", mart.name, SCHEMA, "append")  # noqa: S608
                    continue
                copied[mart.name] = self._replace_changed_rows(mart, table)
            cur.execute(f"comment on schema {SCHEMA} is '{self.build}'")
            self.con.commit()
        except adbc_driver_manager.DatabaseError as error:
            self.con.rollback()
            if getattr(error, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise _held(self.server, CHANGES_LOCK_TIMEOUT) from None
            raise _error(self.server, "write the changed rows", error) from None
        return copied

    def _replace_changed_rows(self, mart: Mart, table: str) -> int:
        cur, keys = self.cur, mart.keys
        cur.execute(f'select {keys}, "row_hash" from {HASHES}."{mart.name}"')  # noqa: S608
        self.source.register("served_hashes", cur.fetch_arrow_table())
        try:
            # Keys whose row is new or changed (with the new hash), or gone (no hash): their served rows go,
            # and the snapshot's come in.
            stale = self.source.sql(
                f"(select {keys}, row_hash from (select {keys}, {mart.row_hash} from {table})"  # noqa: S608
                f"  anti join served_hashes using ({keys}, row_hash))"
                f" union all (select {keys}, null from served_hashes anti join {table} using ({keys}))"
            ).to_arrow_table()
        finally:
            self.source.unregister("served_hashes")
        self.source.register("stale", stale)
        try:
            cur.execute("drop table if exists pg_temp.stale_keys")
            self.copy(f"select {keys} from stale", "stale_keys", None, "create")  # noqa: S608
            match = " and ".join(f'target."{name}" = stale."{name}"' for name in mart.key)
            for schema in (SCHEMA, HASHES):
                cur.execute(
                    f'delete from {schema}."{mart.name}" as target using pg_temp.stale_keys as stale where {match}'  # noqa: S608
                )
            changed = f"select t.* from {table} as t semi join stale using ({keys})"  # noqa: S608
            copied = self.copy(changed, mart.name, SCHEMA, "append")
            self.copy(f"select {keys}, row_hash from stale where row_hash is not null", mart.name, HASHES, "append")  # noqa: S608
        finally:
            self.source.unregister("stale")
        return copied

    def _swap(self, sleep: Callable[[float], None]) -> None:
        deadline = time.monotonic() + SWAP_DEADLINE_S
        pause = 0.05
        while True:
            try:
                self.cur.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
                for schema in (SCHEMA, HASHES):
                    self.cur.execute(f"drop schema if exists {schema} cascade")
                    self.cur.execute(f"alter schema {schema}__next rename to {schema}")
                self.con.commit()
                return
            except adbc_driver_manager.DatabaseError as error:
                self.con.rollback()
                if getattr(error, "sqlstate", None) != LOCK_NOT_AVAILABLE:
                    raise _error(self.server, "swap in the new copy", error) from None
                if time.monotonic() > deadline:
                    raise _held(self.server, f"{SWAP_DEADLINE_S:.0f} s") from None
                sleep(pause)
                pause = min(pause * 2, 1.0)


def _held(server: str, waited: str) -> ServeError:
    return ServeError(
        f"PAPERS_SERVE_URL: could not update the served marts on {server}: for {waited} some session held a lock"
        f" on the schema {SCHEMA}. Find it in pg_stat_activity (often state 'idle in transaction'), end it, and run"
        " again; the previous copy is still served."
    )


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
