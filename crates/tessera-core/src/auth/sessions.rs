//! Password logins into sessions, and everything a session token can do.

use std::sync::Arc;

use super::{Auth, AuthError};
use crate::session::SessionRecord;
use crate::store::{Change, StoreError};
use crate::user::User;
use crate::{OpaqueToken, SessionId, Timestamp, UserId};

/// Who is asking, as far as the session list shows it.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    /// The client address (after trusted proxies).
    pub address: String,
    /// The `User-Agent` header, as sent.
    pub user_agent: String,
}

/// A new session and the token that was issued for it: shown to the client once.
#[derive(Debug)]
pub struct NewSession {
    /// The bearer secret.
    pub token: OpaqueToken,
    /// The stored session.
    pub session: SessionRecord,
    /// Its owner.
    pub user: User,
}

/// A request authenticated by a session token.
#[derive(Clone, Debug)]
pub struct SessionAuth {
    /// The live session as stored (its `last_seen_at` may lag this request).
    pub session: Arc<SessionRecord>,
    /// Its owner, as stored now (current roles).
    pub user: Arc<User>,
    /// When this request was seen: the session's latest activity.
    pub seen_at: Timestamp,
    /// The idle deadline this request set.
    pub idle_expires_at: Timestamp,
}

impl Auth {
    /// `POST /v1/sessions`: checks the password and opens a session with a new token. A token
    /// the client carried into the login (`carried`) is ended first: no session fixation.
    ///
    /// # Errors
    /// As [`Auth::check_password`].
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &ClientInfo,
        carried: Option<&OpaqueToken>,
    ) -> Result<NewSession, AuthError> {
        let user = self
            .check_password(username, password, &client.address)
            .await?;
        if let Some(old) = carried {
            self.end_carried_session(old).await?;
        }
        self.open_session(user, client).await
    }

    async fn end_carried_session(&self, token: &OpaqueToken) -> Result<(), AuthError> {
        let now = self.now();
        if let Some(old) = self
            .stores
            .sessions
            .session_by_digest(&token.digest(), now)
            .await?
        {
            self.end_this_session(&old).await?;
        }
        Ok(())
    }

    async fn open_session(&self, user: User, client: &ClientInfo) -> Result<NewSession, AuthError> {
        let now = self.now();
        loop {
            let (token, session) = self.settings.session.new_session(
                user.id,
                now,
                &client.user_agent,
                client.address.clone(),
            );
            match self.stores.sessions.create_session(&session).await {
                Ok(()) => {
                    self.enforce_session_limit(&session).await?;
                    return Ok(NewSession {
                        token,
                        session,
                        user,
                    });
                }
                // A 256-bit collision is not going to happen; if the store says so, draw again.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `session.max_per_user`: once `new` is stored, ends the user's oldest other sessions
    /// (by creation) until no more than the limit are live, each with its JWTs.
    async fn enforce_session_limit(&self, new: &SessionRecord) -> Result<(), AuthError> {
        let Some(max) = self.settings.session.max_per_user else {
            return Ok(());
        };
        let mut live = self.sessions_of(new.user_id).await?;
        if live.len() <= max.get() {
            return Ok(());
        }
        live.retain(|s| s.id != new.id);
        live.sort_by_key(|s| s.created_at);
        // `live` no longer holds `new`, which is kept: max - 1 others stay.
        let excess = live.len() + 1 - max.get();
        for old in live.iter().take(excess) {
            self.end_this_session(old).await?;
        }
        Ok(())
    }

    /// Authenticates a request by its session token: the session must be live and its user
    /// exist. Pushes the idle deadline forward, writing to the store only when the stored one
    /// lags by more than the policy's touch interval.
    ///
    /// # Errors
    /// `Unauthenticated` for an unknown, expired or ended session or a removed user.
    pub async fn authenticate_session(
        &self,
        token: &OpaqueToken,
    ) -> Result<SessionAuth, AuthError> {
        let now = self.now();
        let policy = &self.settings.session;
        let mut session = self
            .stores
            .sessions
            .session(&token.digest(), now)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        if policy.needs_touch(&session, now) {
            let mut touched = SessionRecord::clone(&session);
            touched.last_seen_at = now;
            touched.idle_expires_at = policy.idle_deadline(&touched, now);
            self.stores.sessions.touch_session(&touched).await?;
            session = Arc::new(touched);
        }
        let user = self
            .stores
            .users
            .user(session.user_id)
            .await?
            .ok_or(AuthError::Unauthenticated)?;
        // The deadline this request set, even when the store lags behind.
        let idle_expires_at = policy.idle_deadline(&session, now);
        Ok(SessionAuth {
            session,
            user,
            seen_at: now,
            idle_expires_at,
        })
    }

    /// The user's live sessions, oldest first.
    ///
    /// # Errors
    /// A store error.
    pub async fn sessions_of(&self, user_id: UserId) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self
            .stores
            .sessions
            .sessions_of_user(user_id, self.now())
            .await?)
    }

    /// Ends one of the user's own live sessions, with the access tokens minted from it.
    ///
    /// # Errors
    /// `NotFound` for any other id (another user's, an ended one, an unknown one).
    pub async fn end_session(
        &self,
        user_id: UserId,
        id: SessionId,
    ) -> Result<SessionRecord, AuthError> {
        let session = self
            .sessions_of(user_id)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(AuthError::NotFound)?;
        self.end_this_session(&session).await?;
        Ok(session)
    }

    /// Ends `session` (known to be live), with the access tokens minted from it, on every
    /// instance.
    ///
    /// # Errors
    /// A store error.
    pub async fn end_this_session(&self, session: &SessionRecord) -> Result<(), AuthError> {
        // The revocation first: a failure after it can never leave the session's JWTs alive.
        self.revoke_sids(&[session.id.to_string()]).await?;
        self.stores
            .sessions
            .delete_session(session.user_id, session.id)
            .await?;
        self.publish(Change::SessionEnded(session.digest)).await
    }

    /// Ends all the user's sessions but `keep`, with the access tokens minted from them.
    ///
    /// # Errors
    /// A store error.
    pub async fn end_sessions(
        &self,
        user_id: UserId,
        keep: Option<SessionId>,
    ) -> Result<(), AuthError> {
        let listed: Vec<String> = self
            .sessions_of(user_id)
            .await?
            .into_iter()
            .filter(|s| Some(s.id) != keep)
            .map(|s| s.id.to_string())
            .collect();
        self.revoke_sids(&listed).await?;
        let ended = self
            .stores
            .sessions
            .delete_sessions_of_user(user_id, keep)
            .await?;
        // A session opened between the listing and the deletion: revoked now.
        let late: Vec<String> = ended
            .iter()
            .map(|s| s.id.to_string())
            .filter(|id| !listed.contains(id))
            .collect();
        self.revoke_sids(&late).await?;
        for session in &ended {
            self.publish(Change::SessionEnded(session.digest)).await?;
        }
        Ok(())
    }
}
