"""Shared fixtures: a temporary raw folder, warehouse and Dagster home per test."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from orchestration.instance import install_instance_config

if TYPE_CHECKING:
    import dagster as dg

REPO_ROOT = Path(__file__).resolve().parent.parent
# Debian's Chromium, driven by Playwright (which cannot download browsers here); CI installs it.
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The dbt marts: tables in schema main.
MARTS = (
    "papers",
    "paper_first_seen",
    "authors_per_paper",
    "author_count_summary",
    "code_release_rates",
    "code_release_rates_by_year",
    "code_release_rates_by_org",
    "paper_authors",
    "paper_upvotes_daily",
)


@dataclass(frozen=True)
class Workspace:
    raw_dir: Path
    warehouse: Path
    dagster_home: Path

    @property
    def snapshot(self) -> Path:
        return self.warehouse.with_name("papers.read.duckdb")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PAPERS_RAW_DIR": str(self.raw_dir),
            "PAPERS_WAREHOUSE": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    def make_run(
        self, *args: str, env: Mapping[str, str] | None = None, unset: Collection[str] = (), timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """What ``make run`` does after set-up, against this workspace (``args``: ``--dumps ...``;
        ``env``: settings to change; ``unset``: variables to leave out)."""
        return self.python("-m", "orchestration.run", *args, env=env, unset=unset, timeout=timeout)

    def python(
        self, *args: str, env: Mapping[str, str] | None = None, unset: Collection[str] = (), timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """The project's Python with ``args``, from the repository, against this workspace; output captured."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env={key: value for key, value in {**self.env(), **(env or {})}.items() if key not in unset},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextlib.contextmanager
def duckdb_lock_held(path: Path) -> Iterator[None]:
    """Another process holds DuckDB's own lock on ``path``, as a stray client would."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print(1, flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "1"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    space = new_workspace(tmp_path)
    for key, value in space.env().items():
        if key.startswith(("PAPERS_", "DAGSTER_HOME")):
            monkeypatch.setenv(key, value)
    return space


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A warehouse built once per session from synthetic dumps of both layouts, for read-only tests."""
    from tests.synthetic import generate_dumps, write_dumps

    space = new_workspace(tmp_path_factory.mktemp("built"))
    write_dumps(space.raw_dir, generate_dumps(days=40, papers_per_day=12, seed=5), output_format="mixed")
    result = space.make_run()
    assert result.returncode == 0, result.stderr[-4000:]
    return space


@pytest.fixture(scope="module")
def shared_instance() -> Iterator[dg.DagsterInstance]:
    """A persistent temp Dagster instance per module (~2 s to create): sensor and schedule
    contexts get an instance ref, as under the daemon."""
    import dagster as dg

    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def instance(shared_instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """The shared instance with no dump partitions registered."""
    from orchestration.defs.ingestion import DUMPS_NAME

    for key in shared_instance.get_dynamic_partitions(DUMPS_NAME):
        shared_instance.delete_dynamic_partition(DUMPS_NAME, key)
    return shared_instance


def _normalise(value: object) -> object:
    return round(value, 9) if isinstance(value, float) else value


def table_contents(snapshot: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every mart in ``main`` and every raw table, sorted, without timestamp columns."""
    contents: dict[str, list[tuple[object, ...]]] = {}
    with duckdb.connect(str(snapshot), read_only=True) as con:
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ('main', 'raw') order by all"
        ).fetchall()
        for schema, table in tables:
            columns = [
                name
                for name, kind in con.execute(
                    "select column_name, data_type from duckdb_columns() where schema_name = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
                if not kind.startswith(("TIMESTAMP", "TIME "))
            ]
            select_list = ", ".join(f'"{name}"' for name in columns)
            rows = con.execute(f'select {select_list} from "{schema}"."{table}"').fetchall()  # noqa: S608
            contents[f"{schema}.{table}"] = sorted((tuple(_normalise(v) for v in row) for row in rows), key=repr)
    return contents


def new_workspace(root: Path) -> Workspace:
    """A raw folder, warehouse and Dagster home under ``root``, for a test that needs two."""
    space = Workspace(root / "raw", root / "warehouse" / "papers.duckdb", root / "dagster_home")
    space.raw_dir.mkdir(parents=True)
    space.dagster_home.mkdir()
    install_instance_config(space.dagster_home)
    return space


# The longest modules start first, so that parallel workers (pytest-xdist, --dist loadscope) are
# not left waiting on one of them at the end.
LONGEST_FIRST = (
    "test_reliability_crash.py",
    "test_reruns.py",
    "test_reruns_ui_backfills.py",
    "test_reliability_bad_inputs.py",
    "test_reliability_damage.py",
    "test_reliability_daemon.py",
    "test_team_postgres.py",
    "test_team_serving.py",
    "test_pipeline_e2e.py",
    "test_reruns_ui_runs.py",
    "test_reruns_ui_browser.py",
    "test_fetch_e2e.py",
    "test_report.py",
    "test_rebuild.py",
    "test_first_contact.py",
    "test_reliability_concurrent.py",
    "test_sensor_retries.py",
    "test_reliability_disk_full.py",
    "test_security.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """Prepare the dbt manifest before any test module imports the definitions (outside
    ``dagster dev`` nothing else does; see ``orchestration/defs/dbt_project.py``)."""
    from orchestration.defs.dbt_project import DBT_PROJECT

    DBT_PROJECT.preparer.prepare(DBT_PROJECT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
