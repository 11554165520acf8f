"""Benchmarks: `python -m benchmarks` runs them all; each prints `BENCH <name> <value> <unit>`."""
