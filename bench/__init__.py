"""Benchmarks: the cost of the engine, measured against a bare Temporal workflow."""
