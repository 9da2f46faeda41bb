"""From files in the raw folder to rows in the warehouse, without Dagster.

Dagster assets, sensors and ``make run`` all go through these functions, so the
rules for which files count as dumps live in one place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from orchestration.load.ledger import Loaded, LoadOutcome, Quarantine, load_dumps
from orchestration.load.warehouse import connect, writer_lock
from orchestration.parse import contract
from orchestration.parse.api import parse_api_dumps
from orchestration.parse.common import DumpInput, ParsedDump
from orchestration.parse.contract import DumpRejected
from orchestration.parse.text import parse_dumps

DUMP_SUFFIXES = (".txt", ".json")
API_SUFFIX = ".json"
TEMPORARY_SUFFIXES = (
    ".part",
    ".partial",
    ".tmp",
    ".temp",
    ".crdownload",
    ".download",
    ".swp",
    ".swx",
)
# Dagster refuses these in partition keys; such a name is reported, not loaded.
FORBIDDEN_IN_NAMES = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0")
# One batch is parsed in one vectorised pass and loaded in one transaction; the byte
# budget keeps memory bounded when a few files are huge.
BATCH_SIZE = 256
BATCH_BYTES = 64 << 20
# One day's page is well under 1 MiB as text or API JSON. A file over this limit is
# quarantined unread (only hashed, in chunks), which keeps memory bounded whatever is dropped.
MAX_DUMP_BYTES = 64 << 20

Parsed = tuple[list[ParsedDump], list[DumpRejected]]  # a batch's dumps, and the files rejected whole


@dataclass(frozen=True)
class RawFile:
    name: str
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Scan:
    files: list[RawFile]
    skipped: list[Skipped]


def scan_raw_dir(raw_dir: Path) -> Scan:
    """List the dump files directly inside ``raw_dir``; report everything else.

    Never raises for a strange entry: each one is skipped with a reason.
    """
    files: list[RawFile] = []
    skipped: list[Skipped] = []
    try:
        entries = sorted(os.scandir(raw_dir), key=lambda entry: entry.name)
    except FileNotFoundError:
        return Scan([], [Skipped(str(raw_dir), "raw folder does not exist")])
    root = raw_dir.resolve()
    for entry in entries:
        reason = _skip_reason(entry.name, Path(entry.path), root)
        if reason is not None:
            skipped.append(Skipped(entry.name, reason))
            continue
        info = entry.stat(follow_symlinks=True)
        files.append(RawFile(entry.name, Path(entry.path), info.st_size, info.st_mtime_ns))
    return Scan(files, skipped)


def _skip_reason(name: str, path: Path, root: Path) -> str | None:
    """Why ``path`` (``root / name``) is not read as a dump, or ``None`` if it is one."""
    if "/" in name or name in ("", ".", ".."):
        return "not a file name directly inside the raw folder"
    if name.startswith("."):
        return "hidden file"
    if name.endswith("~") or (name.startswith("#") and name.endswith("#")):
        return "editor leftover"
    if name.lower().endswith(TEMPORARY_SUFFIXES):
        return "temporary name: still being written"
    if any(bad in name for bad in FORBIDDEN_IN_NAMES):
        return "file name contains control characters or '...'"
    try:
        if path.is_symlink():
            target = path.resolve(strict=True)
            if not target.is_relative_to(root):
                return "symlink points outside the raw folder"
        info = path.stat()
    except (OSError, RuntimeError) as error:
        return f"cannot be read: {error.__class__.__name__}: {error}"
    if stat.S_ISDIR(info.st_mode):
        return "directory"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if not name.lower().endswith(DUMP_SUFFIXES):
        return "not a dump (dumps end in .txt or .json)"
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# rerun: not judged at all; someone asked for the file to be parsed again.
DumpState = Literal["loaded", "new", "changed", "outdated", "rerun"]


def dump_state(name: str, sha: str, loaded: Mapping[str, Loaded]) -> DumpState:
    """Whether a file with content ``sha`` still needs ingesting, judged by what ``loaded`` holds.

    The one rule behind the sensor, the schedule and ``make run``: a file needs a run unless the
    warehouse holds this very content, read (or quarantined) by the parser version that runs now.
    """
    seen = loaded.get(name)
    if seen is None:
        return "new"
    if seen.dump_id != sha:
        return "changed"
    return "loaded" if seen.is_current else "outdated"


@dataclass
class RawState:
    """What ``not_loaded`` found: each readable file's content hash, and the files that need a run."""

    hashes: dict[str, str] = field(default_factory=dict)  # name -> sha256, for every file read
    pending: dict[str, DumpState] = field(default_factory=dict)  # name -> why it needs a run
    unreadable: dict[str, OSError] = field(default_factory=dict)  # name -> why it could not be read


