"""Figure 8: what the HTML report adds to a daily run, on the ten-year read snapshot."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import Scale, Space, median


def figure_report(scale: Scale, space: Space, work: Path, increment_s: float) -> dict[str, Any]:
    """The report's cost in a fresh process (its imports and the build), next to the increment."""
    runs = []
    for rep in range(scale.fixed_reps):
        measured = space.child("report", work / f"report{rep}.log", str(work / "report.html"))
        runs.append(json.loads(measured.output.strip().splitlines()[-1]))
    cost = median([run["import_s"] + run["build_s"] for run in runs])
    return {
        "repetitions": len(runs),
        "import_s_all": [run["import_s"] for run in runs],
        "build_s_all": [run["build_s"] for run in runs],
        "cost_s": round(cost, 2),
        "increment_seconds": round(increment_s, 2),
        "share_of_increment": round(cost / increment_s, 3),
        "size_mb": round(runs[-1]["size_bytes"] / 1e6, 2),
        "charts": runs[-1]["charts"],
    }


def child_report(out: str) -> dict[str, Any]:
    """Child: import the report module (Altair, vl-convert) and build the report from the snapshot."""
    start = time.perf_counter()
    from orchestration.report import build_report
    from orchestration.settings import Settings

    imported = time.perf_counter()
    report = build_report(Settings.from_env().read_snapshot, Path(out))
    built = time.perf_counter()
    return {
        "import_s": round(imported - start, 3),
        "build_s": round(built - imported, 3),
        "size_bytes": Path(out).stat().st_size,
        "charts": {chart.id: len(chart.rows) for chart in report.charts},
    }
