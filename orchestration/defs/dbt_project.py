"""The dbt project as dagster-dbt sees it, and how its manifest is prepared.

The manifest (``dbt_project/target/manifest.json``) tells Dagster which models and tests exist,
so it must be there, and current, before ``orchestration.defs.dbt`` is imported. It is prepared
the way dagster-dbt's convention has it: ``DBT_PROJECT.prepare_if_dev()`` under ``dagster dev``
and ``dg`` (each code-location load), and an explicit prepare everywhere else: ``make run`` (in
``orchestration.run``), the tests (``tests/conftest.py``), or by hand with
``dagster-dbt project prepare-and-package --file orchestration/defs/dbt_project.py``.
Importing this module prepares nothing outside ``dagster dev``.

The preparer parses only when the project's files changed since the last parse (their digest is
kept next to the manifest), so a reload with nothing changed costs no dbt start-up, and processes
starting together parse once, in turn.
"""

import hashlib
import importlib.metadata
import json
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject, DbtProjectPreparer
from dagster_shared.record import replace
from packaging import version

from orchestration.load.warehouse import writer_lock
from orchestration.settings import DBT_PROJECT_DIR, Settings

# dbt has an environment of its own inside the project's virtualenv (`make setup` builds it from the
# lock's `dbt` group). Dagster only starts dbt as a command, so no Dagster process imports dbt-core:
# importing it costs every process that loads the definitions about 3.5 s.
DBT_ENVIRONMENT = Path(sys.prefix) / "dbt"
DBT_EXECUTABLE = str(DBT_ENVIRONMENT / "bin" / "dbt")
DIGEST_FILE = "project_digest.txt"


class DbtNotInstalled(Exception):
    """dbt's environment is missing (the project was installed without ``make setup``)."""


def check_dbt_installed() -> None:
    """Raise ``DbtNotInstalled``, saying how to fix it, unless dbt's environment holds a dbt command."""
    if not Path(DBT_EXECUTABLE).is_file():
        raise DbtNotInstalled(
            f"dbt is not installed at {DBT_EXECUTABLE}: dbt runs from an environment of its own inside the "
            "project's virtualenv; run `make setup` to build it from uv.lock (`make run` and `make dev` do so first)."
        )


def dbt_package_version(name: str = "dbt-core") -> str:
    """The version of a package installed in dbt's environment (``dbt-core``, ``dbt-duckdb``)."""
    site_packages = [str(path) for path in DBT_ENVIRONMENT.glob("lib/python*/site-packages")]
    for found in importlib.metadata.distributions(name=name, path=site_packages):
        return str(found.version)
    raise importlib.metadata.PackageNotFoundError(f"{name} is not installed in {DBT_ENVIRONMENT}: run `make setup`")


def project_digest(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """Hash of the dbt project's source files: tells when the manifest or the marts are stale."""
    digest = hashlib.sha256()
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_file() and relative.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def warehouse_vars(warehouse: Path) -> list[str]:
    """The arguments that tell dbt which warehouse to build (``profiles.yml`` reads ``var('warehouse')``).

    Passed on dbt's command line rather than through the environment, so nothing writes
    ``os.environ``. dbt keys partial parsing on its command-line vars and the rendered profile:
    a parse and a later build must pass the same path, or the build re-parses the whole project.
    """
    return ["--vars", json.dumps({"warehouse": str(warehouse)})]


def mart_keys(manifest_path: Path | None = None) -> dict[str, list[str]]:
    """Each mart's key columns, as its ``primary_key`` data test names them (the served tables' keys).

    ``dbt_project/tests/generic/primary_key.sql`` checks them; ``manifest_path`` defaults to the project's manifest.
    """
    manifest = json.loads((manifest_path or DBT_PROJECT.manifest_path).read_text())
    nodes = manifest["nodes"]
    keys: dict[str, list[str]] = {}
    for test in nodes.values():
        if test["resource_type"] == "test" and (test.get("test_metadata") or {}).get("name") == "primary_key":
            model = nodes[test["attached_node"]]
            if model["fqn"][1] == "marts":  # models/marts/: the tables in schema main
                keys[model["name"]] = list(test["test_metadata"]["kwargs"]["columns"])
    return keys


# The manifest is parsed for the default warehouse, so that warehouse's first build reuses its partial-parse state.
PARSE_VARS = warehouse_vars(Settings().warehouse)


class DbtCli(DbtCliResource):
    """dagster-dbt's resource without two set-up steps it takes before every dbt command.

    Before each invocation ``DbtCliResource`` runs ``dbt --version`` in a subprocess (about 3.5 s
    here) and builds an in-process dbt adapter that only its row-count and column-metadata
    helpers use (with dbt-core installed only in ``DBT_ENVIRONMENT``, it would log a warning
    instead). This project uses neither helper, so the version comes from that environment's
    package metadata and no adapter is built. Dropping this class costs a dbt process and a
    warning per run, nothing else; ``tests/test_dbt_resource.py`` fails, naming the dagster-dbt
    version, if either hook of dagster-dbt changes.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(dbt_package_version())

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # no adapter
        return None


class DigestPreparer(DbtProjectPreparer):
    """``dbt parse`` when the project's files changed since the last parse, and only then."""

    def prepare_if_dev(self, project: DbtProject) -> None:
        """Under ``dagster dev`` and ``dg``, each load; a reload with nothing changed costs a digest."""
        if self.using_dagster_dev():
            self.prepare(project)

    def prepare(self, project: DbtProject) -> None:
        check_dbt_installed()  # else the definitions fail on dagster-dbt's advice to pip-install dbt
        target = project.project_dir / project.target_path
        if self.is_current(project):
            return
        target.mkdir(parents=True, exist_ok=True)
        # Processes starting together (a webserver and a daemon, parallel tests) parse once, in turn.
        with writer_lock(target / "parse.lock"):
            if self.is_current(project):
                return
            stamp = self.stamp(project)
            DbtCli(project_dir=str(project.project_dir), dbt_executable=DBT_EXECUTABLE).cli(
                ["parse", "--quiet", *PARSE_VARS], target_path=project.target_path
            ).wait()
            (target / DIGEST_FILE).write_text(stamp)

    @staticmethod
    def stamp(project: DbtProject) -> str:
        """What the last parse was of: the project's files and the vars it was given."""
        return f"{project_digest(project.project_dir)} {PARSE_VARS[-1]}"

    @classmethod
    def is_current(cls, project: DbtProject) -> bool:
        stamp = project.project_dir / project.target_path / DIGEST_FILE
        return project.manifest_path.exists() and stamp.exists() and stamp.read_text() == cls.stamp(project)


# DbtProject takes no preparer argument (dagster-dbt 0.29): swap ours in for its default one.
DBT_PROJECT = replace(DbtProject(project_dir=DBT_PROJECT_DIR), preparer=DigestPreparer())
DBT_PROJECT.prepare_if_dev()
