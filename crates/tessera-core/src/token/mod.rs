//! JWT access tokens and the state around them: signing keys and the key ring, issuing and
//! verifying access tokens, the verified-token cache, the in-memory revocation set, the sealed
//! refresh-token successor and an unverified decoder for the command line.
//!
//! Every check here takes the current time as an argument; nothing reads the system clock.

mod access;
mod cache;
mod decode;
mod error;
mod jws;
mod keys;
mod revocations;
mod seal;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod testing;

pub use access::{AccessClaims, IssuedToken, TokenSettings};
pub use cache::VerifiedTokenCache;
pub use decode::decode_unverified;
pub use error::{KeyError, TokenError};
pub use jws::MAX_TOKEN_BYTES;
pub use keys::{KeyRing, generate_key};
pub use revocations::RevocationSet;
pub use seal::{open_successor, seal_successor};
