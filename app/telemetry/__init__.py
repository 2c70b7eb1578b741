"""Counters and histograms, and their Prometheus exposition."""
