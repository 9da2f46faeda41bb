"""Resources: where the raw folder and the warehouse are, resolved at run time."""

import dataclasses
from pathlib import Path

import dagster as dg

from orchestration.settings import Settings


class PapersResource(dg.ConfigurableResource["PapersResource"]):
    """Paths for the pipeline; empty fields fall back to PAPERS_RAW_DIR / PAPERS_WAREHOUSE."""

    raw_dir: str = ""
    warehouse: str = ""

    def settings(self) -> Settings:
        base = Settings.from_env()
        return dataclasses.replace(
            base,
            raw_dir=Path(self.raw_dir).resolve() if self.raw_dir else base.raw_dir,
            warehouse=Path(self.warehouse).resolve() if self.warehouse else base.warehouse,
        )
