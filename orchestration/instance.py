"""The project's Dagster instance settings, installed into ``DAGSTER_HOME``.

``orchestration/dagster.yaml`` keeps everything in SQLite files under ``DAGSTER_HOME``; with
``DAGSTER_POSTGRES_URL`` set, ``orchestration/dagster_postgres.yaml`` puts runs, the event log and
schedule and sensor state in that PostgreSQL database instead. ``python -m orchestration.instance
[HOME]`` writes ``HOME/dagster.yaml`` (default: ``$DAGSTER_HOME``); ``make`` and ``make run`` do
this whenever the template or the variable changes.
"""

import os
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("dagster.yaml")
POSTGRES_TEMPLATE = Path(__file__).with_name("dagster_postgres.yaml")
POSTGRES_URL = "DAGSTER_POSTGRES_URL"
HOME_PLACEHOLDER = "@DAGSTER_HOME@"
MARKER = "# Instance settings for the project's DAGSTER_HOME"  # how every version of the template starts


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
    args = sys.argv[1:]
    if len(args) > 1:
        sys.exit("usage: python -m orchestration.instance [DAGSTER_HOME]")
    home = args[0] if args else os.environ.get("DAGSTER_HOME")
    if not home:
        sys.exit("DAGSTER_HOME is not set and no folder was given")
    print(install_instance_config(Path(home)))
