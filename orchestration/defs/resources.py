"""Resources: the project's settings as Dagster config, resolved in the process that runs a step or a tick."""

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import dagster as dg

from orchestration.load.warehouse import WarehouseError, damaged, disk_full, is_damage, is_disk_full, is_transient
from orchestration.settings import Settings, SettingsError


class PapersResource(dg.ConfigurableResource["PapersResource"]):
    """One field per setting (see ``Settings``), as the text of its variable; empty means unset.

    ``orchestration/definitions.py`` gives each variable that is set as a ``dg.EnvVar``, so the UI
    shows the variable's name (never a password) and a run reads it where it runs. A field left
    empty falls back to its variable, then to the default in ``Settings``: Dagster fails a run
    whose ``dg.EnvVar`` is unset instead of using a default. Values are checked by
    ``Settings.from_env``, so a typo gives the same message wherever it is found.
    """

    raw_dir: str = ""
    warehouse: str = ""
    sensor_interval_s: str = ""
    sensor_settle_s: str = ""
    sensor_retries: str = ""
    sensor_retry_s: str = ""
    schedule_cron: str = ""
    fetch_enabled: str = ""
    fetch_days: str = ""
    fetch_cron: str = ""
    fetch_base_url: str = ""
    fetch_timeout_s: str = ""
    serve_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "PapersResource":
        """A ``dg.EnvVar`` for each setting whose variable is set in ``env``; the others stay empty."""
        return cls(
            **{name: dg.EnvVar(variable) for name, variable in Settings.variables().items() if env.get(variable)}
        )

    def settings(self) -> Settings:
        given = self.model_dump()
        return Settings.from_env(
            {variable: given[name] or os.environ.get(variable, "") for name, variable in Settings.variables().items()}
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
