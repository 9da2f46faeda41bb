"""Benchmarks: ``python -m benchmarks.run --scale full|small`` (``make bench``, ``make bench SCALE=small``).

Everything runs the way a user runs it: the pipeline is ``python -m orchestration.run`` (what
``make run`` does) in a child process with its own raw folder, warehouse and ``DAGSTER_HOME``
under ``benchmarks/work/<scale>/``; the drop test starts ``dagster dev``.  The corpus comes from
the project's generator (``orchestration.synthetic``) and is cached in ``benchmarks/corpus/``.

Figures (one function each, ``figure_*``):

1. parse throughput of ``parse_dumps`` vs. the pure-Python ``benchmarks.baseline_parser`` on the
   same batches, their agreement, and the parser's peak RSS in a child process;
2. full backfill: empty warehouse -> all dumps loaded and every mart built, in one Dagster run;
3. the per-file alternative: one Dagster run (ingest + dbt build + snapshot) per dump, on a sample,
   extrapolated to the corpus;
4. daily increment: one new dump on top of the full warehouse vs. on top of a one-day warehouse;
5. fixed cost: ``orchestration.run`` with nothing new, and a forced rebuild of unchanged data;
6. drop-to-queryable under ``dagster dev`` with the default 30 s sensor interval;
7. the README's example queries on the published snapshot.

Peak RSS of a child comes from ``os.wait4`` (the kernel's ``ru_maxrss`` of the child and every
descendant it waited for, i.e. the largest single process of the tree, dbt included).

The full scale writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.json``; other scales write
them into their work directory so a quick run never overwrites the committed numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestration.instance import install_instance_config

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
CORPUS_ROOT = BENCH_DIR / "corpus"
WORK_ROOT = BENCH_DIR / "work"
PYTHON = sys.executable
GIB = 1 << 30
BATCH = 256  # the ingest batch size (orchestration.ingest.BATCH_SIZE)


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
    "backfill_s": 60.0,
    "backfill_peak_rss_gib": 2.0,
    "increment_ratio": 1.3,
    "drop_to_queryable_s": 60.0,
    "query_ms": 200.0,
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

    def make_run(self, log_path: Path) -> Measured:
        return measure([PYTHON, "-m", "orchestration.run"], self.env(), log_path)

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
    versions = {"python": platform.python_version()}
    for package in ("polars", "duckdb", "dagster", "dagster-dbt", "dbt-core", "dbt-duckdb"):
        versions[package] = importlib.metadata.version(package)
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
    from orchestration.synthetic import generate_dumps, write_dumps

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


# --- figure 1: parse throughput -------------------------------------------------------------------


def figure_parse(scale: Scale, dumps: Sequence[Path], work: Path) -> dict[str, Any]:
    """``parse_dumps`` vs. the pure-Python baseline on the same batches, plus peak RSS."""
    import polars as pl

    from benchmarks import baseline_parser
    from orchestration.parsing import DumpInput, parse_dumps

    # Whole corpus, Polars only, in a child process: throughput and peak RSS.
    listing = work / "parse_files.txt"
    listing.write_text("\n".join(str(p) for p in dumps))
    env = dict(os.environ)
    runs = [
        measure([PYTHON, "-m", "benchmarks.run", "--child", "parse", str(listing)], env, work / f"parse{i}.log")
        for i in range(scale.parse_reps)
    ]
    results = [child_json(run.output) for run in runs]
    total_bytes, total_entries = results[0]["bytes"], results[0]["entries"]
    corpus_seconds = median([r["seconds"] for r in results])

    # Side by side on the same batches, bytes read once, order alternating per batch.
    compared = batches(dumps)[:: scale.compare_every]
    modified_at = dt.datetime.now(dt.UTC)
    seconds = {"polars": 0.0, "baseline": 0.0}
    statuses: dict[str, Counter[str]] = {"polars": Counter(), "baseline": Counter()}
    rows_equal = rows_total = n_bytes = 0
    columns: list[str] = []
    skipped: list[str] = []
    for index, batch in enumerate(compared):
        inputs = [DumpInput(path.read_bytes(), path.name, modified_at) for path in batch]
        n_bytes += sum(len(item.data) for item in inputs)
        outputs: dict[str, Any] = {}

        def run_polars(inputs: list[DumpInput] = inputs) -> Any:
            return parse_dumps(inputs)

        def run_baseline(inputs: list[DumpInput] = inputs) -> Any:
            return [baseline_parser.parse(item.data, item.dump_file, item.modified_at) for item in inputs]

        order: list[tuple[str, Callable[[], Any]]] = [("polars", run_polars), ("baseline", run_baseline)]
        for name, function in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            outputs[name] = function()
            seconds[name] += time.perf_counter() - start
        parsed, _ = outputs["polars"]
        frame = pl.concat([p.sightings for p in parsed]) if parsed else pl.DataFrame()
        known = set(baseline_parser.Sighting.__dataclass_fields__)
        columns = [name for name in frame.columns if name in known]  # the contract may have grown
        skipped = [name for name in frame.columns if name not in known]
        polars_rows = [
            tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in frame.select(columns).rows()
        ]
        baseline_rows = [tuple(getattr(s, c) for c in columns) for p in outputs["baseline"] for s in p.sightings]
        statuses["polars"].update(frame.get_column("code_status").to_list())
        statuses["baseline"].update(s[columns.index("code_status")] for s in baseline_rows)
        rows_total += max(len(polars_rows), len(baseline_rows))
        rows_equal += sum(a == b for a, b in zip(polars_rows, baseline_rows, strict=False))
        log(
            f"  parse compare batch {index + 1}/{len(compared)}: polars {seconds['polars']:.1f}s, "
            f"baseline {seconds['baseline']:.1f}s so far"
        )
    entries = sum(statuses["polars"].values())
    speed = {
        name: {"seconds": round(s, 2), "mb_per_s": round(n_bytes / s / 1e6, 2), "entries_per_s": round(entries / s)}
        for name, s in seconds.items()
    }
    return {
        "corpus_files": len(dumps),
        "corpus_mb": round(total_bytes / 1e6, 1),
        "corpus_entries": total_entries,
        "polars_corpus_seconds_median": round(corpus_seconds, 2),
        "polars_corpus_seconds_all": [round(r["seconds"], 2) for r in results],
        "polars_corpus_mb_per_s": round(total_bytes / corpus_seconds / 1e6, 2),
        "polars_corpus_entries_per_s": round(total_entries / corpus_seconds),
        "parse_peak_rss_gib": round(max(run.peak_rss_bytes for run in runs) / GIB, 3),
        "compared_files": sum(len(b) for b in compared),
        "compared_mb": round(n_bytes / 1e6, 1),
        "compared": speed,
        "speedup": round(seconds["baseline"] / seconds["polars"], 2),
        "agreement": {
            "rows_identical": rows_equal,
            "columns_compared": columns,
            "columns_not_in_baseline": skipped,
            "rows_total": rows_total,
            "entries_polars": entries,
            "entries_baseline": sum(statuses["baseline"].values()),
            "status_counts_polars": dict(sorted(statuses["polars"].items())),
            "status_counts_baseline": dict(sorted(statuses["baseline"].items())),
        },
    }


def child_parse(listing: str) -> dict[str, Any]:
    """Child: parse every listed file in ingest-sized batches; time ``parse_dumps`` only."""
    from orchestration.parsing import DumpInput, parse_dumps

    paths = [Path(line) for line in Path(listing).read_text().splitlines()]
    modified_at = dt.datetime.now(dt.UTC)
    seconds = 0.0
    n_bytes = entries = 0
    for batch in batches(paths):
        inputs = [DumpInput(path.read_bytes(), path.name, modified_at) for path in batch]
        n_bytes += sum(len(item.data) for item in inputs)
        start = time.perf_counter()
        parsed, _ = parse_dumps(inputs)
        seconds += time.perf_counter() - start
        entries += sum(p.sightings.height for p in parsed)
        del inputs, parsed
    return {"seconds": seconds, "bytes": n_bytes, "entries": entries}


# --- figure 2: full backfill ----------------------------------------------------------------------


def figure_backfill(scale: Scale, dumps: Sequence[Path], space: Space, work: Path) -> dict[str, Any]:
    """Empty warehouse -> everything loaded and built: ``python -m orchestration.run``, one run."""
    runs: list[Measured] = []
    for rep in range(scale.backfill_reps):
        Space.create(space.root, dumps)
        log(f"  backfill rep {rep + 1}/{scale.backfill_reps}: {len(dumps)} dumps")
        runs.append(space.make_run(work / f"backfill{rep}.log"))
        ended = time.time()
        log(f"  backfill took {runs[-1].seconds:.1f}s")
    breakdown = run_breakdown(space.dagster_home, ended - runs[-1].seconds, ended)
    loaded, sightings = space.query(
        "select count(*) filter (where is_current), sum(n_entries) filter (where is_current) from raw.dumps"
    )[0]
    papers = space.query("select count(*) from papers")[0][0]
    return {
        "repetitions": scale.backfill_reps,
        "seconds_all": [round(r.seconds, 1) for r in runs],
        "seconds": round(median([r.seconds for r in runs]), 1),
        "peak_rss_gib": round(max(r.peak_rss_bytes for r in runs) / GIB, 3),
        "dagster_runs": dagster_runs(space.dagster_home),
        "dumps_loaded": loaded,
        "sightings": sightings,
        "papers": papers,
        "breakdown": breakdown,
    }


# --- figure 3: one run per file -------------------------------------------------------------------


def figure_per_file(scale: Scale, dumps: Sequence[Path], work: Path, backfill_s: float) -> dict[str, Any]:
    """One Dagster run (ingest + dbt build + snapshot) per dump on a sample, extrapolated."""
    sample = dumps[: scale.per_file_sample]
    space = Space.create(work / "per_file", sample)
    log(f"  per-file: {len(sample)} runs")
    run = space.child("per-file", work / "per_file.log")
    times = child_json(run.output)["seconds"]
    per_run = sum(times) / len(times)
    extrapolated = per_run * scale.days
    return {
        "sample_files": len(sample),
        "process_seconds": round(run.seconds, 1),
        "run_seconds_median": round(median(times), 2),
        "run_seconds_first_last": [round(times[0], 2), round(times[-1], 2)],
        "run_seconds_mean": round(per_run, 2),
        "extrapolated_seconds": round(extrapolated),
        "extrapolated_hours": round(extrapolated / 3600, 2),
        "ratio_vs_backfill": round(extrapolated / backfill_s, 1),
        "dagster_runs": dagster_runs(space.dagster_home),
    }


def child_per_file() -> dict[str, Any]:
    """Child: ``ingest_job`` once per partition (file), each with the dbt build and the snapshot."""
    import dagster as dg

    from orchestration.definitions import defs, ingest_job
    from orchestration.defs.ingestion import DUMPS_NAME
    from orchestration.ingest import scan_raw_dir
    from orchestration.settings import Settings

    settings = Settings.from_env()
    job = defs.resolve_job_def(ingest_job.name)
    names = [f.name for f in scan_raw_dir(settings.raw_dir).files]
    times: list[float] = []
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(DUMPS_NAME, names)
        for name in names:
            start = time.perf_counter()
            result = job.execute_in_process(instance=instance, partition_key=name, raise_on_error=False)
            times.append(time.perf_counter() - start)
            if not result.success:
                raise RuntimeError(f"run for {name} failed")
    return {"seconds": times}


# --- figure 4: daily increment --------------------------------------------------------------------


def figure_increment(scale: Scale, big: Space, small: Space, new_dump: Path, work: Path) -> dict[str, Any]:
    """One new dump on the full warehouse vs. on a one-day warehouse, alternating, same start state."""
    seconds: dict[str, list[float]] = {"full": [], "one_day": []}
    rss: dict[str, list[int]] = {"full": [], "one_day": []}
    for rep in range(scale.increment_reps):
        order = [("full", big), ("one_day", small)]
        for name, base in order if rep % 2 == 0 else order[::-1]:
            space = base.clone(work / f"increment_{name}")
            space.add_dump(new_dump)
            run = space.make_run(work / f"increment_{name}{rep}.log")
            assert space.query("select count(*) from raw.dumps where dump_file = ?", [new_dump.name])[0][0] == 1
            seconds[name].append(run.seconds)
            rss[name].append(run.peak_rss_bytes)
            shutil.rmtree(space.root)
            log(f"  increment rep {rep + 1} on {name}: {run.seconds:.1f}s")
    full, one = median(seconds["full"]), median(seconds["one_day"])
    return {
        "repetitions": scale.increment_reps,
        "full_seconds_all": [round(s, 2) for s in seconds["full"]],
        "one_day_seconds_all": [round(s, 2) for s in seconds["one_day"]],
        "full_seconds": round(full, 2),
        "one_day_seconds": round(one, 2),
        "ratio": round(full / one, 2),
        "full_peak_rss_gib": round(max(rss["full"]) / GIB, 3),
    }


# --- figure 5: fixed cost -------------------------------------------------------------------------


def figure_fixed_cost(scale: Scale, big: Space, work: Path, increment_s: float) -> dict[str, Any]:
    """``orchestration.run`` with nothing new (no run), and a forced rebuild of unchanged data."""
    runs_before = dagster_runs(big.dagster_home)
    noop = [big.make_run(work / f"noop{i}.log") for i in range(scale.fixed_reps)]
    assert all("Nothing new" in run.output for run in noop), "the no-op run did something"
    assert dagster_runs(big.dagster_home) == runs_before, "the no-op run launched a Dagster run"
    rebuild = [big.child("rebuild", work / f"rebuild{i}.log") for i in range(scale.fixed_reps)]
    noop_s = median([r.seconds for r in noop])
    rebuild_s = median([r.seconds for r in rebuild])
    return {
        "repetitions": scale.fixed_reps,
        "noop_seconds_all": [round(r.seconds, 2) for r in noop],
        "noop_seconds": round(noop_s, 2),
        "rebuild_seconds_all": [round(r.seconds, 2) for r in rebuild],
        "rebuild_seconds": round(rebuild_s, 2),
        "increment_seconds": round(increment_s, 2),
        "noop_share_of_increment": round(noop_s / increment_s, 2),
        "rebuild_share_of_increment": round(rebuild_s / increment_s, 2),
    }


def child_rebuild() -> dict[str, Any]:
    """Child: what the daily schedule does with nothing new: dbt build + snapshot via Dagster."""
    import dagster as dg

    from orchestration.definitions import defs, ingest_job
    from orchestration.defs.schedules import plan_refresh
    from orchestration.settings import Settings

    job = defs.resolve_job_def(ingest_job.name)
    with dg.DagsterInstance.get() as instance:
        requests = plan_refresh(Settings.from_env(), instance, always_build=True).requests
        assert len(requests) == 1, "expected one run"
        assert requests[0].asset_selection, "expected a build-only run"
        for request in requests:
            result = job.execute_in_process(
                instance=instance, tags=request.tags, asset_selection=request.asset_selection, raise_on_error=False
            )
            if not result.success:
                raise RuntimeError("rebuild failed")
    return {"ok": True}


# --- figure 6: drop to queryable ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(interval)
    return time.perf_counter() - start


@contextlib.contextmanager
def dagster_dev(space: Space, log_path: Path) -> Iterator[int]:
    """``dagster dev`` on a free port in its own process group; killed (group) on exit."""
    port = free_port()
    cmd = [str(Path(PYTHON).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=space.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with contextlib.suppress(ProcessLookupError):  # stragglers of the group
                os.killpg(proc.pid, signal.SIGKILL)


def serves(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def figure_drop(scale: Scale, base: Space, drops: Sequence[Path], work: Path) -> dict[str, Any]:
    """Write a dump into the raw folder of a running ``dagster dev``; time until the snapshot has it."""
    from orchestration.parsing import parse_dump

    space = base.clone(work / "dev")
    log_path = work / "dagster_dev.log"
    seconds: list[float] = []
    with dagster_dev(space, log_path) as port:
        startup = wait_for(lambda: serves(port), 300, "dagster dev to serve")
        log(f"  dagster dev serves on port {port} after {startup:.1f}s")
        tick = "Checking for new runs for sensor: raw_folder_sensor"  # the daemon's log line
        ticked = wait_for(lambda: tick in log_path.read_text(errors="replace"), 180, "a sensor tick")
        log(f"  sensor ticked {ticked:.1f}s later")
        for dump in drops:
            data = dump.read_bytes()
            ids = parse_dump(data, dump.name, modified_at=dt.datetime.now(dt.UTC)).sightings.get_column("paper_id")
            wanted = sorted(set(ids.to_list()))
            partial = space.raw_dir / f"{dump.name}.part"
            partial.write_bytes(data)
            os.replace(partial, space.raw_dir / dump.name)
            start = time.perf_counter()

            def queryable(wanted: list[str] = wanted) -> bool:
                try:
                    counts = space.query(
                        "select (select count(*) from papers where paper_id in (select unnest(?))),"
                        " (select count(*) from paper_first_seen where paper_id in (select unnest(?)))",
                        [wanted, wanted],
                    )[0]
                except Exception:  # snapshot not there yet or being swapped
                    return False
                return bool(counts[0] == len(wanted) and counts[1] == len(wanted))

            wait_for(queryable, 600, f"{dump.name} in the snapshot")
            seconds.append(time.perf_counter() - start)
            log(f"  drop {dump.name}: queryable after {seconds[-1]:.1f}s")
    return {
        "drops": len(seconds),
        "seconds_all": [round(s, 1) for s in seconds],
        "seconds": round(median(seconds), 1),
        "sensor_interval_s": 30,
        "dev_startup_seconds": round(startup, 1),
    }


# --- figure 7: README queries ---------------------------------------------------------------------


def readme_queries() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)]


def figure_queries(scale: Scale, space: Space) -> dict[str, Any]:
    """Each README example query on the full snapshot: median of ``query_reps``, fresh connection each."""
    import duckdb

    results = []
    for sql in readme_queries():
        times, connects = [], []
        rows = 0
        for _ in range(scale.query_reps):
            start = time.perf_counter()
            with duckdb.connect(str(space.snapshot), read_only=True) as con:
                connected = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                times.append(time.perf_counter() - connected)
            connects.append(connected - start)
        title = sql.splitlines()[0].removeprefix("--").strip()
        results.append(
            {
                "query": title,
                "ms": round(median(times) * 1000, 1),
                "ms_all": [round(t * 1000, 1) for t in times],
                "connect_ms": round(median(connects) * 1000, 1),
                "rows": rows,
            }
        )
    return {"repetitions": scale.query_reps, "queries": results}


# --- report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(results: dict[str, Any]) -> str:
    """RESULTS.md: the figures next to their targets, how they were measured, how to reproduce."""
    m, scale = results["machine"], results["scale"]
    lines = [
        "# Benchmark results",
        "",
        f"Scale `{results['scale_name']}`: {scale['days']:,} daily dumps x {scale['papers_per_day']} entries "
        f"(synthetic, seed {scale['seed']}, from {scale['start']}), measured {results['finished_at']}.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; {m['os']}. Load average at start "
        f"{m['load_average_at_start']}, at end {results['load_average_at_end']} (other work shared the machine).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        *([f"Note: {m['note']}."] if m.get("note") else []),
        "",
        "| # | figure | measured | target | met? |",
        "|---|---|---|---|---|",
    ]
    rows: list[tuple[str, str, str, str, str]] = []
    if p := results.get("parse"):
        c = p["compared"]
        rows += [
            ("1", "parse throughput, `parse_dumps`, whole corpus (median)",
             f"{p['polars_corpus_mb_per_s']} MB/s, {p['polars_corpus_entries_per_s']:,} entries/s", "", ""),
            ("1", f"parse speed-up vs pure Python, same {p['compared_files']:,} files",
             f"{p['speedup']}x ({c['polars']['mb_per_s']} vs {c['baseline']['mb_per_s']} MB/s; "
             f"{c['polars']['entries_per_s']:,} vs {c['baseline']['entries_per_s']:,} entries/s)",
             f">= {TARGETS['parse_speedup']:g}x", verdict(p["speedup"] >= TARGETS["parse_speedup"])),
            ("1", "parse peak RSS (child process, 256-file batches)", f"{p['parse_peak_rss_gib']} GiB",
             f"< {TARGETS['parse_peak_rss_gib']:g} GiB",
             verdict(p["parse_peak_rss_gib"] < TARGETS["parse_peak_rss_gib"])),
        ]  # fmt: skip
    if b := results.get("backfill"):
        rows += [
            ("2", f"full backfill, {b['dumps_loaded']:,} dumps, `python -m orchestration.run`", f"{b['seconds']} s",
             f"<= {TARGETS['backfill_s']:g} s", verdict(b["seconds"] <= TARGETS["backfill_s"])),
            ("2", "full backfill peak RSS", f"{b['peak_rss_gib']} GiB", f"<= {TARGETS['backfill_peak_rss_gib']:g} GiB",
             verdict(b["peak_rss_gib"] <= TARGETS["backfill_peak_rss_gib"])),
            ("2", "Dagster runs for the backfill", str(b["dagster_runs"]), "1", verdict(b["dagster_runs"] == 1)),
        ]  # fmt: skip
    if f := results.get("per_file"):
        ratio = f["extrapolated_seconds"] / b["seconds"] if b else f["ratio_vs_backfill"]  # against the backfill above
        rows.append(
            ("3", f"one run per dump ({f['sample_files']}-dump sample, extrapolated)",
             f"{f['run_seconds_mean']} s/run -> {f['extrapolated_hours']} h = {ratio:.1f}x the backfill",
             "(comparison)", "")
        )  # fmt: skip
    if i := results.get("increment"):
        rows.append(
            ("4", "daily increment: full vs one-day warehouse",
             f"{i['full_seconds']} s vs {i['one_day_seconds']} s = {i['ratio']}x",
             f"<= {TARGETS['increment_ratio']:g}x", verdict(i["ratio"] <= TARGETS["increment_ratio"]))
        )  # fmt: skip
    if x := results.get("fixed_cost"):
        rows += [
            ("5", "no-op `orchestration.run` (nothing new, no run)",
             f"{x['noop_seconds']} s ({x['noop_share_of_increment']:.0%} of an increment)", "(floor)", ""),
            ("5", "forced rebuild on unchanged data (dbt build + snapshot via Dagster)",
             f"{x['rebuild_seconds']} s ({x['rebuild_share_of_increment']:.0%} of an increment)", "(floor)", ""),
        ]  # fmt: skip
    if d := results.get("drop"):
        rows.append(
            ("6", f"drop-to-queryable under `dagster dev` (30 s sensor, {d['drops']} drops)", f"{d['seconds']} s",
             f"<= {TARGETS['drop_to_queryable_s']:g} s", verdict(d["seconds"] <= TARGETS["drop_to_queryable_s"]))
        )  # fmt: skip
    if q := results.get("queries"):
        for query in q["queries"]:
            rows.append(
                ("7", f"README query: {query['query']}", f"{query['ms']} ms", f"<= {TARGETS['query_ms']:g} ms",
                 verdict(query["ms"] <= TARGETS["query_ms"]))
            )  # fmt: skip
    lines += [f"| {' | '.join(row)} |" for row in rows]
    lines += ["", "## Details", ""]
    lines += _details(results)
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench               # full scale (10 years x 100 entries), writes this file and results.json",
        "make bench SCALE=small   # 60 dumps, a few minutes; results go to benchmarks/work/small/",
        "make bench ONLY=backfill # re-measure some figures (comma-separated), keep the others",
        "```",
        "",
        "The corpus is generated once into `benchmarks/corpus/` (git-ignored) and reused; every installation the",
        "benchmark needs (raw folder, warehouse, `DAGSTER_HOME`) lives under `benchmarks/work/<scale>/` (git-ignored).",
        "Raw numbers, including every repetition, are in `benchmarks/results.json`.",
        "",
    ]
    return "\n".join(lines)


def _details(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if p := results.get("parse"):
        a = p["agreement"]
        out.append(
            f"- **Parse** (1): the whole corpus ({p['corpus_files']:,} files, {p['corpus_mb']} MB, "
            f"{p['corpus_entries']:,} entries) through `parse_dumps` in 256-file batches in a child process, "
            f"{len(p['polars_corpus_seconds_all'])} repetitions, parse time only (reading excluded): "
            f"{p['polars_corpus_seconds_all']} s. Side by side: every {results['scale']['compare_every']}. batch "
            f"({p['compared_files']:,} files, {p['compared_mb']} MB), bytes read once per batch, the two parsers "
            f"alternating which goes first; one pass (the baseline takes {p['compared']['baseline']['seconds']} s). "
            f"Agreement: {a['rows_identical']:,} of {a['rows_total']:,} sighting rows identical in all "
            f"{len(a.get('columns_compared', []))} columns the baseline produces"
            + (
                f" (not produced by the baseline: {', '.join(a['columns_not_in_baseline'])})"
                if a.get("columns_not_in_baseline")
                else ""
            )
            + f"; code-status counts Polars {a['status_counts_polars']}, baseline {a['status_counts_baseline']}."
        )
    if b := results.get("backfill"):
        out.append(
            f"- **Backfill** (2): {b['repetitions']} repetition(s) {b['seconds_all']} s from an empty warehouse and an "
            f"empty `DAGSTER_HOME`; result: {b['dumps_loaded']:,} dumps, {b['sightings']:,} sightings, "
            f"{b['papers']:,} papers; {b['dagster_runs']} Dagster run(s) in the instance."
        )
        if k := b.get("breakdown"):
            planned, materialized = k["materialization_planned"], k["ingest_asset_materialization"]
            last, events_s = b["seconds_all"][-1], planned["seconds"] + materialized["seconds"]
            work_s = k["ingest_work_s"] + sum(v for name, v in k["steps_s"].items() if name != "ingest_dumps")
            out.append(
                f"  Where the backfill's time went (from Dagster's event log): {k['before_first_event_s']} s before "
                f"the run's first event (imports, definitions, hashing, partition registration); "
                f"{planned['events']:,} `ASSET_MATERIALIZATION_PLANNED` events in {planned['seconds']} s; parsing + "
                f"loading all dumps {k['ingest_work_s']} s; {materialized['events']:,} per-partition "
                f"`ASSET_MATERIALIZATION` events of the ingest step in {materialized['seconds']} s; steps "
                + ", ".join(f"`{name}` {secs} s" for name, secs in k["steps_s"].items())
                + f"; {k['after_last_event_s']} s after the last event (all for the last repetition, "
                f"{last} s). **Dagster's per-partition events took {events_s:.1f} s ({events_s / last:.0%}), written "
                f"in batches by `orchestration/event_storage.py`; parsing, loading, dbt and the snapshot took "
                f"{work_s:.1f} s ({work_s / last:.0%}).**"
            )
    if f := results.get("per_file"):
        out.append(
            f"- **Per file** (3): {f['sample_files']} consecutive `ingest_job.execute_in_process(partition_key=...)` "
            f"runs in one process ({f['process_seconds']} s including start-up), first/last run "
            f"{f['run_seconds_first_last']} s; extrapolated as mean x {results['scale']['days']:,} dumps "
            f"= {f['extrapolated_seconds']:,} s. A lower bound: dbt's work grows with the warehouse."
        )
    if i := results.get("increment"):
        out.append(
            f"- **Increment** (4): {i['repetitions']} repetitions each, alternating, every one on a fresh copy of the "
            f"built warehouse + snapshot + `DAGSTER_HOME`: full {i['full_seconds_all']} s, one-day "
            f"{i['one_day_seconds_all']} s; peak RSS on the full warehouse {i['full_peak_rss_gib']} GiB."
        )
    if x := results.get("fixed_cost"):
        out.append(
            f"- **Fixed cost** (5): {x['repetitions']} repetitions each. No-op {x['noop_seconds_all']} s; forced "
            f"rebuild (`plan_refresh(always_build=True)` -> dbt build + snapshot through `ingest_job`) "
            f"{x['rebuild_seconds_all']} s; the increment (4) on the full warehouse is {x['increment_seconds']} s."
        )
    if d := results.get("drop"):
        out.append(
            f"- **Drop** (6): `dagster dev` on a one-day installation (up after {d['dev_startup_seconds']} s); after "
            f"the first sensor tick each new dump is written as `*.part` and renamed; timed from the rename until "
            f"`papers` and `paper_first_seen` in the read snapshot hold all its papers (polled every 0.5 s): "
            f"{d['seconds_all']} s. A new file is taken on the first tick that sees it if it has been untouched "
            "for 3 s (`PAPERS_SENSOR_SETTLE_SECONDS`), else on the next tick once its size held still."
        )
    if q := results.get("queries"):
        out.append(
            f"- **Queries** (7): each README `sql` block, {q['repetitions']} repetitions, fresh read-only connection "
            "each (connect time not included: " + ", ".join(f"{x['connect_ms']} ms" for x in q["queries"]) + ")."
        )
    return out


def build_one_day(space: Space, dumps: Sequence[Path]) -> dict[str, Any]:
    Space.create(space.root, dumps[:1])
    run = space.make_run(space.root.parent / "one_day.log")
    return {"seconds": round(run.seconds, 1)}


def save(results: dict[str, Any], out_dir: Path) -> None:
    results = {k: v for k, v in results.items() if v is not None}
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["finished_at"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "RESULTS.md").write_text(render(results))


# --- main -----------------------------------------------------------------------------------------


FIGURES = ("parse", "backfill", "per_file", "increment", "fixed_cost", "drop", "queries")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--only",
        help=f"comma-separated subset of {','.join(FIGURES)}; without backfill, the earlier run's installations and "
        "results are reused and the figures given are re-measured",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        children: dict[str, Callable[..., dict[str, Any]]] = {
            "parse": child_parse,
            "per-file": child_per_file,
            "rebuild": child_rebuild,
        }
        print(json.dumps(children[args.child](*args.args)))
        return 0

    scale = SCALES[args.scale]
    wanted = set(args.only.split(",")) if args.only else set(FIGURES)
    work = WORK_ROOT / args.scale
    out_dir = BENCH_DIR if args.scale == "full" else work
    results: dict[str, Any] = {}
    if args.only and (out_dir / "results.json").exists():  # re-measure some figures, keep the others
        results = json.loads((out_dir / "results.json").read_text())
    if "backfill" in wanted:  # a fresh start; otherwise reuse the installations of an earlier run
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    results.update({"scale_name": args.scale, "scale": {**asdict(scale), "start": str(scale.start)}})
    results["machine"] = machine_facts()
    log(f"machine: {json.dumps(results['machine'])}")
    files = corpus(scale)
    dumps, new_dump = files[: scale.days], files[scale.days]

    def step(name: str, title: str, function: Callable[[], Any]) -> None:
        """Measure one figure and save; a failure is recorded and the other figures still run."""
        log(title)
        try:
            results[name] = function()
        except Exception as error:  # keep the other figures
            log(f"   {name} FAILED: {error!r}")
            results.setdefault("errors", {})[name] = repr(error)
            return
        results.get("errors", {}).pop(name, None)
        log(f"   {json.dumps(results[name])}")
        save(results, out_dir)

    big, small = Space(work / "ten_year"), Space(work / "one_day")
    if "parse" in wanted:
        step("parse", "1. parse throughput", lambda: figure_parse(scale, dumps, work))
    if "backfill" in wanted:
        step("backfill", "2. full backfill", lambda: figure_backfill(scale, dumps, big, work))
    backfill_s = (results.get("backfill") or {}).get("seconds", float("nan"))
    if "per_file" in wanted:
        step("per_file", "3. one run per file", lambda: figure_per_file(scale, dumps, work, backfill_s))
    if wanted & {"increment", "drop"}:
        step("one_day", "   building the one-day warehouse", lambda: build_one_day(small, dumps))
    if "increment" in wanted:
        step("increment", "4. daily increment", lambda: figure_increment(scale, big, small, new_dump, work))
    increment_s = (results.get("increment") or {}).get("full_seconds", float("nan"))
    if "fixed_cost" in wanted:
        step("fixed_cost", "5. fixed cost", lambda: figure_fixed_cost(scale, big, work, increment_s))
    if "drop" in wanted:
        step("drop", "6. drop to queryable", lambda: figure_drop(scale, small, dumps[1 : 1 + scale.drops], work))
    if "queries" in wanted:
        step("queries", "7. README queries", lambda: figure_queries(scale, big))

    save(results, out_dir)
    log(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'}")
    print((out_dir / "RESULTS.md").read_text())
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
