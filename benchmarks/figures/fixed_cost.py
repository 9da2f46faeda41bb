"""Figure 5: the fixed cost of a run: ``make run`` with nothing new, and a forced rebuild of unchanged data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.harness import Scale, Space, dagster_runs, median


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
