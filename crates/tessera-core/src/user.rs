//! Accounts: usernames, roles and the user record.

use std::fmt;

use crate::{Timestamp, UserId};

/// Why a username, password or role was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidCredentialFormat {
    /// Usernames are 1 to 64 characters of `[A-Za-z0-9._@-]`.
    #[error("username must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -")]
    Username,
    /// Passwords are 8 to 1024 bytes of UTF-8.
    #[error("password must be 8 to 1024 bytes")]
    Password,
    /// Roles are 1 to 64 characters of `[A-Za-z0-9._:-]`.
    #[error("role must be 1 to 64 characters of A-Z a-z 0-9 . _ : -")]
    Role,
}

/// A valid username as typed; equality and lookup go through [`Username::canonical`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Checks the API's rules: 1 to 64 characters of `[A-Za-z0-9._@-]`.
    ///
    /// # Errors
    /// [`InvalidCredentialFormat::Username`] for anything else.
    pub fn parse(text: &str) -> Result<Self, InvalidCredentialFormat> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidCredentialFormat::Username)
        }
    }

    /// The name as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive key usernames are unique by.
    pub fn canonical(&self) -> String {
        canonical_username(&self.0)
    }
}

/// The case-insensitive form of any text used as a username (also for names that are not valid,
/// so that throttling counts attempts on them too).
pub fn canonical_username(text: &str) -> String {
    text.to_ascii_lowercase()
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

/// Checks a role name: 1 to 64 characters of `[A-Za-z0-9._:-]`.
///
/// # Errors
/// [`InvalidCredentialFormat::Role`] for anything else.
pub fn validate_role(role: &str) -> Result<(), InvalidCredentialFormat> {
    let ok = (1..=64).contains(&role.len())
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(InvalidCredentialFormat::Role)
    }
}

/// Checks a whole role list, dropping duplicates while keeping the first-seen order.
///
/// # Errors
/// [`InvalidCredentialFormat::Role`] when any role is malformed.
pub fn normalize_roles(roles: &[String]) -> Result<Vec<String>, InvalidCredentialFormat> {
    let mut out: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles {
        validate_role(role)?;
        if !out.contains(role) {
            out.push(role.clone());
        }
    }
    Ok(out)
}

/// A stored account. The password hash is a PHC string; it never leaves the server.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier.
    pub id: UserId,
    /// The name as registered (unique case-insensitively).
    pub username: Username,
    /// Roles, in the order they were granted.
    pub roles: Vec<String>,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the account was created.
    pub created_at: Timestamp,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rules() {
        for good in ["a", "alice", "A.b_c@d-e", &"x".repeat(64)] {
            assert!(Username::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "bad name!", "ünï", &"x".repeat(65), "a/b", "a b"] {
            assert_eq!(
                Username::parse(bad),
                Err(InvalidCredentialFormat::Username),
                "{bad}"
            );
        }
        assert_eq!(
            Username::parse("ALICE").map(|u| u.canonical()),
            Ok("alice".into())
        );
    }

    #[test]
    fn roles_follow_the_rules() {
        assert_eq!(
            normalize_roles(&["admin".into(), "a:b".into(), "admin".into()]),
            Ok(vec!["admin".into(), "a:b".into()])
        );
        assert!(normalize_roles(&["".into()]).is_err());
        assert!(normalize_roles(&["a b".into()]).is_err());
        assert!(normalize_roles(&["x".repeat(65)]).is_err());
    }
}
