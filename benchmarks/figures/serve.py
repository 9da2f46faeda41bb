"""Figure 9: the team set-up on a local PostgreSQL server (fsync on), side by side with the embedded set-up.

- the ten-year backfill with Dagster's instance on SQLite and on PostgreSQL (``DAGSTER_POSTGRES_URL``),
  alternating;
- publishing the ten-year marts to PostgreSQL (``orchestration.load.serve.publish_marts``): the first publish,
  which copies everything, and a publish with nothing changed (hashing every row, writing none);
- the daily increment on the ten-year warehouse with and without ``PAPERS_SERVE_URL``, alternating;
- each README query that runs on both, on the served marts and on the DuckDB snapshot.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.figures.queries import readme_queries
from benchmarks.harness import Scale, Space, log, median


def figure_serve(scale: Scale, dumps: Sequence[Path], big: Space, new_dump: Path, work: Path) -> dict[str, Any]:
    import psycopg

    from orchestration.defs.dbt_project import mart_keys
    from orchestration.load.serve import publish_marts
    from tests.postgres import postgres_server, server_binaries

    if server_binaries() is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed: apt-get install postgresql")
    with postgres_server(durable=True) as server:
        with server.admin() as con:
            con.execute("create role papers_reader nologin")
        results: dict[str, Any] = {"backfill": _backfills(scale, dumps, server, work)}

        serve_url = server.create_database("marts", owner="papers_publisher")
        keys = mart_keys()
        whole = publish_marts(big.snapshot, serve_url, keys=keys)  # the first publish copies everything
        log(f"  first (whole) publish: {whole.seconds:.1f}s, {whole.rows.get('papers', 0):,} papers")
        unchanged = [publish_marts(big.snapshot, serve_url, keys=keys).seconds for _ in range(scale.increment_reps)]
        results["publish_whole_seconds"] = round(whole.seconds, 2)
        results["publish_unchanged_seconds_all"] = [round(s, 2) for s in unchanged]
        results["publish_unchanged_seconds"] = round(median(unchanged), 2)
        results["served_rows"] = whole.rows

        results["increment"] = _increments(scale, big, new_dump, serve_url, work)
        with psycopg.connect(serve_url, options="-c search_path=papers") as served:
            results["queries"] = _queries(scale, big, served)
    return results


def _alternating(reps: int, sides: tuple[str, str], run: Callable[[str, int], float]) -> dict[str, Any]:
    """``run(side, rep)`` for both sides in each repetition, the first side alternating; medians and their ratio."""
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    for rep in range(reps):
        for side in sides if rep % 2 == 0 else sides[::-1]:
            seconds[side].append(run(side, rep))
            log(f"  rep {rep + 1}, {side}: {seconds[side][-1]:.1f}s")
    medians = {side: median(values) for side, values in seconds.items()}
    return {
        **{f"{side}_seconds_all": [round(s, 2) for s in values] for side, values in seconds.items()},
        **{f"{side}_seconds": round(value, 2) for side, value in medians.items()},
        "ratio": round(medians[sides[1]] / medians[sides[0]], 3),
    }


def _backfills(scale: Scale, dumps: Sequence[Path], server: Any, work: Path) -> dict[str, Any]:
    """The ten-year backfill from an empty warehouse, Dagster's instance on SQLite or on PostgreSQL."""

    def backfill(side: str, rep: int) -> float:
        space = Space.create(work / f"serve_backfill_{side}", dumps)
        extra = {}
        if side == "postgres":
            extra["DAGSTER_POSTGRES_URL"] = server.create_database(f"dagster{rep}", owner=f"pipeline{rep}")
        seconds = space.make_run(work / f"serve_backfill_{side}{rep}.log", extra).seconds
        shutil.rmtree(space.root)
        return seconds

    return _alternating(scale.backfill_reps, ("sqlite", "postgres"), backfill)


def _increments(scale: Scale, big: Space, new_dump: Path, serve_url: str, work: Path) -> dict[str, Any]:
    """One new dump on clones of the ten-year warehouse, without and with the publish."""
    warm = work / "serve_increment_dbt"
    space = big.clone(work / "serve_increment")
    space.warm_up(work / "serve_increment_warm_up.log")
    shutil.rmtree(warm, ignore_errors=True)
    shutil.move(space.dbt_target, warm)

    def increment(side: str, rep: int) -> float:
        space = big.clone(work / "serve_increment")
        shutil.rmtree(space.dbt_target, ignore_errors=True)
        shutil.copytree(warm, space.dbt_target)
        space.add_dump(new_dump)
        extra = {"PAPERS_SERVE_URL": serve_url} if side == "served" else {}
        seconds = space.make_run(work / f"serve_increment_{side}{rep}.log", extra).seconds
        shutil.rmtree(space.root)
        return seconds

    result = _alternating(scale.increment_reps, ("embedded", "served"), increment)
    return {**result, "added_share": round(result["ratio"] - 1, 3)}


def _queries(scale: Scale, big: Space, served: Any) -> list[dict[str, Any]]:
    """README queries that PostgreSQL also runs (not ``median``, not the raw tables): both sides' medians."""
    import duckdb
    import psycopg

    results = []
    with duckdb.connect(str(big.snapshot), read_only=True) as snapshot:
        for sql in readme_queries():
            title = sql.splitlines()[0].removeprefix("--").strip()
            try:
                served.execute(sql).fetchall()
            except psycopg.Error:
                served.rollback()
                continue
            times: dict[str, list[float]] = {"served": [], "snapshot": []}
            for _ in range(scale.query_reps):
                start = time.perf_counter()
                served_rows = len(served.execute(sql).fetchall())
                times["served"].append(time.perf_counter() - start)
                start = time.perf_counter()
                snapshot_rows = len(snapshot.execute(sql).fetchall())
                times["snapshot"].append(time.perf_counter() - start)
            results.append(
                {
                    "query": title,
                    "served_ms": round(median(times["served"]) * 1000, 1),
                    "snapshot_ms": round(median(times["snapshot"]) * 1000, 1),
                    "rows": [served_rows, snapshot_rows],
                }
            )
    return results
