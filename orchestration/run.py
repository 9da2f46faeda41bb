"""``make run``: bring the warehouse up to date through Dagster, then print a summary.

Runs in this process against the project's Dagster instance (``DAGSTER_HOME``), so
the runs appear in the UI's history like any sensor or schedule run. With no new
or changed dumps and an unchanged dbt project it launches nothing.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import os
import sys
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, NoReturn

import dagster as dg
import duckdb

from orchestration import progress
from orchestration.instance import prepare_environment
from orchestration.load.ingest import DumpState
from orchestration.load.serve import SCHEMA, server_label
from orchestration.load.warehouse import WarehouseError, check_writable
from orchestration.parse import contract
from orchestration.settings import Settings, SettingsError

if TYPE_CHECKING:
    from orchestration.defs.schedules import RefreshPlan

FAILURE_TAIL = 6000  # characters of dbt's output shown when a run fails
# Step-by-step logs stay in the run's history (make dev); the terminal gets warnings only.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


FRESH_STATES: tuple[DumpState, ...] = ("new", "changed")


def describe(plan: RefreshPlan) -> str:
    """What the runs of ``plan`` are about to do, in one line."""
    first = plan.requests[0].tags.get("dagster/asset_partition_range_start")
    if first is None:
        from orchestration.defs.serving import SERVED_KEY  # imported with the definitions, after the checks

        if plan.requests[0].asset_selection == [SERVED_KEY]:
            return "Publishing the marts to PostgreSQL (PAPERS_SERVE_URL)..."
        return "Rebuilding the dbt models, the read snapshot and the report..."
    if plan.count("rerun"):
        what = f"Re-parsing {plan.count('rerun')} dump(s) as asked and replacing their rows"
    else:
        fresh = " and ".join(f"{plan.count(state)} {state}" for state in FRESH_STATES if plan.count(state))
        parts = [f"ingesting {fresh} dump(s)"] if fresh else []
        if plan.count("outdated"):
            parts.append(
                f"re-parsing {plan.count('outdated')} dump(s) read by an older parser"
                f" (now version {contract.PARSER_VERSION})"
            )
        what = " and ".join(parts)
        what = what[0].upper() + what[1:]
    runs = "one Dagster run" if len(plan.requests) == 1 else f"{len(plan.requests)} Dagster runs"
    return f"{what} in {runs}, then building the dbt models..."


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description="Bring the warehouse up to date with the raw folder.")
    parser.add_argument(
        "--dumps",
        default="",
        help="re-parse these dump files (names in the raw folder, separated by spaces or commas; 'all' for every one)"
        " and replace their rows, whether or not they changed",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check the settings and the warehouse (as `make dev` does before it starts), then exit",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        settings.check_raw_dir()
        check_writable(settings.warehouse)
    except (SettingsError, WarehouseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from orchestration.defs.dbt_project import DBT_PROJECT, DbtNotInstalled  # dagster-dbt loads after the checks

    try:
        DBT_PROJECT.preparer.prepare(DBT_PROJECT)  # outside `dagster dev`, the definitions need it done first
        from orchestration.definitions import defs, ingest_job  # checks the schedules' settings
    except (SettingsError, WarehouseError, DbtNotInstalled) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from orchestration.defs.ingestion import check_warehouse, given_up_dumps
    from orchestration.defs.schedules import plan_refresh, plan_rerun

    prepare_environment(os.environ)  # DAGSTER_HOME and Dagster's event settings, unless set
    job = defs.resolve_job_def(ingest_job.name)
    selection = args.dumps.replace(",", " ").split()
    with dg.DagsterInstance.get() as instance:
        try:
            check_warehouse(settings, instance)
        except WarehouseError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.check:
            return 0
        try:
            if selection:
                plan = plan_rerun(settings, instance, selection)
            else:
                plan = plan_refresh(settings, instance, always_build=False)
        except SettingsError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        given_up = given_up_dumps(instance)
        if given_up and plan.requests:
            print(
                f"The sensor gave up on {len(given_up)} dump(s) after repeated failed runs"
                f" ({', '.join(sorted(given_up))}); this run tries them again.",
                flush=True,
            )
        if plan.requests:
            print(describe(plan), flush=True)
        for request in plan.requests:
            # dagster-dbt echoes dbt's log to stdout; keep it for a failure, not for the summary. Dagster's
            # own warnings are shown after the run, or, if it failed for a reason the user can fix,
            # replaced by that reason alone.
            echoed, logged = io.StringIO(), io.StringIO()
            with progress.to_stream(sys.stderr), contextlib.redirect_stdout(echoed), contextlib.redirect_stderr(logged):
                result = job.execute_in_process(
                    instance=instance,
                    tags=request.tags,
                    asset_selection=request.asset_selection,
                    run_config=QUIET,
                    raise_on_error=False,
                )
            reasons = failure_descriptions(result)
            if not reasons:
                print(logged.getvalue(), end="", file=sys.stderr)
            if not result.success:
                # A failure the user can fix carries its own message; anything else shows dbt's log.
                print(
                    "\n".join(f"error: {reason}" for reason in reasons) or echoed.getvalue()[-FAILURE_TAIL:],
                    file=sys.stderr,
                )
                print(
                    f"run {result.run_id} failed; see the Dagster UI (make dev) for the logs",
                    file=sys.stderr,
                )
                return 1
        given_up = given_up_dumps(instance)
    if not plan.dumps:
        print(
            f"Nothing to ingest yet: the raw folder {settings.raw_dir} holds no dumps. The raw tables and the marts"
            " exist and are empty; drop *.txt or *.json dumps there and run again."
        )
    elif not plan.requests:
        print("Nothing new in the raw folder; the warehouse is up to date.")
    print(summary(settings, given_up))
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


def summary(settings: Settings, given_up: Collection[str] = ()) -> str:
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
    url = settings.serve_url
    served = [f"Served marts:       schema {SCHEMA} on {server_label(url)}"] if url else []
    return "\n".join(
        [
            f"Warehouse:          {settings.warehouse}",
            f"Read snapshot:      {settings.read_snapshot}",
            f"Report:             {settings.report if settings.report.exists() else 'not built yet'}",
            f"Dumps loaded:       {dumps}",
            f"Papers:             {papers}",
            f"Rejected entries:   {rejected}",
            f"Quarantined files:  {quarantined}",
            f"Code-release rate:  {rate_text}",
            f"Given up by sensor: {', '.join(sorted(given_up)) or 'none'}",
            *served,
        ]
    )


def exit_without_teardown(code: int) -> NoReturn:
    """Exit once the work is done, skipping the interpreter's own teardown.

    With Dagster and Polars loaded, Python spends about 1.3 s after the summary freeing some
    2,000 modules one object at a time. What must happen at exit still does: other threads are
    joined, the ``atexit`` handlers run (logging's flush among them), and stdout and stderr are
    flushed; only the freeing is left to the operating system.
    """
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
