//! Ending things and telling what is alive: the RFC 7009 revoke, the RFC 7662 introspection, and
//! the revocations that make access tokens die with their session or family.

use std::sync::Arc;

use super::{Auth, AuthError};
use crate::store::{Change, Revocation, RevokedKind};
use crate::token::AccessClaims;
use crate::user::User;
use crate::{FamilyId, OpaqueToken, SessionId, UserId};

/// The kinds of token Tessera issues, as introspection reports them (`token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token.
    AccessToken,
    /// An opaque refresh token.
    RefreshToken,
    /// An opaque session token.
    Session,
}

impl TokenKind {
    /// The RFC 7662 `token_type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshToken => "refresh_token",
            Self::Session => "session",
        }
    }
}

/// An active token as introspection reports it.
#[derive(Clone, Debug)]
pub struct ActiveToken {
    /// Its kind.
    pub kind: TokenKind,
    /// Its owner.
    pub user: Arc<User>,
    /// When it stops being valid (NumericDate seconds).
    pub exp: i64,
    /// When it was issued (NumericDate seconds).
    pub iat: i64,
    /// The session or refresh family it belongs to (what a `sid` revocation names).
    pub sid: String,
}

impl Auth {
    /// `POST /v1/tokens/revoke`: an access token dies; a refresh token's family dies with its
    /// access tokens; a session token's session ends. Unknown or invalid tokens change nothing.
    ///
    /// # Errors
    /// A store error only: RFC 7009 answers 200 for anything else.
    pub async fn revoke_token(&self, token: &str) -> Result<(), AuthError> {
        let now = self.now();
        if let Some(opaque) = OpaqueToken::parse(token) {
            let digest = opaque.digest();
            if let Some((_, family)) = self.stores.refresh.refresh_token(&digest).await? {
                self.end_family(family.id).await?;
            } else if let Some(session) =
                self.stores.sessions.session_by_digest(&digest, now).await?
            {
                self.end_this_session(&session).await?;
            }
            return Ok(());
        }
        // Only a token this server signed may add to the denylist: for the API's audience or,
        // from forward auth, the upstream's.
        if let Ok(claims) = self.tokens.ring.load().verify_any_audience(token, now) {
            let expires_at = claims.expires_at().plus(self.settings.tokens.access.leeway);
            self.remember(Revocation {
                kind: RevokedKind::AccessToken,
                id: claims.jti,
                expires_at,
            })
            .await?;
            metrics::counter!("tessera_revocations_total", "mode" => "jwt", "kind" => "access_token").increment(1);
        }
        Ok(())
    }

    /// `POST /v1/tokens/introspect`: whether `token` (access, refresh or session) is active now,
    /// without touching it.
    ///
    /// # Errors
    /// A store error.
    pub async fn introspect(&self, token: &str) -> Result<Option<ActiveToken>, AuthError> {
        let now = self.now();
        let Some(opaque) = OpaqueToken::parse(token) else {
            return match self.authenticate_jwt(token).await {
                Ok(jwt) => Ok(Some(active_access(&jwt.claims, jwt.user))),
                Err(AuthError::Store(e)) => Err(e.into()),
                Err(_) => Ok(None),
            };
        };
        let digest = opaque.digest();
        if let Some((record, family)) = self.stores.refresh.refresh_token(&digest).await? {
            let usable =
                self.settings.tokens.refresh && record.spent_at.is_none() && family.is_open(now);
            let user = self.stores.users.user_by_id(family.user_id).await?;
            return Ok(user.filter(|_| usable).map(|user| ActiveToken {
                kind: TokenKind::RefreshToken,
                user,
                exp: family.expires_at.as_secs(),
                iat: record.issued_at.as_secs(),
                sid: family.id.to_string(),
            }));
        }
        let Some(session) = self.stores.sessions.session_by_digest(&digest, now).await? else {
            return Ok(None);
        };
        let user = self.stores.users.user_by_id(session.user_id).await?;
        Ok(user.map(|user| ActiveToken {
            kind: TokenKind::Session,
            user,
            exp: session.ends_at().as_secs(),
            iat: session.created_at.as_secs(),
            sid: session.id.to_string(),
        }))
    }

