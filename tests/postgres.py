"""A throw-away PostgreSQL server for the team set-up tests: ``initdb`` and ``pg_ctl`` in a temp folder.

The server listens on 127.0.0.1 at a free port with password authentication (scram-sha-256), as a
team's server would. ``initdb`` refuses to run as root, so as root the cluster belongs to the
``postgres`` user that Debian's package creates. Stopping checks that no server process is left.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from tests.conftest import table_contents
from tests.dagster_dev import free_port

SUPERUSER = "postgres"


def server_binaries() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), or the one on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3]))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass(frozen=True)
class Postgres:
    port: int
    password: str  # the superuser's
    data: Path

    def url(self, user: str, password: str, database: str) -> str:
        address = URL.create("postgresql", user, password, "127.0.0.1", self.port, database)
        return address.render_as_string(hide_password=False)

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(SUPERUSER, self.password, database), autocommit=True)

    def create_database(self, name: str, owner: str) -> str:
        """A database owned by a new login role; returns its URL, with a fresh random password."""
        owner_password = new_password()
        with self.admin() as con:
            con.execute(
                sql.SQL("create role {} login password {}").format(sql.Identifier(owner), sql.Literal(owner_password))
            )
            con.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return self.url(owner, owner_password, name)


def new_password() -> str:
    """A random password made when the test runs; none is stored in the repository."""
    return secrets.token_urlsafe(18)


@contextlib.contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[Postgres]:
    """A running server; ``durable`` keeps ``fsync`` on, as a real server has it (benchmarks)."""
    bin_dir = server_binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries are not installed: apt-get install postgresql (.ci/run does)")
    # Under /tmp itself, not pytest's 0700 folder, so the postgres user can reach it when we are root.
    root = Path(tempfile.mkdtemp(prefix="papers-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, user=SUPERUSER)
        as_owner = ["runuser", "-u", SUPERUSER, "--"]
    data, log, password_file = root / "data", root / "server.log", root / "password"
    superuser_password = new_password()
    password_file.write_text(superuser_password)
    if as_owner:
        shutil.chown(password_file, user=SUPERUSER)
    port = free_port()
    # The server must not look like a process of a test's Dagster instance (see dagster_dev.processes_of).
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DAGSTER_", "PAPERS_"))}
    subprocess.run(
        [*as_owner, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=scram-sha-256",
         f"--pwfile={password_file}", "--no-sync"],
        check=True,
        capture_output=True,
        env=env,
    )  # fmt: skip
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root}" + ("" if durable else " -c fsync=off")
    subprocess.run(
        [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield Postgres(port, superuser_password, data)
    finally:
        subprocess.run(
            [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
            capture_output=True,
        )
        deadline = time.monotonic() + 10
        while (left := server_processes(data)) and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
        assert left == [], f"PostgreSQL processes left behind: {left}"


def server_processes(data: Path) -> list[str]:
    """Command lines of running processes that name the cluster's data folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if str(data) in cmdline:
                    found.append(cmdline)
    return found


def served_marts(url: str, schema: str = "papers") -> dict[str, list[tuple[object, ...]]]:
    """Every table of the served schema, rows sorted, floats rounded as ``table_contents`` does."""
    with psycopg.connect(url) as con:
        tables = [
            row[0] for row in con.execute("select tablename from pg_tables where schemaname = %s order by 1", [schema])
        ]
        return {
            table: sorted(
                (
                    tuple(round(v, 9) if isinstance(v, float) else v for v in row)
                    for row in con.execute(
                        sql.SQL("select * from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                    )
                ),
                key=repr,
            )
            for table in tables
        }


def duckdb_marts(snapshot: Path) -> dict[str, list[tuple[object, ...]]]:
    """The marts (schema ``main``) of a warehouse file, keyed by table name like ``served_marts``."""
    return {
        name.removeprefix("main."): rows for name, rows in table_contents(snapshot).items() if name.startswith("main.")
    }
