"""Figure 6: drop-to-queryable under ``dagster dev``: a dump renamed into the raw folder, until the snapshot has it."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import PYTHON, REPO_ROOT, Scale, Space, log, median, wait_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def dagster_dev(space: Space, log_path: Path) -> Iterator[int]:
    """``dagster dev`` on a free port in its own process group; killed (group) on exit."""
    port = free_port()
    cmd = [str(Path(PYTHON).with_name("dagster")), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=space.env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            with contextlib.suppress(ProcessLookupError):  # stragglers of the group
                os.killpg(proc.pid, signal.SIGKILL)


def serves(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def figure_drop(scale: Scale, base: Space, drops: Sequence[Path], work: Path) -> dict[str, Any]:
    """Write a dump into the raw folder of a running ``dagster dev``; time until the snapshot has it."""
    from orchestration.parse.text import parse_dump

    space = base.clone(work / "dev")
    space.warm_up(work / "dev_warm_up.log")
    log_path = work / "dagster_dev.log"
    seconds: list[float] = []
    with dagster_dev(space, log_path) as port:
        startup = wait_for(lambda: serves(port), 300, "dagster dev to serve")
        log(f"  dagster dev serves on port {port} after {startup:.1f}s")
        tick = "Checking for new runs for sensor: raw_folder_sensor"  # the daemon's log line
        ticked = wait_for(lambda: tick in log_path.read_text(errors="replace"), 180, "a sensor tick")
        log(f"  sensor ticked {ticked:.1f}s later")
        for dump in drops:
            data = dump.read_bytes()
            # A text dump's papers have no arXiv id: the marts key them by their title key.
            ids = parse_dump(data, dump.name, modified_at=dt.datetime.now(dt.UTC)).sightings.get_column("title_key")
            wanted = sorted(set(ids.to_list()))
            partial = space.raw_dir / f"{dump.name}.part"
            partial.write_bytes(data)
            os.replace(partial, space.raw_dir / dump.name)
            start = time.perf_counter()

            def queryable(wanted: list[str] = wanted) -> bool:
                try:
                    counts = space.query(
                        "select (select count(*) from papers where paper_id in (select unnest(?))),"
                        " (select count(*) from paper_first_seen where paper_id in (select unnest(?)))",
                        [wanted, wanted],
                    )[0]
                except Exception:  # snapshot not there yet or being swapped
                    return False
                return bool(counts[0] == len(wanted) and counts[1] == len(wanted))

            wait_for(queryable, 600, f"{dump.name} in the snapshot")
            seconds.append(time.perf_counter() - start)
            log(f"  drop {dump.name}: queryable after {seconds[-1]:.1f}s")
    return {
        "drops": len(seconds),
        "seconds_all": [round(s, 1) for s in seconds],
        "seconds": round(median(seconds), 1),
        "sensor_interval_s": 30,
        "dev_startup_seconds": round(startup, 1),
    }
