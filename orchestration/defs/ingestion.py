"""Dump files -> ``raw.paper_sightings``: one dynamic partition per file in the raw folder."""

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration import progress
from orchestration.defs.fetching import FETCH_KEY
from orchestration.defs.resources import PapersResource, failure_policy
from orchestration.load.ingest import IngestReport, ingest, sha256_file
from orchestration.load.ledger import Loaded, loaded_versions
from orchestration.load.warehouse import check_intact, connect, writer_lock
from orchestration.parse import contract
from orchestration.settings import Settings

DUMPS_NAME = "dumps"
DUMPS = dg.DynamicPartitionsDefinition(name=DUMPS_NAME)

DUMP_FILES = dg.AssetSpec(
    key=["raw", "dump_files"],
    description="Daily Papers dumps (page text or API JSON) in the raw folder; never modified by the pipeline.",
    partitions_def=DUMPS,
    group_name="ingestion",
    kinds={"file"},
    deps=[FETCH_KEY],  # written by hand, or by the daily fetch
)
SIGHTINGS_KEY = dg.AssetKey(["raw", "paper_sightings"])
CHECK_NOT_EMPTY = dg.AssetCheckSpec(
    "no_empty_dumps",
    asset=SIGHTINGS_KEY,
    description="No dump loaded with zero entries (a warning: an API dump of [] is a day with no papers).",
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
CHECK_GIVEN_UP = dg.AssetCheckSpec(
    "no_dumps_given_up",
    asset=SIGHTINGS_KEY,
    description="No dump whose sensor runs kept failing until the sensor gave up on it (after PAPERS_SENSOR_RETRIES "
    "retries). Passes again once that content is loaded, or the file changes or is deleted.",
)
REJECT_SHARE_LIMIT = 0.05

RAW_TABLES = {
    "paper_sightings": "Parsed paper entries: one row per entry per dump (current file versions only).",
    "dumps": "The ledger: one row per loaded file version, with counts and which version is current.",
    "rejected_entries": "Entries that could not be read, with file, position, line number and reason.",
    "quarantined_dumps": "Whole files that could not be read as a dump, with the reason.",
    "paper_authors": "Author names in order, one row per author per sighting (API dumps only).",
}
# Only the sightings are an executable asset, with one partition per dump: that is what Dagster plans,
# reruns and backfills. The ledger, rejects, quarantine and authors are written in the same
# transactions by the same step; they are declared for lineage and get one materialization per run
# (partitioning them too would add four Dagster events per dump, minutes of SQLite writes on a
# ten-year backfill, and a multi-asset that mixed partitioned and unpartitioned keys could not be
# backfilled from the UI at all).
WRITTEN_WITH_SIGHTINGS = [
    dg.AssetSpec(
        key=["raw", table],
        deps=[DUMP_FILES],
        description=f"{description} Written by the step of raw/paper_sightings: rerun a dump there.",
        group_name="ingestion",
        kinds={"duckdb"},
    )
    for table, description in RAW_TABLES.items()
    if table != "paper_sightings"
]
NO_NEW_DUMP_WARNING = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=72), warn_window=dt.timedelta(hours=36)
)
# Runs planned by the sensor, the schedule or ``make run`` carry this tag: a dump whose content the
# current parser already loaded is skipped unparsed. Any other run (a materialization or backfill
# from the UI, ``make run DUMPS=...``, a re-execution) re-parses every dump it targets.
SKIP_LOADED_TAG = "papers/skip_loaded"
PARENT_RUN_TAG = "dagster/parent_run_id"
WAREHOUSE_METADATA = "warehouse"


