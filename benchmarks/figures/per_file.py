"""Figure 3: the alternative the backfill replaces, one Dagster run per dump, on a sample, extrapolated."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import Scale, Space, child_json, dagster_runs, log, median


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
    from orchestration.load.ingest import scan_raw_dir
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
