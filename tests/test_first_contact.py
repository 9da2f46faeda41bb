"""A new user's first steps through ``make run``: an empty folder, a typo, an unwritable warehouse.

Each case checks the exit code, the message (it names the path or the variable, says what to
do, and shows no traceback) and what is left behind. Then the pieces under the message: the
retry policy of the assets, and a first dump with no code link in either format.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlalchemy.engine import URL

from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.load.warehouse import connect
from orchestration.run import failure_descriptions
from tests.conftest import MARTS, REPO_ROOT, Workspace, duckdb_lock_held
from tests.synthetic import Entry, SyntheticDump

RAW_TABLES = ("dumps", "paper_sightings", "paper_authors", "rejected_entries", "quarantined_dumps")


def dagster_runs(workspace: Workspace) -> int:
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        return len(instance.get_run_records())


def table_counts(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        names = [f"raw.{table}" for table in RAW_TABLES] + [f"main.{mart}" for mart in MARTS]
        return {name: con.execute(f"select count(*) from {name}").fetchone()[0] for name in names}  # type: ignore[index]  # noqa: S608


def assert_clear_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = result.stderr.strip()
    assert message.startswith("error: "), message
    assert len(message.splitlines()) == 1, message
    for needle in needles:
        assert needle in message, message


@contextlib.contextmanager
def unwritable_folder(path: Path) -> Iterator[Path]:
    """A folder that cannot be written, made the way this machine allows.

    As root, permissions don't stop writes, so the folder is a read-only tmpfs mount and the error
    comes from the real filesystem; as another user, the folder's mode is 0555.
    """
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root but cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.slow
def test_an_empty_raw_folder_builds_empty_marts_and_says_so(workspace: Workspace) -> None:
    first = workspace.make_run()
    assert first.returncode == 0, first.stderr[-4000:]
    assert f"Nothing to ingest yet: the raw folder {workspace.raw_dir} holds no dumps" in first.stdout
    assert "Traceback" not in first.stderr
    assert table_counts(workspace.snapshot) == dict.fromkeys(
        [f"raw.{table}" for table in RAW_TABLES] + [f"main.{mart}" for mart in MARTS], 0
    )

    # The next run (or the next morning's) has nothing to do, and still says why.
    before = workspace.snapshot.stat().st_mtime_ns
    again = workspace.make_run()
    assert again.returncode == 0, again.stderr[-4000:]
    assert "Nothing to ingest yet" in again.stdout
    assert workspace.snapshot.stat().st_mtime_ns == before


def test_a_raw_folder_that_does_not_exist_fails_before_any_work(workspace: Workspace, tmp_path: Path) -> None:
    typo = tmp_path / "rwa"
    result = workspace.make_run(env={"PAPERS_RAW_DIR": str(typo)})
    assert_clear_failure(result, "PAPERS_RAW_DIR", str(typo), "does not exist")
    assert not typo.exists()
    assert not workspace.warehouse.exists()
    assert dagster_runs(workspace) == 0


def test_a_relative_dagster_home_is_the_folder_it_names_from_where_the_command_runs(workspace: Workspace) -> None:
    relative = os.path.relpath(workspace.dagster_home / "history_here", REPO_ROOT)
    result = workspace.make_run("--check", env={"DAGSTER_HOME": relative})
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workspace.dagster_home / "history_here" / "dagster.yaml").is_file()


def test_a_warehouse_that_cannot_be_written_fails_at_once(workspace: Workspace, tmp_path: Path) -> None:
    with unwritable_folder(tmp_path / "locked") as folder:
        warehouse = folder / "papers.duckdb"
        result = workspace.make_run(env={"PAPERS_WAREHOUSE": str(warehouse)})
        assert_clear_failure(result, "PAPERS_WAREHOUSE", str(folder))
        assert ("Read-only file system" if os.geteuid() == 0 else "Permission denied") in result.stderr
        assert list(folder.iterdir()) == []
    assert dagster_runs(workspace) == 0


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("PAPERS_SENSOR_INTERVAL_SECONDS", "3o", "is not a number"),
        ("PAPERS_SENSOR_SETTLE_SECONDS", "-1", "must be at least 0"),
        ("PAPERS_SCHEDULE_CRON", "0 6 * *", "is not a cron schedule"),
        ("PAPERS_FETCH_CRON", "daily", "is not a cron schedule"),
        ("PAPERS_FETCH", "yes please", "is neither on nor off"),
    ],
)
def test_a_typo_in_a_number_setting_names_the_variable(
    workspace: Workspace, variable: str, value: str, needle: str
) -> None:
    result = workspace.make_run(env={variable: value})
    assert_clear_failure(result, variable, repr(value), needle)
    assert dagster_runs(workspace) == 0


def test_a_serve_url_that_is_not_postgresql_is_named_without_its_password(workspace: Workspace) -> None:
    hidden = secrets.token_hex(6)
    typo = URL.create("postgressql", "publisher", hidden, "db.example.org", None, "marts")
    result = workspace.make_run(env={"PAPERS_SERVE_URL": typo.render_as_string(hide_password=False)})
    assert_clear_failure(result, "PAPERS_SERVE_URL", "is not a PostgreSQL URL", "postgresql://USER@HOST:PORT/DATABASE")
    assert hidden not in result.stdout + result.stderr
    assert dagster_runs(workspace) == 0


def test_a_lock_held_by_another_writer_is_retried(tmp_path: Path) -> None:
    warehouse = tmp_path / "papers.duckdb"
    connect(warehouse).close()
    with duckdb_lock_held(warehouse), pytest.raises(dg.RetryRequested), failure_policy(warehouse):
        connect(warehouse)


@pytest.mark.parametrize("damage", ["not a database", "no folder"])
def test_permanent_warehouse_errors_fail_without_retry(tmp_path: Path, damage: str) -> None:
    if damage == "not a database":
        warehouse = tmp_path / "papers.duckdb"
        warehouse.write_bytes(b"this is not a DuckDB file\n" * 400)
        needles = [str(warehouse), "damaged", "make rebuild"]
    else:
        (tmp_path / "file").write_text("a file where a folder should be")
        warehouse = tmp_path / "file" / "papers.duckdb"
        needles = ["PAPERS_WAREHOUSE", str(tmp_path / "file"), "it is a file, not a folder"]
    with pytest.raises(dg.Failure) as failure, failure_policy(warehouse):
        connect(warehouse)
    assert failure.value.allow_retries is False
    for needle in needles:
        assert needle in str(failure.value.description)


def test_a_step_failure_reaches_the_user_as_one_message(workspace: Workspace, tmp_path: Path) -> None:
    """The assets under a sensor or schedule run, not only ``make run``'s pre-checks."""
    from orchestration.definitions import defs, ingest_job

    (tmp_path / "file").write_text("a file where a folder should be")
    job = defs.resolve_job_def(ingest_job.name)
    with dg.DagsterInstance.from_config(str(workspace.dagster_home)) as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("warehouse_snapshot")],
            run_config={"resources": {"papers": {"config": {"warehouse": str(tmp_path / "file" / "papers.duckdb")}}}},
            raise_on_error=False,
        )
        retries = [event for event in result.all_events if event.event_type_value == "STEP_UP_FOR_RETRY"]
    assert not result.success
    assert retries == []
    [reason] = failure_descriptions(result)
    assert "PAPERS_WAREHOUSE" in reason
    assert "it is a file, not a folder" in reason


