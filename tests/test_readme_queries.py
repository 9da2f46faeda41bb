"""Every SQL example in the README runs against a built warehouse and returns rows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT, Workspace

QUERIES = re.findall(r"```sql\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_readme_has_at_least_five_queries() -> None:
    assert len(QUERIES) >= 5


@pytest.mark.parametrize("sql", QUERIES, ids=[q.splitlines()[0].lstrip("- ")[:60] for q in QUERIES])
def test_readme_query_runs_on_the_read_snapshot(built_workspace: Workspace, sql: str) -> None:
    with duckdb.connect(str(built_workspace.snapshot), read_only=True) as con:
        rows = con.execute(sql).fetchall()
    if "rejected_entries" not in sql:  # synthetic dumps are clean, so that one may be empty
        assert rows, sql


def test_make_sql_client_opens_the_snapshot_read_only(built_workspace: Workspace) -> None:
    """`make sql` uses the DuckDB CLI from PyPI; the warehouse's storage version must suit it."""
    cli = Path(sys.executable).with_name("duckdb")
    result = subprocess.run(
        [
            str(cli),
            "-readonly",
            "-csv",
            "-noheader",
            str(built_workspace.snapshot),
            "-c",
            "select count(*) from papers",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with duckdb.connect(str(built_workspace.snapshot), read_only=True) as con:
        assert int(result.stdout.strip()) == con.execute("select count(*) from papers").fetchone()[0]  # type: ignore[index]
