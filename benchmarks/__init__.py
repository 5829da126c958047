"""Benchmarks and the project's reference model (never part of the test run's timings)."""