def no_code_entries(page_date: dt.date, *, api: bool) -> tuple[Entry, ...]:
    return tuple(
        Entry(
            title=f"A Study of Topic {index} Without Released Code",
            abstract=f"We study topic {index} and report results on two benchmarks.",
            layout="A",
            arxiv_id=f"2603.{10000 + index}" if api else None,
            authors=(f"Author {index}a", f"Author {index}b") if api else (),
        )
        for index in range(4)
    )


@pytest.mark.slow
@pytest.mark.parametrize("source_format", ["api_json", "text"])
def test_a_first_dump_without_code_links_builds_every_mart(workspace: Workspace, source_format: str) -> None:
    day = dt.date(2026, 3, 20)
    dump = SyntheticDump(f"{day.isoformat()}.txt", day, no_code_entries(day, api=source_format == "api_json"))
    if source_format == "api_json":
        (workspace.raw_dir / dump.api_file_name).write_bytes(dump.render_api())
    else:
        (workspace.raw_dir / dump.file_name).write_bytes(dump.render())

    result = workspace.make_run()
    assert result.returncode == 0, result.stderr[-4000:]
    # Not a terminal: progress comes as plain lines.
    assert "dumps parsed and loaded: 1 of 1" in result.stderr.splitlines()
    assert any(line.startswith("dbt models and tests: ") for line in result.stderr.splitlines())
    counts = table_counts(workspace.snapshot)
    assert counts["main.papers"] == 4
    assert all(
        counts[f"main.{mart}"] > 0 for mart in MARTS if mart not in ("paper_authors", "code_release_rates_by_org")
    )
    assert counts["main.code_release_rates_by_org"] == 0  # no entry names an organisation
    assert counts["main.paper_authors"] == (8 if source_format == "api_json" else 0)
    with duckdb.connect(str(workspace.snapshot), read_only=True) as con:
        rows = con.execute("select code_status, code_source, count(*) from papers group by all").fetchall()
        rate = con.execute("select code_release_rate from code_release_rates where period = 'all'").fetchone()
    assert rows == [("none", None, 4)]
    assert rate == (0.0,)


