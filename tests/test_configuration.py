"""Configuration without side effects: settings read once, resources through ``dg.EnvVar``, each
default declared once, and a dbt manifest prepared the way dagster-dbt's convention has it."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_dbt import DbtProject
from dagster_shared.record import replace

from orchestration.defs import dbt_project
from orchestration.defs.dbt_project import (
    DBT_EXECUTABLE,
    DBT_PROJECT,
    PARSE_VARS,
    DbtCli,
    DigestPreparer,
    warehouse_vars,
)
from orchestration.defs.resources import PapersResource
from orchestration.instance import DAGSTER_DEFAULTS
from orchestration.settings import DBT_PROJECT_DIR, Settings, SettingsError
from tests.conftest import REPO_ROOT

# Libraries that set variables of their own when imported (Polars sets jemalloc's options).
THIRD_PARTY = "import dagster, dagster_dbt, duckdb, polars"


def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PAPERS_", "DAGSTER_"))}
    return env | extra


def test_importing_the_definitions_changes_no_environment_variable() -> None:
    script = (
        f"import json, os\n{THIRD_PARTY}\nbefore = dict(os.environ)\nimport orchestration.definitions\n"
        "after = dict(os.environ)\n"
        "print(json.dumps(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=clean_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


def test_the_definitions_take_their_settings_from_the_environment_they_are_built_with() -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions({"PAPERS_SENSOR_INTERVAL_SECONDS": "5", "PAPERS_FETCH": "1"})
    assert defs.resolve_sensor_def("raw_folder_sensor").minimum_interval_seconds == 5
    assert defs.resolve_schedule_def("daily_fetch").default_status == dg.DefaultScheduleStatus.RUNNING
    with pytest.raises(SettingsError, match="PAPERS_SCHEDULE_CRON='0 6 \\* \\*' is not a cron schedule"):
        build_definitions({"PAPERS_SCHEDULE_CRON": "0 6 * *"})


# --- each default declared once ---------------------------------------------------------------


def test_every_setting_has_one_variable_and_one_default() -> None:
    fields = dataclasses.fields(Settings)
    assert all(field.default is not dataclasses.MISSING for field in fields)
    assert len(set(Settings.variables().values())) == len(fields)
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    "name", [f.name for f in dataclasses.fields(Settings) if isinstance(f.default, int | float) and f.type != "bool"]
)
def test_a_typo_names_the_default_the_field_declares(name: str) -> None:
    field = next(f for f in dataclasses.fields(Settings) if f.name == name)
    with pytest.raises(SettingsError) as error:
        Settings.from_env({Settings.variables()[name]: "x"})
    assert str(error.value).endswith(f"unset it to use the default, {field.default}.")


def test_dbt_profiles_fallback_is_the_settings_default_warehouse() -> None:
    """For ad-hoc dbt runs profiles.yml keeps a fallback; it must name the same file."""
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    [attached] = profile["papers"]["outputs"]["local"]["attach"]
    path = attached["path"]
    [fallback] = re.findall(r"env_var\('PAPERS_WAREHOUSE', '([^']+)'\)", path)
    assert (DBT_PROJECT_DIR / fallback).resolve() == Settings().warehouse
    assert "var('warehouse'" in path


# How a repeated default would look in code: the variable's name or the home folder as a string.
REPEATED = ('"DAGSTER_EVENT_BATCH_SIZE"', '"DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"', '".dagster_home"')


def test_dagster_defaults_are_declared_in_instance_py_alone() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    for name in DAGSTER_DEFAULTS:
        assert not re.search(rf"^\s*(export\s+)?{name}\s*[:?+]?=", makefile, re.MULTILINE), f"Makefile sets {name}"
    instance = REPO_ROOT / "orchestration" / "instance.py"
    for path in [*(REPO_ROOT / "orchestration").rglob("*.py"), *(REPO_ROOT / "benchmarks").rglob("*.py")]:
        if path != instance:
            text = path.read_text()
            # DAGSTER_HOME itself is set by rebuild.py and the benchmarks, each to a home of its own.
            for needle in REPEATED:
                assert needle not in text, f"{path.relative_to(REPO_ROOT)} repeats {needle}"


def test_the_dagster_launcher_defaults_what_is_unset_and_keeps_what_is_set(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.instance", "env"],
        cwd=REPO_ROOT,
        env=clean_env(DAGSTER_HOME=str(home), DAGSTER_EVENT_BATCH_SIZE="25"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("DAGSTER_"))
    assert seen == {**DAGSTER_DEFAULTS, "DAGSTER_HOME": str(home), "DAGSTER_EVENT_BATCH_SIZE": "25"}
    assert (home / "dagster.yaml").exists()


# --- the resource ------------------------------------------------------------------------------


def test_the_resource_has_a_field_for_each_setting() -> None:
    assert list(PapersResource.model_fields) == [field.name for field in dataclasses.fields(Settings)]


def test_set_variables_become_env_vars_and_unset_ones_stay_empty() -> None:
    papers = PapersResource.from_env({"PAPERS_WAREHOUSE": "/w.duckdb", "PAPERS_SERVE_URL": "postgresql://u@h/db"})
    assert isinstance(papers.warehouse, dg.EnvVar)
    assert papers.warehouse.env_var_name == "PAPERS_WAREHOUSE"
    assert isinstance(papers.serve_url, dg.EnvVar)  # the UI shows the variable's name, not the password
    assert papers.raw_dir == ""
    assert not any(isinstance(value, dg.EnvVar) for value in PapersResource.from_env({}).model_dump().values())


def test_a_run_resolves_the_env_vars_where_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Settings] = []

    @dg.asset
    def probe(papers: PapersResource) -> None:
        seen.append(papers.settings())

    monkeypatch.delenv("PAPERS_RAW_DIR", raising=False)
    monkeypatch.setenv("PAPERS_WAREHOUSE", str(tmp_path / "defined.duckdb"))
    papers = PapersResource.from_env(os.environ)
    monkeypatch.setenv("PAPERS_WAREHOUSE", str(tmp_path / "at-run-time.duckdb"))
    monkeypatch.setenv("PAPERS_SENSOR_RETRIES", "9")  # not set when built: the empty field falls back to it
    assert dg.materialize([probe], resources={"papers": papers}).success
    [settings] = seen
    assert settings.warehouse == tmp_path / "at-run-time.duckdb"
    assert settings.raw_dir == Settings().raw_dir
    assert settings.sensor_retries == 9


def test_a_bad_value_in_a_field_gives_the_settings_message() -> None:
    with pytest.raises(SettingsError, match="PAPERS_SENSOR_RETRIES='many' is not a number"):
        PapersResource(sensor_retries="many").settings()


# --- the dbt manifest --------------------------------------------------------------------------


def test_the_project_uses_the_digest_preparer() -> None:
    assert isinstance(DBT_PROJECT.preparer, DigestPreparer)


@pytest.fixture
def scratch_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[DbtProject, list[list[str]]]:
    """A copy of the dbt project whose ``dbt parse`` is recorded and only writes a manifest."""
    shutil.copytree(DBT_PROJECT_DIR, tmp_path / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    project = replace(DbtProject(project_dir=tmp_path / "dbt"), preparer=DigestPreparer())
    parses: list[list[str]] = []

    class Parse:
        def __init__(self, args: list[str]) -> None:
            parses.append(args)
            project.manifest_path.write_text("{}")

        def wait(self) -> None:
            return None

    monkeypatch.setattr(DbtCli, "cli", lambda self, args, **kwargs: Parse(list(args)))
    return project, parses


def test_the_manifest_is_parsed_once_until_the_project_changes(
    scratch_project: tuple[DbtProject, list[list[str]]],
) -> None:
    project, parses = scratch_project
    project.preparer.prepare(project)
    assert parses == [["parse", "--quiet", *PARSE_VARS]]
    project.preparer.prepare(project)
    assert len(parses) == 1, "nothing changed: no second parse"
    model = next((project.project_dir / "models").rglob("*.sql"))
    model.write_text(model.read_text() + "\n-- edited\n")
    project.preparer.prepare(project)
    assert len(parses) == 2


def test_prepare_if_dev_parses_under_dagster_dev_only(
    scratch_project: tuple[DbtProject, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, parses = scratch_project
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    project.prepare_if_dev()
    assert parses == []
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    project.prepare_if_dev()
    assert len(parses) == 1


def test_a_build_of_the_default_warehouse_reuses_the_prepared_parse(tmp_path: Path) -> None:
    """dbt re-parses the whole project when its vars or rendered profile differ from the saved state's."""
    DBT_PROJECT.preparer.prepare(DBT_PROJECT)

    def partial_parse_refused(warehouse: Path, target: Path) -> bool:
        invocation = DbtCli(project_dir=str(DBT_PROJECT.project_dir), dbt_executable=DBT_EXECUTABLE).cli(
            ["parse", *warehouse_vars(warehouse)], target_path=target
        )
        events: list[dict[str, Any]] = [event.raw_event for event in invocation.stream_raw_events()]
        return any(event["info"]["name"] == "UnableToPartialParse" for event in events)

    # dagster-dbt copies the prepared partial-parse state into a new target folder, as for a first build.
    assert not partial_parse_refused(Settings().warehouse, tmp_path / "same")
    assert partial_parse_refused(tmp_path / "other.duckdb", tmp_path / "other"), "the check can tell"


def test_dagster_dbt_prepare_and_package_runs_the_digest_preparer() -> None:
    dagster_dbt_cli = str(Path(sys.executable).with_name("dagster-dbt"))
    result = subprocess.run(
        [dagster_dbt_cli, "project", "prepare-and-package", "--file", str(Path(dbt_project.__file__))],
        cwd=REPO_ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "DigestPreparer.prepare" in " ".join(result.stdout.split())
    assert "Project preparation complete." in result.stdout
