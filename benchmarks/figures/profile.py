"""Where one run's wall time went: process start-up, Dagster's events, each step, dbt's start-up and its nodes.

Read after the fact from the run's own records (Dagster's event log and dbt's
``run_results.json``), so the measured run is not slowed by the measuring.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.harness import PYTHON, Space, child_json, measure, median

DBT_STEP = "dbt_models"


def profile_run(space: Space, started: float, ended: float) -> dict[str, Any]:
    """The latest run of ``space``; ``started``/``ended`` are the epoch times of its process."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(space.dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        entries = list(instance.all_logs(run.run_id))
    first, last = entries[0].timestamp, entries[-1].timestamp
    events: dict[str, list[float]] = defaultdict(list)
    step_span: dict[str, list[float]] = {}
    dbt_process: list[float] = []
    for entry in entries:
        if entry.dagster_event is None:
            if entry.step_key == DBT_STEP and "dbt command" in entry.user_message:
                dbt_process.append(entry.timestamp)  # "Running ..." and "Finished ..."
            continue
        kind = entry.dagster_event.event_type_value
        events[kind].append(entry.timestamp)
        if entry.step_key and kind in ("STEP_START", "STEP_SUCCESS"):
            step_span.setdefault(entry.step_key, []).append(entry.timestamp)
    dbt_outputs = [e.timestamp for e in entries if e.step_key == DBT_STEP and e.dagster_event is not None]
    first_node = min((t for t in dbt_outputs if t > min(dbt_process, default=first)), default=first)
    results = json.loads((space.warehouse.with_name(f"{space.warehouse.stem}.dbt") / "run_results.json").read_text())
    nodes: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    slowest = sorted(results["results"], key=lambda r: r["execution_time"], reverse=True)[:5]
    for result in results["results"]:
        kind = result["unique_id"].split(".")[0]
        nodes[kind] += result["execution_time"]
        counts[kind] += 1
    run_start = events.get("PIPELINE_START", [first])[0]
    return {
        "process_start_to_first_event_s": round(first - started, 2),
        "run_created_to_start_s": round(run_start - first, 2),
        "planned_events": len(events.get("ASSET_MATERIALIZATION_PLANNED", []))
        + len(events.get("ASSET_CHECK_EVALUATION_PLANNED", [])),
        "steps_s": {step: round(times[-1] - times[0], 2) for step, times in step_span.items()},
        "dbt_process_s": round(dbt_process[-1] - dbt_process[0], 2) if len(dbt_process) == 2 else None,
        "dbt_start_to_first_node_s": round(first_node - dbt_process[0], 2) if dbt_process else None,
        "dbt_nodes_s": {kind: round(seconds, 2) for kind, seconds in nodes.items()},
        "dbt_node_counts": dict(counts),
        "dbt_elapsed_s": round(results["elapsed_time"], 2),
        "dbt_slowest_nodes": [(r["unique_id"].split(".")[-1], round(r["execution_time"], 2)) for r in slowest],
        "dagster_events": sum(len(times) for times in events.values()),
        "last_event_to_exit_s": round(ended - last, 2),
    }


def definitions_load_seconds(space: Space, work: Path, reps: int = 3) -> float:
    """Median time to import the code location (Dagster, dagster-dbt, dbt, the definitions) in a fresh process."""
    runs = [space.child("import-definitions", work / f"import{i}.log") for i in range(reps)]
    return round(median([child_json(run.output)["seconds"] for run in runs]), 2)


def child_import_definitions() -> dict[str, Any]:
    """Child: how long ``import orchestration.definitions`` takes here."""
    import time

    started = time.perf_counter()
    import orchestration.definitions  # noqa: F401

    return {"seconds": time.perf_counter() - started}


def python_start_seconds(space: Space, work: Path) -> float:
    """A bare interpreter's start and exit, the part of every run no code of the project can remove."""
    return round(measure([PYTHON, "-c", "pass"], space.env(), work / "python.log").seconds, 2)
