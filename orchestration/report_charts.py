"""The report's charts and tables: each one SQL aggregate over the marts and one Altair spec.

Each chart's data is a few hundred rows whatever the history, so the page stays small. A chart
with no data has no spec; the page then says so in its place (``report`` draws the page).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import altair as alt
import duckdb
from altair.utils.schemapi import debug_mode

STATUS_ORDER = ["repository", "claimed", "promised", "none"]


STATUS_COLOURS = ["#1b7837", "#7fbf7b", "#f1a340", "#bababa"]


TOP_N = 15


TRAJECTORIES = 8


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


def tables(con: duckdb.DuckDBPyConnection) -> list[Table]:
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


def charts(con: duckdb.DuckDBPyConnection) -> list[Chart]:
    """Every chart of the report, in page order.

    Altair validates every object it builds against the Vega-Lite schema, inline data rows
    included, and then the whole chart again in ``to_dict``. The second pass is kept (``_spec``);
    the first is skipped, which cut the report of the ten-year warehouse from 1.2-1.6 s to 0.55 s.
    """
    with debug_mode(False):
        return [
            _release_by_month(con),
            _release_by_year(con),
            _time_to_page(con),
            _authors(con),
            _organisations(con),
            _trajectories(con),
            _calendar(con),
        ]
