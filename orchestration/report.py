"""The warehouse report: one self-contained HTML file of charts and tables, drawn from the marts.

``build_report(snapshot, out)`` reads the published read snapshot, aggregates in SQL (each
chart's data is a few hundred rows whatever the history, so the file stays small) and writes
``out`` atomically.  Charts are Vega-Lite specs made with Altair and drawn by Vega-Embed, whose
JavaScript is inlined (``vl-convert`` bundles it offline), so the page works from ``file://``
with no network.  Tables (most upvoted papers, rejects, quarantined files) are plain HTML.

Every chart's data sits in the page in one JSON block, ``<script id="report-specs">``: the
asset check and the tests read it back (``read_specs``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import altair as alt
import duckdb
import jinja2
import vl_convert

from orchestration import report_charts
from orchestration.report_charts import Chart, Rows, Table

MIN_DUMPS_FOR_TRENDS = 2


@dataclass
class Report:
    path: Path
    built_at: dt.datetime
    n_papers: int
    n_dumps: int
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    source_rows: dict[str, int] = field(default_factory=dict)

    @property
    def enough_data(self) -> bool:
        return self.n_dumps >= MIN_DUMPS_FOR_TRENDS


# The page: autoescaped, so titles, reasons and links from the data stay plain text.
PAGE = jinja2.Environment(autoescape=True).from_string(
    (Path(__file__).parent / "report.html.j2").read_text(encoding="utf-8")
)


def javascript_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed in one script, cached next to the interpreter after the first build.

    ``vl-convert`` bundles them offline, which takes a few seconds; the result only depends on
    the installed versions, so it is kept in ``<venv>/share/papers-warehouse/``.
    """
    vl_version = "_".join(alt.SCHEMA_VERSION.split(".")[:2])
    cache = (
        Path(sys.prefix) / "share" / "papers-warehouse" / f"vega-embed-{version('vl-convert-python')}-{vl_version}.js"
    )
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        pass
    # The stub marks ``snippet`` as required; vl-convert (and Altair's own inline export) omit it.
    bundle: str = vl_convert.javascript_bundle(vl_version=vl_version)  # type: ignore[call-arg]
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(cache, bundle)
    except OSError:
        pass  # a read-only environment only costs the bundling again next time
    return bundle


def _write_atomically(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def build_report(
    snapshot: Path, out: Path, *, now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
) -> Report:
    """Write the report for the read snapshot ``snapshot`` to ``out``; return what it holds."""
    with duckdb.connect(str(snapshot), read_only=True) as con:
        n_papers = int(con.execute("select count(*) from main.papers").fetchone()[0])  # type: ignore[index]
        n_dumps, first_day, last_day = con.execute(
            "select count(*), min(dump_date), max(dump_date) from staging.stg_raw__dumps where is_current"
        ).fetchone() or (0, None, None)
        built = con.execute("select max(built_at) from raw.build_state").fetchone()
        charts = report_charts.charts(con)
        source_rows = {
            chart.source: int(con.execute(f"select count(*) from {_qualified(chart.source)}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for chart in charts
        }
        tables = report_charts.tables(con)
    built_at = now()
    report = Report(out, built_at, n_papers, int(n_dumps), charts, tables, source_rows)
    specs = {chart.id: chart.spec for chart in charts if chart.spec}
    html = PAGE.render(
        bundle=javascript_bundle(),
        charts=charts,
        tables=tables,
        specs_json=json.dumps(specs, separators=(",", ":")).replace("</", "<\\/"),
        n_papers=n_papers,
        n_dumps=n_dumps,
        first_day=first_day,
        last_day=last_day,
        built_marts=f"{built[0]:%Y-%m-%d %H:%M} (UTC)" if built and built[0] else None,
        built_at=f"{built_at:%Y-%m-%d %H:%M}",
        enough_data=report.enough_data,
        min_dumps=MIN_DUMPS_FOR_TRENDS,
    )
    _write_atomically(out, html)
    return report


def _qualified(source: str) -> str:
    return f"staging.{source}" if source.startswith("stg_") else f"main.{source}"


def read_specs(path: Path) -> dict[str, dict[str, Any]]:
    """The chart specs embedded in a written report (raises ``ValueError`` if there are none)."""
    html = path.read_text(encoding="utf-8")
    start_tag = '<script type="application/json" id="report-specs">'
    start = html.find(start_tag)
    end = html.find("</script>", start)
    if start < 0 or end < 0:
        raise ValueError(f"{path}: no chart data block")
    specs: dict[str, dict[str, Any]] = json.loads(html[start + len(start_tag) : end])
    return specs


def chart_values(spec: dict[str, Any]) -> list[Rows]:
    """The rows each data source of a chart spec holds: the chart's own data, then each layer's.

    Altair moves inline rows into the spec's top-level ``datasets`` and refers to them by name.
    """
    datasets = spec.get("datasets", {})
    found: list[Rows] = []
    for view in [spec, *spec.get("layer", [])]:
        data = view.get("data") or {}
        if "values" in data:
            found.append(data["values"])
        elif "name" in data:
            found.append(datasets[data["name"]])
    return found


def main() -> int:
    from orchestration.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not settings.report.exists():
        print(f"No report yet at {settings.report}: run `make run` first.", file=sys.stderr)
        return 1
    print(settings.report)
    print(f"Open it in a browser: file://{settings.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
