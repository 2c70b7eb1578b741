"""The load generator behind `benchmarks/load.py`, one module per job.

- `protocol`: the frames on the sockets; `ipc`: what crosses process boundaries.
- `candidates`, `admins`: the child processes that drive the candidate and admin sockets.
- `server`: the server under test; `run`: the coordinator; `measure`: the measured run.
- `record`: what a run records; `report`: the table, the notes and the record under results/.
"""
