"""Where the raw folder and the warehouse live, and how the pipeline runs.

Environment variables steer every part of the project (Dagster, dbt's
profiles.yml, tests and benchmarks): ``PAPERS_RAW_DIR`` and ``PAPERS_WAREHOUSE``
above all. They are read when a run or a sensor tick needs them, never at import
time, so a code-location reload picks up a changed environment without surprises.
A value that cannot be used raises ``SettingsError``, whose message names the
variable and says what to do: a typo is a user's problem to fix, not a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

_Number = TypeVar("_Number", int, float)


class SettingsError(Exception):
    """A setting that cannot work as given; the message names the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    sensor_interval_s: int = 30
    sensor_settle_s: float = 3.0
    sensor_retries: int = 3
    sensor_retry_s: float = 60.0
    schedule_cron: str = "0 6 * * *"
    fetch_enabled: bool = False
    fetch_days: int = 7
    fetch_cron: str = "0 5 * * *"
    fetch_base_url: str = "https://huggingface.co"
    fetch_timeout_s: float = 30.0
    # Carries a password: kept out of repr() and every message (see orchestration/load/serve.py).
    serve_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_dir = Path(env.get("PAPERS_RAW_DIR") or REPO_ROOT / "raw")
        warehouse = Path(env.get("PAPERS_WAREHOUSE") or REPO_ROOT / "warehouse" / "papers.duckdb")
        return cls(
            raw_dir=_absolute(raw_dir),
            warehouse=_absolute(warehouse),
            sensor_interval_s=_number(env, "PAPERS_SENSOR_INTERVAL_SECONDS", int, 30, minimum=1),
            sensor_settle_s=_number(env, "PAPERS_SENSOR_SETTLE_SECONDS", float, 3.0, minimum=0),
            sensor_retries=_number(env, "PAPERS_SENSOR_RETRIES", int, 3, minimum=0),
            sensor_retry_s=_number(env, "PAPERS_SENSOR_RETRY_SECONDS", float, 60.0, minimum=0),
            schedule_cron=env.get("PAPERS_SCHEDULE_CRON") or "0 6 * * *",
            fetch_enabled=_switch(env, "PAPERS_FETCH"),
            fetch_days=_number(env, "PAPERS_FETCH_DAYS", int, 7, minimum=1),
            fetch_cron=env.get("PAPERS_FETCH_CRON") or "0 5 * * *",
            fetch_base_url=_base_url(env.get("PAPERS_FETCH_BASE_URL") or "https://huggingface.co"),
            fetch_timeout_s=_number(env, "PAPERS_FETCH_TIMEOUT_SECONDS", float, 30.0, minimum=0.1),
            serve_url=_postgres_url(env.get("PAPERS_SERVE_URL") or None),
        )

    @property
    def read_snapshot(self) -> Path:
        """The read-only copy analysts query; see ``load.snapshot.publish_snapshot``."""
        return snapshot_path(self.warehouse)

    @property
    def report(self) -> Path:
        """The HTML report rebuilt after every run; see ``orchestration.report``."""
        return self.warehouse.with_name(f"{self.warehouse.stem}.report.html")

    @property
    def dbt_target(self) -> Path:
        """dbt's target folder for builds of this warehouse: artifacts and partial-parse state."""
        return self.warehouse.with_name(f"{self.warehouse.stem}.dbt")

    @property
    def writer_lock(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.name}.writer.lock")

    def check_raw_dir(self) -> None:
        """Raise ``SettingsError`` unless the raw folder exists (an empty one is fine)."""
        if not self.raw_dir.exists():
            raise SettingsError(
                f"PAPERS_RAW_DIR: the raw folder {self.raw_dir} does not exist. "
                "Create it, or set PAPERS_RAW_DIR to the folder that holds your dumps."
            )
        if not self.raw_dir.is_dir():
            raise SettingsError(
                f"PAPERS_RAW_DIR: {self.raw_dir} is not a folder. "
                "Set PAPERS_RAW_DIR to the folder that holds your dumps."
            )


def snapshot_path(warehouse: Path) -> Path:
    return warehouse.with_name(f"{warehouse.stem}.read{warehouse.suffix}")


def _number(
    env: Mapping[str, str], name: str, kind: Callable[[str], _Number], default: _Number, *, minimum: _Number
) -> _Number:
    text = env.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number; unset it to use the default, {default}.") from None
    if not value >= minimum:  # also refuses nan
        raise SettingsError(f"{name}={text!r} must be at least {minimum}; unset it to use the default, {default}.")
    return value


def _switch(env: Mapping[str, str], name: str) -> bool:
    text = (env.get(name) or "off").strip().lower()
    if text in ("1", "on", "true", "yes"):
        return True
    if text in ("0", "off", "false", "no", ""):
        return False
    raise SettingsError(f"{name}={env.get(name)!r} is neither on nor off; set it to 1 or 0, or unset it (off).")


def _base_url(text: str) -> str:
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise SettingsError(
            f"PAPERS_FETCH_BASE_URL={text!r} is not an http(s) URL; unset it to use https://huggingface.co."
        )
    return text.rstrip("/")


def _postgres_url(text: str | None) -> str | None:
    if text is None or text.partition("://")[0] in ("postgresql", "postgres"):
        return text
    # The value may hold a password: name what is wrong without repeating it.
    raise SettingsError(
        "PAPERS_SERVE_URL is not a PostgreSQL URL: write it as postgresql://USER@HOST:PORT/DATABASE"
        " (the password in PGPASSWORD or ~/.pgpass), or unset it to serve nothing."
    )


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else (Path.cwd() / path).resolve()
