"""Benchmarks: each script measures, prints, and writes a record (benchmarks.records); benchmarks.render renders docs/performance.md from the records."""
