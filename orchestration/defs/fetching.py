"""The daily fetch from the Hugging Face API: an asset upstream of the raw folder, its job and schedule.

The asset only writes new dump files into the raw folder (see ``orchestration.fetch``); the
drop-folder sensor ingests them like any other dump, so there is one way into the warehouse.
The schedule is off unless ``PAPERS_FETCH=1``: a fresh clone runs with no network.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg

from orchestration.defs.resources import PapersResource
from orchestration.fetch import ENDPOINT, OUTCOMES, DailyPapersClient, DayResult, FetchConfig, fetch_days, window
from orchestration.settings import SettingsError

FETCH_KEY = dg.AssetKey(["raw", "api_fetch"])
FETCH_JOB_NAME = "fetch_job"
CHECK_WINDOW = dg.AssetCheckSpec(
    "window_complete",
    asset=FETCH_KEY,
    description="Every day of the fetch window has a dump in the raw folder after the fetch.",
)


@dg.asset(
    key=FETCH_KEY,
    group_name="ingestion",
    kinds={"http"},
    check_specs=[CHECK_WINDOW],
    description=f"Saves {ENDPOINT}?date=YYYY-MM-DD for each recent day with no dump yet as raw/YYYY-MM-DD.json.",
)
def api_fetch(context: dg.AssetExecutionContext, papers: PapersResource) -> Iterator[Any]:
    settings = papers.settings()
    try:
        settings.check_raw_dir()
    except SettingsError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    today = dt.datetime.now(dt.UTC).date()
    days = window(today, settings.fetch_days)

    def log(result: DayResult) -> None:
        (context.log.warning if result.outcome == "failed" else context.log.info)(result.describe())

    with DailyPapersClient(FetchConfig.from_settings(settings)) as client:
        report = fetch_days(settings.raw_dir, days, client, today=today, on_result=log)
    context.log.info(report.summary())
    yield dg.MaterializeResult(
        metadata={
            **{f"days_{outcome}": report.count(outcome) for outcome in OUTCOMES},
            "requests": report.requests,
            "window": f"{days[0]} .. {days[-1]}",
            "saved": [r.file for r in report.results if r.outcome in ("fetched", "empty")],
            "failures": {r.day.isoformat(): r.reason for r in report.results if r.outcome == "failed"},
            "base_url": settings.fetch_base_url,
        }
    )
    yield dg.AssetCheckResult(
        check_name=CHECK_WINDOW.name,
        passed=not report.missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_days": report.missing},
    )


fetch_job = dg.define_asset_job(
    FETCH_JOB_NAME, selection=[FETCH_KEY], description="Fetch recent days from the Hugging Face API."
)


def build_fetch_schedule(cron: str, *, enabled: bool) -> dg.ScheduleDefinition:
    try:
        return dg.ScheduleDefinition(
            name="daily_fetch",
            job=fetch_job,
            cron_schedule=cron,
            execution_timezone="UTC",
            default_status=dg.DefaultScheduleStatus.RUNNING if enabled else dg.DefaultScheduleStatus.STOPPED,
            description="Fetches the days of the window that have no dump yet (PAPERS_FETCH=1 turns it on).",
        )
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(
            f"PAPERS_FETCH_CRON={cron!r} is not a cron schedule of 5 fields (minute hour day month weekday); "
            "unset it to use the default, '0 5 * * *'."
        ) from None
