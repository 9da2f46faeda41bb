"""Loading: parsed dumps into the DuckDB warehouse, the read snapshot, and the served copy.

No Dagster here. ``ingest`` finds what the raw folder holds that the warehouse lacks and parses
it in batches; ``warehouse`` owns the raw tables, the ledger, the writer lock and the snapshot;
``serve`` publishes the snapshot's marts to PostgreSQL.
"""
