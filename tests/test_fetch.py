"""The daily fetch against a local HTTP server that plays the Hugging Face API.

The server (``FakeApi``) serves API-shaped JSON from the project's synthetic generator and, per
day, a script of answers: errors, slow or cut-short responses.  It records every request, so
the tests check what the client asked, how often and how far apart, next to what landed in the
raw folder, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration import fetch
from orchestration.fetch import DailyPapersClient, FetchConfig, fetch_days, window
from orchestration.parse.api import parse_api_dump
from orchestration.settings import Settings, SettingsError
from tests.conftest import REPO_ROOT, Workspace
from tests.fake_api import Answer, FakeApi, serve_api
from tests.synthetic import generate_dumps, render_api

TODAY = dt.date(2026, 3, 20)
DAYS = window(TODAY, 5)  # 2026-03-15 .. 2026-03-19
# Short waits keep the suite quick; the one-request-per-second limit stays the real one.
CONFIG = FetchConfig(timeout_s=0.5, attempts=3, backoff_s=0.2)


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve_api() as fake:
        yield fake


def day_json(day: dt.date, papers: int = 4) -> bytes:
    """An API response for ``day``, made by the synthetic generator."""
    dump = next(iter(generate_dumps(days=1, papers_per_day=papers, seed=day.toordinal(), start=day)))
    return render_api(day, dump.entries)


def run_fetch(api: FakeApi, raw_dir: Path, days: list[dt.date], config: FetchConfig = CONFIG) -> fetch.FetchReport:
    with DailyPapersClient(FetchConfig(**{**config.__dict__, "base_url": api.url})) as client:
        return fetch_days(raw_dir, days, client, today=TODAY)


def contents(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_polite(api: FakeApi) -> None:
    assert all(gap >= 0.9 for gap in api.gaps()), api.gaps()  # at most one request per second
    assert all(request.user_agent.startswith("papers-warehouse/") for request in api.requests)


# --- one case per day -----------------------------------------------------------------------------


DAY = DAYS[-1]
GOOD = day_json(DAY)


@pytest.mark.parametrize(
    ("answers", "outcome", "saved", "requests", "reason"),
    [
        pytest.param([Answer(body=GOOD)], "fetched", GOOD, 1, None, id="normal day"),
        pytest.param([Answer(body=b"[]")], "empty", b"[]", 1, None, id="no papers"),
        pytest.param([Answer(500, b"oops"), Answer(body=GOOD)], "fetched", GOOD, 2, None, id="500 then 200"),
        pytest.param(
            [Answer(429, b"{}", {"Retry-After": "2"}), Answer(body=GOOD)],
            "fetched",
            GOOD,
            2,
            None,
            id="429 Retry-After",
        ),
        pytest.param(
            [Answer(body=GOOD, delay_s=1.0)], "failed", None, 3, "no complete answer within 0.5 s", id="timeout"
        ),
        pytest.param([Answer(body=b'[{"paper": ')], "failed", None, 1, "invalid JSON", id="invalid JSON"),
        pytest.param([Answer(body=b'{"error": "x"}')], "failed", None, 1, "top-level JSON object", id="object"),
        pytest.param([Answer(404, b'{"error": "not found"}')], "failed", None, 1, "HTTP 404 Not Found", id="404"),
        pytest.param([Answer(body=GOOD, cut=True)], "failed", None, 3, "connection failed", id="cut short"),
    ],
)
def test_one_day(
    api: FakeApi,
    tmp_path: Path,
    answers: list[Answer],
    outcome: str,
    saved: bytes | None,
    requests: int,
    reason: str | None,
) -> None:
    api.script[DAY.isoformat()] = answers
    (tmp_path / "notes.txt").write_bytes(b"not a dump, never touched")
    report = run_fetch(api, tmp_path, [DAY])

    [result] = report.results
    assert result.outcome == outcome
    assert (reason or "") in (result.reason or ""), result.reason
    expected = {"notes.txt": b"not a dump, never touched"}
    if saved is not None:
        expected[f"{DAY}.json"] = saved
    assert contents(tmp_path) == expected  # no temporary file left behind either
    assert api.days_requested() == [DAY.isoformat()] * requests
    assert report.requests == requests
    assert_polite(api)


def test_retry_after_is_honoured(api: FakeApi, tmp_path: Path) -> None:
    api.script[DAY.isoformat()] = [Answer(429, b"{}", {"Retry-After": "2"}), Answer(body=GOOD)]
    run_fetch(api, tmp_path, [DAY])
    assert api.gaps()[0] >= 1.9


def test_a_retry_after_beyond_the_limit_fails_the_day_without_waiting(api: FakeApi, tmp_path: Path) -> None:
    api.script[DAY.isoformat()] = [Answer(429, b"{}", {"Retry-After": "3600"})]
    started = time.monotonic()
    [result] = run_fetch(api, tmp_path, [DAY]).results
    assert time.monotonic() - started < 5
    assert result.outcome == "failed"
    assert result.reason == "HTTP 429 Too Many Requests, asked to wait 3600 s (over 120 s)"
    assert contents(tmp_path) == {}


def test_an_empty_day_in_progress_is_not_saved(api: FakeApi, tmp_path: Path) -> None:
    api.script[TODAY.isoformat()] = [Answer(body=b"[]")]
    [result] = run_fetch(api, tmp_path, [TODAY]).results
    assert result.outcome == "pending"
    assert contents(tmp_path) == {}
    # The same day with papers is saved: they are real, whatever comes later that day.
    api.script[TODAY.isoformat()] = [Answer(body=day_json(TODAY))]
    [result] = run_fetch(api, tmp_path, [TODAY]).results
    assert result.outcome == "fetched"
    assert contents(tmp_path) == {f"{TODAY}.json": day_json(TODAY)}


# --- a window -------------------------------------------------------------------------------------


def test_a_window_fetches_only_missing_days_and_one_failure_stops_no_other(api: FakeApi, tmp_path: Path) -> None:
    present_text = tmp_path / f"{DAYS[1]}.txt"  # a page dump saved by hand counts as that day's dump
    present_text.write_bytes(b"saved by hand")
    present_json = tmp_path / f"{DAYS[3]}.json"
    present_json.write_bytes(b"[]")
    for day in DAYS:
        api.script[day.isoformat()] = [Answer(body=day_json(day))]
    api.script[DAYS[2].isoformat()] = [Answer(404, b"{}")]

    report = run_fetch(api, tmp_path, DAYS)

    assert [r.outcome for r in report.results] == ["fetched", "skipped", "failed", "skipped", "fetched"]
    assert report.missing == {DAYS[2].isoformat(): "HTTP 404 Not Found"}
    assert api.days_requested() == [DAYS[0].isoformat(), DAYS[2].isoformat(), DAYS[4].isoformat()]
    assert contents(tmp_path) == {
        f"{DAYS[0]}.json": day_json(DAYS[0]),
        f"{DAYS[1]}.txt": b"saved by hand",
        f"{DAYS[3]}.json": b"[]",
        f"{DAYS[4]}.json": day_json(DAYS[4]),
    }
    assert_polite(api)

    # Again: only the day that failed is asked for.
    api.script[DAYS[2].isoformat()] = [Answer(body=day_json(DAYS[2]))]
    api.requests.clear()
    again = run_fetch(api, tmp_path, DAYS)
    assert api.days_requested() == [DAYS[2].isoformat()]
    assert [r.outcome for r in again.results].count("skipped") == 4
    assert not again.missing


def test_a_file_saved_meanwhile_is_never_replaced(api: FakeApi, tmp_path: Path) -> None:
    target = tmp_path / f"{DAY}.json"

    class SavedMeanwhile(DailyPapersClient):
        def daily_papers(self, day: dt.date) -> bytes:
            body = super().daily_papers(day)
            target.write_bytes(b"[]")  # someone saved the day while the request was in flight
            return body

    api.script[DAY.isoformat()] = [Answer(body=GOOD)]
    with SavedMeanwhile(FetchConfig(**{**CONFIG.__dict__, "base_url": api.url})) as client:
        [result] = fetch_days(tmp_path, [DAY], client, today=TODAY).results
    assert result.outcome == "skipped"
    assert contents(tmp_path) == {f"{DAY}.json": b"[]"}


def test_saved_files_are_what_the_parser_reads() -> None:
    parsed = parse_api_dump(GOOD, f"{DAY}.json", modified_at=dt.datetime.now(dt.UTC))
    assert (parsed.dump_date, parsed.sightings.height) == (DAY, 4)


# --- settings -------------------------------------------------------------------------------------


def test_fetch_settings_default_off_and_refuse_typos() -> None:
    settings = Settings.from_env({})
    assert (settings.fetch_enabled, settings.fetch_days, settings.fetch_base_url) == (
        False,
        7,
        "https://huggingface.co",
    )
    assert Settings.from_env({"PAPERS_FETCH": "1", "PAPERS_FETCH_BASE_URL": "http://127.0.0.1:9/"}).fetch_enabled
    for env, message in [
        ({"PAPERS_FETCH": "maybe"}, "PAPERS_FETCH='maybe' is neither on nor off"),
        ({"PAPERS_FETCH_DAYS": "0"}, "PAPERS_FETCH_DAYS='0' must be at least 1"),
        ({"PAPERS_FETCH_BASE_URL": "huggingface.co"}, "PAPERS_FETCH_BASE_URL='huggingface.co' is not an http(s) URL"),
    ]:
        with pytest.raises(SettingsError, match=re.escape(message)):
            Settings.from_env(env)


def make_fetch(workspace: Workspace, api: FakeApi, *args: str) -> subprocess.CompletedProcess[str]:
    """What ``make fetch`` does after set-up, against this workspace."""
    env = {**workspace.env(), "PAPERS_FETCH_BASE_URL": api.url}
    command = [sys.executable, "-m", "orchestration.fetch", *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_make_fetch_prints_each_day_and_fails_when_a_day_failed(api: FakeApi, workspace: Workspace) -> None:
    day, missing = dt.date(2026, 3, 10), dt.date(2026, 3, 11)
    api.script[day.isoformat()] = [Answer(body=day_json(day))]
    ok = make_fetch(workspace, api, "--date", day.isoformat())
    assert ok.returncode == 0, ok.stderr
    assert f"{day}: saved {day}.json (4 papers)" in ok.stdout
    assert contents(workspace.raw_dir) == {f"{day}.json": day_json(day)}

    failed = make_fetch(workspace, api, "--date", missing.isoformat())
    assert failed.returncode != 0
    assert f"{missing}: failed: HTTP 404 Not Found" in failed.stdout
    assert "Traceback" not in failed.stderr
    assert contents(workspace.raw_dir) == {f"{day}.json": day_json(day)}