def check_warehouse(settings: Settings, instance: dg.DagsterInstance) -> None:
    """Raise ``WarehouseDamaged`` if the warehouse is gone or damaged although it held data.

    The evidence is the read snapshot, or the latest materialization of raw/paper_sightings in
    the Dagster history, when it names this warehouse file (see ``warehouse.check_intact``).
    """
    event = instance.get_latest_materialization_event(SIGHTINGS_KEY)
    materialization = event.asset_materialization if event else None
    written_to = materialization.metadata.get(WAREHOUSE_METADATA) if materialization else None
    loaded_before = written_to is not None and written_to.value == str(settings.warehouse)
    check_intact(settings.warehouse, settings.writer_lock, loaded_before=loaded_before)


def given_up_dumps(instance: dg.DagsterInstance) -> dict[str, str]:
    """The files the sensor gave up on, with the content (sha256) that kept failing, as the
    ``no_dumps_given_up`` check last reported them."""
    key = CHECK_GIVEN_UP.key
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
    entry = record.event if record else None
    evaluation = entry.dagster_event.event_specific_data if entry and entry.dagster_event else None
    if not isinstance(evaluation, dg.AssetCheckEvaluation) or evaluation.passed:
        return {}
    files = evaluation.metadata.get("files")
    return {str(name): str(sha) for name, sha in files.value.items()} if files else {}  # type: ignore[union-attr]


def still_given_up(given_up: Mapping[str, str], raw_dir: Path, loaded: Mapping[str, Loaded]) -> dict[str, str]:
    """The given-up files that still hold the content that failed, and whose content is not loaded since."""
    still = {}
    for name, sha in given_up.items():
        seen = loaded.get(name)
        if seen is not None and seen.dump_id == sha:
            continue
        with contextlib.suppress(OSError):  # deleted, or unreadable: the scan reports it
            if sha256_file(raw_dir / name) == sha:
                still[name] = sha
    return still


def given_up_evaluation(given_up: Mapping[str, str]) -> dg.AssetCheckEvaluation:
    """The ``no_dumps_given_up`` check over ``given_up`` (name -> sha): the sensor reports it
    when it gives up on a file or sees one settled, and every ingest run evaluates it again."""
    names = ", ".join(sorted(given_up))
    return dg.AssetCheckEvaluation(
        asset_key=SIGHTINGS_KEY,
        check_name=CHECK_GIVEN_UP.name,
        passed=not given_up,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"files": dg.MetadataValue.json(dict(given_up))},
        description=f"The sensor gave up on {names} after repeated failed runs: see its log, then run `make run` "
        "or these partitions from the UI."
        if given_up
        else None,
    )


def skips_loaded(tags: Mapping[str, str]) -> bool:
    """Whether a run with these tags may skip dumps already loaded (a re-execution never does)."""
    return tags.get(SKIP_LOADED_TAG) == "true" and PARENT_RUN_TAG not in tags


def ingest_request(
    first: str,
    last: str,
    *,
    reparse: bool = False,
    run_key: str | None = None,
    asset_selection: Sequence[dg.AssetKey] | None = None,
) -> dg.RunRequest:
    """One run of ``ingest_job`` over the partitions ``first``..``last``; unless ``reparse``, dumps
    already loaded by the current parser are skipped."""
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    return dg.RunRequest(
        run_key=run_key,
        tags=tags if reparse else {**tags, SKIP_LOADED_TAG: "true"},
        asset_selection=asset_selection,
    )


