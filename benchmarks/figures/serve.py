"""Figure 9: the team set-up on a local PostgreSQL server (fsync on), side by side with the embedded set-up.

- the ten-year backfill with Dagster's instance on SQLite and on PostgreSQL (``DAGSTER_POSTGRES_URL``),
  alternating;
- publishing the ten-year marts to PostgreSQL (``orchestration.serve.publish_marts``): the first publish,
  which copies everything, and a publish with nothing changed (hashing every row, writing none);
- the daily increment on the ten-year warehouse with and without ``PAPERS_SERVE_URL``, alternating;
- each README query that runs on both, on the served marts and on the DuckDB snapshot.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.figures.queries import readme_queries
from benchmarks.harness import Scale, Space, log, median


def figure_serve(scale: Scale, dumps: Sequence[Path], big: Space, new_dump: Path, work: Path) -> dict[str, Any]:
    import psycopg

    from orchestration.serve import publish_marts
    from tests.postgres import postgres_server, server_binaries

    if server_binaries() is None:
        raise RuntimeError("PostgreSQL's server binaries are not installed: apt-get install postgresql")
    with postgres_server(durable=True) as server:
        with server.admin() as con:
            con.execute("create role papers_reader nologin")
        results: dict[str, Any] = {"backfill": _backfills(scale, dumps, server, work)}

        serve_url = server.create_database("marts", owner="papers_publisher")
        whole = publish_marts(big.snapshot, serve_url)  # the first publish copies everything
        log(f"  first (whole) publish: {whole.seconds:.1f}s, {whole.rows.get('papers', 0):,} papers")
        unchanged = [publish_marts(big.snapshot, serve_url).seconds for _ in range(scale.increment_reps)]
        results["publish_whole_seconds"] = round(whole.seconds, 2)
        results["publish_unchanged_seconds_all"] = [round(s, 2) for s in unchanged]
        results["publish_unchanged_seconds"] = round(median(unchanged), 2)
        results["served_rows"] = whole.rows

        results["increment"] = _increments(scale, big, new_dump, serve_url, work)
        with psycopg.connect(serve_url, options="-c search_path=papers") as served:
            results["queries"] = _queries(scale, big, served)
    return results


def _backfills(scale: Scale, dumps: Sequence[Path], server: Any, work: Path) -> dict[str, Any]:
    seconds: dict[str, list[float]] = {"sqlite": [], "postgres": []}
    for rep in range(scale.backfill_reps):
        for side in ("sqlite", "postgres") if rep % 2 == 0 else ("postgres", "sqlite"):
            space = Space.create(work / f"serve_backfill_{side}", dumps)
            extra = {}
            if side == "postgres":
                extra["DAGSTER_POSTGRES_URL"] = server.create_database(f"dagster{rep}", owner=f"pipeline{rep}")
            run = space.make_run(work / f"serve_backfill_{side}{rep}.log", extra)
            seconds[side].append(run.seconds)
            log(f"  backfill rep {rep + 1}, instance on {side}: {run.seconds:.1f}s")
            shutil.rmtree(space.root)
    sqlite, postgres = median(seconds["sqlite"]), median(seconds["postgres"])
    return {
        "sqlite_seconds_all": [round(s, 1) for s in seconds["sqlite"]],
        "postgres_seconds_all": [round(s, 1) for s in seconds["postgres"]],
        "sqlite_seconds": round(sqlite, 1),
        "postgres_seconds": round(postgres, 1),
        "ratio": round(postgres / sqlite, 2),
    }


def _increments(scale: Scale, big: Space, new_dump: Path, serve_url: str, work: Path) -> dict[str, Any]:
    """One new dump on clones of the ten-year warehouse, without and with the publish, alternating."""
    seconds: dict[str, list[float]] = {"embedded": [], "served": []}
    warm = work / "serve_increment_dbt"
    space = big.clone(work / "serve_increment")
    space.warm_up(work / "serve_increment_warm_up.log")
    shutil.rmtree(warm, ignore_errors=True)
    shutil.move(space.dbt_target, warm)
    for rep in range(scale.increment_reps):
        for side in ("embedded", "served") if rep % 2 == 0 else ("served", "embedded"):
            space = big.clone(work / "serve_increment")
            shutil.rmtree(space.dbt_target, ignore_errors=True)
            shutil.copytree(warm, space.dbt_target)
            space.add_dump(new_dump)
            extra = {"PAPERS_SERVE_URL": serve_url} if side == "served" else {}
            run = space.make_run(work / f"serve_increment_{side}{rep}.log", extra)
            seconds[side].append(run.seconds)
            log(f"  increment rep {rep + 1}, {side}: {run.seconds:.1f}s")
    shutil.rmtree(space.root)
    embedded, served = median(seconds["embedded"]), median(seconds["served"])
    return {
        "embedded_seconds_all": [round(s, 2) for s in seconds["embedded"]],
        "served_seconds_all": [round(s, 2) for s in seconds["served"]],
        "embedded_seconds": round(embedded, 2),
        "served_seconds": round(served, 2),
        "added_share": round(served / embedded - 1, 3),
    }


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