def test_the_sensor_and_the_schedule_skip_a_missing_raw_folder_with_the_message(
    workspace: Workspace, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    from orchestration.definitions import defs

    typo = tmp_path / "rwa"
    papers = PapersResource(raw_dir=str(typo), warehouse=str(workspace.warehouse))
    sensor = defs.resolve_sensor_def("raw_folder_sensor")
    with dg.build_sensor_context(instance_ref=instance.get_ref(), resources={"papers": papers}) as context:
        tick = sensor.evaluate_tick(context)
    schedule = defs.resolve_schedule_def("daily_refresh")
    with dg.build_schedule_context(
        instance_ref=instance.get_ref(),
        resources={"papers": papers},
        scheduled_execution_time=dt.datetime(2026, 3, 1, 6, tzinfo=dt.UTC),
    ) as context:
        scheduled = schedule.evaluate_tick(context)
    for data in (tick, scheduled):
        assert not data.run_requests
        assert data.skip_message is not None
        assert "PAPERS_RAW_DIR" in data.skip_message
        assert str(typo) in data.skip_message
    assert not workspace.warehouse.exists()


def test_the_summary_reaches_a_pipe_when_python_buffers_its_output(built_workspace: Workspace) -> None:
    """``make run`` exits without the interpreter's teardown; what it printed must still be written."""
    result = built_workspace.make_run(unset={"PYTHONUNBUFFERED"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Nothing new in the raw folder; the warehouse is up to date." in result.stdout
    assert f"Warehouse:          {built_workspace.warehouse}" in result.stdout


def test_a_project_installed_without_its_dbt_environment_says_to_run_make_setup(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Installed by hand (``uv sync``, ``pip install -e .``), the project has no ``.venv/dbt``."""
    missing = tmp_path / "no-dbt" / "bin" / "dbt"
    driver = (
        "import runpy, orchestration.defs.dbt_project as project;"
        f"project.DBT_EXECUTABLE = {str(missing)!r};"
        "runpy.run_module('orchestration.run', run_name='__main__')"
    )
    result = workspace.python("-c", driver)
    assert_clear_failure(result, str(missing), "make setup")
    assert not workspace.warehouse.exists()
    assert dagster_runs(workspace) == 0