# A multi-asset of one key: the step keeps its name, and single-run backfills are stable here.
@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            key=SIGHTINGS_KEY,
            deps=[DUMP_FILES],
            description=RAW_TABLES["paper_sightings"],
            partitions_def=DUMPS,
            group_name="ingestion",
            kinds={"polars", "duckdb"},
            freshness_policy=NO_NEW_DUMP_WARNING,
        )
    ],
    name="ingest_dumps",
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[CHECK_NOT_EMPTY, CHECK_REJECTS, CHECK_QUARANTINE, CHECK_GIVEN_UP],
    can_subset=True,  # the checks are optional: a launch from the UI may select the asset without them
)
def paper_sightings(context: dg.AssetExecutionContext, papers: PapersResource) -> Iterator[Any]:
    """Parse the run's dump files with Polars and load them into the raw tables in DuckDB."""
    settings = papers.settings()
    names = context.partition_keys
    reparse = not skips_loaded(context.run.tags)
    # Parse problems never reach the policy: a bad file is quarantined, the rest of the batch loads.
    with failure_policy(settings.warehouse):
        settings.check_raw_dir()
        check_warehouse(settings, context.instance)
        report = ingest(
            settings.raw_dir,
            settings.warehouse,
            settings.writer_lock,
            names,
            reparse=reparse,
            on_batch=lambda so_far: progress.report("dumps parsed and loaded", so_far.count_files(), len(names)),
        )
    if report.outdated:
        context.log.info(
            f"re-parsed {report.outdated} dump(s) that an older parser version had loaded "
            f"(now version {contract.PARSER_VERSION})"
        )
    for name in report.missing:
        context.log.warning(f"{name}: file is gone from the raw folder; its rows stay in the warehouse")
    for item in report.quarantined:
        context.log.warning(f"{item.dump_file}: quarantined: {item.reason}")
    counts = _table_counts(settings)
    for table in RAW_TABLES:
        if table != "paper_sightings":
            context.log_event(dg.AssetMaterialization(["raw", table], metadata={"dagster/row_count": counts[table]}))
    yield dg.MaterializeResult(
        asset_key=SIGHTINGS_KEY,
        metadata={
            **_metadata(report, settings, names, reparse),
            "dagster/row_count": counts["paper_sightings"],
        },
    )
    selected = {key.name for key in context.selected_asset_check_keys}
    yield from (check for check in _checks(report) if check.check_name in selected)
    if CHECK_GIVEN_UP.name in selected:
        with writer_lock(settings.writer_lock), connect(settings.warehouse) as con:
            loaded = loaded_versions(con)
        evaluation = given_up_evaluation(still_given_up(given_up_dumps(context.instance), settings.raw_dir, loaded))
        yield dg.AssetCheckResult(
            check_name=evaluation.check_name,
            passed=evaluation.passed,
            severity=evaluation.severity,
            metadata=evaluation.metadata,
            description=evaluation.description,
        )


def _checks(report: IngestReport) -> list[dg.AssetCheckResult]:
    empty = [o.dump_file for o in report.outcomes if o.n_entries == 0]
    noisy = {
        o.dump_file: round(o.n_rejected / (o.n_entries + o.n_rejected), 4)
        for o in report.outcomes
        if o.n_rejected > REJECT_SHARE_LIMIT * (o.n_entries + o.n_rejected)
    }
    quarantined = {q.dump_file: q.reason for q in report.quarantined}
    return [
        dg.AssetCheckResult(
            check_name=CHECK_NOT_EMPTY.name,
            passed=not empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"files": empty},
        ),
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


def _metadata(
    report: IngestReport, settings: Settings, names: Sequence[str], reparse: bool
) -> dict[str, dg.MetadataValue | int | str]:
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
    written = ("loaded", "replaced", "reparsed")
    return {
        WAREHOUSE_METADATA: dg.MetadataValue.path(str(settings.warehouse)),
        "mode": "re-parse every dump of the run" if reparse else "skip dumps already loaded",
        "files_in_run": len(names),
        "dumps_loaded": report.count("loaded") + report.count("replaced"),
        "dumps_reparsed": report.count("reparsed"),
        "dumps_unchanged": report.count("unchanged"),
        "dumps_duplicate": report.count("duplicate"),
        "dumps_quarantined": len(report.quarantined),
        "files_missing": len(report.missing),
        "parser_version": contract.PARSER_VERSION,
        "sightings_loaded": sum(o.n_entries for o in report.outcomes if o.status in written),
        "entries_rejected": sum(o.n_rejected for o in report.outcomes if o.status in written),
        "preview": dg.MetadataValue.md("| file | # | title | code |\n|---|---|---|---|\n" + rows),
    }
