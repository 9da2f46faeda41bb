"""A real browser opens the Dagster UI and sees the whole lineage: dumps -> sightings -> marts.

Starts ``dagster-webserver`` on the repo's ``workspace.yaml`` against a temporary workspace,
drives headless Chromium with Playwright, and saves a screenshot to
``artifacts/ui/asset_graph.png`` for a human to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, Workspace
from tests.dagster_dev import dagster_dev
from tests.synthetic import generate_dumps, write_dumps

SCREENSHOT = REPO_ROOT / "artifacts" / "ui" / "asset_graph.png"
# The global asset lineage in Dagster 1.13 (title "Global asset lineage"); groups start collapsed.
LINEAGE_ROUTE = "/asset-groups"
EXPECTED_ASSETS = ("dump_files", "paper_sightings", "papers", "code_release_rates", "warehouse_snapshot")
UI_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1920, "height": 1400}  # room for the whole lineage; names vanish when cramped

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it via .ci/run)"),
]


def expand_all_groups(page: Any, timeout_error: type[Exception]) -> None:
    """Use the graph's context menu. The community dialog can pop up late and close the menu: retry."""
    width, height = VIEWPORT["width"], VIEWPORT["height"]
    # Empty background near the graph panel's corners (the collapsed groups sit in the middle).
    for x, y in [(width - 250, 160), (width - 250, height - 120), (width // 2, 160), (width - 250, 160)]:
        page.mouse.click(x, y, button="right")
        try:
            page.get_by_role("menuitem", name=re.compile("(Expand|Collapse) all groups")).first.wait_for(timeout=5_000)
        except timeout_error:
            page.keyboard.press("Escape")
            continue
        expand = page.get_by_role("menuitem", name="Expand all groups")
        if expand.count() == 0:  # already expanded
            page.keyboard.press("Escape")
            return
        try:
            expand.click(timeout=5_000)
            return
        except timeout_error:
            page.keyboard.press("Escape")
    pytest.fail("the lineage graph's context menu never offered 'Expand all groups'")


def test_asset_lineage_shows_dumps_sightings_and_marts(workspace: Workspace, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    write_dumps(workspace.raw_dir, generate_dumps(days=2, papers_per_day=4, seed=7))
    log = tmp_path / "webserver.log"
    with dagster_dev(workspace, log, daemon=False) as server, sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            # The "Join the Dagster community" dialog may cover the page on first load, or later.
            page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
            page.goto(f"{server.url}{LINEAGE_ROUTE}")
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            try:
                page.get_by_text("Global asset lineage").wait_for()
                page.get_by_text("ingestion", exact=True).first.wait_for()  # the graph has loaded
                assert "Could not load" not in page.inner_text("body")
                expand_all_groups(page, sync_api.TimeoutError)
                for name in EXPECTED_ASSETS:
                    page.get_by_text(name, exact=True).first.wait_for()
            except BaseException:  # pytest.fail raises a BaseException
                page.screenshot(path=str(SCREENSHOT.with_name("failure.png")))
                print(f"webserver log (tail):\n{server.log_tail()}")
                raise
            skip = page.get_by_role("button", name="Skip")
            if skip.is_visible():  # a late dialog; the handler only runs before actions
                skip.click()
            page.screenshot(path=str(SCREENSHOT))
            shown = page.inner_text("body")
        finally:
            browser.close()
    for name in EXPECTED_ASSETS:
        assert name in shown, f"{name} is missing from the lineage page"
    assert SCREENSHOT.stat().st_size > 10_000
