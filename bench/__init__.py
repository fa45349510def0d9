"""Benchmarks: one script per figure, each measuring its own baseline in the same run."""
