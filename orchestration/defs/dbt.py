"""The dbt project as Dagster assets, and the read snapshot published after it builds."""

import hashlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from packaging import version

from orchestration import progress
from orchestration.defs.ingestion import SIGHTINGS_KEY, WRITTEN_WITH_SIGHTINGS
from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.load.snapshot import publish_snapshot, record_build
from orchestration.load.warehouse import connect, writer_lock
from orchestration.settings import DBT_PROJECT_DIR, Settings

RATES_MODEL = "code_release_rates"
# The dbt installed next to this interpreter, so an unactivated virtualenv works too.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))
DIGEST_FILE = "project_digest.txt"


def project_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Hash of the dbt project's source files: tells when the manifest or the marts are stale."""
    digest = hashlib.sha256()
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_file() and relative.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def ensure_manifest(project: DbtProject) -> None:
    """Run ``dbt parse`` only when the project's files changed since the last parse.

    A fresh clone gets its manifest on first load; later code-location reloads
    reuse it, so no reload pays for dbt's start-up.
    """
    target = project.project_dir / project.target_path
    stamp = target / DIGEST_FILE
    digest = project_digest(project.project_dir)
    if project.manifest_path.exists() and stamp.exists() and stamp.read_text() == digest:
        return
    # Processes starting together (a webserver and a daemon, parallel tests) parse once, in turn.
    with writer_lock(target / "parse.lock"):
        if project.manifest_path.exists() and stamp.exists() and stamp.read_text() == digest:
            return
        DbtCliResource(project_dir=project, dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", "--quiet"], target_path=project.target_path
        ).wait()
        stamp.write_text(digest)


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two set-up steps it takes before every dbt command.

    Before each invocation ``DbtCliResource`` runs ``dbt --version`` in a subprocess (about 3.5 s
    here) and builds an in-process dbt adapter (about 3 s) that only its row-count and
    column-metadata helpers use. The dbt it runs is the dbt-core installed next to this
    interpreter, and this project uses neither helper, so the version comes from the package
    metadata and no adapter is built. Dropping this class costs those 6-7 s per run, nothing
    else; ``tests/test_dbt_resource.py`` fails, naming the dagster-dbt version, if either hook
    of dagster-dbt changes.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]  # no adapter
        return None


DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR)
# dbt keys partial parsing on the rendered profile: parse and build must see the same absolute
# warehouse path, or every build re-parses the whole project.
os.environ["PAPERS_WAREHOUSE"] = str(Settings.from_env().warehouse)
ensure_manifest(DBT_PROJECT)


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
    # dbt runs as a subprocess and reads the warehouse path from its environment.
    os.environ["PAPERS_WAREHOUSE"] = str(settings.warehouse)
    held: list[dg.Output[Any]] = []
    with failure_policy(settings.warehouse), writer_lock(settings.writer_lock):
        # The raw tables exist even before the first dump arrives, so an empty folder builds empty marts.
        connect(settings.warehouse).close()
        # Unit tests check model logic, not data: `make test` runs them; scheduled runs skip them.
        # Builds of one warehouse never overlap (writer lock), so they share one target folder and
        # its partial-parse state; builds of other warehouses keep theirs apart.
        invocation = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test"], context=context, target_path=settings.dbt_target
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
