"""The domain and in-process concurrency of Vigil: events, scoring, session actors, fan-out.

Imports only the standard library, anyio, msgspec and numpy; the outside world is reached
through the ports in `actors.ports`.
"""
