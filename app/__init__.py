"""The edges of Vigil: settings, HTTP and WebSocket endpoints, auth, SQLite, the CLI."""

__version__ = "0.1.0"  # keep equal to pyproject.toml's version
