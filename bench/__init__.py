"""Benchmarks: `python -m bench` runs them all (never part of `make test`)."""
