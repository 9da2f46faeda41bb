"""Two ``make run`` started at the same moment on one warehouse both end well.

The second waits for the writer lock; no dump is loaded twice; a reader polling the snapshot all
along never meets an error; and the marts equal a clean build of the same raw folder. (A sensor
run overlapping a schedule run, under the real daemon, is in ``test_reliability_daemon.py``.)
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT, Workspace, new_workspace, table_contents
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow


def each_dump_loaded_once(warehouse: Path) -> list[tuple[str, int, int]]:
    """(file, ledger rows, current rows) per dump file."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select dump_file, count(*), count(*) filter (where is_current) from raw.dumps group by all order by all"
        ).fetchall()


def assert_marts_equal_a_clean_build(workspace: Workspace, root: Path) -> None:
    """Build the same raw folder from scratch under ``root`` and compare every table of the snapshots."""
    clean = new_workspace(root)
    clean_run = subprocess.run(
        [sys.executable, "-m", "orchestration.run"],
        cwd=REPO_ROOT,
        env={**clean.env(), "PAPERS_RAW_DIR": str(workspace.raw_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert clean_run.returncode == 0, clean_run.stderr[-3000:]
    assert table_contents(workspace.snapshot) == table_contents(clean.snapshot)


class Reader(threading.Thread):
    """Opens the published snapshot every 50 ms and runs one query, as a dashboard would."""

    def __init__(self, snapshot: Path) -> None:
        super().__init__(daemon=True)
        self.snapshot = snapshot
        self.reads = 0
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with duckdb.connect(str(self.snapshot), read_only=True) as con:
                    con.execute("select count(*) from papers").fetchone()
                self.reads += 1
            except duckdb.Error as error:
                self.errors.append(str(error))
            time.sleep(0.05)


def test_two_make_runs_at_once_both_succeed_and_load_each_dump_once(workspace: Workspace, tmp_path: Path) -> None:
    dumps = list(generate_dumps(days=7, papers_per_day=10, seed=71))
    write_dumps(workspace.raw_dir, dumps[:2], output_format="mixed")
    assert workspace.make_run().returncode == 0
    write_dumps(workspace.raw_dir, dumps[2:], output_format="mixed")
    reader = Reader(workspace.snapshot)
    reader.start()

    command = [sys.executable, "-m", "orchestration.run"]
    runs = [
        subprocess.Popen(
            command, cwd=REPO_ROOT, env=workspace.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    reader.done.set()
    reader.join()

    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr[-3000:]
    files = sorted(path.name for path in workspace.raw_dir.iterdir())
    assert each_dump_loaded_once(workspace.warehouse) == [(name, 1, 1) for name in files]
    assert reader.errors == []
    assert reader.reads > 20

    assert_marts_equal_a_clean_build(workspace, tmp_path / "clean")
