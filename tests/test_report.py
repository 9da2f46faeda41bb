"""The HTML report: its data is the marts', it opens offline in a real browser, and it never breaks.

Three warehouses are built once for the module through ``make run``: an empty raw folder, one
dump, and six days of mixed text and API dumps. Expected values come from the test's own SQL on
the marts and from the generated dumps, never from the report's code.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from orchestration.report import chart_values, read_specs
from orchestration.settings import Settings
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Workspace, new_workspace
from tests.synthetic import SyntheticDump, generate_dumps, write_dumps

START = dt.date(2026, 5, 4)
CHART_IDS = [
    "release-by-month",
    "release-by-year",
    "time-to-page",
    "authors",
    "organisations",
    "upvote-trajectories",
    "calendar",
]


class Built:
    def __init__(self, space: Workspace, dumps: list[SyntheticDump]) -> None:
        self.space = space
        self.dumps = dumps
        self.report = Settings.from_env(space.env()).report

    def marts(self, sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.space.snapshot), read_only=True) as con:
            return con.execute(sql).fetchall()


def build(root: Path, days: int) -> Built:
    space = new_workspace(root)
    dumps = list(generate_dumps(days=days, papers_per_day=12, seed=41, start=START))
    write_dumps(space.raw_dir, dumps, output_format="mixed")
    result = space.make_run()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert f"Report:             {Settings.from_env(space.env()).report}" in result.stdout
    return Built(space, dumps)


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("report")
    return {name: build(root / name, days) for name, days in (("empty", 0), ("one_dump", 1), ("six_days", 6))}


def iso(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value


# --- the data -----------------------------------------------------------------------------------------


def test_every_chart_holds_the_marts_rows(warehouses: dict[str, Built]) -> None:
    built = warehouses["six_days"]
    specs = read_specs(built.report)
    assert sorted(specs) == sorted(CHART_IDS)

    bars, line = chart_values(specs["release-by-month"])
    months = built.marts(
        "select first_seen_month, n_papers, n_repository, n_claimed, n_promised, n_none, code_release_rate"
        " from code_release_rates where period = 'month' order by 1"
    )
    assert [tuple(row.values()) for row in line] == [tuple(map(iso, row)) for row in months]
    for month, n_papers, *counts, _rate in months:
        stacked = {row["code_status"]: row["papers"] for row in bars if row["first_seen_month"] == iso(month)}
        assert stacked == dict(zip(["repository", "claimed", "promised", "none"], counts, strict=True))
        assert sum(stacked.values()) == n_papers

    _bars, line = chart_values(specs["release-by-year"])
    years = built.marts(
        "select published_year, n_papers, code_release_rate from code_release_rates_by_year"
        " where published_year is not null order by 1"
    )
    assert [(r["published_year"], r["n_papers"], r["code_release_rate"]) for r in line] == years

    [time_rows] = chart_values(specs["time-to-page"])  # one data source shared by its layers
    medians = built.marts(
        "select date_trunc('month', first_seen_on)::date, median(days_to_first_seen), count(*)"
        " from paper_first_seen where days_to_first_seen is not null group by all order by 1"
    )
    assert [(r["first_seen_month"], r["median"], r["n_papers"]) for r in time_rows] == [
        (iso(month), float(median), count) for month, median, count in medians
    ]

    [authors] = chart_values(specs["authors"])
    summary = built.marts(
        "select published_year, median_authors, p90_authors from author_count_summary"
        " where published_year is not null and n_papers_with_count > 0 order by 1"
    )
    assert sorted((r["published_year"], r["authors"]) for r in authors if r["measure"] == "median") == [
        (year, median) for year, median, _ in summary
    ]
    assert sorted((r["published_year"], r["authors"]) for r in authors if r["measure"] == "p90") == [
        (year, p90) for year, _, p90 in summary
    ]

    [orgs] = chart_values(specs["organisations"])
    top = built.marts(
        "select org_handle, n_papers, code_release_rate from code_release_rates_by_org"
        " order by n_papers desc, 1 limit 15"
    )
    assert [(r["org_handle"], r["n_papers"], r["code_release_rate"]) for r in orgs] == top

    [trajectories] = chart_values(specs["upvote-trajectories"])
    expected = built.marts(
        """
        select daily.paper_id, daily.seen_on, daily.upvotes from paper_upvotes_daily as daily
        where daily.upvotes is not null and daily.paper_id in (
            select paper_id from papers where upvotes_max is not null order by upvotes_max desc, paper_id limit 8)
        order by 1, 2
        """
    )
    assert [(r["paper_id"], r["seen_on"], r["upvotes"]) for r in trajectories] == [tuple(map(iso, r)) for r in expected]

    [calendar] = chart_values(specs["calendar"])
    assert [(r["day"], r["dumps"]) for r in calendar] == [(dump.page_date.isoformat(), 1) for dump in built.dumps]


def test_tables_and_header_come_from_the_marts(warehouses: dict[str, Built]) -> None:
    built = warehouses["six_days"]
    page = built.report.read_text()
    [(n_papers,)] = built.marts("select count(*) from papers")
    assert f"{n_papers} papers from 6 dump(s), {START} to {START + dt.timedelta(days=5)}" in page
    assert 'id="not-enough-data"' not in page
    top = built.marts("select title, upvotes_max from papers where upvotes_max is not null order by 2 desc, paper_id")
    most_upvoted = page[page.index('id="most-upvoted"') : page.index('id="rejects"')]
    for title, upvotes in top[:15]:
        assert html.escape(title) in most_upvoted
        assert f'<td class="number">{upvotes}</td>' in most_upvoted
    assert len(top) > 15
    assert html.escape(top[15][0]) not in most_upvoted


@pytest.mark.parametrize("name", ["empty", "one_dump"])
def test_too_little_data_gives_a_valid_page_that_says_so(warehouses: dict[str, Built], name: str) -> None:
    built = warehouses[name]
    page = built.report.read_text()
    assert 'id="not-enough-data"' in page
    specs = read_specs(built.report)
    if name == "empty":
        assert specs == {}
        assert page.count("No data yet for this chart.") == len(CHART_IDS)
    else:
        assert {"release-by-month", "calendar", "organisations"} <= set(specs)


@pytest.mark.parametrize("name", ["empty", "one_dump", "six_days"])
def test_the_report_check_passes_and_links_the_file(warehouses: dict[str, Built], name: str) -> None:
    built = warehouses[name]
    with dg.DagsterInstance.from_config(str(built.space.dagster_home)) as instance:
        key = dg.AssetCheckKey(dg.AssetKey("warehouse_report"), "charts_have_data")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        event = instance.get_latest_materialization_event(dg.AssetKey("warehouse_report"))
    assert record.event is not None
    assert record.event.dagster_event is not None
    assert record.event.dagster_event.asset_check_evaluation_data.passed
    assert event is not None
    assert event.asset_materialization is not None
    assert event.asset_materialization.metadata["path"].value == str(built.report)


# --- a real browser -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it via .ci/run)")
@pytest.mark.parametrize("name", ["empty", "one_dump", "six_days"])
def test_the_report_opens_offline_in_chromium(warehouses: dict[str, Built], name: str, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    built = warehouses[name]
    errors: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda error: errors.append(str(error)))

            def route(request_route: Any) -> None:
                if request_route.request.url.startswith("file://"):
                    request_route.continue_()
                else:
                    outside.append(request_route.request.url)
                    request_route.abort()

            page.route("**/*", route)
            page.goto(built.report.as_uri())
            charts = read_specs(built.report)
            for chart_id in charts:
                page.wait_for_selector(f"#chart-{chart_id} svg [class*='mark-']")
            marks = page.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('.chart')].map(c =>
                    [c.id, c.querySelectorAll('svg [class*="mark-"] > path, svg [class*="mark-"] > line').length]))"""
            )
            assert marks == {f"chart-{chart_id}": marks[f"chart-{chart_id}"] for chart_id in charts}
            assert all(count > 0 for count in marks.values()), marks
            if charts:
                bar = page.locator("#chart-release-by-month svg .mark-rect path").first
                bar.hover()
                tooltip = page.locator("#vg-tooltip-element")
                tooltip.wait_for(state="visible")
                assert "papers" in tooltip.inner_text()
            screenshot = tmp_path / f"report-{name}.png"
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"report screenshot: {screenshot}")
        finally:
            browser.close()
    assert errors == []
    assert outside == []
    assert screenshot.stat().st_size > 10_000
