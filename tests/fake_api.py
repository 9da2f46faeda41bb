"""A local HTTP server that plays the Hugging Face daily-papers API for the fetch tests."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

from orchestration import fetch


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # before answering: longer than the client's timeout is a timeout
    cut: bool = False  # announce the whole body, send half, close the connection


@dataclass
class Request:
    at: float
    day: str
    user_agent: str


class FakeApi:
    """``GET /api/daily_papers?date=...``: each day's scripted answers in turn, the last one repeating."""

    def __init__(self) -> None:
        self.script: dict[str, list[Answer]] = {}
        self.requests: list[Request] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urlparse(self.path)
                day = parse_qs(url.query).get("date", [""])[0]
                api.requests.append(Request(time.monotonic(), day, self.headers.get("User-Agent", "")))
                answers = api.script.get(day) if url.path == fetch.ENDPOINT else None
                answer = (answers.pop(0) if len(answers) > 1 else answers[0]) if answers else Answer(404, b"{}")
                time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for key, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.body)))
                if answer.cut:
                    self.send_header("Connection", "close")
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    self.wfile.write(answer.body[: len(answer.body) // 2] if answer.cut else answer.body)
                if answer.cut:
                    self.close_connection = True

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def days_requested(self) -> list[str]:
        return [request.day for request in self.requests]

    def gaps(self) -> list[float]:
        times = [request.at for request in self.requests]
        return [later - earlier for earlier, later in itertools.pairwise(times)]


@contextmanager
def serve_api() -> Iterator[FakeApi]:
    """A ``FakeApi`` on 127.0.0.1 until the block ends."""
    fake = FakeApi()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=5)
