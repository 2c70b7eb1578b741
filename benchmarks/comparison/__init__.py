"""benchmarks/compare.py: Vigil against the seeds' architecture (benchmarks/peers), on the same
load from the same generator (benchmarks/peers/generator), one system at a time."""
