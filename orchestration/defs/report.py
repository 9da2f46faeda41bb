"""The report asset: an HTML page of charts rebuilt from the read snapshot after every run."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from orchestration.defs.dbt import FOLLOW_RERUNS, warehouse_snapshot
from orchestration.defs.resources import PapersResource

CHECK_CHARTS = dg.AssetCheckSpec(
    "charts_have_data",
    asset="warehouse_report",
    description="The report file exists and parses, and every chart has data whenever the mart it draws does.",
)


@dg.asset(
    key="warehouse_report",
    deps=[warehouse_snapshot],
    group_name="publish",
    kinds={"html"},
    automation_condition=FOLLOW_RERUNS,
    check_specs=[CHECK_CHARTS],
    description="Self-contained HTML report (charts and tables from the marts) next to the read snapshot.",
)
def warehouse_report(context: dg.AssetExecutionContext, papers: PapersResource) -> Iterator[Any]:
    # Imported here: Altair costs ~1 s to import, which code-location loads and sensor ticks needn't pay.
    from orchestration.report import build_report, chart_values, read_specs

    settings = papers.settings()
    report = build_report(settings.read_snapshot, settings.report)
    context.log.info(f"Report written to {settings.report}")
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(settings.report)),
            "url": dg.MetadataValue.url(settings.report.as_uri()),
            "size_bytes": settings.report.stat().st_size,
            "papers": report.n_papers,
            "dumps": report.n_dumps,
        }
    )
    # Read back what was written, not what was meant to be written.
    problems: list[str] = []
    try:
        specs = read_specs(settings.report)
    except (OSError, ValueError) as error:
        specs, problems = {}, [f"cannot read the report: {error}"]
    for chart in report.charts:
        if report.source_rows.get(chart.source, 0) == 0:
            continue
        values = chart_values(specs[chart.id]) if chart.id in specs else []
        if not any(values):
            problems.append(f"{chart.id}: no data although {chart.source} has rows")
    yield dg.AssetCheckResult(
        check_name=CHECK_CHARTS.name, passed=not problems, metadata={"problems": problems, "charts": len(specs)}
    )
