"""The dbt resource skips dagster-dbt's per-command set-up (a ``dbt --version`` process and an
in-process adapter) and still runs dbt; a dagster-dbt upgrade that moves either hook fails here."""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import pytest
from dagster_dbt import DbtCliResource
from dagster_dbt.core import resource as dagster_dbt_resource

from orchestration.defs.dbt_project import DBT_EXECUTABLE, DBT_PROJECT, DbtCli

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