def not_loaded(
    files: Iterable[RawFile], loaded: Mapping[str, Loaded], known_hashes: Mapping[str, str] | None = None
) -> RawState:
    """Which of ``files`` the warehouse does not hold as read by the current parser.

    The sensor, the daily schedule and ``make run`` all decide with this. ``known_hashes`` holds
    hashes the caller already has for unchanged files (the sensor's cursor), so they are not read again.
    """
    state = RawState()
    for raw_file in files:
        sha = (known_hashes or {}).get(raw_file.name)
        if sha is None:
            try:
                sha = sha256_file(raw_file.path)
            except OSError as error:  # permissions, deleted mid-scan
                state.unreadable[raw_file.name] = error
                continue
        state.hashes[raw_file.name] = sha
        verdict = dump_state(raw_file.name, sha, loaded)
        if verdict != "loaded":
            state.pending[raw_file.name] = verdict
    return state


@dataclass
class IngestReport:
    outcomes: list[LoadOutcome] = field(default_factory=list)
    quarantined: list[Quarantine] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    outdated: int = 0  # files of the run last loaded by an older parser version

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    def count_files(self) -> int:
        """Files dealt with so far, whatever the outcome."""
        return len(self.outcomes) + len(self.quarantined) + len(self.missing)


def read_inputs(raw_dir: Path, names: Iterable[str]) -> Iterator[DumpInput | Quarantine | str]:
    """Read each named file once; yield a missing file's name as a plain string.

    Names come from Dagster partitions, which anyone can add in the UI, and a file can change
    after the scan; so the scan's rules are applied again and nothing outside the raw folder,
    no FIFO and no directory is ever opened.
    """
    root = raw_dir.resolve()
    for name in names:
        path = raw_dir / name
        if "/" not in name and not path.is_symlink() and not path.exists():
            yield name
            continue
        reason = _skip_reason(name, path, root)
        if reason is not None:
            yield Quarantine(name, None, None, f"not read: {reason}")
            continue
        try:
            size = path.stat().st_size
            if size > MAX_DUMP_BYTES:
                reason = f"file too large: {size / 2**20:.0f} MiB > {MAX_DUMP_BYTES >> 20} MiB for one day's page"
                yield Quarantine(name, sha256_file(path), size, reason)
                continue
            data = path.read_bytes()
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            yield name
            continue
        except OSError as error:
            yield Quarantine(name, None, None, f"cannot be read: {error}")
            continue
        modified_at = dt.datetime.fromtimestamp(mtime, tz=dt.UTC)
        yield DumpInput(data=data, dump_file=name, modified_at=modified_at)


