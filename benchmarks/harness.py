"""What every benchmark figure shares: scales and targets, timed child processes, installations, the corpus."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.instance import install_instance_config

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
CORPUS_ROOT = BENCH_DIR / "corpus"
WORK_ROOT = BENCH_DIR / "work"
PYTHON = sys.executable
GIB = 1 << 30
BATCH = 256  # the ingest batch size (orchestration.load.ingest.BATCH_SIZE)


@dataclass(frozen=True)
class Scale:
    days: int
    papers_per_day: int
    seed: int
    start: dt.date
    compare_every: int  # baseline runs on every n-th batch (it is ~20x slower)
    parse_reps: int
    backfill_reps: int
    per_file_sample: int
    increment_reps: int
    fixed_reps: int
    drops: int
    query_reps: int


SCALES = {
    "full": Scale(3650, 100, 7, dt.date(2016, 3, 1), 4, 3, 3, 50, 3, 3, 3, 5),
    "small": Scale(60, 100, 7, dt.date(2016, 3, 1), 1, 3, 1, 10, 3, 3, 1, 5),
}

TARGETS = {
    "parse_speedup": 3.0,  # x the pure-Python baseline
    "parse_peak_rss_gib": 2.0,
    "backfill_s": 30.0,
    "backfill_floor_ratio": 3.0,  # x the bare floor of the same corpus, measured in the same run
    "backfill_peak_rss_gib": 2.0,
    "increment_ratio": 1.3,  # ten-year vs one-day warehouse
    "increment_noop_ratio": 2.0,  # one-dump increment vs a no-op `make run`, same run
    "dbt_step_s": 6.5,  # 25% of the 24-27 s the dbt step took for one new dump before
    "drop_to_queryable_s": 40.0,
    "query_ms": 200.0,
    "report_share": 0.10,  # of the ten-year daily increment
    "report_mb": 5.0,
    "serve_added_share": 0.20,  # publishing to PostgreSQL, of the ten-year daily increment
}


# --- helpers --------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_bytes: int
    output: str


def measure(cmd: Sequence[str], env: dict[str, str], log_path: Path, *, cwd: Path = REPO_ROOT) -> Measured:
    """Run ``cmd`` to completion; wall time and the peak RSS of its process tree (``wait4``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}; log {log_path}:\n{output[-3000:]}")
    return Measured(seconds, usage.ru_maxrss * 1024, output)


