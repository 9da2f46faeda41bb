"""The team set-up on a real PostgreSQL server: ``DAGSTER_POSTGRES_URL`` and ``PAPERS_SERVE_URL``.

A throw-away server (``tests/postgres.py``) holds Dagster's instance while ``make run`` ingests
several dumps, then publishes the marts once ``PAPERS_SERVE_URL`` is set, then takes a changed
dump and a rerun of one partition, and while ``make dev`` runs its daemon long enough for the
sensor to store a cursor. After every run the served marts equal the read snapshot's, row for
row. Then the run history, the partitions, the materializations and the sensor's cursor are
read back from PostgreSQL, no SQLite file exists in ``DAGSTER_HOME``, and neither password
appears anywhere: not in any output, not in the event log or run records, not in
``DAGSTER_HOME``, not in the UI's instance page or the served marts' asset page.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest

from tests.conftest import Workspace
from tests.dagster_dev import dagster_dev
from tests.postgres import duckdb_marts, postgres_server, served_marts
from tests.reruns_ui import SCHEDULE_NEVER_DURING_THE_TEST
from tests.synthetic import generate_dumps, write_dumps

pytestmark = pytest.mark.slow

INSTANCE_INFO = "query { instance { info } }"
SERVED_ASSET_PAGE = """
query {
  assetNodeOrError(assetKey: {path: ["served_marts"]}) {
    ... on AssetNode {
      description
      assetMaterializations(limit: 1) {
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on JsonMetadataEntry { jsonString }
        }
      }
    }
  }
}
"""


def test_dagster_keeps_runs_partitions_and_sensor_state_in_postgresql(workspace: Workspace, tmp_path: Path) -> None:
    with postgres_server() as server:
        url = server.create_database("dagster", owner="papers_pipeline")
        serve_url = server.create_database("marts", owner="papers_publisher")
        with server.admin() as con:
            con.execute("alter role papers_publisher createrole")  # it creates papers_reader on first publish
        passwords = [str(urlsplit(url).password), str(urlsplit(serve_url).password)]
        paths = write_dumps(workspace.raw_dir, generate_dumps(days=3, papers_per_day=8, seed=91), output_format="mixed")
        outputs = []

        first = workspace.make_run(env={"DAGSTER_POSTGRES_URL": url})
        outputs.append(first.stdout + first.stderr)
        assert first.returncode == 0, first.stderr[-3000:]
        assert "Ingesting 3 new dump(s)" in first.stdout
        assert "Served marts" not in first.stdout

        env = {"DAGSTER_POSTGRES_URL": url, "PAPERS_SERVE_URL": serve_url}
        publish = workspace.make_run(env=env)
        outputs.append(publish.stdout + publish.stderr)
        assert publish.returncode == 0, publish.stderr[-3000:]
        assert "Publishing the marts to PostgreSQL" in publish.stdout
        assert "Served marts:       schema papers on 127.0.0.1:" in publish.stdout
        assert served_marts(serve_url) == duckdb_marts(workspace.snapshot)

        changed = paths[0]
        changed.write_bytes(changed.read_bytes() + b"\n")
        second = workspace.make_run(env=env)
        outputs.append(second.stdout + second.stderr)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Ingesting 1 changed dump(s)" in second.stdout
        assert served_marts(serve_url) == duckdb_marts(workspace.snapshot)
        rerun = workspace.make_run("--dumps", paths[0].name, env=env)
        outputs.append(rerun.stdout + rerun.stderr)
        assert rerun.returncode == 0, rerun.stderr[-3000:]
        assert "Re-parsing 1 dump(s) as asked" in rerun.stdout
        assert served_marts(serve_url) == duckdb_marts(workspace.snapshot)
        unchanged = workspace.make_run(env=env)
        assert "Nothing new in the raw folder" in unchanged.stdout, "a served copy that is current is left alone"

        dev_env = {**env, "PAPERS_SENSOR_INTERVAL_SECONDS": "1", "PAPERS_SCHEDULE_CRON": SCHEDULE_NEVER_DURING_THE_TEST}
        with dagster_dev(workspace, tmp_path / "dagster_dev.log", env=dev_env) as dev:
            deadline = time.monotonic() + 120
            while not (cursor := sensor_cursor(server.admin("dagster"))):
                assert time.monotonic() < deadline, f"no sensor cursor in PostgreSQL; log tail:\n{dev.log_tail()}"
                time.sleep(1)
            instance_page = str(dev.graphql(INSTANCE_INFO))
            asset_page = str(dev.graphql(SERVED_ASSET_PAGE))
        outputs.append((tmp_path / "dagster_dev.log").read_text(errors="replace"))

        with server.admin("dagster") as con:
            runs = dict(con.execute("select status, count(*) from runs group by status").fetchall())
            partitions = [
                row[0]
                for row in con.execute(
                    "select partition from dynamic_partitions where partitions_def_name = 'dumps' order by 1"
                )
            ]
            materialized = con.execute(
                "select partition, count(*) from event_logs"
                " where dagster_event_type = 'ASSET_MATERIALIZATION' and asset_key = %s group by 1 order by 1",
                [dg.AssetKey(["raw", "paper_sightings"]).to_string()],
            ).fetchall()
            [event_text, run_text, tag_text] = con.execute(
                "select (select string_agg(event, '') from event_logs), (select string_agg(run_body, '') from runs),"
                " (select string_agg(key || value, '') from run_tags)"
            ).fetchone() or ["", "", ""]

    assert runs == {"SUCCESS": 4}
    assert "papers_reader" in asset_page
    served_papers = len(duckdb_marts(workspace.snapshot)["papers"])
    assert f'"papers": {served_papers}' in asset_page, "the asset page shows the rows served"
    assert partitions == sorted(path.name for path in paths)
    # One per dump loaded; the first dump was then changed, and re-parsed.
    assert materialized == [(paths[0].name, 3), *((path.name, 1) for path in paths[1:])]
    assert all(path.name in cursor for path in paths), "the sensor's cursor knows every file"
    assert sorted(p.name for p in workspace.dagster_home.rglob("*.db")) == [], "nothing is written to SQLite"
    assert "postgres" in (workspace.dagster_home / "dagster.yaml").read_text()
    for where, text in {
        "make run and dagster dev output": "".join(outputs),
        "the event log": event_text,
        "the run records": run_text,
        "the run tags": tag_text,
        "the UI's instance page": instance_page,
        "the UI's served marts page": asset_page,
        "DAGSTER_HOME": "".join(
            path.read_text(errors="replace") for path in workspace.dagster_home.rglob("*") if path.is_file()
        ),
    }.items():
        for password in passwords:
            assert password not in text, f"a password leaked into {where}"


def sensor_cursor(con: psycopg.Connection) -> str | None:
    """The raw folder sensor's cursor as the daemon stored it in the ``instigators`` table."""
    with con:
        row = con.execute(
            "select instigator_body from instigators where instigator_body like '%raw_folder_sensor%'"
        ).fetchone()
    if row is None or '"cursor": null' in row[0]:
        return None
    return str(row[0])
