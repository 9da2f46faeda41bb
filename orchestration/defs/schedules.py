"""The daily refresh, and the same plan for ``make run``: ingest what isn't loaded, rebuild."""

import dagster as dg

from orchestration.defs.dbt import dbt_models, project_digest, warehouse_snapshot
from orchestration.defs.ingestion import DUMPS, DUMPS_NAME
from orchestration.defs.resources import PapersResource
from orchestration.defs.sensors import INGEST_JOB_NAME
from orchestration.ingest import scan_raw_dir, sha256_file
from orchestration.settings import Settings, SettingsError
from orchestration.warehouse import snapshot_state

BUILD_KEYS = [*dbt_models.keys, warehouse_snapshot.key]


def plan_refresh(settings: Settings, instance: dg.DagsterInstance, *, always_build: bool) -> list[dg.RunRequest]:
    """Runs that bring the warehouse up to date with the raw folder.

    Files whose content isn't in the published snapshot are registered as
    partitions and ingested in one run over the partition range that spans them
    (files in between that are already loaded are no-ops). With nothing to
    ingest, the marts are rebuilt when ``always_build`` is set or when the dbt
    project changed since the last build.
    """
    loaded, built_digest = snapshot_state(settings.read_snapshot)
    pending = []
    for raw_file in scan_raw_dir(settings.raw_dir).files:
        try:
            digest = sha256_file(raw_file.path)
        except OSError:
            continue  # unreadable right now (permissions, deleted mid-scan): the sensor reports it
        if digest != loaded.get(raw_file.name):
            pending.append(raw_file.name)
    known = DUMPS.get_partition_keys(dynamic_partitions_store=instance)
    fresh = sorted(set(pending) - set(known))
    if fresh:
        instance.add_dynamic_partitions(DUMPS_NAME, fresh)
        known = [*known, *fresh]
    if pending:
        order = {name: index for index, name in enumerate(known)}
        ordered = sorted(pending, key=order.__getitem__)
        return [
            dg.RunRequest(
                tags={
                    "dagster/asset_partition_range_start": ordered[0],
                    "dagster/asset_partition_range_end": ordered[-1],
                }
            )
        ]
    if always_build or built_digest != project_digest():
        return [dg.RunRequest(asset_selection=BUILD_KEYS)]
    return []


def build_daily_schedule(cron: str) -> dg.ScheduleDefinition:
    try:
        return _daily_schedule(cron)
    except dg.DagsterInvalidDefinitionError:
        raise SettingsError(
            f"PAPERS_SCHEDULE_CRON={cron!r} is not a cron schedule of 5 fields (minute hour day month weekday); "
            "unset it to use the default, '0 6 * * *'."
        ) from None


def _daily_schedule(cron: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_refresh",
        cron_schedule=cron,
        execution_timezone="UTC",
        job_name=INGEST_JOB_NAME,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Ingests any dump not yet loaded and rebuilds the marts, even if the sensor was off.",
    )
    def daily_refresh(
        context: dg.ScheduleEvaluationContext, papers: PapersResource
    ) -> list[dg.RunRequest] | dg.SkipReason:
        settings = papers.settings()
        try:
            settings.check_raw_dir()
        except SettingsError as error:
            return dg.SkipReason(str(error))
        return plan_refresh(settings, context.instance, always_build=True)

    return daily_refresh
