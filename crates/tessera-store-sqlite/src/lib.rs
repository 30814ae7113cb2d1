//! The embedded default store: SQLite in WAL mode, plus key files in the data dir.
