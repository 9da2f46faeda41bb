"""A rerun picked in the real Dagster UI, in headless Chromium: two partitions of raw/paper_sightings."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.reruns_ui import Served, serve, tamper, tampered, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve(tmp_path_factory)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it via .ci/run)")
def test_two_partitions_picked_in_the_real_ui_are_rerun(served: Served) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    workspace, names = served.workspace, served.names
    picked = [names[0], names[5]]
    tamper(workspace, names)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(30_000)
            page.goto(f"{served.server.url}/assets/raw/paper_sightings")
            # The button's accessible name starts with its icon's: "materialization Materialize…".
            materialize = page.get_by_role("button", name=re.compile("Materialize…$"))
            sync_api.expect(materialize).to_be_enabled(timeout=60_000)
            materialize.click()
            dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
            dialog.get_by_text("Select a partition or create one").click()
            for name in picked:  # the partition menu is rendered outside the dialog
                page.get_by_placeholder("Filter partitions").fill(name)
                item = page.get_by_role("menuitem").filter(has=page.get_by_text(name, exact=True))
                item.click()
                sync_api.expect(item.get_by_role("checkbox")).to_be_checked()
            dialog.get_by_text("Launch runs to materialize").click()  # closes the menu, keeps the dialog
            sync_api.expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible()
            dialog.get_by_role("button", name="Launch backfill").click()
            page.get_by_role("link", name="View", exact=True).click()  # the "Created backfill" toast
            page.wait_for_url(re.compile("/runs/b/"))
            status = page.get_by_text("Status", exact=True).locator("xpath=..")
            sync_api.expect(status).to_contain_text(re.compile("Succeeded|Failed|Canceled"), timeout=300_000)
            page.screenshot(path=str(workspace.raw_dir.parent / "backfill.png"))
            shown = status.inner_text()
        finally:
            browser.close()
    print(f"screenshot: {workspace.raw_dir.parent / 'backfill.png'}")
    assert "Succeeded" in shown
    # The asset page materializes raw/paper_sightings alone: the raw rows are re-parsed at once ...
    assert tampered(workspace, live=True) == sorted(set(names) - set(picked))
    # ... and marts_follow_reruns then rebuilds the marts and the snapshot, in one run.
    follow_ups = wait_for(lambda: served.server.runs(dagster__sensor_name="marts_follow_reruns"), timeout_s=180)
    assert served.server.wait_for_run(follow_ups[0]["id"]) == "SUCCESS", served.server.log_tail()
    assert tampered(workspace) == sorted(set(names) - set(picked))
    # No other rerun of this module left the marts behind, so none was followed up.
    assert len(served.server.runs(dagster__sensor_name="marts_follow_reruns")) == 1
