"""The drop-folder sensor: new or changed dumps in the raw folder become runs.

Keyed on content, not on modification times: a touched file does nothing, an
edited one runs once. The cursor remembers, per file, the size and mtime seen at
the last tick (to tell a file still being written) and the content hash already
requested. The sensor reads the published snapshot to learn what is loaded, so it
can't collide with a running writer; it opens the live warehouse only to check that
it is intact, read-only and when no writer holds it.

A run it requested that fails (a lock held too long, a full disk, a bug) is asked for again on
a later tick, after PAPERS_SENSOR_RETRY_SECONDS, then twice that, and so on, at most
PAPERS_SENSOR_RETRIES times. After that the sensor gives up on the file's content, logs an
error and fails the ``no_dumps_given_up`` check until that content is loaded (by ``make run``,
the daily schedule or a run from the UI) or the file changes. A file rejected as a whole is
quarantined by a run that succeeds, so it is never retried. A request that no run carries ten
minutes later was never launched: it is forgotten and its file asked for again.

Which files need a run is decided by ``load.ingest.not_loaded``, as for the daily schedule and
``make run``; the sensor only adds when a file has settled and what it already asked for.
"""

import hashlib
import json
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg

from orchestration.defs.ingestion import (
    DUMPS,
    SKIP_LOADED_TAG,
    check_warehouse,
    given_up_evaluation,
    ingest_request,
    still_given_up,
)
from orchestration.defs.resources import PapersResource
from orchestration.load.ingest import RawFile, not_loaded, scan_raw_dir
from orchestration.load.ledger import Loaded
from orchestration.load.snapshot import snapshot_state
from orchestration.load.warehouse import WarehouseError
from orchestration.parse import contract
from orchestration.settings import Settings, SettingsError

INGEST_JOB_NAME = "ingest_job"
FAILED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
RUN_KEY_TAG = "dagster/run_key"
# A run key that no run carries this long after the tick that asked for it was never launched.
NEVER_LAUNCHED_S = 600.0


@dataclass
class Cursor:
    observed: dict[str, list[Any]] = field(default_factory=dict)  # name -> [size, mtime_ns, sha|None]
    requested: dict[str, str] = field(default_factory=dict)  # name -> "sha@parser version" requested
    reported: list[str] = field(default_factory=list)  # skipped names already logged
    serial: int = 0  # ticks that requested runs; keeps run keys unique when content flips back
    runs: dict[str, str] = field(default_factory=dict)  # name -> run key of the run on its way for it
    asked: dict[str, float] = field(default_factory=dict)  # run key in ``runs`` -> when it was requested
    failures: dict[str, list[float]] = field(default_factory=dict)  # name -> [failed runs, when to ask again]
    given_up: dict[str, str] = field(default_factory=dict)  # name -> sha whose runs kept failing

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
    pending: dict[str, str] = field(default_factory=dict)  # name -> sha, never loaded, its run failed
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
    settled: list[RawFile] = []
    for raw_file in scan.files:
        previous = cursor.observed.get(raw_file.name)
        observed = [raw_file.size, raw_file.mtime_ns]
        if previous is None or previous[:2] != observed:
            # A file that changed since the last tick may still be being written: wait for the
            # next tick. A file seen for the first time counts as settled once untouched for
            # settle_s; should it still grow later, its new content simply runs again.
            settled_at_first_sight = previous is None and now - raw_file.mtime_ns / 1e9 >= settings.sensor_settle_s
            cursor.observed[raw_file.name] = [*observed, None]
            if not settled_at_first_sight:
                plan.waiting.append(raw_file.name)
                continue
        settled.append(raw_file)
    hashed = {name: seen[2] for name, seen in cursor.observed.items() if seen[2] is not None}
    state = not_loaded(settled, loaded, known_hashes=hashed)
    for name, error in state.unreadable.items():
        plan.problems.append(f"{name!r}: cannot be read: {error}")
    for name, sha in state.hashes.items():
        cursor.observed[name][2] = sha
    for name, verdict in state.pending.items():
        sha = state.hashes[name]
        key = f"{sha}@{contract.PARSER_VERSION}"
        if cursor.requested.get(name) == key:
            continue
        if name not in known_partitions:
            plan.new[name] = sha
        elif verdict == "outdated":
            plan.outdated[name] = sha
        elif verdict == "new" and name in cursor.failures:  # its run failed: retry with the others
            plan.pending[name] = sha
        else:
            plan.changed[name] = sha
        cursor.requested[name] = key
    return plan


def cannot_plan(
    settings: Settings, context: dg.SensorEvaluationContext | dg.ScheduleEvaluationContext
) -> dg.SkipReason | None:
    """Why a tick of the sensor or the schedule can't plan runs now (no raw folder, a damaged
    warehouse), logged as an error; ``None`` when it can."""
    try:
        settings.check_raw_dir()
        check_warehouse(settings, context.instance)
    except (SettingsError, WarehouseError) as error:
        context.log.error(str(error))
        return dg.SkipReason(str(error))
    return None


