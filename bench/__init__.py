"""Benchmarks: scripts that print reports (``python -m bench``). Never timed assertions in tests."""
