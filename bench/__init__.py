"""Benchmarks: scripts that print their figures (run them with ``python -m bench.NAME``)."""
