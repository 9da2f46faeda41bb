"""The one code location: assets, checks, jobs, sensor, schedule and execution policy.

The settings are read here, once, when the definitions are built: the sensor's interval and the
schedules' crons become part of the definitions, and the resources get a ``dg.EnvVar`` for each
variable that is set (see ``PapersResource``), resolved where a run or a tick runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from orchestration.defs.dbt import dbt_models, warehouse_snapshot
from orchestration.defs.dbt_project import DBT_EXECUTABLE, DBT_PROJECT, DbtCli
from orchestration.defs.fetching import api_fetch, build_fetch_schedule, fetch_job
from orchestration.defs.ingestion import DUMP_FILES, WRITTEN_WITH_SIGHTINGS, paper_sightings
from orchestration.defs.report import warehouse_report
from orchestration.defs.resources import PapersResource
from orchestration.defs.schedules import build_daily_schedule
from orchestration.defs.sensors import INGEST_JOB_NAME, build_drop_folder_sensor
from orchestration.defs.serving import served_marts
from orchestration.settings import Settings


def build_definitions(env: Mapping[str, str]) -> dg.Definitions:
    """The code location for the settings in ``env``; a value that cannot work raises ``SettingsError``."""
    settings = Settings.from_env(env)
    # Published after every build: the read snapshot, the report and, with PAPERS_SERVE_URL, the served marts.
    publish = [warehouse_snapshot, warehouse_report, *([served_marts] if settings.serve_url else [])]
    ingest_job = dg.define_asset_job(
        INGEST_JOB_NAME,
        selection=dg.AssetSelection.assets(paper_sightings, dbt_models, *publish),
        description="Parse and load dumps, build the dbt models, publish the read snapshot, the report"
        " and the served marts (when PAPERS_SERVE_URL is set).",
    )
    return dg.Definitions(
        assets=[
            api_fetch,
            DUMP_FILES,
            *WRITTEN_WITH_SIGHTINGS,
            paper_sightings,
            dbt_models,
            *publish,
        ],
        jobs=[ingest_job, fetch_job],
        sensors=[
            build_drop_folder_sensor(settings.sensor_interval_s),
            dg.AutomationConditionSensorDefinition(
                "marts_follow_reruns",
                target=dg.AssetSelection.assets(dbt_models, *publish),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Rebuilds the marts and the snapshot after a rerun that re-parsed dumps without them.",
            ),
        ],
        schedules=[
            build_daily_schedule(settings.schedule_cron),
            build_fetch_schedule(settings.fetch_cron, enabled=settings.fetch_enabled),
        ],
        resources={
            "dbt": DbtCli(project_dir=str(DBT_PROJECT.project_dir), dbt_executable=DBT_EXECUTABLE),
            "papers": PapersResource.from_env(env),
        },
        # One process per step would cost seconds each on a 2-core machine; steps run in order anyway.
        executor=dg.in_process_executor,
    )


defs = build_definitions(os.environ)
ingest_job = defs.resolve_job_def(INGEST_JOB_NAME)
