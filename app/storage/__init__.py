"""SQLite: the journal (the one writer), the store (reads), the schema, frames, audit, retention."""
