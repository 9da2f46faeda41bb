"""Fetch each day's papers from the Hugging Face API into the raw folder.

``make fetch`` (``python -m orchestration.fetch``) and the ``raw/api_fetch`` asset call
``fetch_days``: for each day of the window that has no dump in the raw folder yet, it requests
``<base URL>/api/daily_papers?date=YYYY-MM-DD`` and saves the response, byte for byte, as
``<raw folder>/YYYY-MM-DD.json`` -- the API dump the parser already reads. The drop-folder
sensor then ingests the file like any dump saved by hand; the fetch never touches the warehouse.

Rules:

* A day already has a dump when a file in the raw folder is dated that day by its name (text or
  JSON, as the parsers date it); such a day is skipped without a request.  No file is ever
  overwritten: the new file is written under a hidden temporary name in the same folder, then
  linked to its final name, which fails if the name was taken meanwhile.
* A response is saved only if it is a JSON array that ``parse.api`` reads as a dump (item
  rejects are fine: the pipeline records them).  Otherwise nothing is written and the day fails
  with the reason; the other days go on.
* An empty array is saved only for a day that is over (UTC); a day still in progress is left
  for a later fetch.  The default window is the ``PAPERS_FETCH_DAYS`` days before today, so
  scheduled fetches only ask for complete days.
* The client is polite: a timeout on every request, a descriptive User-Agent, at most one
  request per ``min_interval_s`` (1 s), retries with exponential backoff on connection errors,
  timeouts, 5xx and 429 (honouring ``Retry-After``), and no retry on other 4xx.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import httpx
import tenacity

from orchestration.load.ingest import scan_raw_dir
from orchestration.parse.api import parse_api_dump
from orchestration.parse.common import name_date
from orchestration.parse.contract import DumpRejected
from orchestration.settings import Settings, SettingsError

USER_AGENT = (
    f"papers-warehouse/{version('papers-warehouse')} "
    "(local-first Daily Papers warehouse; one request per day not yet saved, at most 1 per second)"
)
ENDPOINT = "/api/daily_papers"

Outcome = Literal["fetched", "empty", "skipped", "pending", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("fetched", "empty", "skipped", "pending", "failed")


@dataclass(frozen=True)
class FetchConfig:
    base_url: str = "https://huggingface.co"
    timeout_s: float = 30.0
    min_interval_s: float = 1.0  # between the starts of two requests, retries included
    attempts: int = 4  # per day: the first request and up to three retries
    backoff_s: float = 2.0  # 2 s, 4 s, 8 s... unless Retry-After asks for longer
    max_wait_s: float = 120.0  # a Retry-After beyond this fails the day instead of blocking the run

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchConfig:
        return cls(base_url=settings.fetch_base_url, timeout_s=settings.fetch_timeout_s)


@dataclass(frozen=True)
class DayResult:
    day: dt.date
    outcome: Outcome
    file: str | None = None  # the dump that holds the day (saved now, or already there)
    papers: int = 0
    reason: str | None = None  # why a day failed or is pending

    def describe(self) -> str:
        text = {
            "fetched": f"saved {self.file} ({self.papers} papers)",
            "empty": f"saved {self.file} (no papers that day)",
            "skipped": f"already in the raw folder as {self.file}",
            "pending": f"not saved: {self.reason}",
            "failed": f"failed: {self.reason}",
        }[self.outcome]
        return f"{self.day}: {text}"


@dataclass
class FetchReport:
    results: list[DayResult] = field(default_factory=list)
    requests: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def missing(self) -> dict[str, str]:
        """Days of the window that still have no dump, with the reason."""
        return {
            result.day.isoformat(): result.reason or result.outcome
            for result in self.results
            if result.outcome in ("failed", "pending")
        }

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(outcome)} {outcome}" for outcome in OUTCOMES)
        return f"{len(self.results)} day(s): {counts}; {self.requests} request(s)"


class FetchError(Exception):
    """A day that could not be fetched; ``transient`` errors are worth another attempt."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after