def run_statuses(instance: dg.DagsterInstance, runs: Mapping[str, str]) -> dict[str, dg.DagsterRunStatus]:
    """The status of each run on its way, by run key (a run the daemon has not launched yet is absent).

    One query for all of them, newest run first, whatever the number of files being followed.
    """
    if not runs:
        return {}
    statuses: dict[str, dg.DagsterRunStatus] = {}
    for record in instance.get_run_records(dg.RunsFilter(tags={RUN_KEY_TAG: sorted(set(runs.values()))})):
        statuses.setdefault(record.dagster_run.tags[RUN_KEY_TAG], record.dagster_run.status)
    return statuses


def follow_runs(
    settings: Settings, cursor: Cursor, statuses: Mapping[str, dg.DagsterRunStatus], now: float
) -> list[tuple[str, str]]:
    """Turn the failed runs among ``statuses`` (run key -> status) into retries or give-ups; mutates
    ``cursor``. Returns what to log, as (level, message) pairs."""
    log: list[tuple[str, str]] = []
    for name, run_key in sorted(cursor.runs.items()):
        status = statuses.get(run_key)
        asked = cursor.asked.setdefault(run_key, now)
        if status is None and now - asked >= NEVER_LAUNCHED_S:
            # The daemon launches a tick's runs before the next tick: no run by now means none will come.
            del cursor.runs[name]
            cursor.requested.pop(name, None)  # so that this tick's plan asks for it again
            log.append(("warning", f"{name!r}: no run was launched for it; asking again"))
            continue
        if status == dg.DagsterRunStatus.SUCCESS:  # loaded, or quarantined for good
            del cursor.runs[name]
            cursor.failures.pop(name, None)
        if status not in FAILED:
            continue
        del cursor.runs[name]
        attempts = int(cursor.failures.get(name, [0])[0]) + 1
        if attempts > settings.sensor_retries:
            cursor.failures.pop(name, None)
            cursor.given_up[name] = cursor.requested.get(name, "").partition("@")[0]
            log.append(
                (
                    "error",
                    f"{name!r}: gave up after {attempts} failed runs; it is not asked for again until the file "
                    "changes. `make run`, the daily schedule or a run of its partition from the UI will try it.",
                )
            )
            continue
        delay = settings.sensor_retry_s * 2 ** (attempts - 1)
        cursor.failures[name] = [attempts, now + delay]
        log.append(
            (
                "warning",
                f"{name!r}: the run for it failed; asking again in {delay:.0f} s "
                f"(retry {attempts} of {settings.sensor_retries})",
            )
        )
    cursor.asked = {key: when for key, when in cursor.asked.items() if key in cursor.runs.values()}
    for name, (_, due) in list(cursor.failures.items()):
        if name in cursor.runs or now < due:
            continue
        cursor.requested.pop(name, None)  # so that this tick's plan asks for it again
    return log


def run_requests(plan: TickPlan, known_partitions: Sequence[str], serial: int = 0) -> list[dg.RunRequest]:
    """New files, files read by an older parser and files whose run failed in one run over the
    partition range that spans them (loaded files in between are skipped unparsed); each changed
    file in a run of its own."""
    requests: list[dg.RunRequest] = []
    batch = {**plan.pending, **plan.outdated, **plan.new}
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
        if refusal := cannot_plan(settings, context):
            return refusal
        cursor = Cursor.load(context.cursor)
        now = time.time()
        known = DUMPS.get_partition_keys(dynamic_partitions_store=context.instance)
        loaded, _ = snapshot_state(settings.read_snapshot)
        given_up_before = dict(cursor.given_up)
        for level, message in follow_runs(settings, cursor, run_statuses(context.instance, cursor.runs), now):
            getattr(context.log, level)(message)
        cursor.given_up = still_given_up(cursor.given_up, settings.raw_dir, loaded)
        plan = plan_tick(settings, cursor, set(known), loaded, now=now)
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
        for request in requests:
            for name in (
                [request.partition_key] if request.partition_key else [*plan.pending, *plan.outdated, *plan.new]
            ):
                cursor.runs[name] = str(request.run_key)
                cursor.asked[str(request.run_key)] = now
        if requests:
            cursor.serial += 1
        waiting = f"; waiting for {len(plan.waiting)} file(s) to stop changing" if plan.waiting else ""
        return dg.SensorResult(
            run_requests=requests,
            skip_reason=None if requests else dg.SkipReason(f"no new or changed dumps{waiting}"),
            dynamic_partitions_requests=[DUMPS.build_add_request(sorted(plan.new))] if plan.new else [],
            asset_events=[given_up_evaluation(cursor.given_up)] if cursor.given_up != given_up_before else [],
            cursor=cursor.dump(),
        )

    return raw_folder_sensor
