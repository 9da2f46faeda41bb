"""A disk that fills up during a load: the run stops with a clear message and loses nothing.

The warehouse lives on a small tmpfs mounted by the test, filled to a few hundred KiB before
the load of a week of new dumps, so "no space left on device" comes from the real filesystem,
not from a mock. Mounting needs root; any other user gets a skip that says so.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.instance import install_instance_config
from tests.conftest import Workspace, table_contents
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow

FREE_BYTES = 256 << 10


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill up needs root; this test runs as another user")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root but cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Write a file that leaves about ``leave`` bytes free on ``disk``."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with filler.open("wb") as handle:
        handle.truncate(max(stats.f_bavail * stats.f_frsize - leave, 0))
        os.posix_fallocate(handle.fileno(), 0, handle.seek(0, os.SEEK_END))
    return filler


def fingerprint(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_load_that_fills_the_disk_rolls_back_and_the_next_run_with_space_succeeds(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "64m") as disk:
        space = Workspace(tmp_path / "raw", disk / "warehouse" / "papers.duckdb", tmp_path / "dagster_home")
        # A clean build of the same raw files, on a disk with room, to compare with at the end.
        reference = Workspace(space.raw_dir, tmp_path / "reference" / "papers.duckdb", tmp_path / "reference_home")
        space.raw_dir.mkdir()
        install_instance_config(space.dagster_home)
        install_instance_config(reference.dagster_home)
        write_dumps(space.raw_dir, generate_dumps(days=2, papers_per_day=10, seed=31), output_format="mixed")
        first = space.make_run()
        assert first.returncode == 0, first.stderr[-3000:]
        warehouse_before, snapshot_before = table_contents(space.warehouse), fingerprint(space.snapshot)

        later = dt.date(2026, 5, 1)
        write_dumps(space.raw_dir, generate_dumps(days=7, papers_per_day=200, seed=32, start=later))
        raw_before = {path.name: fingerprint(path) for path in space.raw_dir.iterdir()}
        filler = fill(disk, FREE_BYTES)

        full = space.make_run()

        assert full.returncode == 1, full.stdout + full.stderr[-3000:]
        assert "Traceback" not in full.stderr
        message = full.stderr.splitlines()[0]
        assert message.startswith("error: no space left on the disk that holds"), full.stderr[-3000:]
        assert str(space.warehouse.parent) in message
        assert "rolled back" in message
        assert fingerprint(space.snapshot) == snapshot_before
        filler.unlink()
        assert table_contents(space.warehouse) == warehouse_before, "the failed load left no trace"
        assert {path.name: fingerprint(path) for path in space.raw_dir.iterdir()} == raw_before

        again = space.make_run()

        assert again.returncode == 0, again.stderr[-3000:]
        assert reference.make_run().returncode == 0
        assert table_contents(space.snapshot) == table_contents(reference.snapshot)
