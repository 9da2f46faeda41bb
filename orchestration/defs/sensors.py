"""The drop-folder sensor: new or changed dumps in the raw folder become runs.

Keyed on content, not on modification times: a touched file does nothing, an
edited one runs once. The cursor remembers, per file, the size and mtime seen at
the last tick (to tell a file still being written) and the content hash already
requested. The sensor never opens the live warehouse; it reads the published
snapshot to learn what is loaded, so it can't collide with a running writer.
"""

import hashlib
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from orchestration import contract
from orchestration.defs.ingestion import DUMPS, SKIP_LOADED_TAG, ingest_request
from orchestration.defs.resources import PapersResource
from orchestration.ingest import dump_state, scan_raw_dir, sha256_file
from orchestration.settings import Settings, SettingsError
from orchestration.warehouse import Loaded, snapshot_state

INGEST_JOB_NAME = "ingest_job"


@dataclass
class Cursor:
    observed: dict[str, list[Any]] = field(default_factory=dict)  # name -> [size, mtime_ns, sha|None]
    requested: dict[str, str] = field(default_factory=dict)  # name -> "sha@parser version" requested
    reported: list[str] = field(default_factory=list)  # skipped names already logged
    serial: int = 0  # ticks that requested runs; keeps run keys unique when content flips back

    @classmethod
    def load(cls, raw: str | None) -> "Cursor":
        return cls(**json.loads(raw)) if raw else cls()

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass
class TickPlan:
    new: dict[str, str] = field(default_factory=dict)  # name -> sha, never seen as a partition
    changed: dict[str, str] = field(default_factory=dict)  # name -> sha, known partition, new content
    outdated: dict[str, str] = field(default_factory=dict)  # name -> sha, read by an older parser
    waiting: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def plan_tick(
    settings: Settings, cursor: Cursor, known_partitions: Collection[str], loaded: Mapping[str, Loaded], now: float
) -> TickPlan:
    """Decide what one tick requests; mutates ``cursor`` to the next tick's state."""
    plan = TickPlan()
    scan = scan_raw_dir(settings.raw_dir)
    for skipped in scan.skipped:
        if skipped.name not in cursor.reported:
            cursor.reported.append(skipped.name)
            plan.problems.append(f"{skipped.name!r}: ignored: {skipped.reason}")
    present = {raw_file.name for raw_file in scan.files}
    for name in sorted(set(cursor.observed) - present):
        plan.deleted.append(name)
        del cursor.observed[name]
    for raw_file in scan.files:
        previous = cursor.observed.get(raw_file.name)
        observed = [raw_file.size, raw_file.mtime_ns]
        if previous is None or previous[:2] != observed:
            # A file that changed since the last tick may still be being written: wait for the
            # next tick. A file seen for the first time counts as settled once untouched for
            # settle_s; should it still grow later, its new content simply runs again.
            settled = previous is None and now - raw_file.mtime_ns / 1e9 >= settings.sensor_settle_s
            previous = cursor.observed[raw_file.name] = [*observed, None]
            if not settled:
                plan.waiting.append(raw_file.name)
                continue
        sha = previous[2]
        if sha is None:
            try:
                sha = sha256_file(raw_file.path)
            except OSError as error:
                plan.problems.append(f"{raw_file.name!r}: cannot be read: {error}")
                continue
            previous[2] = sha
        state = dump_state(raw_file.name, sha, loaded)
        key = f"{sha}@{contract.PARSER_VERSION}"
        if state == "loaded" or cursor.requested.get(raw_file.name) == key:
            continue
        if raw_file.name not in known_partitions:
            plan.new[raw_file.name] = sha
        elif state == "outdated":
            plan.outdated[raw_file.name] = sha
        else:
            plan.changed[raw_file.name] = sha
        cursor.requested[raw_file.name] = key
    return plan


def run_requests(plan: TickPlan, known_partitions: Sequence[str], serial: int = 0) -> list[dg.RunRequest]:
    """New files and files read by an older parser in one run over the partition range that spans
    them (loaded files in between are skipped unparsed); each changed file in a run of its own."""
    requests: list[dg.RunRequest] = []
    batch = {**plan.outdated, **plan.new}
    if batch:
        # New partitions are registered after the known ones, in name order.
        order = {name: index for index, name in enumerate([*known_partitions, *sorted(plan.new)])}
        names = sorted(batch, key=order.__getitem__)
        key = hashlib.sha256("\n".join(f"{n}@{batch[n]}" for n in names).encode()).hexdigest()
        requests.append(ingest_request(names[0], names[-1], run_key=f"new:{key}@{contract.PARSER_VERSION}#{serial}"))
    for name, sha in sorted(plan.changed.items()):
        requests.append(
            dg.RunRequest(run_key=f"changed:{name}@{sha}#{serial}", partition_key=name, tags={SKIP_LOADED_TAG: "true"})
        )
    return requests


def build_drop_folder_sensor(minimum_interval_seconds: int) -> dg.SensorDefinition:
    @dg.sensor(
        name="raw_folder_sensor",
        job_name=INGEST_JOB_NAME,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Watches the raw folder and ingests new or changed dumps.",
    )
    def raw_folder_sensor(
        context: dg.SensorEvaluationContext, papers: PapersResource
    ) -> dg.SensorResult | dg.SkipReason:
        settings = papers.settings()
        try:
            settings.check_raw_dir()
        except SettingsError as error:
            return dg.SkipReason(str(error))
        cursor = Cursor.load(context.cursor)
        known = DUMPS.get_partition_keys(dynamic_partitions_store=context.instance)
        loaded, _ = snapshot_state(settings.read_snapshot)
        plan = plan_tick(settings, cursor, set(known), loaded, now=time.time())
        if plan.outdated:
            context.log.info(
                f"{len(plan.outdated)} dump(s) were read by an older parser; requesting one run that re-parses them "
                f"with version {contract.PARSER_VERSION}"
            )
        for problem in plan.problems:
            context.log.warning(problem)
        for name in plan.deleted:
            context.log.warning(f"{name!r}: deleted from the raw folder; its rows stay in the warehouse")
        requests = run_requests(plan, known, cursor.serial)
        if requests:
            cursor.serial += 1
        if not requests:
            context.update_cursor(cursor.dump())
            waiting = f"; waiting for {len(plan.waiting)} file(s) to stop changing" if plan.waiting else ""
            return dg.SkipReason(f"no new or changed dumps{waiting}")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[DUMPS.build_add_request(sorted(plan.new))] if plan.new else [],
            cursor=cursor.dump(),
        )

    return raw_folder_sensor
