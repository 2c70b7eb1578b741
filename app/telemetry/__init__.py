"""Counters, histograms and the gauges read from the services, in Prometheus exposition."""
