"""dbt runs from an environment of its own. The dbt resource skips dagster-dbt's per-command set-up
(a ``dbt --version`` process and an in-process adapter) and still runs dbt; a dagster-dbt upgrade
that moves either hook fails here."""

from __future__ import annotations

import importlib.metadata
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dagster_dbt import DbtCliResource
from dagster_dbt.core import resource as dagster_dbt_resource

from orchestration.defs.dbt_project import DBT_ENVIRONMENT, DBT_EXECUTABLE, DBT_PROJECT, DbtCli, dbt_package_version

UPGRADE_HINT = (
    f"dagster-dbt {importlib.metadata.version('dagster-dbt')} changed how DbtCliResource.cli prepares a command; "
    "review orchestration.defs.dbt_project.DbtCli (drop it, or override the new hooks)"
)


def test_the_hooks_dbtcli_overrides_are_the_ones_cli_calls() -> None:
    source = inspect.getsource(DbtCliResource.cli)
    assert "self._cli_version" in source, UPGRADE_HINT
    assert "self._initialize_dbt_core_adapter(" in source, UPGRADE_HINT


def test_a_command_runs_without_a_version_probe_or_an_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    spawned: list[Any] = []
    monkeypatch.setattr(dagster_dbt_resource, "check_output", lambda *args, **kwargs: spawned.append(args))
    built: list[Any] = []
    monkeypatch.setattr(DbtCliResource, "_initialize_dbt_core_adapter", lambda self, args: built.append(args))

    invocation = DbtCli(project_dir=str(DBT_PROJECT.project_dir), dbt_executable=DBT_EXECUTABLE).cli(
        ["--version"], raise_on_error=False
    )
    invocation.wait()

    assert invocation.is_successful()
    assert spawned == [], UPGRADE_HINT
    assert built == [], UPGRADE_HINT
    assert invocation.adapter is None


def test_loading_the_definitions_imports_no_dbt() -> None:
    """dbt runs from its own environment (.venv/dbt): a process that loads the definitions (``make run``, the
    code server, every run worker) does not pay for importing dbt-core, and still finds the dbt it starts."""
    probe = (
        "import sys, orchestration.definitions; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('dbt', 'dbt_common', 'dbt_adapters')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)

    assert loaded.stdout.strip() == "[]"
    assert Path(DBT_EXECUTABLE).is_relative_to(DBT_ENVIRONMENT)
    assert dbt_package_version().startswith("1.11.")
