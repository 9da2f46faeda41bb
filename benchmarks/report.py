"""``RESULTS.md``: every figure next to its target, how it was measured, and how to reproduce it."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import TARGETS


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(results: dict[str, Any]) -> str:
    """RESULTS.md: the figures next to their targets, how they were measured, how to reproduce."""
    m, scale = results["machine"], results["scale"]
    lines = [
        "# Benchmark results",
        "",
        f"Scale `{results['scale_name']}`: {scale['days']:,} daily dumps x {scale['papers_per_day']} entries "
        f"(synthetic, seed {scale['seed']}, from {scale['start']}), measured {results['finished_at']}.",
        "",
        f"Machine: {m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; {m['os']}. Load average at start "
        f"{m['load_average_at_start']}, at end {results['load_average_at_end']} (other work shared the machine).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
        *([f"Note: {m['note']}."] if m.get("note") else []),
        "",
        "| # | figure | measured | target | met? |",
        "|---|---|---|---|---|",
    ]
    rows: list[tuple[str, str, str, str, str]] = []
    if p := results.get("parse"):
        c = p["compared"]
        rows += [
            ("1", "parse throughput, `parse_dumps`, whole corpus (median)",
             f"{p['polars_corpus_mb_per_s']} MB/s, {p['polars_corpus_entries_per_s']:,} entries/s", "", ""),
            ("1", f"parse speed-up vs pure Python, same {p['compared_files']:,} files",
             f"{p['speedup']}x ({c['polars']['mb_per_s']} vs {c['baseline']['mb_per_s']} MB/s; "
             f"{c['polars']['entries_per_s']:,} vs {c['baseline']['entries_per_s']:,} entries/s)",
             f">= {TARGETS['parse_speedup']:g}x", verdict(p["speedup"] >= TARGETS["parse_speedup"])),
            ("1", "parse peak RSS (child process, 256-file batches)", f"{p['parse_peak_rss_gib']} GiB",
             f"< {TARGETS['parse_peak_rss_gib']:g} GiB",
             verdict(p["parse_peak_rss_gib"] < TARGETS["parse_peak_rss_gib"])),
        ]  # fmt: skip
    floor = results.get("floor")
    if floor:
        rows.append(
            ("2b", "bare floor: read + parse + insert into DuckDB + the marts' SQL, no Dagster, no dbt",
             f"{floor['total_s']} s (read {floor['read_s']}, parse {floor['parse_s']}, insert {floor['load_s']}, "
             f"marts {floor['marts_s']})", "(floor)", "")
        )  # fmt: skip
    if b := results.get("backfill"):
        if floor:
            ratio = b["seconds"] / floor["total_s"]
            rows.append(
                ("2", "full backfill / bare floor, same run", f"{ratio:.2f}x",
                 f"<= {TARGETS['backfill_floor_ratio']:g}x", verdict(ratio <= TARGETS["backfill_floor_ratio"]))
            )  # fmt: skip
        rows += [
            ("2", f"full backfill, {b['dumps_loaded']:,} dumps, `python -m orchestration.run`", f"{b['seconds']} s",
             f"<= {TARGETS['backfill_s']:g} s", verdict(b["seconds"] <= TARGETS["backfill_s"])),
            ("2", "full backfill peak RSS", f"{b['peak_rss_gib']} GiB", f"<= {TARGETS['backfill_peak_rss_gib']:g} GiB",
             verdict(b["peak_rss_gib"] <= TARGETS["backfill_peak_rss_gib"])),
            ("2", "Dagster runs for the backfill", str(b["dagster_runs"]), "1", verdict(b["dagster_runs"] == 1)),
        ]  # fmt: skip
    if f := results.get("per_file"):
        ratio = f["extrapolated_seconds"] / b["seconds"] if b else f["ratio_vs_backfill"]  # against the backfill above
        rows.append(
            ("3", f"one run per dump ({f['sample_files']}-dump sample, extrapolated)",
             f"{f['run_seconds_mean']} s/run -> {f['extrapolated_hours']} h = {ratio:.1f}x the backfill",
             "(comparison)", "")
        )  # fmt: skip
    if i := results.get("increment"):
        rows.append(
            ("4", "daily increment: full vs one-day warehouse",
             f"{i['full_seconds']} s vs {i['one_day_seconds']} s = {i['ratio']}x",
             f"<= {TARGETS['increment_ratio']:g}x", verdict(i["ratio"] <= TARGETS["increment_ratio"]))
        )  # fmt: skip
        dbt_s = i.get("profile", {}).get("full", {}).get("steps_s", {}).get("dbt_models")
        if dbt_s is not None:
            rows.append(
                ("4", "`dbt_models` step for one new dump (ten-year warehouse; checks as before)", f"{dbt_s} s",
                 f"<= {TARGETS['dbt_step_s']:g} s", verdict(dbt_s <= TARGETS["dbt_step_s"]))
            )  # fmt: skip
        if floor:
            rows.append(
                ("4", "daily increment (ten-year) / its floor, the marts' SQL on the full warehouse",
                 f"{i['full_seconds'] / floor['marts_s']:.1f}x", "(report)", "")
            )  # fmt: skip
        if x := results.get("fixed_cost"):
            ratio = i["full_seconds"] / x["noop_seconds"]
            rows.append(
                ("4", "daily increment (ten-year) / no-op `make run`, same run", f"{ratio:.2f}x",
                 f"<= {TARGETS['increment_noop_ratio']:g}x", verdict(ratio <= TARGETS["increment_noop_ratio"]))
            )  # fmt: skip
    if x := results.get("fixed_cost"):
        rows += [
            ("5", "no-op `orchestration.run` (nothing new, no run)",
             f"{x['noop_seconds']} s ({x['noop_share_of_increment']:.0%} of an increment)", "(floor)", ""),
            ("5", "forced rebuild on unchanged data (dbt build + snapshot via Dagster)",
             f"{x['rebuild_seconds']} s ({x['rebuild_share_of_increment']:.0%} of an increment)", "(floor)", ""),
        ]  # fmt: skip
    if d := results.get("drop"):
        rows.append(
            ("6", f"drop-to-queryable under `dagster dev` (30 s sensor, {d['drops']} drops)", f"{d['seconds']} s",
             f"<= {TARGETS['drop_to_queryable_s']:g} s", verdict(d["seconds"] <= TARGETS["drop_to_queryable_s"]))
        )  # fmt: skip
    if q := results.get("queries"):
        for query in q["queries"]:
            rows.append(
                ("7", f"README query: {query['query']}", f"{query['ms']} ms", f"<= {TARGETS['query_ms']:g} ms",
                 verdict(query["ms"] <= TARGETS["query_ms"]))
            )  # fmt: skip
    if r := results.get("report"):
        rows.append(
            ("8", "HTML report: imports + build in a fresh process / the ten-year daily increment",
             f"{r['cost_s']} s = {r['share_of_increment']:.1%} of {r['increment_seconds']} s; {r['size_mb']} MB",
             f"<= {TARGETS['report_share']:.0%}, < {TARGETS['report_mb']:g} MB",
             verdict(r["share_of_increment"] <= TARGETS["report_share"] and r["size_mb"] < TARGETS["report_mb"]))
        )  # fmt: skip
    if t := results.get("serve"):
        b, i = t["backfill"], t["increment"]
        rows += [
            ("9", "ten-year backfill, Dagster's instance on PostgreSQL vs SQLite, alternating",
             f"{b['postgres_seconds']} s vs {b['sqlite_seconds']} s = {b['ratio']}x", "(report)", ""),
            ("9", f"first publish of the ten-year marts, whole ({t['served_rows'].get('papers', 0):,} papers)",
             f"{t['publish_whole_seconds']} s", "(report)", ""),
            ("9", "publish of the ten-year marts with nothing changed (every row hashed, none written)",
             f"{t['publish_unchanged_seconds']} s", "(report)", ""),
            ("9", "daily increment (ten-year) with the publish vs without, alternating",
             f"{i['served_seconds']} s vs {i['embedded_seconds']} s = +{i['added_share']:.0%}",
             f"<= +{TARGETS['serve_added_share']:.0%}", verdict(i["added_share"] <= TARGETS["serve_added_share"])),
        ]  # fmt: skip
        for query in t["queries"]:
            rows.append(
                ("9", f"README query, served marts vs snapshot: {query['query']}",
                 f"{query['served_ms']} ms vs {query['snapshot_ms']} ms", f"<= {TARGETS['query_ms']:g} ms",
                 verdict(query["served_ms"] <= TARGETS["query_ms"]))
            )  # fmt: skip
    lines += [f"| {' | '.join(row)} |" for row in rows]
    lines += ["", "## Details", ""]
    lines += _details(results)
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        "make bench               # full scale (10 years x 100 entries), writes this file and results.json",
        "make bench SCALE=small   # 60 dumps, a few minutes; results go to benchmarks/work/small/",
        "make bench ONLY=backfill # re-measure some figures (comma-separated), keep the others",
        "```",
        "",
        "The corpus is generated once into `benchmarks/corpus/` (git-ignored) and reused; every installation the",
        "benchmark needs (raw folder, warehouse, `DAGSTER_HOME`) lives under `benchmarks/work/<scale>/` (git-ignored).",
        "Raw numbers, including every repetition, are in `benchmarks/results.json`.",
        "",
    ]
    return "\n".join(lines)


def _details(results: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if p := results.get("parse"):
        a = p["agreement"]
        out.append(
            f"- **Parse** (1): the whole corpus ({p['corpus_files']:,} files, {p['corpus_mb']} MB, "
            f"{p['corpus_entries']:,} entries) through `parse_dumps` in 256-file batches in a child process, "
            f"{len(p['polars_corpus_seconds_all'])} repetitions, parse time only (reading excluded): "
            f"{p['polars_corpus_seconds_all']} s. Side by side: every {results['scale']['compare_every']}. batch "
            f"({p['compared_files']:,} files, {p['compared_mb']} MB), bytes read once per batch, the two parsers "
            f"alternating which goes first; one pass (the baseline takes {p['compared']['baseline']['seconds']} s). "
            f"Agreement: {a['rows_identical']:,} of {a['rows_total']:,} sighting rows identical in all "
            f"{len(a.get('columns_compared', []))} columns the baseline produces"
            + (
                f" (not produced by the baseline: {', '.join(a['columns_not_in_baseline'])})"
                if a.get("columns_not_in_baseline")
                else ""
            )
            + f"; code-status counts Polars {a['status_counts_polars']}, baseline {a['status_counts_baseline']}."
        )
    if b := results.get("backfill"):
        out.append(
            f"- **Backfill** (2): {b['repetitions']} repetition(s) {b['seconds_all']} s from an empty warehouse and an "
            f"empty `DAGSTER_HOME`; result: {b['dumps_loaded']:,} dumps, {b['sightings']:,} sightings, "
            f"{b['papers']:,} papers; {b['dagster_runs']} Dagster run(s) in the instance."
        )
        if k := b.get("breakdown"):
            planned, materialized = k["materialization_planned"], k["ingest_asset_materialization"]
            last, events_s = b["seconds_all"][-1], planned["seconds"] + materialized["seconds"]
            work_s = k["ingest_work_s"] + sum(v for name, v in k["steps_s"].items() if name != "ingest_dumps")
            out.append(
                f"  Where the backfill's time went (from Dagster's event log): {k['before_first_event_s']} s before "
                f"the run's first event (imports, definitions, hashing, partition registration); "
                f"{planned['events']:,} `ASSET_MATERIALIZATION_PLANNED` events in {planned['seconds']} s; parsing + "
                f"loading all dumps {k['ingest_work_s']} s; {materialized['events']:,} per-partition "
                f"`ASSET_MATERIALIZATION` events of the ingest step in {materialized['seconds']} s; steps "
                + ", ".join(f"`{name}` {secs} s" for name, secs in k["steps_s"].items())
                + f"; {k['after_last_event_s']} s after the last event (all for the last repetition, "
                f"{last} s). **Dagster's per-partition events took {events_s:.1f} s ({events_s / last:.0%}), written "
                f"in batches by `orchestration/event_storage.py`; parsing, loading, dbt and the snapshot took "
                f"{work_s:.1f} s ({work_s / last:.0%}).**"
            )
    if f := results.get("per_file"):
        out.append(
            f"- **Per file** (3): {f['sample_files']} consecutive `ingest_job.execute_in_process(partition_key=...)` "
            f"runs in one process ({f['process_seconds']} s including start-up), first/last run "
            f"{f['run_seconds_first_last']} s; extrapolated as mean x {results['scale']['days']:,} dumps "
            f"= {f['extrapolated_seconds']:,} s. A lower bound: dbt's work grows with the warehouse."
        )
    if floor := results.get("floor"):
        out.append(
            f"- **Floor** (2b): {floor['repetitions']} repetitions {floor['total_s_all']} s in a child process: every "
            "dump read, parsed by `parse_batch` in 256-file batches, its frames inserted through Arrow into the "
            f"loader's raw tables of a new DuckDB file, then the compiled SQL of the {floor['models']} dbt models "
            "(from the backfill's manifest) run in dependency order as views and tables, and a checkpoint."
        )
    if i := results.get("increment"):
        out += _profile(i)
        out.append(
            f"- **Increment** (4): {i['repetitions']} repetitions each, alternating, every one on a fresh copy of the "
            f"built warehouse + snapshot + `DAGSTER_HOME`: full {i['full_seconds_all']} s, one-day "
            f"{i['one_day_seconds_all']} s; peak RSS on the full warehouse {i['full_peak_rss_gib']} GiB."
        )
    if x := results.get("fixed_cost"):
        out.append(
            f"- **Fixed cost** (5): {x['repetitions']} repetitions each. No-op {x['noop_seconds_all']} s; forced "
            f"rebuild (`plan_refresh(always_build=True)` -> dbt build + snapshot through `ingest_job`) "
            f"{x['rebuild_seconds_all']} s; the increment (4) on the full warehouse is {x['increment_seconds']} s."
        )
    if d := results.get("drop"):
        out.append(
            f"- **Drop** (6): `dagster dev` on a one-day installation (up after {d['dev_startup_seconds']} s); after "
            f"the first sensor tick each new dump is written as `*.part` and renamed; timed from the rename until "
            f"`papers` and `paper_first_seen` in the read snapshot hold all its papers (polled every 0.5 s): "
            f"{d['seconds_all']} s. A new file is taken on the first tick that sees it if it has been untouched "
            "for 3 s (`PAPERS_SENSOR_SETTLE_SECONDS`), else on the next tick once its size held still."
        )
    if q := results.get("queries"):
        out.append(
            f"- **Queries** (7): each README `sql` block, {q['repetitions']} repetitions, fresh read-only connection "
            "each (connect time not included: " + ", ".join(f"{x['connect_ms']} ms" for x in q["queries"]) + ")."
        )
    return out


def _profile(increment: dict[str, Any]) -> list[str]:
    """The profile of each increment side: where a one-dump run's seconds go."""
    out = [
        f"- **Profile of a one-dump increment** (4, last repetition of each side; a bare `python` starts and exits "
        f"in {increment.get('python_start_s')} s, importing the code location takes "
        f"{increment.get('definitions_load_s')} s):",
        "",
        "  | | one-day warehouse | ten-year warehouse |",
        "  |---|---|---|",
    ]
    sides = [increment.get("profile", {}).get(name, {}) for name in ("one_day", "full")]

    def row(label: str, get: Any) -> None:
        out.append(f"  | {label} | " + " | ".join(str(get(side)) if side else "" for side in sides) + " |")

    row("process start, imports, plan -> first event (s)", lambda p: p["process_start_to_first_event_s"])
    row(
        "run created -> started: planned events written (s)",
        lambda p: f"{p['run_created_to_start_s']} ({p['planned_events']} events)",
    )
    for step in ("ingest_dumps", "dbt_models", "warehouse_snapshot", "warehouse_report"):
        row(f"step `{step}` (s)", lambda p, step=step: p["steps_s"].get(step))
    row("  dbt process, start to end (s)", lambda p: p["dbt_process_s"])
    row("  dbt start-up + parse, until its first node (s)", lambda p: p["dbt_start_to_first_node_s"])
    row(
        "  dbt nodes: models / tests (s)",
        lambda p: (
            f"{p['dbt_nodes_s'].get('model')} / {p['dbt_nodes_s'].get('test')} "
            f"({p['dbt_node_counts'].get('model')} / {p['dbt_node_counts'].get('test')} nodes)"
        ),
    )
    row("  dbt's slowest nodes (s)", lambda p: ", ".join(f"{name} {secs}" for name, secs in p["dbt_slowest_nodes"]))
    row("Dagster events in the run", lambda p: p["dagster_events"])
    row("last event -> process exit: summary (s)", lambda p: p["last_event_to_exit_s"])
    out.append("")
    return out
