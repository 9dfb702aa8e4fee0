"""Performance benchmarks: in-process scoring, HTTP serving, training (see bench/perf/run.py)."""
