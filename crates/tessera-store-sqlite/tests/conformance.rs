//! The shared behaviour suite, each case on a fresh database in its own temporary directory.

use tessera_core::store::Stores;
use tessera_store_sqlite::SqliteStore;

fn fresh() -> (Stores, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("data")).expect("open a new database");
    (store.stores(), dir)
}

tessera_store_tests::conformance_tests!(fresh);
