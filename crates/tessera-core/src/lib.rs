//! Tessera's domain, free of I/O: identities and secrets, password hashing, the session and token
//! policies, and the store traits every backend implements.
//!
//! The dependency direction of the workspace is `core ← stores ← http ← server`: nothing here
//! knows about HTTP, SQL or Redis.
#![deny(missing_docs)]

pub mod auth;
pub mod clock;
pub mod ids;
pub mod password;
pub mod secret;
pub mod session;
pub mod store;
pub mod throttle;
pub mod time;
pub mod token;
pub mod user;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{FamilyId, SessionId, UserId};
pub use secret::{OpaqueToken, TokenDigest};
pub use time::Timestamp;
