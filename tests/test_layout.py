"""The core stays Dagster-free: parsing and loading import neither Dagster nor dbt, and parsing no DuckDB."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import orchestration.load
import orchestration.parse
from tests.conftest import REPO_ROOT


def imported_by(modules: list[str]) -> set[str]:
    """Top-level packages a fresh interpreter has loaded after importing ``modules``."""
    script = f"import importlib, json, sys\nfor name in {modules!r}: importlib.import_module(name)\n"
    script += "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout))


def submodules(package: object) -> list[str]:
    return [info.name for info in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (orchestration.parse, {"dagster", "dagster_dbt", "dbt", "duckdb"}),
        (orchestration.load, {"dagster", "dagster_dbt", "dbt"}),
    ],
    ids=["parse", "load"],
)
def test_the_core_imports_no_orchestrator(package: object, forbidden: set[str]) -> None:
    modules = submodules(package)
    assert len(modules) >= 4
    assert imported_by(modules) & forbidden == set()
