"""A warehouse file that is gone or damaged: every entry point says so and points to ``make rebuild``.

The warehouse is derived from the raw folder, so losing it loses nothing, but an entry point that
quietly created an empty file in its place would publish it over the good read snapshot. Each
damage is checked through ``make run``, ``make dev``, a sensor tick and a run as the daemon would
launch it: a one-line message that names the file and the way out, no run, no new warehouse file,
the snapshot untouched. Then ``make rebuild`` brings back the same marts.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs, ingest_job
from orchestration.defs.ingestion import ingest_request
from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.load.warehouse import connect
from orchestration.run import failure_descriptions
from tests.conftest import REPO_ROOT, Workspace, new_workspace, table_contents
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow


def delete_warehouse(space: Workspace) -> str:
    space.warehouse.unlink()
    return "its read snapshot"


def delete_warehouse_and_snapshot(space: Workspace) -> str:
    space.warehouse.unlink()
    space.snapshot.unlink()
    return "the Dagster history"


def truncate(space: Workspace) -> str:
    """Cut after the headers and the first block, as a copy that stopped early would."""
    with space.warehouse.open("r+b") as handle:
        handle.truncate(3 * 4096 + 262144)
    return "the warehouse file is damaged"


def overwrite_header(space: Workspace) -> str:
    with space.warehouse.open("r+b") as handle:
        handle.write(os.urandom(4096))
    return "not a valid DuckDB database file"


DAMAGES: dict[str, Callable[[Workspace], str]] = {
    "deleted": delete_warehouse,
    "deleted with its snapshot": delete_warehouse_and_snapshot,
    "truncated": truncate,
    "header overwritten": overwrite_header,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """A warehouse built once; each test damages it, and the next one starts from a saved copy."""
    space = new_workspace(tmp_path_factory.mktemp("damage"))
    write_dumps(space.raw_dir, generate_dumps(days=3, papers_per_day=8, seed=23), output_format="mixed")
    result = space.make_run()
    assert result.returncode == 0, result.stderr[-3000:]
    saved = space.warehouse.parent.with_name("saved")
    shutil.copytree(space.warehouse.parent, saved)
    return space, saved


@pytest.fixture
def space(built: tuple[Workspace, Path]) -> Workspace:
    workspace, saved = built
    shutil.rmtree(workspace.warehouse.parent)
    shutil.copytree(saved, workspace.warehouse.parent)
    return workspace


def fingerprint(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def run_count(space: Workspace) -> int:
    with dg.DagsterInstance.from_config(str(space.dagster_home)) as instance:
        return len(instance.get_run_records())


def assert_told_to_rebuild(message: str, space: Workspace, evidence: str) -> None:
    assert "Traceback" not in message
    assert str(space.warehouse) in message, message
    assert evidence in message, message
    assert "make rebuild" in message, message


@pytest.mark.parametrize("damage", DAMAGES)
def test_make_run_refuses_a_damaged_warehouse(space: Workspace, damage: str) -> None:
    evidence = DAMAGES[damage](space)
    files = {path: fingerprint(path) for path in (space.warehouse, space.snapshot)}
    runs = run_count(space)

    result = space.make_run()

    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert_told_to_rebuild(result.stderr, space, evidence)
    assert {path: fingerprint(path) for path in files} == files, "no file was created, changed or replaced"
    assert run_count(space) == runs


@pytest.mark.parametrize("damage", DAMAGES)
def test_make_dev_refuses_to_start_on_a_damaged_warehouse(space: Workspace, damage: str) -> None:
    evidence = DAMAGES[damage](space)
    files = {path: fingerprint(path) for path in (space.warehouse, space.snapshot)}
    dev = subprocess.Popen(
        ["make", "--no-print-directory", "dev"],
        cwd=REPO_ROOT,
        env={**space.env(), "DAGSTER_PORT": "3999"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = dev.communicate(timeout=120)
    finally:
        if dev.poll() is None:  # it started a server instead of refusing
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait()
    assert dev.returncode != 0, stdout + stderr
    assert "dagster" not in stdout.lower(), "make dev went on to start Dagster"
    assert_told_to_rebuild(stderr, space, evidence)
    assert {path: fingerprint(path) for path in files} == files


@pytest.mark.parametrize("damage", DAMAGES)
def test_the_sensor_reports_a_damaged_warehouse_and_requests_nothing(space: Workspace, damage: str) -> None:
    evidence = DAMAGES[damage](space)
    dump = min(space.raw_dir.glob("*.txt"))
    (space.raw_dir / "new.txt").write_bytes(dump.read_bytes() + b"\n")
    sensor = defs.resolve_sensor_def("raw_folder_sensor")
    papers = PapersResource(raw_dir=str(space.raw_dir), warehouse=str(space.warehouse))
    with (
        dg.DagsterInstance.from_config(str(space.dagster_home)) as instance,
        dg.build_sensor_context(
            instance=instance, resources={"papers": papers}, definitions=defs, sensor_name=sensor.name
        ) as context,
    ):
        data = sensor.evaluate_tick(context)
    assert not data.run_requests
    assert data.skip_message is not None
    assert_told_to_rebuild(data.skip_message, space, evidence)
    (space.raw_dir / "new.txt").unlink()


def test_a_daemon_launched_run_fails_with_the_message_and_creates_no_warehouse(space: Workspace) -> None:
    evidence = delete_warehouse_and_snapshot(space)
    first = sorted(path.name for path in space.raw_dir.iterdir())[0]
    request = ingest_request(first, first, reparse=True)
    job = defs.resolve_job_def(ingest_job.name)
    with dg.DagsterInstance.from_config(str(space.dagster_home)) as instance:
        result = job.execute_in_process(
            instance=instance,
            tags=request.tags,
            run_config={
                "resources": {"papers": {"config": {"raw_dir": str(space.raw_dir), "warehouse": str(space.warehouse)}}}
            },
            raise_on_error=False,
        )
    assert not result.success
    [reason] = failure_descriptions(result)
    assert_told_to_rebuild(reason, space, evidence)
    assert not space.warehouse.exists()
    assert not space.snapshot.exists()


def test_a_damaged_block_found_mid_run_fails_without_retry_and_points_to_rebuild(space: Workspace) -> None:
    with connect(space.warehouse) as con:
        tables = [
            f"{schema}.{name}"
            for schema, name in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
        ]
    size = space.warehouse.stat().st_size
    with space.warehouse.open("r+b") as handle:  # every data block after the first, checksums and all
        handle.seek(3 * 4096 + 262144)
        handle.write(os.urandom(size - handle.tell()))

    def read_everything() -> None:
        with connect(space.warehouse, read_only=True) as con:
            for table in tables:
                con.execute(f"select * from {table}").fetchall()  # noqa: S608

    with pytest.raises(dg.Failure) as failure, failure_policy(space.warehouse):
        read_everything()
    assert failure.value.allow_retries is False
    assert_told_to_rebuild(str(failure.value.description), space, "damaged")


@pytest.mark.parametrize("damage", ["deleted with its snapshot", "truncated"])
def test_make_rebuild_recovers_the_same_marts(space: Workspace, damage: str) -> None:
    before = table_contents(space.snapshot)
    DAMAGES[damage](space)

    rebuild = subprocess.run(
        [sys.executable, "-m", "orchestration.rebuild"],
        cwd=REPO_ROOT,
        env=space.env(),
        capture_output=True,
        text=True,
        check=False,
    )

    assert rebuild.returncode == 0, rebuild.stdout[-2000:] + rebuild.stderr[-3000:]
    assert table_contents(space.snapshot) == before
    assert space.make_run().returncode == 0