    /// Ends a refresh family and every access token bound to it.
    ///
    /// # Errors
    /// A store error.
    pub async fn end_family(&self, id: FamilyId) -> Result<(), AuthError> {
        // The revocation first: a failure after it can never leave the family's tokens alive.
        self.revoke_sids(&[id.to_string()]).await?;
        self.stores.refresh.end_family(id, self.now()).await?;
        Ok(())
    }

    /// Ends every session and refresh family of the user but the caller's own `keep` (a
    /// session or family id), with all their access tokens.
    pub(super) async fn end_everything_of(
        &self,
        user_id: UserId,
        keep: Option<&str>,
    ) -> Result<(), AuthError> {
        let now = self.now();
        let keep_session = keep.and_then(|k| k.parse::<SessionId>().ok());
        let keep_family = keep.and_then(|k| k.parse::<FamilyId>().ok());
        let families: Vec<String> = self
            .stores
            .refresh
            .families_of_user(user_id, now)
            .await?
            .into_iter()
            .filter(|id| Some(*id) != keep_family)
            .map(|id| id.to_string())
            .collect();
        self.revoke_sids(&families).await?;
        self.end_sessions(user_id, keep_session).await?;
        let ended = self
            .stores
            .refresh
            .end_families_of_user(user_id, keep_family, now)
            .await?;
        // A family opened between the listing and the ending: revoked now.
        let late: Vec<String> = ended
            .iter()
            .map(ToString::to_string)
            .filter(|id| !families.contains(id))
            .collect();
        self.revoke_sids(&late).await
    }

    /// Access tokens bound to these sessions or families die, on every check and every instance
    /// from now on.
    pub(super) async fn revoke_sids(&self, sids: &[String]) -> Result<(), AuthError> {
        let expires_at = self.now().plus(self.settings.tokens.longest_token_life());
        for id in sids {
            self.remember(Revocation {
                kind: RevokedKind::Sid,
                id: id.clone(),
                expires_at,
            })
            .await?;
            metrics::counter!("tessera_revocations_total", "mode" => "sid", "kind" => "session_or_family").increment(1);
        }
        Ok(())
    }

    /// Records a revocation in the store, in this process, and for every other instance.
    async fn remember(&self, revocation: Revocation) -> Result<(), AuthError> {
        self.stores.revocations.revoke(&revocation).await?;
        if self.tokens.revocations.insert(&revocation, self.now()) {
            self.revocation_events.send(revocation.clone());
        }
        self.publish(Change::Revoked(revocation)).await
    }

    /// Tells every other instance of `change` (nothing to do without a change feed).
    pub(super) async fn publish(&self, change: Change) -> Result<(), AuthError> {
        if let Some(feed) = &self.stores.feed {
            feed.publish(&change, self.now()).await?;
        }
        Ok(())
    }

    /// Reloads the revocations from the store (those another process wrote, such as the CLI).
    ///
    /// # Errors
    /// A store error.
    pub async fn reload_revocations(&self) -> Result<(), AuthError> {
        let now = self.now();
        let all = self.stores.revocations.revocations(now).await?;
        for revocation in all {
            // News (another process's, such as the CLI's) goes to the apps' feed too.
            if self.tokens.revocations.insert(&revocation, now) {
                self.revocation_events.send(revocation);
            }
        }
        Ok(())
    }
}

fn active_access(claims: &AccessClaims, user: Arc<User>) -> ActiveToken {
    ActiveToken {
        kind: TokenKind::AccessToken,
        user,
        exp: claims.exp,
        iat: claims.iat,
        sid: claims.sid.clone(),
    }
}
