"""Dump files -> ``raw.paper_sightings``: one dynamic partition per file in the raw folder."""

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.ingest import IngestReport, ingest
from orchestration.settings import Settings
from orchestration.warehouse import connect, writer_lock

DUMPS_NAME = "dumps"
DUMPS = dg.DynamicPartitionsDefinition(name=DUMPS_NAME)

DUMP_FILES = dg.AssetSpec(
    key=["raw", "dump_files"],
    description="Daily Papers text dumps dropped into the raw folder (never modified by the pipeline).",
    partitions_def=DUMPS,
    group_name="ingestion",
    kinds={"file"},
)
SIGHTINGS_KEY = dg.AssetKey(["raw", "paper_sightings"])
CHECK_NOT_EMPTY = dg.AssetCheckSpec(
    "no_empty_dumps", asset=SIGHTINGS_KEY, description="No dump loaded with zero entries."
)
CHECK_REJECTS = dg.AssetCheckSpec(
    "rejects_below_5_percent",
    asset=SIGHTINGS_KEY,
    description="Rejected entries stay below 5% of each dump.",
)
CHECK_QUARANTINE = dg.AssetCheckSpec(
    "no_quarantined_dumps",
    asset=SIGHTINGS_KEY,
    description="Every file of the run could be read as a dump.",
)
REJECT_SHARE_LIMIT = 0.05

RAW_TABLES = {
    "paper_sightings": "Parsed paper entries: one row per entry per dump (current file versions only).",
    "dumps": "The ledger: one row per loaded file version, with counts and which version is current.",
    "rejected_entries": "Entries that could not be read, with file, position, line number and reason.",
    "quarantined_dumps": "Whole files that could not be read as a dump, with the reason.",
    "paper_authors": "Author names in order, one row per author per sighting (API dumps only).",
}
# Only the sightings carry one partition per dump. The ledger, rejects, quarantine and authors
# are warehouse-wide tables written in the same transactions; partitioning them too would add
# four Dagster events per dump (minutes of SQLite writes on a ten-year backfill) and no lineage.
NO_NEW_DUMP_WARNING = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=72), warn_window=dt.timedelta(hours=36)
)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=["raw", table],
            deps=[DUMP_FILES],
            description=description,
            partitions_def=DUMPS if table == "paper_sightings" else None,
            group_name="ingestion",
            kinds={"polars", "duckdb"},
            freshness_policy=NO_NEW_DUMP_WARNING if table == "paper_sightings" else None,
        )
        for table, description in RAW_TABLES.items()
    ],
    name="ingest_dumps",
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[CHECK_NOT_EMPTY, CHECK_REJECTS, CHECK_QUARANTINE],
)
def ingest_dumps(context: dg.AssetExecutionContext, papers: PapersResource) -> Iterator[Any]:
    """Parse the run's dump files with Polars and load them into the raw tables in DuckDB."""
    settings = papers.settings()
    names = context.partition_keys
    # Parse problems never reach the policy: a bad file is quarantined, the rest of the batch loads.
    with failure_policy():
        settings.check_raw_dir()
        report = ingest(settings.raw_dir, settings.warehouse, settings.writer_lock, names)
    for name in report.missing:
        context.log.warning(f"{name}: file is gone from the raw folder; its rows stay in the warehouse")
    for item in report.quarantined:
        context.log.warning(f"{item.dump_file}: quarantined: {item.reason}")
    counts = _table_counts(settings)
    yield dg.MaterializeResult(
        asset_key=SIGHTINGS_KEY,
        metadata={
            **_metadata(report, settings, names),
            "dagster/row_count": counts["paper_sightings"],
        },
    )
    for table in RAW_TABLES:
        if table != "paper_sightings":
            yield dg.MaterializeResult(asset_key=["raw", table], metadata={"dagster/row_count": counts[table]})
    yield from _checks(report)


def _checks(report: IngestReport) -> list[dg.AssetCheckResult]:
    empty = [o.dump_file for o in report.outcomes if o.n_entries == 0]
    noisy = {
        o.dump_file: round(o.n_rejected / (o.n_entries + o.n_rejected), 4)
        for o in report.outcomes
        if o.n_rejected > REJECT_SHARE_LIMIT * (o.n_entries + o.n_rejected)
    }
    quarantined = {q.dump_file: q.reason for q in report.quarantined}
    return [
        dg.AssetCheckResult(check_name=CHECK_NOT_EMPTY.name, passed=not empty, metadata={"files": empty}),
        dg.AssetCheckResult(
            check_name=CHECK_REJECTS.name,
            passed=not noisy,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reject_share_by_file": noisy},
        ),
        dg.AssetCheckResult(
            check_name=CHECK_QUARANTINE.name,
            passed=not quarantined,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined": quarantined},
        ),
    ]


def _table_counts(settings: Settings) -> dict[str, int]:
    with writer_lock(settings.writer_lock), connect(settings.warehouse) as con:
        return {
            table: int(con.execute(f"select count(*) from raw.{table}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for table in RAW_TABLES
        }


def _metadata(report: IngestReport, settings: Settings, names: Sequence[str]) -> dict[str, dg.MetadataValue | int]:
    with writer_lock(settings.writer_lock), connect(settings.warehouse) as con:
        preview = con.execute(
            """
            select dump_file, position, title, code_status
            from raw.paper_sightings
            where dump_file in (select unnest(?::varchar[]))
            order by dump_file, position
            limit 5
            """,
            [list(names)],
        ).fetchall()
    rows = "\n".join(f"| {f} | {p} | {t[:80].replace('|', '/')} | {s} |" for f, p, t, s in preview)
    return {
        "files_in_run": len(names),
        "dumps_loaded": report.count("loaded") + report.count("replaced"),
        "dumps_unchanged": report.count("unchanged"),
        "dumps_duplicate": report.count("duplicate"),
        "dumps_quarantined": len(report.quarantined),
        "files_missing": len(report.missing),
        "sightings_loaded": sum(o.n_entries for o in report.outcomes if o.status in ("loaded", "replaced")),
        "entries_rejected": sum(o.n_rejected for o in report.outcomes if o.status in ("loaded", "replaced")),
        "preview": dg.MetadataValue.md("| file | # | title | code |\n|---|---|---|---|\n" + rows),
    }
