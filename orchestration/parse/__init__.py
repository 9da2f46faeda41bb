"""Parsing: the bytes of a dump in, Polars frames of sightings, authors and rejects out.

No Dagster and no DuckDB here. ``text`` reads saved page text, ``api`` the daily-papers API's
JSON; both produce the columns in ``contract`` and classify code links with ``code_links``.
"""
