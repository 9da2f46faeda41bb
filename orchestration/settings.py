"""Where the raw folder and the warehouse live, and how the pipeline runs.

Environment variables steer every part of the project (Dagster, dbt, tests and benchmarks):
``PAPERS_RAW_DIR`` and ``PAPERS_WAREHOUSE`` above all. Each setting is declared once below, with
its variable and its default. They are read once, where the code location's definitions are built
(``orchestration/definitions.py``, which hands the resources ``dg.EnvVar``s) and by each command
line entry point; importing any other module reads nothing. A value that cannot be used raises
``SettingsError``, whose message names the variable and says what to do: a typo is a user's
problem to fix, not a traceback.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


class SettingsError(Exception):
    """A setting that cannot work as given; the message names the variable and the fix."""


def _env(variable: str, read: Callable[[str, str, Any], Any]) -> dict[str, Any]:
    """A field's metadata: ``read(variable, text, default)`` parses the variable; unset or empty is the default."""
    return {"variable": variable, "read": read}


def _path(variable: str, text: str, default: Path) -> Path:
    path = Path(text)
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def _text(variable: str, text: str, default: str) -> str:
    return text


def _number(kind: Callable[[str], float], minimum: float) -> Callable[[str, str, Any], Any]:
    def read(variable: str, text: str, default: float) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise SettingsError(
                f"{variable}={text!r} is not a number; unset it to use the default, {default}."
            ) from None
        if not value >= minimum:  # also refuses nan
            raise SettingsError(
                f"{variable}={text!r} must be at least {minimum}; unset it to use the default, {default}."
            )
        return value

    return read


def _switch(variable: str, text: str, default: bool) -> bool:
    value = text.strip().lower()
    if value in ("1", "on", "true", "yes"):
        return True
    if value in ("0", "off", "false", "no", ""):
        return False
    raise SettingsError(
        f"{variable}={text!r} is neither on nor off; set it to 1 or 0, or unset it ({'on' if default else 'off'})."
    )


def _base_url(variable: str, text: str, default: str) -> str:
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest.strip("/"):
        raise SettingsError(f"{variable}={text!r} is not an http(s) URL; unset it to use {default}.")
    return text.rstrip("/")


def _postgres_url(variable: str, text: str, default: None) -> str:
    if text.partition("://")[0] in ("postgresql", "postgres"):
        return text
    # The value may hold a password: name what is wrong without repeating it.
    raise SettingsError(
        f"{variable} is not a PostgreSQL URL: write it as postgresql://USER@HOST:PORT/DATABASE"
        " (the password in PGPASSWORD or ~/.pgpass), or unset it to serve nothing."
    )


@dataclass(frozen=True)
class Settings:
    """Every setting, its environment variable and its default: the one place each is declared."""

    raw_dir: Path = field(default=REPO_ROOT / "raw", metadata=_env("PAPERS_RAW_DIR", _path))
    warehouse: Path = field(default=REPO_ROOT / "warehouse" / "papers.duckdb", metadata=_env("PAPERS_WAREHOUSE", _path))
    sensor_interval_s: int = field(default=30, metadata=_env("PAPERS_SENSOR_INTERVAL_SECONDS", _number(int, 1)))
    sensor_settle_s: float = field(default=3.0, metadata=_env("PAPERS_SENSOR_SETTLE_SECONDS", _number(float, 0)))
    sensor_retries: int = field(default=3, metadata=_env("PAPERS_SENSOR_RETRIES", _number(int, 0)))
    sensor_retry_s: float = field(default=60.0, metadata=_env("PAPERS_SENSOR_RETRY_SECONDS", _number(float, 0)))
    schedule_cron: str = field(default="0 6 * * *", metadata=_env("PAPERS_SCHEDULE_CRON", _text))
    fetch_enabled: bool = field(default=False, metadata=_env("PAPERS_FETCH", _switch))
    fetch_days: int = field(default=7, metadata=_env("PAPERS_FETCH_DAYS", _number(int, 1)))
    fetch_cron: str = field(default="0 5 * * *", metadata=_env("PAPERS_FETCH_CRON", _text))
    fetch_base_url: str = field(default="https://huggingface.co", metadata=_env("PAPERS_FETCH_BASE_URL", _base_url))
    fetch_timeout_s: float = field(default=30.0, metadata=_env("PAPERS_FETCH_TIMEOUT_SECONDS", _number(float, 0.1)))
    # Carries a password: kept out of repr() and every message (see orchestration/load/serve.py).
    serve_url: str | None = field(default=None, metadata=_env("PAPERS_SERVE_URL", _postgres_url), repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in dataclasses.fields(cls):
            text = env.get(setting.metadata["variable"])
            if text:
                values[setting.name] = setting.metadata["read"](setting.metadata["variable"], text, setting.default)
        return cls(**values)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each field's environment variable, by field name."""
        return {setting.name: setting.metadata["variable"] for setting in dataclasses.fields(cls)}

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