@dataclass(frozen=True)
class Space:
    """A raw folder, a warehouse and a DAGSTER_HOME: one independent installation."""

    root: Path

    @property
    def raw_dir(self) -> Path:
        return self.root / "raw"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse" / "papers.duckdb"

    @property
    def snapshot(self) -> Path:
        return self.warehouse.with_name("papers.read.duckdb")

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    def env(self) -> dict[str, str]:
        # Dagster's tuning variables (DAGSTER_EVENT_BATCH_SIZE, ...) come from `make bench` as for `make run`.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERS_") and k != "DAGSTER_HOME"}
        return {
            **env,
            "PAPERS_RAW_DIR": str(self.raw_dir),
            "PAPERS_WAREHOUSE": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
        }

    @classmethod
    def create(cls, root: Path, dumps: Sequence[Path]) -> Space:
        shutil.rmtree(root, ignore_errors=True)
        space = cls(root)
        for folder in (space.raw_dir, space.warehouse.parent, space.dagster_home):
            folder.mkdir(parents=True)
        install_instance_config(space.dagster_home)
        for dump in dumps:
            space.add_dump(dump)
        return space

    def add_dump(self, dump: Path) -> None:
        """Hard-link a corpus file into the raw folder (copy across file systems)."""
        target = self.raw_dir / dump.name
        try:
            os.link(dump, target)
        except OSError:
            shutil.copy2(dump, target)

    def clone(self, root: Path) -> Space:
        """An identical installation (same raw files, warehouse, snapshot and Dagster history)."""
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        shutil.copytree(self.raw_dir, root / "raw", copy_function=os.link)
        shutil.copytree(self.warehouse.parent, root / "warehouse")
        shutil.copytree(self.dagster_home, root / "dagster_home")
        install_instance_config(root / "dagster_home")  # its event log lives in the copy
        return Space(root)

    def warm_up(self, log_path: Path) -> None:
        """Rebuild the marts once at this path, as yesterday's run did for a user.

        dbt keeps its partial-parse state per warehouse path (the profile's path is part of
        the state it checks), so a clone at a new path would otherwise pay a full ``dbt parse``
        (~8 s) that an installation at a stable path never pays after its first run.
        """
        self.child("rebuild", log_path)

    @property
    def dbt_target(self) -> Path:
        return self.warehouse.with_name(f"{self.warehouse.stem}.dbt")

    def make_run(self, log_path: Path, extra_env: Mapping[str, str] | None = None) -> Measured:
        return measure([PYTHON, "-m", "orchestration.run"], {**self.env(), **(extra_env or {})}, log_path)

    def child(self, mode: str, log_path: Path, *args: str) -> Measured:
        return measure([PYTHON, "-m", "benchmarks.run", "--child", mode, *args], self.env(), log_path)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        import duckdb

        with duckdb.connect(str(self.snapshot), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


def dagster_runs(home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return int(instance.get_runs_count())


def run_breakdown(home: Path, started: float, ended: float) -> dict[str, Any]:
    """Where the wall time of an instance's first run went, from Dagster's own event log.

    ``started``/``ended`` are the epoch times the ``orchestration.run`` process started and exited.
    """
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(ascending=True, limit=1)[0]
        entries = [e for e in instance.all_logs(run.run_id) if e.dagster_event is not None]
    by_type: dict[str, list[tuple[str, float]]] = {}
    steps: dict[str, dict[str, float]] = {}
    for entry in entries:
        kind = entry.dagster_event_type.value  # type: ignore[union-attr]
        by_type.setdefault(kind, []).append((entry.step_key or "", entry.timestamp))
        if entry.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_OUTPUT"):
            steps.setdefault(entry.step_key, {}).setdefault(kind, entry.timestamp)
    first, last = min(e.timestamp for e in entries), max(e.timestamp for e in entries)

    def span(kind: str, step: str = "") -> dict[str, float | int]:
        times = [t for key, t in by_type.get(kind, []) if step in key]
        return {"events": len(times), "seconds": round(max(times) - min(times), 1) if times else 0.0}

    ingest = next((v for k, v in steps.items() if "ingest" in k), {})
    return {
        "before_first_event_s": round(first - started, 1),
        "materialization_planned": span("ASSET_MATERIALIZATION_PLANNED"),
        "ingest_asset_materialization": span("ASSET_MATERIALIZATION", "ingest"),
        "ingest_work_s": round(ingest.get("STEP_OUTPUT", first) - ingest.get("STEP_START", first), 1),
        "steps_s": {
            k: round(v.get("STEP_SUCCESS", last) - v["STEP_START"], 1) for k, v in steps.items() if "STEP_START" in v
        },
        "after_last_event_s": round(ended - last, 1),
        "total_events": len(entries),
    }


def child_json(output: str) -> dict[str, Any]:
    """The last line of a ``--child`` process is its JSON result."""
    return dict(json.loads(output.strip().splitlines()[-1]))


def batches(paths: Sequence[Path], size: int = BATCH) -> list[Sequence[Path]]:
    return [paths[i : i + size] for i in range(0, len(paths), size)]


# --- machine, versions, corpus --------------------------------------------------------------------


def machine_facts() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.+)", cpuinfo)
    from orchestration.defs.dbt_project import dbt_package_version  # dagster-dbt: only where it is needed

    versions = {"python": platform.python_version()}
    for package in ("polars", "duckdb", "dagster", "dagster-dbt"):
        versions[package] = importlib.metadata.version(package)
    for package in ("dbt-core", "dbt-duckdb"):
        versions[package] = dbt_package_version(package)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(total_kib / (1 << 20), 1),
        "cpu": model.group(1).strip() if model else platform.processor(),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": versions,
    }


def corpus(scale: Scale) -> list[Path]:
    """``days + 1`` generated dumps (the last one is the "new day"), cached by parameters."""
    from tests.synthetic import generate_dumps, write_dumps

    folder = CORPUS_ROOT / f"d{scale.days}-p{scale.papers_per_day}-s{scale.seed}-{scale.start:%Y%m%d}"
    stamp = folder / ".corpus.json"
    params = {"days": scale.days + 1, "papers_per_day": scale.papers_per_day, "seed": scale.seed}
    params["start"] = scale.start.isoformat()  # type: ignore[assignment]
    if not (stamp.exists() and json.loads(stamp.read_text()) == params):
        log(f"generating {scale.days + 1} dumps into {folder}")
        dumps = generate_dumps(scale.days + 1, scale.papers_per_day, seed=scale.seed, start=scale.start)
        write_dumps(folder, dumps, overwrite=True)
        stamp.write_text(json.dumps(params, sort_keys=True))
    files = sorted(folder.glob("*.txt"))
    if len(files) != scale.days + 1:
        raise RuntimeError(f"{folder} holds {len(files)} dumps, expected {scale.days + 1}; delete it and rerun")
    return files


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(interval)
    return time.perf_counter() - start
