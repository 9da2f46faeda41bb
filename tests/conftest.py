"""Shared fixtures: a temporary raw folder, warehouse and Dagster home per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from orchestration.instance import install_instance_config

if TYPE_CHECKING:
    import dagster as dg

REPO_ROOT = Path(__file__).resolve().parent.parent
# The dbt marts: tables in schema main.
MARTS = (
    "papers",
    "paper_first_seen",
    "authors_per_paper",
    "author_count_summary",
    "code_release_rates",
    "code_release_rates_by_year",
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

    def make_run(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """What ``make run`` does after set-up, against this workspace."""
        return subprocess.run(
            [sys.executable, "-m", "orchestration.run"],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    space = Workspace(tmp_path / "raw", tmp_path / "warehouse" / "papers.duckdb", tmp_path / "dagster_home")
    space.raw_dir.mkdir()
    space.dagster_home.mkdir()
    install_instance_config(space.dagster_home)
    for key, value in space.env().items():
        if key.startswith(("PAPERS_", "DAGSTER_HOME")):
            monkeypatch.setenv(key, value)
    return space


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A warehouse built once per session from synthetic dumps of both layouts, for read-only tests."""
    from orchestration.synthetic import generate_dumps, write_dumps

    root = tmp_path_factory.mktemp("built")
    space = Workspace(root / "raw", root / "warehouse" / "papers.duckdb", root / "dagster_home")
    space.raw_dir.mkdir()
    space.dagster_home.mkdir()
    install_instance_config(space.dagster_home)
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
