"""Benchmarks: problems, baselines and runners (printed tables, never timed unit tests)."""
