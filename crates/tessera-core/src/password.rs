//! Argon2id password hashing with the API's parameters (at least m=19456 KiB, t=2, p=1).
//!
//! Verification of an unknown user runs against a fixed dummy hash, so that it costs the same
//! work and gives the same answer as a wrong password.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::user::InvalidCredentialFormat;

/// Shortest accepted password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks the API's password rules: 8 to 1024 bytes of UTF-8 (every byte significant).
///
/// # Errors
/// [`InvalidCredentialFormat::Password`] outside those bounds.
pub fn validate_password(password: &str) -> Result<(), InvalidCredentialFormat> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(InvalidCredentialFormat::Password)
    }
}

/// Hashes and verifies passwords with Argon2id. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", self.argon2.params()).finish()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// Argon2id, m=19456 KiB, t=2, p=1 (the OWASP recommendation the API fixes as a floor).
    pub fn new() -> Self {
        let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::from_b64("dGVzc2VyYWR1bW15c2FsdA").expect("valid salt");
        let dummy_hash = argon2
            .hash_password(b"tessera-unknown-user-dummy-password", &salt)
            .expect("hashing the dummy password")
            .to_string();
        Self { argon2, dummy_hash }
    }

    /// A new PHC hash of `password` with a fresh random salt. CPU-heavy (tens of ms): call it
    /// off the async runtime.
    pub fn hash(&self, password: &str) -> String {
        let salt_bytes: [u8; 16] = crate::secret::random_bytes();
        let salt = SaltString::encode_b64(&salt_bytes).expect("16-byte salt encodes");
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 hashing with valid parameters cannot fail")
            .to_string()
    }

    /// Whether `password` matches `stored`. With `stored = None` (unknown user) it verifies
    /// against a dummy hash and returns `false`, doing the same work. CPU-heavy.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let phc = stored.unwrap_or(&self.dummy_hash);
        let matched = match PasswordHash::new(phc) {
            Ok(parsed) => self.argon2.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        matched && stored.is_some()
    }
}

/// Runs password hashing off the async runtime, at most `concurrency` at a time, so that a
/// burst of logins queues for the hashing threads instead of stalling requests that only verify
/// a session.
#[derive(Clone, Debug)]
pub struct PasswordWorker {
    hasher: PasswordHasher,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
}

impl PasswordWorker {
    /// A worker running at most `concurrency` (at least one) hashes at once.
    pub fn new(hasher: PasswordHasher, concurrency: usize) -> Self {
        Self { hasher, permits: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))) }
    }

    /// The default bound: every core but one, so one is always left for serving requests.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    }

    /// [`PasswordHasher::hash`] on a blocking thread.
    pub async fn hash(&self, password: String) -> String {
        self.run(move |hasher| hasher.hash(&password)).await
    }

    /// [`PasswordHasher::verify`] on a blocking thread.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        self.run(move |hasher| hasher.verify(&password, stored.as_deref())).await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce(&PasswordHasher) -> T + Send + 'static) -> T {
        // The semaphore is never closed, so acquiring cannot fail.
        let _permit = self.permits.acquire().await.expect("password semaphore is never closed");
        let hasher = self.hasher.clone();
        match tokio::task::spawn_blocking(move || job(&hasher)).await {
            Ok(value) => value,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let h = PasswordHasher::new();
        let a = h.hash("correct horse battery");
        let b = h.hash("correct horse battery");
        assert_ne!(a, b, "salts differ");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("correct horse battery", Some(&a)));
        assert!(!h.verify("correct horse batterY", Some(&a)));
        assert!(!h.verify("correct horse battery", None));
    }

    #[test]
    fn password_bounds() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(1024)).is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }
}
