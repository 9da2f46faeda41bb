"""The bare floor: what the backfill's work costs with no Dagster and no dbt, measured in the same run.

Read every dump, parse it with the project's parsers, insert the frames into a new DuckDB file
through Arrow (the loader's raw tables), then run the marts' SQL directly: each dbt model's
compiled SQL, in dependency order, as a view or a table like dbt builds it. Every pipeline
figure is also reported as a ratio to this floor.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from benchmarks.harness import Scale, Space, batches, child_json, log, median


def figure_floor(scale: Scale, dumps: Sequence[Path], built: Space, work: Path) -> dict[str, Any]:
    """``scale.backfill_reps`` floors in a child process each; ``built`` lends its dbt manifest."""
    manifest = built.warehouse.with_name(f"{built.warehouse.stem}.dbt") / "manifest.json"
    if not manifest.exists():
        raise RuntimeError(f"{manifest} is missing: the floor needs the compiled SQL of a backfill's dbt build")
    listing = work / "floor_files.txt"
    listing.write_text("\n".join(str(p) for p in dumps))
    results = []
    for rep in range(scale.backfill_reps):
        floor_dir = work / "floor"
        run = built.child("floor", work / f"floor{rep}.log", str(listing), str(manifest), str(floor_dir))
        results.append(child_json(run.output))
        log(f"  floor rep {rep + 1}: {results[-1]['total_s']:.1f}s")
    keys = ("read_s", "parse_s", "load_s", "marts_s", "total_s")
    return {
        "repetitions": scale.backfill_reps,
        **{key: round(median([r[key] for r in results]), 1) for key in keys},
        "total_s_all": [round(r["total_s"], 1) for r in results],
        "models": results[-1]["models"],
    }


def child_floor(listing: str, manifest_path: str, out_dir: str) -> dict[str, Any]:
    """Child: the floor itself, timed phase by phase."""
    import polars as pl

    from orchestration.load.ingest import parse_batch
    from orchestration.load.warehouse import connect
    from orchestration.parse.common import DumpInput
    from orchestration.parse.contract import AUTHORS_SCHEMA, REJECTS_SCHEMA, SIGHTINGS_SCHEMA

    paths = [Path(line) for line in Path(listing).read_text().splitlines()]
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "papers.duckdb"  # the compiled SQL names its database after the file: papers
    target.unlink(missing_ok=True)
    target.with_name(f"{target.name}.wal").unlink(missing_ok=True)
    started = time.perf_counter()
    seconds = {"read_s": 0.0, "parse_s": 0.0, "load_s": 0.0}
    modified_at = dt.datetime.now(dt.UTC)
    with connect(target) as con:
        for batch in batches(paths):
            tick = time.perf_counter()
            inputs = [DumpInput(path.read_bytes(), path.name, modified_at) for path in batch]
            seconds["read_s"] += time.perf_counter() - tick
            tick = time.perf_counter()
            parsed, _ = parse_batch(inputs)
            seconds["parse_s"] += time.perf_counter() - tick
            tick = time.perf_counter()
            for table, schema, frames in (
                ("raw.paper_sightings", SIGHTINGS_SCHEMA, [p.sightings for p in parsed]),
                ("raw.rejected_entries", REJECTS_SCHEMA, [p.rejects for p in parsed]),
                ("raw.paper_authors", AUTHORS_SCHEMA, [p.authors for p in parsed]),
            ):
                con.register("incoming", pl.concat(frames).select(schema.names()).to_arrow())
                con.execute(f"insert into {table} by name select * from incoming")  # noqa: S608
                con.unregister("incoming")
            seconds["load_s"] += time.perf_counter() - tick
        tick = time.perf_counter()
        models = _run_marts_sql(con, json.loads(Path(manifest_path).read_text()))
        con.execute("checkpoint")
        marts_s = time.perf_counter() - tick
    return {**seconds, "marts_s": marts_s, "total_s": time.perf_counter() - started, "models": models}


def _run_marts_sql(con: Any, manifest: dict[str, Any]) -> int:
    """Every model's compiled SQL, parents first, materialized as dbt would (view or table)."""
    models = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node.get("compiled_code")
    }
    order = TopologicalSorter(
        {uid: [dep for dep in node["depends_on"]["nodes"] if dep in models] for uid, node in models.items()}
    ).static_order()
    for uid in order:
        node = models[uid]
        kind = "view" if node["config"]["materialized"] == "view" else "table"
        con.execute(f"create schema if not exists {node['schema']}")
        con.execute(f"create or replace {kind} {node['schema']}.{node['alias']} as {node['compiled_code']}")
    return len(models)
