"""``make run``: bring the warehouse up to date through Dagster, then print a summary.

Runs in this process against the project's Dagster instance (``DAGSTER_HOME``), so
the runs appear in the UI's history like any sensor or schedule run. With no new
or changed dumps and an unchanged dbt project it launches nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.ingest import scan_raw_dir
from orchestration.instance import install_instance_config
from orchestration.settings import REPO_ROOT, Settings, SettingsError
from orchestration.warehouse import WarehouseError, check_writable

# One "planned" event per asset for a partition-range run instead of one per partition: on SQLite
# the per-partition events took minutes for a ten-year backfill. Dagster's trade-off: partitions
# of a failed run are not marked failed; the raw.dumps ledger still says what loaded.
SINGLE_PLANNED_EVENT = ("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")
# The per-partition materializations go to the event log in batches (orchestration/event_storage.py).
EVENT_BATCHES = ("DAGSTER_EVENT_BATCH_SIZE", "1000")
FAILURE_TAIL = 6000  # characters of dbt's output shown when a run fails
# Step-by-step logs stay in the run's history (make dev); the terminal gets warnings only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ensure_dagster_home() -> None:
    """Default DAGSTER_HOME to the repo's git-ignored folder (history survives restarts), install the
    project's instance settings there, and default Dagster's event-writing variables as make does."""
    os.environ.setdefault(*SINGLE_PLANNED_EVENT)
    os.environ.setdefault(*EVENT_BATCHES)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / ".dagster_home")))
    install_instance_config(home)


def describe(request: dg.RunRequest) -> str:
    start = request.tags.get("dagster/asset_partition_range_start")
    if start is None:
        return "Rebuilding the dbt models and the read snapshot..."
    end = request.tags["dagster/asset_partition_range_end"]
    span = start if start == end else f"{start} .. {end}"
    return f"Ingesting {span} in one Dagster run, then building the dbt models..."


def main() -> int:
    try:
        settings = Settings.from_env()
        settings.check_raw_dir()
        check_writable(settings.warehouse)
        from orchestration.definitions import defs, ingest_job  # reads the schedule's setting
    except (SettingsError, WarehouseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from orchestration.defs.schedules import plan_refresh

    ensure_dagster_home()
    job = defs.resolve_job_def(ingest_job.name)
    with dg.DagsterInstance.get() as instance:
        requests = plan_refresh(settings, instance, always_build=False)
        for request in requests:
            print(describe(request), flush=True)
            # dagster-dbt echoes dbt's log to stdout; keep it for a failure, not for the summary.
            echoed = io.StringIO()
            with contextlib.redirect_stdout(echoed):
                result = job.execute_in_process(
                    instance=instance,
                    tags=request.tags,
                    asset_selection=request.asset_selection,
                    run_config=QUIET,
                    raise_on_error=False,
                )
            if not result.success:
                # A failure the user can fix carries its own message; anything else shows dbt's log.
                reasons = failure_descriptions(result)
                print(
                    "\n".join(f"error: {reason}" for reason in reasons) or echoed.getvalue()[-FAILURE_TAIL:],
                    file=sys.stderr,
                )
                print(
                    f"run {result.run_id} failed; see the Dagster UI (make dev) for the logs",
                    file=sys.stderr,
                )
                return 1
    if not scan_raw_dir(settings.raw_dir).files:
        print(
            f"Nothing to ingest yet: the raw folder {settings.raw_dir} holds no dumps. The raw tables and the marts"
            " exist and are empty; drop *.txt or *.json dumps there and run again."
        )
    elif not requests:
        print("Nothing new in the raw folder; the warehouse is up to date.")
    print(summary(settings))
    return 0


def failure_descriptions(result: dg.ExecuteInProcessResult) -> list[str]:
    """The messages of the run's ``dg.Failure``s: problems a user can fix, explained without a traceback."""
    return [
        event.step_failure_data.user_failure_data.description
        for event in result.all_events
        if event.is_step_failure
        and event.step_failure_data.user_failure_data is not None
        and event.step_failure_data.user_failure_data.description
    ]


def summary(settings: Settings) -> str:
    with duckdb.connect(str(settings.read_snapshot), read_only=True) as con:
        dumps, rejected, quarantined = con.execute(
            """
            select
                (select count(*) from raw.dumps where is_current and duplicate_of is null),
                (select count(*) from raw.rejected_entries),
                (select count(distinct dump_file) from raw.quarantined_dumps)
            """
        ).fetchone() or (0, 0, 0)
        papers, rate = con.execute(
            "select n_papers, code_release_rate from main.code_release_rates where period = 'all'"
        ).fetchone() or (0, None)
    rate_text = "n/a" if rate is None else f"{rate:.1%}"
    return "\n".join(
        [
            f"Warehouse:          {settings.warehouse}",
            f"Read snapshot:      {settings.read_snapshot}",
            f"Dumps loaded:       {dumps}",
            f"Papers:             {papers}",
            f"Rejected entries:   {rejected}",
            f"Quarantined files:  {quarantined}",
            f"Code-release rate:  {rate_text}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
