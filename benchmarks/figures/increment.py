"""Figure 4: one new dump on the ten-year warehouse against one on a one-day warehouse, side by side."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.figures.profile import definitions_load_seconds, profile_run, python_start_seconds
from benchmarks.harness import GIB, Scale, Space, log, median


def figure_increment(scale: Scale, big: Space, small: Space, new_dump: Path, work: Path) -> dict[str, Any]:
    """One new dump on the full warehouse vs. on a one-day warehouse, alternating, same start state.

    Each repetition starts from a fresh clone at the same path, with dbt's partial-parse state
    from one earlier run at that path (``Space.warm_up``): the state of a daily installation.
    """
    seconds: dict[str, list[float]] = {"full": [], "one_day": []}
    rss: dict[str, list[int]] = {"full": [], "one_day": []}
    profiles: dict[str, dict[str, Any]] = {}  # of each side's last repetition
    order = [("full", big), ("one_day", small)]
    warm: dict[str, Path] = {}
    for name, base in order:
        space = base.clone(work / f"increment_{name}")
        space.warm_up(work / f"increment_{name}_warm_up.log")
        warm[name] = work / f"increment_{name}_dbt"
        shutil.rmtree(warm[name], ignore_errors=True)
        shutil.move(space.dbt_target, warm[name])
        shutil.rmtree(space.root)
    for rep in range(scale.increment_reps):
        for name, base in order if rep % 2 == 0 else order[::-1]:
            space = base.clone(work / f"increment_{name}")
            shutil.rmtree(space.dbt_target, ignore_errors=True)
            shutil.copytree(warm[name], space.dbt_target)
            space.add_dump(new_dump)
            run = space.make_run(work / f"increment_{name}{rep}.log")
            ended = time.time()
            assert space.query("select count(*) from raw.dumps where dump_file = ?", [new_dump.name])[0][0] == 1
            seconds[name].append(run.seconds)
            rss[name].append(run.peak_rss_bytes)
            profiles[name] = profile_run(space, ended - run.seconds, ended)
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
        "profile": profiles,
        "definitions_load_s": definitions_load_seconds(big, work),
        "python_start_s": python_start_seconds(big, work),
    }
