"""Reproducible benchmarks; `make bench` runs them all (results in RESULTS.md)."""
