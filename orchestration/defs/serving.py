"""The served marts: the read snapshot's marts published to PostgreSQL when ``PAPERS_SERVE_URL`` is set."""

import dagster as dg

from orchestration.defs.dbt import FOLLOW_RERUNS, warehouse_snapshot
from orchestration.defs.dbt_project import mart_keys
from orchestration.defs.resources import PapersResource
from orchestration.load.serve import READER_ROLE, SCHEMA, ServeError, publish_marts, served_build, snapshot_build
from orchestration.settings import Settings

SERVED_KEY = dg.AssetKey("served_marts")


@dg.asset(
    key=SERVED_KEY,
    deps=[warehouse_snapshot],
    group_name="publish",
    kinds={"postgres"},
    automation_condition=FOLLOW_RERUNS,
    description=f"The marts served from PostgreSQL (PAPERS_SERVE_URL), schema {SCHEMA}, readable by the role"
    f" {READER_ROLE}; brought up to date in one transaction after every build (see orchestration/load/serve.py).",
)
def served_marts(context: dg.AssetExecutionContext, papers: PapersResource) -> dg.MaterializeResult[None]:
    settings = papers.settings()
    if not settings.serve_url:
        raise dg.Failure(
            description="PAPERS_SERVE_URL is not set: set it to the PostgreSQL database that serves the marts.",
            allow_retries=False,
        )
    try:
        published = publish_marts(settings.read_snapshot, settings.serve_url, keys=mart_keys())
    except ServeError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    context.log.info(
        f"Served {len(published.rows)} marts in schema {SCHEMA} on {published.server}"
        f" ({published.mode}: {sum(published.copied.values())} rows written)"
    )
    return dg.MaterializeResult(
        metadata={
            "server": published.server,
            "schema": SCHEMA,
            "reader_role": READER_ROLE,
            "rows": dg.MetadataValue.json(published.rows),
            "publish": published.mode,
            "rows_written": dg.MetadataValue.json(published.copied),
            "built_at": published.build,
            "seconds": dg.MetadataValue.float(round(published.seconds, 3)),
        }
    )


def served_copy_is_behind(settings: Settings) -> bool:
    """Whether the served copy (if one is wanted) lacks the snapshot's build; unreachable counts as behind."""
    if not settings.serve_url or not settings.read_snapshot.exists():
        return False
    try:
        return served_build(settings.serve_url) != snapshot_build(settings.read_snapshot)
    except ServeError:
        return True  # the run that publishes says what is wrong
