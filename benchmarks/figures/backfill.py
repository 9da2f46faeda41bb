"""Figure 2: the full backfill, empty warehouse to every mart built, in one Dagster run through ``make run``'s code."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import GIB, Measured, Scale, Space, dagster_runs, log, median, run_breakdown


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
