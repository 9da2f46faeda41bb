"""Benchmarks for the papers warehouse: ``python -m benchmarks.run --scale full|small`` (``make bench``)."""
