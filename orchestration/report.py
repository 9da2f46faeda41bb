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

STATUS_ORDER = ["repository", "claimed", "promised", "none"]
STATUS_COLOURS = ["#1b7837", "#7fbf7b", "#f1a340", "#bababa"]
TOP_N = 15
TRAJECTORIES = 8
MIN_DUMPS_FOR_TRENDS = 2

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    caption: str
    source: str  # the mart it is drawn from; the check expects data whenever the mart has rows
    rows: Rows
    spec: dict[str, Any] | None  # None when there is no data to draw


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    caption: str
    columns: list[str]
    rows: Rows


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


def records(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Rows:
    """Rows as dicts with JSON-ready values (dates as ISO strings)."""
    cursor = con.execute(sql, params or [])
    names = [column[0] for column in cursor.description or []]
    return [
        {
            name: value.isoformat() if isinstance(value, dt.date) else value
            for name, value in zip(names, row, strict=True)
        }
        for row in cursor.fetchall()
    ]


# --- the charts --------------------------------------------------------------------------------------


def _data(rows: Rows) -> alt.InlineData:
    return alt.InlineData(values=rows)


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _status_bars(rows: Rows, x: str, x_title: str, x_type: str) -> dict[str, Any]:
    """Papers per period stacked by code status, with the release rate as a line on its own axis."""
    counts = [
        {x: row[x], "code_status": status, "papers": row[f"n_{status}"], "n_papers": row["n_papers"]}
        for row in rows
        for status in STATUS_ORDER
    ]
    colour = alt.Color("code_status:N", sort=STATUS_ORDER, scale=alt.Scale(domain=STATUS_ORDER, range=STATUS_COLOURS))
    bars = (
        alt.Chart(_data(counts))
        .mark_bar()
        .encode(
            alt.X(f"{x}:{x_type}", title=x_title),
            alt.Y("papers:Q", stack="zero", title="papers"),
            colour.title("code status"),
            alt.Order("status_rank:Q"),
            tooltip=[alt.Tooltip(f"{x}:{x_type}", title=x_title), "code_status:N", "papers:Q", "n_papers:Q"],
        )
        .transform_calculate(status_rank=f"indexof({json.dumps(STATUS_ORDER)}, datum.code_status)")
    )
    rate = (
        alt.Chart(_data(rows))
        .mark_line(point=True, color="#2166ac")
        .encode(
            alt.X(f"{x}:{x_type}"),
            alt.Y(
                "code_release_rate:Q",
                axis=alt.Axis(format="%", title="code release rate"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            tooltip=[alt.Tooltip(f"{x}:{x_type}", title=x_title), alt.Tooltip("code_release_rate:Q", format=".1%")],
        )
    )
    return _spec(alt.layer(bars, rate).resolve_scale(y="independent").properties(width="container", height=260))


def _release_by_month(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        "select first_seen_month, n_papers, n_repository, n_claimed, n_promised, n_none, code_release_rate"
        " from main.code_release_rates where period = 'month' order by first_seen_month",
    )
    spec = _status_bars(rows, "first_seen_month", "first seen (month)", "T") if rows else None
    caption = (
        "Papers by the month they first reached the page, stacked by code status; the line is the share with code."
    )
    return Chart("release-by-month", "Code release over time", caption, "code_release_rates", rows, spec)


def _release_by_year(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        "select published_year, n_papers, n_repository, n_claimed, n_promised, n_none, code_release_rate"
        " from main.code_release_rates_by_year where published_year is not null order by published_year",
    )
    spec = _status_bars(rows, "published_year", "publication year", "O") if rows else None
    caption = "The same by publication year (papers with an unknown publication date are left out)."
    return Chart(
        "release-by-year", "Code release by publication year", caption, "code_release_rates_by_year", rows, spec
    )


def _time_to_page(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        """
        select
            cast(date_trunc('month', first_seen_on) as date) as first_seen_month,
            count(*) as n_papers,
            quantile_cont(days_to_first_seen, 0.1) as p10,
            quantile_cont(days_to_first_seen, 0.25) as p25,
            quantile_cont(days_to_first_seen, 0.5) as median,
            quantile_cont(days_to_first_seen, 0.75) as p75,
            quantile_cont(days_to_first_seen, 0.9) as p90
        from main.paper_first_seen
        where days_to_first_seen is not null
        group by all
        order by first_seen_month
        """,
    )
    spec = None
    if rows:
        base = alt.Chart(_data(rows)).encode(alt.X("first_seen_month:T", title="first seen (month)"))
        tooltip = ["first_seen_month:T", "n_papers:Q", "p10:Q", "p25:Q", "median:Q", "p75:Q", "p90:Q"]
        whiskers = base.mark_rule(color="#888").encode(alt.Y("p10:Q", title="days from publication"), alt.Y2("p90:Q"))
        box = base.mark_bar(color="#92c5de", size=8).encode(alt.Y("p25:Q"), alt.Y2("p75:Q"), tooltip=tooltip)
        median = base.mark_tick(color="#053061", thickness=2, size=10).encode(alt.Y("median:Q"), tooltip=tooltip)
        spec = _spec(alt.layer(whiskers, box, median).properties(width="container", height=240))
    caption = "Days from publication to the first day on the page, by month: median (tick), quartiles (box), p10-p90."
    return Chart("time-to-page", "Time to the page", caption, "paper_first_seen", rows, spec)


def _authors(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        "select published_year, n_papers, n_papers_with_count, median_authors, p90_authors, mean_authors"
        " from main.author_count_summary where published_year is not null and n_papers_with_count > 0"
        " order by published_year",
    )
    unknown_row = con.execute("select count(*) - count(n_authors) from main.authors_per_paper").fetchone()
    unknown = int(unknown_row[0]) if unknown_row else 0
    spec = None
    if rows:
        long = [
            {
                "published_year": r["published_year"],
                "measure": m,
                "authors": r[f"{m}_authors"],
                "papers": r["n_papers_with_count"],
            }
            for r in rows
            for m in ("median", "p90", "mean")
        ]
        spec = _spec(
            alt.Chart(_data(long))
            .mark_line(point=True)
            .encode(
                alt.X("published_year:O", title="publication year"),
                alt.Y("authors:Q", title="authors per paper"),
                alt.Color("measure:N", sort=["median", "p90", "mean"]),
                tooltip=["published_year:O", "measure:N", alt.Tooltip("authors:Q", format=".1f"), "papers:Q"],
            )
            .properties(width="container", height=240)
        )
    caption = f"Median, p90 and mean authors per paper by publication year; {unknown} paper(s) have no known count."
    return Chart("authors", "Authors per paper", caption, "author_count_summary", rows, spec)


def _organisations(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        """
        select coalesce(org_name, org_handle) as organisation, org_handle, n_papers, n_repository, n_claimed,
            code_release_rate
        from main.code_release_rates_by_org
        order by n_papers desc, org_handle
        limit ?
        """,
        [TOP_N],
    )
    spec = None
    if rows:
        spec = _spec(
            alt.Chart(_data(rows))
            .mark_bar()
            .encode(
                alt.Y("organisation:N", sort="-x", title=None),
                alt.X("n_papers:Q", title="papers"),
                alt.Color(
                    "code_release_rate:Q",
                    scale=alt.Scale(scheme="greens", domain=[0, 1]),
                    legend=alt.Legend(format="%", title="code release rate"),
                ),
                tooltip=[
                    "organisation:N",
                    "org_handle:N",
                    "n_papers:Q",
                    alt.Tooltip("code_release_rate:Q", format=".1%"),
                ],
            )
            .properties(width="container", height=20 * len(rows))
        )
    caption = f"The {TOP_N} organisations with the most papers; the colour is each one's code release rate."
    return Chart("organisations", "Organisations", caption, "code_release_rates_by_org", rows, spec)


def _trajectories(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        """
        with top as (
            select paper_id, title from main.papers
            where upvotes_max is not null
            order by upvotes_max desc, paper_id
            limit ?
        )
        select top.paper_id, left(top.title, 60) as title, daily.seen_on, daily.upvotes
        from main.paper_upvotes_daily as daily
        inner join top on daily.paper_id = top.paper_id
        where daily.upvotes is not null
        order by top.paper_id, daily.seen_on
        """,
        [TRAJECTORIES],
    )
    spec = None
    if rows:
        spec = _spec(
            alt.Chart(_data(rows))
            .mark_line(point=True)
            .encode(
                alt.X("yearmonthdate(seen_on):T", title="day on the page", axis=alt.Axis(format="%b %d")),
                alt.Y("upvotes:Q"),
                alt.Color("title:N", legend=alt.Legend(orient="bottom", columns=2, labelLimit=420, title=None)),
                tooltip=["title:N", alt.Tooltip("seen_on:T", format="%Y-%m-%d"), "upvotes:Q"],
            )
            .properties(width="container", height=260)
        )
    caption = f"Upvotes of the {TRAJECTORIES} most upvoted papers on each day they were on the page."
    return Chart("upvote-trajectories", "Upvote trajectories", caption, "paper_upvotes_daily", rows, spec)


def _calendar(con: duckdb.DuckDBPyConnection) -> Chart:
    rows = records(
        con,
        """
        with loaded as (
            select dump_date, count(*) as dumps, sum(n_entries) as entries
            from staging.stg_raw__dumps
            where is_current
            group by dump_date
        ),
        days as (
            select cast(unnest(generate_series(min(dump_date), max(dump_date), interval 1 day)) as date) as day
            from loaded
        )
        select
            days.day, year(days.day) as year, weekofyear(days.day) as week, isodow(days.day) as weekday,
            coalesce(loaded.dumps, 0) as dumps, coalesce(loaded.entries, 0) as entries
        from days
        left join loaded on days.day = loaded.dump_date
        order by days.day
        """,
    )
    spec = None
    if rows:
        spec = _spec(
            alt.Chart(_data(rows))
            .mark_rect(stroke="white", strokeWidth=1)
            .encode(
                alt.X("week:O", title=None, axis=alt.Axis(labels=False, ticks=False)),
                alt.Y(
                    "weekday:O",
                    title=None,
                    axis=alt.Axis(labelExpr="['', 'Mon', '', 'Wed', '', 'Fri', '', 'Sun'][datum.value]"),
                ),
                alt.Color(
                    "dumps:Q", scale=alt.Scale(domain=[0, 1, 2], range=["#d6604d", "#4393c3", "#053061"]), legend=None
                ),
                alt.Row("year:O", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
                tooltip=[alt.Tooltip("day:T", format="%a %Y-%m-%d"), "dumps:Q", "entries:Q"],
            )
            .properties(height=alt.Step(11), width=alt.Step(11))
        )
    missing = sum(1 for row in rows if row["dumps"] == 0)
    caption = f"One square per day between the first and the last dump; {missing} day(s) without a dump are red."
    return Chart("calendar", "Dumps per day", caption, "stg_raw__dumps", rows, spec)


# --- tables ------------------------------------------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
    upvoted = records(
        con,
        """
        select title, upvotes_max, first_seen_on, code_status,
            case when code_url is null then null
                 when code_url ilike 'http%' then code_url else 'https://' || code_url end as code_url
        from main.papers where upvotes_max is not null
        order by upvotes_max desc, paper_id limit ?
        """,
        [TOP_N],
    )
    rejects = records(
        con,
        "select reason, count(*) as entries, count(distinct dump_file) as dumps, max(dump_file) as latest_dump"
        " from staging.stg_raw__rejected_entries group by reason order by entries desc, reason limit 20",
    )
    quarantined = records(
        con,
        "select dump_file, reason, quarantined_at from staging.stg_raw__quarantined_dumps order by dump_file",
    )
    return [
        Table(
            "most-upvoted",
            "Most upvoted papers",
            f"The {TOP_N} papers with the most upvotes on any day, linked to their code where it is known.",
            ["title", "upvotes_max", "first_seen_on", "code_status", "code_url"],
            upvoted,
        ),
        Table(
            "rejects",
            "Rejected entries",
            "Entries the parsers could not use, by reason (raw rows are in raw.rejected_entries).",
            ["reason", "entries", "dumps", "latest_dump"],
            rejects,
        ),
        Table(
            "quarantine",
            "Quarantined files",
            "Files that could not be read as a dump; they are tried again when they change or the parser is upgraded.",
            ["dump_file", "reason", "quarantined_at"],
            quarantined,
        ),
    ]


# --- the page ----------------------------------------------------------------------------------------

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
        charts = [
            _release_by_month(con),
            _release_by_year(con),
            _time_to_page(con),
            _authors(con),
            _organisations(con),
            _trajectories(con),
            _calendar(con),
        ]
        source_rows = {
            chart.source: int(con.execute(f"select count(*) from {_qualified(chart.source)}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for chart in charts
        }
        tables = _tables(con)
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


# --- make report -------------------------------------------------------------------------------------


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