def ingest(
    raw_dir: Path,
    warehouse: Path,
    lock_path: Path,
    names: Sequence[str],
    *,
    reparse: bool,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Parse and load the named dumps in batches; bad files are quarantined, not fatal.

    Without ``reparse``, a file whose content this parser version already loaded is skipped
    unparsed: a run over a range of partitions only pays for what changed. With it, every
    named file is parsed again and its rows replaced.
    """
    report = IngestReport()
    # One writer for the whole ingest, and one connection: each batch is still its own
    # transaction, but the file is opened, and checkpointed on close, once. The parser works one
    # batch ahead in a thread of its own (Polars and DuckDB both release the GIL), so parsing
    # batch n + 1 overlaps loading batch n; only this thread touches the connection.
    with (
        writer_lock(lock_path),
        connect(warehouse) as con,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse") as parser,
    ):
        ledger = _ledger(con)
        report.outdated = sum(
            1 for name in names if name in ledger and ledger[name].parser_version != contract.PARSER_VERSION
        )

        def load(batch: _Batch, parsing: Future[Parsed]) -> None:
            parsed, rejected = parsing.result()
            data_by_file = {item.dump_file: item.data for item in batch.inputs}
            quarantine = batch.quarantined + [
                _quarantine(error, data_by_file.get(error.dump_file)) for error in rejected
            ]
            report.outcomes.extend(load_dumps(con, parsed, quarantine, reparse=reparse))
            report.quarantined.extend(quarantine)
            if on_batch is not None:
                on_batch(report)

        ahead: tuple[_Batch, Future[Parsed]] | None = None
        for batch in _batches(read_inputs(raw_dir, names), ledger, report, reparse=reparse, batch_size=batch_size):
            parsing = parser.submit(parse_batch, batch.inputs)
            if ahead is not None:
                load(*ahead)
            ahead = (batch, parsing)
        if ahead is not None:
            load(*ahead)
    return report


@dataclass
class _Batch:
    """Files read for one parse and one load transaction, and those quarantined unread on the way."""

    inputs: list[DumpInput] = field(default_factory=list)
    quarantined: list[Quarantine] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(item.data) for item in self.inputs)


def _batches(
    items: Iterable[DumpInput | Quarantine | str],
    ledger: Mapping[str, _Current],
    report: IngestReport,
    *,
    reparse: bool,
    batch_size: int,
) -> Iterator[_Batch]:
    """Group the files that need parsing into batches; note missing and unchanged ones in ``report``."""
    batch = _Batch()
    for item in items:
        if isinstance(item, str):
            report.missing.append(item)
            continue
        if isinstance(item, Quarantine):
            batch.quarantined.append(item)
            continue
        known = ledger.get(item.dump_file)
        if not reparse and known is not None and known.is_loaded(item.data):
            report.outcomes.append(known.outcome)
            continue
        # A file that would take the batch over its byte budget starts the next batch, so a
        # huge dump is parsed on its own rather than together with everything before it.
        if batch.inputs and batch.size() + len(item.data) > BATCH_BYTES:
            yield batch
            batch = _Batch()
        batch.inputs.append(item)
        if len(batch.inputs) >= batch_size:
            yield batch
            batch = _Batch()
    if batch.inputs or batch.quarantined:
        yield batch


def parse_batch(batch: Sequence[DumpInput]) -> Parsed:
    """Send text dumps to the page parser and ``*.json`` files to the API parser."""
    api = [item for item in batch if item.dump_file.lower().endswith(API_SUFFIX)]
    text = [item for item in batch if not item.dump_file.lower().endswith(API_SUFFIX)]
    parsed, rejected = parse_dumps(text) if text else ([], [])
    if api:
        api_parsed, api_rejected = parse_api_dumps(api)
        parsed += api_parsed
        rejected += api_rejected
    return parsed, rejected


def _quarantine(error: DumpRejected, data: bytes | None) -> Quarantine:
    dump_id = hashlib.sha256(data).hexdigest() if data is not None else None
    size = len(data) if data is not None else None
    return Quarantine(error.dump_file, dump_id, size, error.reason)


@dataclass(frozen=True)
class _Current:
    """A file's current row in the ledger."""

    outcome: LoadOutcome  # what skipping it reports
    parser_version: str

    def is_loaded(self, data: bytes) -> bool:
        """This content, read by this parser version: nothing would change."""
        return (
            self.parser_version == contract.PARSER_VERSION and hashlib.sha256(data).hexdigest() == self.outcome.dump_id
        )


def _ledger(con: duckdb.DuckDBPyConnection) -> dict[str, _Current]:
    rows = con.execute(
        "select dump_file, dump_id, n_entries, n_rejected, parser_version from raw.dumps where is_current"
    ).fetchall()
    return {
        file: _Current(LoadOutcome(file, dump_id, "unchanged", n_entries, n_rejected), version)
        for file, dump_id, n_entries, n_rejected, version in rows
    }
