"""Benchmarks: ``python -m benchmarks.run --scale full|small`` (``make bench``, ``make bench SCALE=small``).

Everything runs the way a user runs it: the pipeline is ``python -m orchestration.run`` (what
``make run`` does) in a child process with its own raw folder, warehouse and ``DAGSTER_HOME``
under ``benchmarks/work/<scale>/``; the drop test starts ``dagster dev``.  The corpus comes from
the project's generator (``tests.synthetic``) and is cached in ``benchmarks/corpus/``.

Figures (one function each, ``figure_*``):

1. parse throughput of ``parse_dumps`` vs. the pure-Python ``benchmarks.baseline_parser`` on the
   same batches, their agreement, and the parser's peak RSS in a child process;
2. full backfill: empty warehouse -> all dumps loaded and every mart built, in one Dagster run;
3. the per-file alternative: one Dagster run (ingest + dbt build + snapshot) per dump, on a sample,
   extrapolated to the corpus;
4. daily increment: one new dump on top of the full warehouse vs. on top of a one-day warehouse;
5. fixed cost: ``orchestration.run`` with nothing new, and a forced rebuild of unchanged data;
6. drop-to-queryable under ``dagster dev`` with the default 30 s sensor interval;
7. the README's example queries on the published snapshot;
8. the HTML report: its imports and build in a fresh process, against the daily increment;
9. the team set-up on a local PostgreSQL server: backfill with the instance on SQLite vs PostgreSQL,
   publishing the marts, the increment with and without the publish, README queries on both.

Peak RSS of a child comes from ``os.wait4`` (the kernel's ``ru_maxrss`` of the child and every
descendant it waited for, i.e. the largest single process of the tree, dbt included).

The full scale writes ``benchmarks/RESULTS.md`` and ``benchmarks/results.json``; other scales write
them into their work directory so a quick run never overwrites the committed numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.figures.backfill import figure_backfill
from benchmarks.figures.drop import figure_drop
from benchmarks.figures.fixed_cost import child_rebuild, figure_fixed_cost
from benchmarks.figures.floor import child_floor, figure_floor
from benchmarks.figures.increment import figure_increment
from benchmarks.figures.parse import child_parse, figure_parse
from benchmarks.figures.per_file import child_per_file, figure_per_file
from benchmarks.figures.profile import child_import_definitions
from benchmarks.figures.queries import figure_queries
from benchmarks.figures.report import child_report, figure_report
from benchmarks.figures.serve import figure_serve
from benchmarks.harness import BENCH_DIR, SCALES, WORK_ROOT, Space, corpus, log, machine_facts
from benchmarks.report import render
from orchestration.defs.dbt_project import DBT_PROJECT


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


FIGURES = ("parse", "backfill", "floor", "per_file", "increment", "fixed_cost", "drop", "queries", "report", "serve")


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
            "floor": child_floor,
            "import-definitions": child_import_definitions,
            "report": child_report,
        }
        print(json.dumps(children[args.child](*args.args)))
        return 0

    # Children import the definitions in their own processes; outside `dagster dev` the dbt manifest
    # they need is prepared first, as `make run` does.
    DBT_PROJECT.preparer.prepare(DBT_PROJECT)
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
    if "floor" in wanted:
        step("floor", "2b. bare floor (no Dagster, no dbt)", lambda: figure_floor(scale, dumps, big, work))
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
    if "report" in wanted:
        step("report", "8. the HTML report", lambda: figure_report(scale, big, work, increment_s))
    if "serve" in wanted:
        step("serve", "9. team set-up on PostgreSQL", lambda: figure_serve(scale, dumps, big, new_dump, work))

    save(results, out_dir)
    log(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'}")
    print((out_dir / "RESULTS.md").read_text())
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
