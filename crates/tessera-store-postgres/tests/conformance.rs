//! The shared behaviour suite against a real PostgreSQL: one server for this test binary, a
//! new database for each case. Sessions, revocations and failures (Redis's part in a
//! deployment) come from the memory store.

use std::sync::OnceLock;

use tessera_core::store::Stores;
use tessera_store_memory::MemoryStore;
use tessera_store_postgres::PostgresStore;
use tessera_testkit::PostgresServer;

fn server() -> &'static PostgresServer {
    static SERVER: OnceLock<PostgresServer> = OnceLock::new();
    SERVER.get_or_init(PostgresServer::start)
}

async fn fresh() -> (Stores, ()) {
    let url = tokio::task::spawn_blocking(|| server().create_unique_database())
        .await
        .expect("create a database");
    let store = PostgresStore::connect(&url)
        .await
        .expect("connect to a new database");
    (store.stores_over(MemoryStore::stores()), ())
}

tessera_store_tests::conformance_tests!(async fresh);
