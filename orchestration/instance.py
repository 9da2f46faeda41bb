"""The project's Dagster instance settings, installed into ``DAGSTER_HOME``.

``orchestration/dagster.yaml`` keeps everything in SQLite files under ``DAGSTER_HOME``; with
``DAGSTER_POSTGRES_URL`` set, ``orchestration/dagster_postgres.yaml`` puts runs, the event log and
schedule and sensor state in that PostgreSQL database instead.

``DAGSTER_DEFAULTS`` is the one place that defaults ``DAGSTER_HOME`` and the variables Dagster
reads for how it writes events. ``make run`` applies them in ``orchestration.run``; ``make dev``,
``make test`` and ``make bench`` start their command through ``python -m orchestration.instance
COMMAND...``, which applies them, installs the instance settings and runs the command. With no
command it only installs them into ``$DAGSTER_HOME`` (or its default) and prints the file's path.
"""

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

from orchestration.settings import REPO_ROOT

TEMPLATE = Path(__file__).with_name("dagster.yaml")
POSTGRES_TEMPLATE = Path(__file__).with_name("dagster_postgres.yaml")
POSTGRES_URL = "DAGSTER_POSTGRES_URL"
HOME_PLACEHOLDER = "@DAGSTER_HOME@"
MARKER = "# Instance settings for the project's DAGSTER_HOME"  # how every version of the template starts
# Each applies unless the variable is set already.
DAGSTER_DEFAULTS = {
    # The repo's git-ignored folder: history survives restarts.
    "DAGSTER_HOME": str(REPO_ROOT / ".dagster_home"),
    # One "planned" event per asset for a partition-range run instead of one per partition: on SQLite
    # the per-partition events took minutes for a ten-year backfill. Dagster's trade-off: partitions
    # of a failed run are not marked failed; the raw.dumps ledger still says what loaded.
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "1",
    # The per-partition materializations go to the event log in batches (orchestration/event_storage.py).
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
}


def prepare_environment(environ: MutableMapping[str, str]) -> Path:
    """Default Dagster's variables in ``environ`` and install the instance settings; return ``DAGSTER_HOME``."""
    for name, value in DAGSTER_DEFAULTS.items():
        environ.setdefault(name, value)
    # Dagster stops with a traceback on a relative DAGSTER_HOME: it means the folder seen from here.
    home = Path(environ["DAGSTER_HOME"]).expanduser().resolve()
    environ["DAGSTER_HOME"] = str(home)
    install_instance_config(home)
    return home


def install_instance_config(home: Path, *, postgres: bool | None = None) -> Path:
    """Write the template into ``home`` with its absolute path filled in; return the file's path.

    An existing ``dagster.yaml`` is replaced only if an earlier install wrote it (it starts with
    ``MARKER``): an instance configured by hand is left alone. ``postgres`` defaults to whether
    ``DAGSTER_POSTGRES_URL`` is set.
    """
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if postgres is None:
        postgres = bool(os.environ.get(POSTGRES_URL))
    template = (POSTGRES_TEMPLATE if postgres else TEMPLATE).read_text()
    text = template.replace(HOME_PLACEHOLDER, str(home))
    if target.exists():
        current = target.read_text()
        if current == text or not current.startswith(MARKER):
            return target
    target.write_text(text)
    return target


if __name__ == "__main__":
    command = sys.argv[1:]
    home = prepare_environment(os.environ)
    if not command:
        print(home.resolve() / "dagster.yaml")
        sys.exit(0)
    try:
        os.execvp(command[0], command)
    except OSError as error:
        sys.exit(f"{command[0]}: {error.strerror}")
