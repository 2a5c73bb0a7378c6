"""Benchmark harness: run symbolic-regression methods on benchmark suites."""
