"""What the server process runs around its services: GC pacing, master-key reload on SIGHUP."""
