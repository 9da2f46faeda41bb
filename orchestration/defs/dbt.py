"""The dbt project as Dagster assets, and the read snapshot published after it builds.

Importing this module needs a current manifest: see ``orchestration/defs/dbt_project.py``.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject, dbt_assets

from orchestration import progress
from orchestration.defs.dbt_project import DBT_PROJECT, DbtCli, project_digest, warehouse_vars
from orchestration.defs.ingestion import SIGHTINGS_KEY, WRITTEN_WITH_SIGHTINGS
from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.load.snapshot import built_digest, publish_snapshot, record_build
from orchestration.load.warehouse import connect, writer_lock

RATES_MODEL = "code_release_rates"


# A run that re-parsed dumps without the assets below them (a rerun of raw/paper_sightings alone,
# from its asset page) leaves the marts behind: rebuild them and the snapshot once it is done.
# Runs that build them anyway (the sensor's, the schedule's, a backfill with downstream assets)
# don't count as updates here, and nothing is requested while they are in progress.
FOLLOW_RERUNS = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after a rerun that left it behind")


WRITTEN_WITH_SIGHTINGS_KEYS = {spec.key for spec in WRITTEN_WITH_SIGHTINGS}


class Translator(DagsterDbtTranslator):
    """Staging and marts become asset groups named after their folder, and follow reruns."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        return str(fqn[1]) if len(fqn) > 2 else "dbt"

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> dg.AutomationCondition[Any] | None:
        return FOLLOW_RERUNS

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> dg.AssetSpec:
        """Staging views over the tables written with ``raw/paper_sightings`` also depend on it.

        They are written by the same step, so a rerun of several dump ranges (several runs of one
        backfill) keeps every view waiting until the last run is done (``any_deps_in_progress``),
        and the marts follow once, in one run, instead of in pieces.
        """
        spec = super().get_asset_spec(manifest, unique_id, project)
        if {dep.asset_key for dep in spec.deps} & WRITTEN_WITH_SIGHTINGS_KEYS:
            return spec.merge_attributes(deps=[SIGHTINGS_KEY])
        return spec


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=Translator(),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCli, papers: PapersResource) -> Iterator[Any]:
    settings = papers.settings()
    held: list[dg.Output[Any]] = []
    with failure_policy(settings.warehouse), writer_lock(settings.writer_lock):
        # The raw tables exist even before the first dump arrives, so an empty folder builds empty marts.
        with connect(settings.warehouse) as con:
            built_by = built_digest(con)
        # Incremental marts (papers) are built whole when the dbt project changed since they were built.
        refresh = [] if built_by == project_digest() else ["--full-refresh"]
        # Unit tests check model logic, not data: `make test` runs them; scheduled runs skip them.
        # Builds of one warehouse never overlap (writer lock), so they share one target folder and
        # its partial-parse state; builds of other warehouses keep theirs apart.
        invocation = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test", *refresh, *warehouse_vars(settings.warehouse)],
            context=context,
            target_path=settings.dbt_target,
        )
        nodes = len(context.selected_asset_keys) + len(context.selected_asset_check_keys)
        done = 0
        for event in invocation.stream():
            if isinstance(event, dg.Output | dg.AssetMaterialization | dg.AssetCheckResult):
                done += 1
                progress.report("dbt models and tests", done, nodes)
            if isinstance(event, dg.Output) and event.output_name == RATES_MODEL:
                held.append(event)
            else:
                yield event
        if held:
            with connect(settings.warehouse) as con:
                row = con.execute(
                    f"select code_release_rate, n_papers from main.{RATES_MODEL} where period = 'all'"  # noqa: S608
                ).fetchone()
    for event in held:
        rate, papers_count = row if row else (None, 0)
        yield event.with_metadata(
            {
                **event.metadata,
                "overall_code_release_rate": dg.MetadataValue.float(float(rate or 0.0)),
                "papers": dg.MetadataValue.int(int(papers_count)),
            }
        )


@dg.asset(
    key="warehouse_snapshot",
    deps=list(dbt_models.keys),
    group_name="publish",
    kinds={"duckdb"},
    automation_condition=FOLLOW_RERUNS,
    description="Read-only copy of the warehouse that SQL clients open; swapped in atomically.",
)
def warehouse_snapshot(papers: PapersResource) -> dg.MaterializeResult[None]:
    settings = papers.settings()
    with failure_policy(settings.warehouse), writer_lock(settings.writer_lock), connect(settings.warehouse) as con:
        record_build(con, project_digest())
        publish_snapshot(con, settings.warehouse, settings.read_snapshot)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.read_snapshot)),
            "size_bytes": settings.read_snapshot.stat().st_size,
        }
    )
