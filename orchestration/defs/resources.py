"""Resources: where the raw folder and the warehouse are, resolved at run time."""

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from orchestration.load.warehouse import WarehouseError, damaged, disk_full, is_damage, is_disk_full, is_transient
from orchestration.settings import Settings, SettingsError


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


@contextlib.contextmanager
def failure_policy(warehouse: Path) -> Iterator[None]:
    """Retry what can pass by waiting; fail at once, with the fix and no traceback, on what can't.

    A lock held by another writer is worth a retry. A missing folder, a path that cannot be
    written, a damaged warehouse or a full disk will be just as wrong in five seconds; the
    sensor asks again later for the files of a failed run (see ``defs/sensors.py``).
    """
    try:
        yield
    except (SettingsError, WarehouseError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    except Exception as error:
        if is_transient(error):
            raise dg.RetryRequested(max_retries=3, seconds_to_wait=5) from error
        if is_disk_full(error):
            raise dg.Failure(description=str(disk_full(warehouse)), allow_retries=False) from None
        if is_damage(error):
            raise dg.Failure(description=str(damaged(warehouse, error)), allow_retries=False) from None
        raise
