//! The behaviour suite every store backend runs, written once.
//!
//! Each case is a `pub async fn` taking a fresh [`Stores`] and asserting one part of the contract
//! of [`tessera_core::store`]. A backend runs them all from its `tests/conformance.rs` with
//! [`conformance_tests!`], which makes one `#[tokio::test]` per case so that a failure names the
//! behaviour that broke:
//!
//! ```ignore
//! fn fresh() -> (tessera_core::store::Stores, ()) {
//!     (tessera_store_memory::MemoryStore::stores(), ())
//! }
//! tessera_store_tests::conformance_tests!(fresh);
//! ```
//!
//! The second value `fresh` returns is kept alive for the test's duration (a temporary
//! directory, a child process) and dropped after it. Time is always passed explicitly: no case
//! sleeps.
#![deny(missing_docs)]

mod failures;
mod fixtures;
mod keys;
mod refresh;
mod revocations;
mod sessions;
mod users;

pub use failures::*;
pub use keys::*;
pub use refresh::*;
pub use revocations::*;
pub use sessions::*;
pub use users::*;

/// Re-exported so that the cases' signatures name the same type as the caller.
pub use tessera_core::store::Stores;

/// Defines one `#[tokio::test]` per case of the suite, each on the stores `$fresh()` returns.
///
/// `$fresh` is a function `fn() -> (Stores, G)`, or with `async` before it an
/// `async fn() -> (Stores, G)` (for a backend reached over the network); `G` is held until the
/// case ends. The calling crate needs `tokio` (with `macros` and `rt-multi-thread`) as a
/// dev-dependency.
#[macro_export]
macro_rules! conformance_tests {
    (async $fresh:path) => {
        $crate::conformance_tests!(@cases (async $fresh));
    };
    ($fresh:path) => {
        $crate::conformance_tests!(@cases ($fresh));
    };
    (@cases $fresh:tt) => {
        $crate::conformance_tests!(@each $fresh;
            users_create_and_lookup,
            users_conflict_on_id_or_canonical_name,
            users_listed_oldest_first,
            users_set_roles,
            users_set_password_hash,
            users_delete,
            sessions_create_and_lookup,
            sessions_conflict_on_id_or_digest,
            sessions_end_at_absolute_deadline,
            sessions_end_at_idle_deadline,
            sessions_touch_moves_idle_deadline_only_while_live,
            sessions_touch_never_moves_a_deadline_back,
            sessions_of_user_lists_only_live_sessions_of_that_user,
            sessions_delete_session_checks_owner,
            sessions_delete_sessions_of_user_keeps_one,
            sessions_purge_removes_ended_sessions,
            refresh_create_and_lookup,
            refresh_conflict_on_family_id_or_digest,
            refresh_rotate_spends_a_token_once,
            refresh_rotate_to_a_taken_digest_conflicts,
            refresh_rotate_unknown_token_is_not_rotated,
            refresh_rotate_in_closed_family_is_not_rotated,
            refresh_concurrent_rotations_have_one_winner,
            refresh_end_family,
            refresh_end_families_of_user_keeps_one,
            refresh_families_of_user_lists_open_ones,
            refresh_purge_drops_closed_families_and_old_sealed_successors,
            revocations_in_force_until_expiry,
            revocations_are_idempotent_keeping_later_expiry,
            revocations_purge,
            keys_first_key_only_into_an_empty_store,
            keys_concurrent_first_keys_make_one,
            keys_rotation_retires_the_unretired_and_adds_the_new,
            keys_rotation_to_a_taken_kid_changes_nothing,
            keys_delete,
            failures_limit_within_the_sliding_window,
            failures_refusal_records_nothing,
            failures_withdraw_and_clear,
            failures_concurrent_attempts_admit_exactly_the_limit,
            health_ping,
        );
    };
    (@each $fresh:tt; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (stores, _guard) = $crate::conformance_tests!(@fresh $fresh);
                $crate::$case(&stores).await;
            }
        )*
    };
    (@fresh (async $fresh:path)) => {
        $fresh().await
    };
    (@fresh ($fresh:path)) => {
        $fresh()
    };
}
