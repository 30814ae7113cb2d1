//! The shared behaviour suite, each case on a fresh [`MemoryStore`].

use tessera_core::store::Stores;
use tessera_store_memory::MemoryStore;

fn fresh() -> (Stores, ()) {
    (MemoryStore::stores(), ())
}

tessera_store_tests::conformance_tests!(fresh);
