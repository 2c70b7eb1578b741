"""The `vigil` command line and the commands it runs."""
