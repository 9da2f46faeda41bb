"""Dagster wiring, one file per concern; assembled in ``orchestration.definitions``."""
