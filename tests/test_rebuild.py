"""``make rebuild``: a new warehouse from the raw folder, swapped in whole, or nothing changes at all."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from orchestration.rebuild import staging_dir
from orchestration.settings import Settings
from tests.conftest import REPO_ROOT, Workspace, table_contents
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow


def rebuild(workspace: Workspace) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "orchestration.rebuild"]
    return subprocess.run(command, cwd=REPO_ROOT, env=workspace.env(), capture_output=True, text=True, check=False)


def fingerprint(paths: list[Path]) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


def raw_state(workspace: Workspace) -> dict[str, tuple[str, int]]:
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in workspace.raw_dir.iterdir()
    }


@pytest.fixture
def built(workspace: Workspace) -> Workspace:
    write_dumps(workspace.raw_dir, generate_dumps(days=4, papers_per_day=8, seed=51), output_format="mixed")
    result = workspace.make_run()
    assert result.returncode == 0, result.stderr[-3000:]
    return workspace


def test_a_rebuild_from_unchanged_raw_files_gives_the_same_warehouse(built: Workspace) -> None:
    before, raw_before = table_contents(built.snapshot), raw_state(built)
    report = Settings.from_env(built.env()).report
    report.unlink()

    result = rebuild(built)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Swapped in the rebuilt warehouse, read snapshot and report" in result.stdout
    assert table_contents(built.snapshot) == before
    assert table_contents(built.warehouse) == before
    assert report.exists()
    assert raw_state(built) == raw_before
    assert not staging_dir(Settings.from_env(built.env())).exists()
    assert "Nothing new in the raw folder" in result.stdout  # the closing `make run` found nothing to add


def test_a_damaged_warehouse_with_a_pending_log_is_rebuilt(built: Workspace) -> None:
    before = table_contents(built.snapshot)
    # A write the old file never checkpointed: its log would not match the new file.
    with duckdb.connect(str(built.warehouse)) as con:
        con.execute("pragma disable_checkpoint_on_shutdown")
        con.execute("create table raw.scratch as select 1 as x")
    assert built.warehouse.with_name(f"{built.warehouse.name}.wal").exists()
    with built.warehouse.open("r+b") as handle:
        handle.truncate(built.warehouse.stat().st_size // 3)

    result = rebuild(built)

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert table_contents(built.warehouse) == before
    assert table_contents(built.snapshot) == before


def test_a_rebuild_killed_midway_changes_nothing_and_the_next_one_succeeds(built: Workspace) -> None:
    files = [built.warehouse, built.snapshot, Settings.from_env(built.env()).report]
    before, contents = fingerprint(files), table_contents(built.snapshot)
    staging = staging_dir(Settings.from_env(built.env()))
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.rebuild"],
        cwd=REPO_ROOT,
        env=built.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (staging / built.warehouse.name).exists():  # the new warehouse is being built
            assert process.poll() is None, "the rebuild ended before it could be interrupted"
            assert time.monotonic() < deadline, "the rebuild never started building"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    assert fingerprint(files) == before
    result = rebuild(built)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert table_contents(built.snapshot) == contents
    assert not staging.exists()
