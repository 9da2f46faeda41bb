"""``make rebuild``: build a new warehouse from everything in the raw folder, then swap it in.

The raw folder is the source of truth; the warehouse, its read snapshot and the report are
derived from it. The new warehouse is built by the usual pipeline (``python -m
orchestration.run``) in a hidden folder next to the current one, ``.<name>.rebuild/``, with a
throwaway Dagster home, so the current files and the Dagster history stay untouched while it
builds. Then, holding the writer lock, the new warehouse, read snapshot and report replace the
current ones, each with one atomic rename: readers see the old snapshot or the new one, never a
part of either. A crash or a failure before the swap leaves everything as it was (the next
rebuild clears the leftovers). Finally an ordinary ``make run`` ingests whatever dump arrived
during the rebuild.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from orchestration.instance import POSTGRES_URL, install_instance_config
from orchestration.load.warehouse import WarehouseError, check_writable, fsync_dir, writer_lock
from orchestration.settings import Settings, SettingsError


def staging_dir(settings: Settings) -> Path:
    return settings.warehouse.with_name(f".{settings.warehouse.stem}.rebuild")


def main() -> int:
    try:
        settings = Settings.from_env()
        settings.check_raw_dir()
        check_writable(settings.warehouse)
    except (SettingsError, WarehouseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    staging = staging_dir(settings)
    shutil.rmtree(staging, ignore_errors=True)  # leftovers of a rebuild that crashed
    new = dataclasses.replace(settings, warehouse=staging / settings.warehouse.name)
    home = staging / "dagster_home"
    install_instance_config(home, postgres=False)  # the throwaway history stays out of a shared instance
    print(f"Rebuilding from {settings.raw_dir} in {staging}; {settings.warehouse} is untouched until done.")
    env = {key: value for key, value in os.environ.items() if key != POSTGRES_URL}
    env |= {"PAPERS_WAREHOUSE": str(new.warehouse), "DAGSTER_HOME": str(home)}
    build = subprocess.run([sys.executable, "-m", "orchestration.run"], env=env, check=False)
    if build.returncode != 0:
        print(
            f"error: the rebuild failed (see above); {settings.warehouse} and its snapshot are unchanged.",
            file=sys.stderr,
        )
        return 1
    with writer_lock(settings.writer_lock):
        _retire_wal(settings.warehouse)
        os.replace(new.warehouse, settings.warehouse)
        os.replace(new.read_snapshot, settings.read_snapshot)
        if new.report.exists():
            os.replace(new.report, settings.report)
        fsync_dir(settings.warehouse.parent)
    shutil.rmtree(staging, ignore_errors=True)
    print(f"Swapped in the rebuilt warehouse, read snapshot and report at {settings.warehouse.parent}.")
    # Dumps that arrived while the rebuild ran, with the project's usual Dagster history.
    return subprocess.run([sys.executable, "-m", "orchestration.run"], check=False).returncode


def _retire_wal(warehouse: Path) -> None:
    """Leave no write-ahead log of the old file behind: DuckDB would replay it into the new one.

    A readable warehouse is checkpointed (which empties its log); a damaged one -- the usual
    reason to rebuild -- just loses its log along with the file.
    """
    wal = warehouse.with_name(f"{warehouse.name}.wal")
    if not wal.exists():
        return
    try:
        with duckdb.connect(str(warehouse)) as con:
            con.execute("checkpoint")
    except duckdb.Error:
        pass
    wal.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
