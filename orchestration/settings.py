"""Where the raw folder and the warehouse live.

Two environment variables steer every part of the project (Dagster, dbt's
profiles.yml, tests and benchmarks): ``PAPERS_RAW_DIR`` and ``PAPERS_WAREHOUSE``.
They are read when a run or a sensor tick needs them, never at import time, so a
code-location reload picks up a changed environment without surprises.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    sensor_interval_s: int = 30
    sensor_settle_s: float = 3.0
    schedule_cron: str = "0 6 * * *"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        raw_dir = Path(env.get("PAPERS_RAW_DIR") or REPO_ROOT / "raw")
        warehouse = Path(env.get("PAPERS_WAREHOUSE") or REPO_ROOT / "warehouse" / "papers.duckdb")
        return cls(
            raw_dir=_absolute(raw_dir),
            warehouse=_absolute(warehouse),
            sensor_interval_s=int(env.get("PAPERS_SENSOR_INTERVAL_SECONDS") or 30),
            sensor_settle_s=float(env.get("PAPERS_SENSOR_SETTLE_SECONDS") or 3),
            schedule_cron=env.get("PAPERS_SCHEDULE_CRON") or "0 6 * * *",
        )

    @property
    def read_snapshot(self) -> Path:
        """The read-only copy analysts query; see ``warehouse.publish_snapshot``."""
        return self.warehouse.with_name(f"{self.warehouse.stem}.read{self.warehouse.suffix}")

    @property
    def writer_lock(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.name}.writer.lock")


def _absolute(path: Path) -> Path:
    return path if path.is_absolute() else (Path.cwd() / path).resolve()
