"""Figure 1: ``parse_dumps`` against the pure-Python baseline on the same batches, and the parser's peak RSS."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import GIB, PYTHON, Scale, batches, child_json, log, measure, median


def figure_parse(scale: Scale, dumps: Sequence[Path], work: Path) -> dict[str, Any]:
    """``parse_dumps`` vs. the pure-Python baseline on the same batches, plus peak RSS."""
    import polars as pl

    from benchmarks import baseline_parser
    from orchestration.parse.common import DumpInput
    from orchestration.parse.text import parse_dumps

    # Whole corpus, Polars only, in a child process: throughput and peak RSS.
    listing = work / "parse_files.txt"
    listing.write_text("\n".join(str(p) for p in dumps))
    env = dict(os.environ)
    runs = [
        measure([PYTHON, "-m", "benchmarks.run", "--child", "parse", str(listing)], env, work / f"parse{i}.log")
        for i in range(scale.parse_reps)
    ]
    results = [child_json(run.output) for run in runs]
    total_bytes, total_entries = results[0]["bytes"], results[0]["entries"]
    corpus_seconds = median([r["seconds"] for r in results])

    # Side by side on the same batches, bytes read once, order alternating per batch.
    compared = batches(dumps)[:: scale.compare_every]
    modified_at = dt.datetime.now(dt.UTC)
    seconds = {"polars": 0.0, "baseline": 0.0}
    statuses: dict[str, Counter[str]] = {"polars": Counter(), "baseline": Counter()}
    rows_equal = rows_total = n_bytes = 0
    columns: list[str] = []
    skipped: list[str] = []
    for index, batch in enumerate(compared):
        inputs = [DumpInput(path.read_bytes(), path.name, modified_at) for path in batch]
        n_bytes += sum(len(item.data) for item in inputs)
        outputs: dict[str, Any] = {}

        def run_polars(inputs: list[DumpInput] = inputs) -> Any:
            return parse_dumps(inputs)

        def run_baseline(inputs: list[DumpInput] = inputs) -> Any:
            return [baseline_parser.parse(item.data, item.dump_file, item.modified_at) for item in inputs]

        order: list[tuple[str, Callable[[], Any]]] = [("polars", run_polars), ("baseline", run_baseline)]
        for name, function in order if index % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            outputs[name] = function()
            seconds[name] += time.perf_counter() - start
        parsed, _ = outputs["polars"]
        frame = pl.concat([p.sightings for p in parsed]) if parsed else pl.DataFrame()
        known = set(baseline_parser.Sighting.__dataclass_fields__)
        columns = [name for name in frame.columns if name in known]  # the contract may have grown
        skipped = [name for name in frame.columns if name not in known]
        polars_rows = [
            tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in frame.select(columns).rows()
        ]
        baseline_rows = [tuple(getattr(s, c) for c in columns) for p in outputs["baseline"] for s in p.sightings]
        statuses["polars"].update(frame.get_column("code_status").to_list())
        statuses["baseline"].update(s[columns.index("code_status")] for s in baseline_rows)
        rows_total += max(len(polars_rows), len(baseline_rows))
        rows_equal += sum(a == b for a, b in zip(polars_rows, baseline_rows, strict=False))
        log(
            f"  parse compare batch {index + 1}/{len(compared)}: polars {seconds['polars']:.1f}s, "
            f"baseline {seconds['baseline']:.1f}s so far"
        )
    entries = sum(statuses["polars"].values())
    speed = {
        name: {"seconds": round(s, 2), "mb_per_s": round(n_bytes / s / 1e6, 2), "entries_per_s": round(entries / s)}
        for name, s in seconds.items()
    }
    return {
        "corpus_files": len(dumps),
        "corpus_mb": round(total_bytes / 1e6, 1),
        "corpus_entries": total_entries,
        "polars_corpus_seconds_median": round(corpus_seconds, 2),
        "polars_corpus_seconds_all": [round(r["seconds"], 2) for r in results],
        "polars_corpus_mb_per_s": round(total_bytes / corpus_seconds / 1e6, 2),
        "polars_corpus_entries_per_s": round(total_entries / corpus_seconds),
        "parse_peak_rss_gib": round(max(run.peak_rss_bytes for run in runs) / GIB, 3),
        "compared_files": sum(len(b) for b in compared),
        "compared_mb": round(n_bytes / 1e6, 1),
        "compared": speed,
        "speedup": round(seconds["baseline"] / seconds["polars"], 2),
        "agreement": {
            "rows_identical": rows_equal,
            "columns_compared": columns,
            "columns_not_in_baseline": skipped,
            "rows_total": rows_total,
            "entries_polars": entries,
            "entries_baseline": sum(statuses["baseline"].values()),
            "status_counts_polars": dict(sorted(statuses["polars"].items())),
            "status_counts_baseline": dict(sorted(statuses["baseline"].items())),
        },
    }


def child_parse(listing: str) -> dict[str, Any]:
    """Child: parse every listed file in ingest-sized batches; time ``parse_dumps`` only."""
    from orchestration.parse.common import DumpInput
    from orchestration.parse.text import parse_dumps

    paths = [Path(line) for line in Path(listing).read_text().splitlines()]
    modified_at = dt.datetime.now(dt.UTC)
    seconds = 0.0
    n_bytes = entries = 0
    for batch in batches(paths):
        inputs = [DumpInput(path.read_bytes(), path.name, modified_at) for path in batch]
        n_bytes += sum(len(item.data) for item in inputs)
        start = time.perf_counter()
        parsed, _ = parse_dumps(inputs)
        seconds += time.perf_counter() - start
        entries += sum(p.sightings.height for p in parsed)
        del inputs, parsed
    return {"seconds": seconds, "bytes": n_bytes, "entries": entries}
