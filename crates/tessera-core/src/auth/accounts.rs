//! Accounts: registration, password checks and changes, roles, removal.

use std::sync::Arc;

use super::{Auth, AuthError};
use crate::UserId;
use crate::password::{MAX_PASSWORD_BYTES, validate_password};
use crate::store::{Change, StoreError};
use crate::throttle::{Attempt, Refusal};
use crate::user::{User, Username, canonical_username, normalize_roles};

impl Auth {
    /// A new account with no roles, when signup is open, without the per-address throttle:
    /// for callers in this process (benchmarks, fixtures). HTTP signups go through
    /// [`Auth::register_from`].
    ///
    /// # Errors
    /// `SignupDisabled`, `InvalidRequest` for a malformed name or password, `UsernameTaken`.
    pub async fn register(&self, username: &str, password: &str) -> Result<User, AuthError> {
        if !self.settings.signup {
            return Err(AuthError::SignupDisabled);
        }
        self.create_user(username, password, &[]).await
    }

    /// `POST /v1/users` from the client `address`: a new account with no roles, when signup is
    /// open. The input is checked first, then the signup throttle of the address (in the shared
    /// failure log, so the limit holds across instances), then whether the name is taken; only
    /// then is the password hashed.
    ///
    /// # Errors
    /// `SignupDisabled`, `InvalidRequest` for a malformed name or password, `TooManyAttempts`,
    /// `UsernameTaken`.
    pub async fn register_from(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<User, AuthError> {
        if !self.settings.signup {
            return Err(AuthError::SignupDisabled);
        }
        let name = Username::parse(username)?;
        validate_password(password)?;
        self.throttle
            .begin_signup(address, self.now())
            .await
            .map_err(|refusal| match refusal {
                Refusal::TooManyAttempts(retry_after) => AuthError::TooManyAttempts { retry_after },
                Refusal::Store(e) => e.into(),
            })?;
        // Signup says 409 for a taken name anyway: no hash is spent on finding that out.
        if self
            .stores
            .users
            .user_by_name(&name.canonical())
            .await?
            .is_some()
        {
            return Err(AuthError::UsernameTaken);
        }
        self.create_user(username, password, &[]).await
    }

    /// A new account with `roles`, whatever the signup setting (the operator's CLI).
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed name, password or role; `UsernameTaken`.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        roles: &[String],
    ) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        validate_password(password)?;
        let roles = normalize_roles(roles)?;
        let user = User {
            id: UserId::random(),
            username,
            roles,
            password_hash: self.passwords.hash(password.to_owned()).await,
            created_at: self.now(),
        };
        match self.stores.users.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict) => Err(AuthError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a username and password, throttled before any hashing: the user on success.
    /// An unknown user costs the same work and gets the same answer as a wrong password.
    ///
    /// # Errors
    /// `InvalidRequest` for input no account could have, `TooManyAttempts`, `InvalidCredentials`.
    pub async fn check_password(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::InvalidRequest(
                "password must be 1 to 1024 bytes".into(),
            ));
        }
        let canonical = username.canonical();
        let attempt = self.throttle_begin(&canonical, address).await?;
        let user = match self.stores.users.user_by_name(&canonical).await {
            Ok(user) => user,
            Err(e) => {
                self.throttle.abandoned(attempt).await?;
                return Err(e.into());
            }
        };
        self.verify_password(user, password, attempt).await
    }

    /// Verifies `password` (the request's field `field`) for an already known `user` (a
    /// password change, an account deletion), throttled like a login.
    async fn recheck_password(
        &self,
        user: &User,
        field: &str,
        password: &str,
        address: &str,
    ) -> Result<User, AuthError> {
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(AuthError::InvalidRequest(format!(
                "{field} must be 1 to 1024 bytes"
            )));
        }
        let attempt = self
            .throttle_begin(&user.username.canonical(), address)
            .await?;
        self.verify_password(Some(user.clone()), password, attempt)
            .await
    }

    /// Admits a password check (counted as a failure until it succeeds), or refuses it.
    async fn throttle_begin(&self, canonical: &str, address: &str) -> Result<Attempt, AuthError> {
        self.throttle
            .begin(canonical, address, self.now())
            .await
            .map_err(|refusal| match refusal {
                Refusal::TooManyAttempts(retry_after) => AuthError::TooManyAttempts { retry_after },
                Refusal::Store(e) => e.into(),
            })
    }

    async fn verify_password(
        &self,
        user: Option<User>,
        password: &str,
        attempt: Attempt,
    ) -> Result<User, AuthError> {
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if self.passwords.verify(password.to_owned(), stored).await {
            self.throttle.succeeded(attempt).await?;
            // `verify` returns true only with a stored hash, so the user exists.
            user.ok_or(AuthError::InvalidCredentials)
        } else {
            // The attempt stays counted.
            Err(AuthError::InvalidCredentials)
        }
    }

    /// `POST /v1/password`: checks the current password, stores the new one, and ends every
    /// other session and refresh family of the user with their access tokens (the caller's own
    /// session or family, `keep_sid`, stays).
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed new password, `TooManyAttempts`, `InvalidCredentials`.
    pub async fn change_password(
        &self,
        user: &User,
        current_password: &str,
        new_password: &str,
        keep_sid: Option<&str>,
        address: &str,
    ) -> Result<(), AuthError> {
        validate_password(new_password)?;
        self.recheck_password(user, "current_password", current_password, address)
            .await?;
        let hash = self.passwords.hash(new_password.to_owned()).await;
        if !self.stores.users.set_password_hash(user.id, &hash).await? {
            return Err(AuthError::Unauthenticated);
        }
        self.publish(Change::UserChanged(user.id)).await?;
        self.end_everything_of(user.id, keep_sid).await
    }

    /// The user with this id.
    ///
    /// # Errors
    /// `NotFound` for an unknown id.
    pub async fn user(&self, id: UserId) -> Result<Arc<User>, AuthError> {
        self.stores
            .users
            .user_by_id(id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// The user with this name (any case).
    ///
    /// # Errors
    /// `NotFound` for an unknown name.
    pub async fn user_by_name(&self, username: &str) -> Result<User, AuthError> {
        self.stores
            .users
            .user_by_name(&canonical_username(username))
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Every account, oldest first.
    ///
    /// # Errors
    /// A store error.
    pub async fn users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.stores.users.list_users().await?)
    }

    /// Replaces a user's roles; they take effect at the next session read and token issue.
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed role, `NotFound` for an unknown user, `TokenTooLarge`
    /// when the user's access token would no longer fit `token.max_size`.
    pub async fn set_roles(&self, id: UserId, roles: &[String]) -> Result<User, AuthError> {
        let roles = normalize_roles(roles)?;
        let user = self.user(id).await?;
        self.check_token_size(&user, &roles)?;
        let updated = self
            .stores
            .users
            .set_roles(id, &roles)
            .await?
            .ok_or(AuthError::NotFound)?;
        self.publish(Change::UserChanged(id)).await?;
        Ok(updated)
    }

    /// Ends every session and refresh family of the user, with their access tokens (the admin
    /// API's revoke).
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    pub async fn revoke_user(&self, id: UserId) -> Result<(), AuthError> {
        self.user(id).await?;
        self.end_everything_of(id, None).await
    }

    /// `DELETE /v1/me`: the caller removes their own account, proving its password again
    /// (throttled like a login): every session and refresh family ends with its access tokens
    /// on every instance, then the user is gone and the name free.
    ///
    /// # Errors
    /// `InvalidRequest` for a malformed password, `TooManyAttempts`, `InvalidCredentials`.
    pub async fn delete_own_account(
        &self,
        user: &User,
        password: &str,
        address: &str,
    ) -> Result<(), AuthError> {
        self.recheck_password(user, "password", password, address)
            .await?;
        self.delete_user(user.id).await
    }

    /// Removes an account after ending all its sessions.
    ///
    /// # Errors
    /// `NotFound` for an unknown user.
    pub async fn delete_user(&self, id: UserId) -> Result<(), AuthError> {
        self.revoke_user(id).await?;
        self.stores.users.delete_user(id).await?;
        self.publish(Change::UserChanged(id)).await
    }
}
