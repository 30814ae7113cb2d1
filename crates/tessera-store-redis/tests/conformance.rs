//! The shared behaviour suite against a real `redis-server`: one server for this test binary, a
//! fresh namespace for each case. Users, refresh families and keys (PostgreSQL's part in a
//! deployment) come from the memory store.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_core::store::Stores;
use tessera_store_memory::MemoryStore;
use tessera_store_redis::RedisStore;
use tessera_testkit::RedisServer;

fn server() -> &'static RedisServer {
    static SERVER: OnceLock<RedisServer> = OnceLock::new();
    SERVER.get_or_init(|| RedisServer::start().expect("start redis-server"))
}

async fn fresh() -> (Stores, ()) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let url = tokio::task::spawn_blocking(|| server().url())
        .await
        .expect("start redis-server");
    let namespace = format!("case{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let store = RedisStore::connect(&url, &namespace)
        .await
        .expect("connect to redis-server");
    (store.stores_over(MemoryStore::stores()), ())
}

tessera_store_tests::conformance_tests!(async fresh);
