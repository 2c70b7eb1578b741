"""The edges of Vigil: settings, HTTP and WebSocket endpoints, auth, SQLite, the CLI."""
