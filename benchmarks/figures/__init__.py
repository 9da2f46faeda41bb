"""One module per figure of ``make bench``; ``benchmarks.run`` measures them in order and writes the report."""
