"""A real ``dagster dev`` (webserver and daemon, as ``make dev`` runs it) for tests, and its GraphQL API.

The server runs in a session of its own on a free loopback port, against the repo's
``workspace.yaml`` and a test's raw folder, warehouse and ``DAGSTER_HOME``. It is stopped by
process group, with SIGKILL if it ignores SIGTERM (a background process of a non-interactive
shell may), and the stop checks that no process of that instance is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, Workspace

STARTUP_TIMEOUT_S = 180
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
RUN_QUERY = "query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { id status } } }"
BACKFILL_QUERY = """
query Backfill($backfillId: String!) { partitionBackfillOrError(backfillId: $backfillId) {
    __typename ... on PartitionBackfill { id status error { message } } } }
"""
RUNS_QUERY = """
query Runs($filter: RunsFilter!) { runsOrError(filter: $filter) { ... on Runs { results {
    id status assetSelection { path } tags { key value } } } } }
"""
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DagsterDev:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST a document; a ``PythonError`` answer comes with HTTP 500 but a readable body."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        data: dict[str, Any] = answer["data"]
        return data

    def wait_for_run(self, run_id: str, timeout_s: float = 300) -> str:
        return self._wait(RUN_QUERY, {"runId": run_id}, "runOrError", RUN_DONE, timeout_s)

    def wait_for_backfill(self, backfill_id: str, timeout_s: float = 300) -> str:
        return self._wait(
            BACKFILL_QUERY, {"backfillId": backfill_id}, "partitionBackfillOrError", BACKFILL_DONE, timeout_s
        )

    def runs(self, **tags: str) -> list[dict[str, Any]]:
        """Runs carrying every given tag, newest first."""
        filter_ = {"tags": [{"key": key.replace("__", "/"), "value": value} for key, value in tags.items()]}
        results: list[dict[str, Any]] = self.graphql(RUNS_QUERY, {"filter": filter_})["runsOrError"]["results"]
        return results

    def _wait(self, query: str, variables: dict[str, str], field: str, done: set[str], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = str(self.graphql(query, variables)[field]["status"])
            if status in done:
                return status
            time.sleep(1)
        raise AssertionError(f"{field} {variables} not done after {timeout_s} s; log tail:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


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


@contextlib.contextmanager
def dagster_dev(
    workspace: Workspace, log: Path, *, daemon: bool = True, env: Mapping[str, str] | None = None
) -> Iterator[DagsterDev]:
    """``dagster dev`` (or the webserver alone, without ``daemon``) until the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "dagster"), "dev"] if daemon else [str(bin_dir / "dagster-webserver")]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=REPO_ROOT,
            env={**workspace.env(), **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = DagsterDev(url, process, log)
    try:
        _wait_until_loaded(server)
        # The "Join the Dagster community" dialog would cover the UI of a fresh instance.
        server.graphql("mutation { setNuxSeen }")
        yield server
    finally:
        stop(process)
        leftovers = processes_of(workspace.dagster_home)
        assert leftovers == [], f"processes left behind by dagster dev: {leftovers}"


def _wait_until_loaded(server: DagsterDev) -> None:
    """Wait for the server, then for the code location (imports, maybe ``dbt parse``) to load."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"dagster exited with {server.process.returncode}:\n{server.log_tail()}")
        status = location_status(server.url)
        if status is not None and status[0] == "LOADED":
            if status[1]:
                pytest.fail(f"the code location failed to load: {status[1]}")
            return
        time.sleep(0.5)
    pytest.fail(f"code location not loaded after {STARTUP_TIMEOUT_S} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and every child in its process group, by force if SIGTERM is ignored."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # children may outlive the leader for a moment
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def processes_of(dagster_home: Path) -> list[str]:
    """Command lines of running processes whose environment points at ``dagster_home``."""
    marker = f"DAGSTER_HOME={dagster_home}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return found
