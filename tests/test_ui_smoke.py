"""A real browser opens the Dagster UI and sees the whole lineage: dumps -> sightings -> marts.

Starts ``dagster-webserver`` on the repo's ``workspace.yaml`` against a temporary workspace,
drives headless Chromium with Playwright, and saves a screenshot to
``artifacts/ui/asset_graph.png`` for a human to look at.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from orchestration.synthetic import generate_dumps, write_dumps
from tests.conftest import REPO_ROOT, Workspace

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOT = REPO_ROOT / "artifacts" / "ui" / "asset_graph.png"
# The global asset lineage in Dagster 1.13 (title "Global asset lineage"); groups start collapsed.
LINEAGE_ROUTE = "/asset-groups"
EXPECTED_ASSETS = ("dump_files", "paper_sightings", "papers", "code_release_rates", "warehouse_snapshot")
STARTUP_TIMEOUT_S = 120
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
UI_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1920, "height": 1400}  # room for the whole lineage; names vanish when cramped

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it via .ci/run)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def location_status(url: str) -> tuple[str, str | None] | None:
    """(loadStatus, load error) of the code location, or None while the server can't answer."""
    body = json.dumps({"query": LOCATION_QUERY}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    except (urllib.error.URLError, OSError, KeyError, TypeError, ValueError):
        return None
    if not entries:
        return None
    entry = entries[0]
    error = entry.get("locationOrLoadError") or {}
    return entry["loadStatus"], error.get("message")


def wait_for_server(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Wait for ``/server_info``, then for the code location (import + maybe ``dbt parse``) to load."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        status = location_status(url)
        if status is not None and status[0] == "LOADED":
            if status[1]:
                pytest.fail(f"the code location failed to load: {status[1]}")
            return
        time.sleep(0.5)
    pytest.fail(f"code location not loaded after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the webserver and its code-server child (they share the new session's process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # a code server left behind by a webserver that died first
        os.killpg(server.pid, signal.SIGKILL)


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
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "webserver.log"
    webserver = Path(sys.executable).with_name("dagster-webserver")
    with log.open("wb") as log_handle:
        server = subprocess.Popen(
            [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env=workspace.env(),
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_server(url, server, log)
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(UI_TIMEOUT_MS)
                # The "Join the Dagster community" dialog may cover the page on first load, or later.
                page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())
                page.goto(f"{url}{LINEAGE_ROUTE}")
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
                    print(f"webserver log (tail):\n{log.read_text()[-4000:]}")
                    raise
                skip = page.get_by_role("button", name="Skip")
                if skip.is_visible():  # a late dialog; the handler only runs before actions
                    skip.click()
                page.screenshot(path=str(SCREENSHOT))
                shown = page.inner_text("body")
            finally:
                browser.close()
    finally:
        stop(server)
    assert server.returncode is not None
    for name in EXPECTED_ASSETS:
        assert name in shown, f"{name} is missing from the lineage page"
    assert SCREENSHOT.stat().st_size > 10_000