class DailyPapersClient:
    """``GET /api/daily_papers?date=...`` with a timeout, a request rate limit and retries."""

    def __init__(
        self,
        config: FetchConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.requests = 0
        self._sleep = sleep
        self._last_start: float | None = None
        self._http = httpx.Client(
            base_url=config.base_url,
            timeout=config.timeout_s,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
            transport=transport,
        )

    def __enter__(self) -> DailyPapersClient:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def daily_papers(self, day: dt.date) -> bytes:
        """The response body for ``day``; raises ``FetchError`` once retries are used up."""
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda error: isinstance(error, FetchError) and error.transient),
            stop=tenacity.stop_after_attempt(self.config.attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        )
        body: bytes = retrying(self._get, day)
        return body

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff: float = self.config.backoff_s * 2.0 ** (state.attempt_number - 1)
        error = state.outcome.exception() if state.outcome else None
        retry_after = error.retry_after if isinstance(error, FetchError) else None
        return max(backoff, retry_after or 0.0)

    def _throttle(self) -> None:
        if self._last_start is not None:
            wait = self._last_start + self.config.min_interval_s - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_start = time.monotonic()

    def _get(self, day: dt.date) -> bytes:
        self._throttle()
        self.requests += 1
        try:
            response = self._http.get(ENDPOINT, params={"date": day.isoformat()})
        except httpx.TimeoutException:
            raise FetchError(f"no complete answer within {self.config.timeout_s:g} s", transient=True) from None
        except httpx.TransportError as error:
            raise FetchError(f"connection failed ({type(error).__name__}: {error})", transient=True) from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            reason = f"HTTP {status} {response.reason_phrase}".strip()
            if retry_after is not None and retry_after > self.config.max_wait_s:
                raise FetchError(f"{reason}, asked to wait {retry_after:.0f} s (over {self.config.max_wait_s:g} s)")
            raise FetchError(reason, transient=True, retry_after=retry_after)
        if status != 200:
            raise FetchError(f"HTTP {status} {response.reason_phrase}".strip())
        return response.content


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def window(today: dt.date, days: int) -> list[dt.date]:
    """The ``days`` complete days before ``today``, oldest first."""
    return [today - dt.timedelta(days=n) for n in range(days, 0, -1)]


def dumps_by_day(raw_dir: Path) -> dict[dt.date, str]:
    """Each day that a dump in the raw folder is dated by its name, and that dump's name."""
    found: dict[dt.date, str] = {}
    for raw_file in scan_raw_dir(raw_dir).files:
        day = name_date(raw_file.name)
        if day is not None:
            found.setdefault(day, raw_file.name)
    return found


def fetch_days(
    raw_dir: Path,
    days: Iterable[dt.date],
    client: DailyPapersClient,
    *,
    today: dt.date,
    on_result: Callable[[DayResult], None] = lambda _: None,
) -> FetchReport:
    """Fetch every day of ``days`` that has no dump in ``raw_dir``; one day's failure stops no other."""
    present = dumps_by_day(raw_dir)
    report = FetchReport()
    for day in sorted(set(days)):
        if day in present:
            result = DayResult(day, "skipped", file=present[day])
        elif day > today:
            result = DayResult(day, "failed", reason="the day has not begun (UTC)")
        else:
            result = _fetch_day(raw_dir, day, client, today=today)
        report.results.append(result)
        on_result(result)
    report.requests = client.requests
    return report


def _fetch_day(raw_dir: Path, day: dt.date, client: DailyPapersClient, *, today: dt.date) -> DayResult:
    name = f"{day.isoformat()}.json"
    try:
        body = client.daily_papers(day)
    except FetchError as error:
        return DayResult(day, "failed", reason=error.reason)
    try:
        papers = parse_api_dump(body, name, modified_at=dt.datetime.now(dt.UTC)).sightings.height
    except DumpRejected as error:
        return DayResult(day, "failed", reason=f"the response is not a dump the parser reads: {error.reason}")
    if papers == 0 and day >= today:
        return DayResult(day, "pending", reason="no papers yet on a day still in progress; fetched again later")
    try:
        saved = _save_new(raw_dir / name, body)
    except OSError as error:
        return DayResult(day, "failed", reason=f"cannot write {raw_dir / name}: {error.strerror or error}")
    if not saved:
        return DayResult(day, "skipped", file=name)
    return DayResult(day, "fetched" if papers else "empty", file=name, papers=papers)


def _save_new(path: Path, data: bytes) -> bool:
    """Write ``path`` atomically unless it exists; ``False`` if it does (it is never replaced)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        try:
            os.link(temporary, path)  # fails if the name is taken; a reader sees all or nothing
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


# --- make fetch -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make fetch", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--days", type=int, help="the N days before today (default: PAPERS_FETCH_DAYS, 7)")
    which.add_argument("--date", type=dt.date.fromisoformat, help="one day, YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        settings.check_raw_dir()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.days is not None and args.days < 1:
        print("error: DAYS must be at least 1.", file=sys.stderr)
        return 2
    today = dt.datetime.now(dt.UTC).date()
    days = [args.date] if args.date else window(today, args.days or settings.fetch_days)
    print(f"Fetching {len(days)} day(s) from {settings.fetch_base_url}{ENDPOINT} into {settings.raw_dir}")
    with DailyPapersClient(FetchConfig.from_settings(settings)) as client:
        report = fetch_days(settings.raw_dir, days, client, today=today, on_result=lambda r: print(r.describe()))
    print(report.summary())
    if report.count("fetched") + report.count("empty"):
        print("The drop-folder sensor ingests the new files; without `make dev` running, run `make run`.")
    return 1 if report.count("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
