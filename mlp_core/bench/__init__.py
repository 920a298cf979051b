"""Benchmark harness: every implementation side by side, in fresh processes."""
