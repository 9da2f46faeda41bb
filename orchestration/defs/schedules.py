"""The daily refresh, and the same plan for ``make run``: ingest what isn't loaded, rebuild."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import sqlalchemy.exc

from orchestration.defs.dbt import dbt_models, warehouse_snapshot
from orchestration.defs.dbt_project import project_digest
from orchestration.defs.ingestion import DUMPS, DUMPS_NAME, SIGHTINGS_KEY, ingest_request
from orchestration.defs.report import warehouse_report
from orchestration.defs.resources import PapersResource
from orchestration.defs.sensors import INGEST_JOB_NAME, cannot_plan
from orchestration.defs.serving import SERVED_KEY, served_copy_is_behind
from orchestration.load.ingest import DumpState, not_loaded, scan_raw_dir
from orchestration.load.snapshot import snapshot_state
from orchestration.settings import Settings, SettingsError

REGISTER_ATTEMPTS = 5
BUILD_KEYS = [*dbt_models.keys, warehouse_snapshot.key, warehouse_report.key]


def build_keys(settings: Settings) -> list[dg.AssetKey]:
    """The assets a rebuild without ingestion materializes: the dbt models and all they publish."""
    return [*BUILD_KEYS, SERVED_KEY] if settings.serve_url else BUILD_KEYS


@dataclass(frozen=True)
class RefreshPlan:
    """The runs that bring the warehouse up to date, and why: each pending file's state."""

    requests: list[dg.RunRequest]
    pending: dict[str, DumpState] = field(default_factory=dict)
    dumps: int = 0  # dump files in the raw folder when the plan was made

    def count(self, state: DumpState) -> int:
        return sum(1 for value in self.pending.values() if value == state)


def register_partitions(instance: dg.DagsterInstance, names: Iterable[str]) -> Sequence[str]:
    """Register ``names`` as dump partitions; return every partition key, in registration order.

    Dagster reads which keys exist and then inserts the rest, so two processes registering the
    same new files at once (two ``make run``, or one beside the sensor) can collide on the
    table's unique key. The loser's keys are then registered already: read them again.
    """
    for _ in range(REGISTER_ATTEMPTS):
        known = DUMPS.get_partition_keys(dynamic_partitions_store=instance)
        fresh = sorted(set(names) - set(known))
        if not fresh:
            return known
        try:
            instance.add_dynamic_partitions(DUMPS_NAME, fresh)
        except sqlalchemy.exc.IntegrityError:
            continue
        return [*known, *fresh]
    return DUMPS.get_partition_keys(dynamic_partitions_store=instance)


def plan_refresh(settings: Settings, instance: dg.DagsterInstance, *, always_build: bool) -> RefreshPlan:
    """Runs that bring the warehouse up to date with the raw folder.

    Files whose content the published snapshot lacks, or holds as read by an older parser
    version, are registered as partitions and ingested in one run over the partition range
    that spans them (files in between that are already loaded are skipped unparsed). With
    nothing to ingest, the marts are rebuilt when ``always_build`` is set or when the dbt
    project changed since the last build, and only published when the served copy is behind.
    """
    loaded, built_digest = snapshot_state(settings.read_snapshot)
    files = scan_raw_dir(settings.raw_dir).files
    # A file that cannot be read right now (permissions, deleted mid-scan) waits; the sensor reports it.
    pending = not_loaded(files, loaded).pending
    known = register_partitions(instance, pending)
    if pending:
        order = {name: index for index, name in enumerate(known)}
        ordered = sorted(pending, key=order.__getitem__)
        return RefreshPlan([ingest_request(ordered[0], ordered[-1])], pending, len(files))
    if always_build or built_digest != project_digest():
        return RefreshPlan([dg.RunRequest(asset_selection=build_keys(settings))], dumps=len(files))
    if served_copy_is_behind(settings):
        return RefreshPlan([dg.RunRequest(asset_selection=[SERVED_KEY])], dumps=len(files))
    return RefreshPlan([], dumps=len(files))


def plan_rerun(settings: Settings, instance: dg.DagsterInstance, names: Sequence[str]) -> RefreshPlan:
    """Runs that re-parse the named dumps (all of them for ``["all"]``) and then rebuild the marts.

    Each stretch of consecutive partitions is one ingest run over its range, so dumps that were
    not asked for are never re-parsed; a single stretch is one run of the whole job.
    """
    present = [raw_file.name for raw_file in scan_raw_dir(settings.raw_dir).files]
    chosen = present if list(names) == ["all"] else list(dict.fromkeys(names))
    unknown = sorted(set(chosen) - set(present))
    if unknown:
        raise SettingsError(
            f"DUMPS: {', '.join(map(repr, unknown))} not in the raw folder {settings.raw_dir}; "
            "name dump files there (as in `ls`), or DUMPS=all."
        )
    known = register_partitions(instance, chosen)
    wanted = set(chosen)
    stretches: list[list[str]] = []
    for index, name in enumerate(known):
        if name in wanted:
            if stretches and known[index - 1] == stretches[-1][-1]:
                stretches[-1].append(name)
            else:
                stretches.append([name])
    pending: dict[str, DumpState] = dict.fromkeys(chosen, "rerun")
    if len(stretches) == 1:
        return RefreshPlan([ingest_request(stretches[0][0], stretches[0][-1], reparse=True)], pending, len(present))
    ingest_only = [ingest_request(run[0], run[-1], reparse=True, asset_selection=[SIGHTINGS_KEY]) for run in stretches]
    return RefreshPlan([*ingest_only, dg.RunRequest(asset_selection=build_keys(settings))], pending, len(present))


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
        if refusal := cannot_plan(settings, context):
            return refusal
        return plan_refresh(settings, context.instance, always_build=True).requests

    return daily_refresh
