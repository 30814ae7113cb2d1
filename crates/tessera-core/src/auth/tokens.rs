//! The hybrid: JWT access tokens minted from a password login (with a refresh family), from a
//! session (exchange), or for an upstream (forward auth); refresh rotation with reuse detection.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use super::sessions::SessionAuth;
use super::{Auth, AuthError};
use crate::store::{KeyAlgorithm, RefreshFamily, RefreshToken, RotateOutcome, StoreError};
use crate::token::{
    AccessClaims, KeyRing, RevocationSet, TokenSettings, VerifiedTokenCache, open_successor,
    seal_successor,
};
use crate::user::User;
use crate::{FamilyId, OpaqueToken, Timestamp};

/// How many verified access tokens are cached.
const VERIFIED_CACHE_CAPACITY: usize = 16_384;

/// The token settings of the service.
#[derive(Clone, Debug)]
pub struct TokenPolicy {
    /// Algorithm of new signing keys.
    pub algorithm: KeyAlgorithm,
    /// Issuer, audience, access lifetime, leeway, size limit.
    pub access: TokenSettings,
    /// Whether refresh tokens are issued.
    pub refresh: bool,
    /// Absolute lifetime of a refresh family.
    pub refresh_ttl: Duration,
    /// Grace for a refresh token presented twice.
    pub refresh_grace: Duration,
    /// Forward-auth minting: audience and lifetime; `None` when off.
    pub forward_auth: Option<(String, Duration)>,
    /// How long a new signing key is published before it signs.
    pub key_publish_ahead: Duration,
}

impl TokenPolicy {
    /// The longest an access token of any kind can stay valid after it is issued (with leeway):
    /// how long a revocation or a retired key must be remembered.
    pub fn longest_token_life(&self) -> Duration {
        let forward = self
            .forward_auth
            .as_ref()
            .map_or(Duration::ZERO, |(_, ttl)| *ttl);
        self.access.access_ttl.max(forward) + self.access.leeway
    }
}

/// The in-memory token state: the key ring, verified tokens, revocations.
pub(super) struct TokenState {
    pub(super) ring: ArcSwap<KeyRing>,
    pub(super) verified: VerifiedTokenCache,
    pub(super) revocations: RevocationSet,
}

impl TokenState {
    /// State around the key ring loaded at start-up (swapped by [`Auth::reload_keys`]).
    pub(super) fn new(ring: KeyRing) -> Self {
        Self {
            ring: ArcSwap::from_pointee(ring),
            verified: VerifiedTokenCache::new(VERIFIED_CACHE_CAPACITY),
            revocations: RevocationSet::new(),
        }
    }
}

/// An access token with its lifetime, and a refresh token when one was issued.
#[derive(Debug)]
pub struct TokenPair {
    /// The JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The opaque refresh token, when refresh is on.
    pub refresh_token: Option<OpaqueToken>,
}

/// A request authenticated by a JWT access token.
#[derive(Clone, Debug)]
pub struct JwtAuth {
    /// The verified claims.
    pub claims: Arc<AccessClaims>,
    /// The token's subject as stored now.
    pub user: Arc<User>,
}

impl Auth {
    /// `POST /v1/tokens`: a password login into a new refresh family, with an access token
    /// bound to it (and its first refresh token when refresh is on).
    ///
    /// # Errors
    /// As [`Auth::check_password`]; `TokenTooLarge` when the user's roles do not fit.
    pub async fn issue_tokens(
        &self,
        username: &str,
        password: &str,
        address: &str,
    ) -> Result<TokenPair, AuthError> {
        let user = self.check_password(username, password, address).await?;
        let now = self.now();
        let policy = &self.settings.tokens;
        let family = RefreshFamily {
            id: FamilyId::random(),
            user_id: user.id,
            created_at: now,
            expires_at: now.plus(policy.refresh_ttl),
            ended_at: None,
        };
        // With refresh off the family still exists, so that ending it (password change, admin
        // revoke) kills its access tokens; its one token is never shown to anyone.
        let refresh = OpaqueToken::generate();
        self.stores
            .refresh
            .create_family(&family, &new_refresh_token(&refresh, family.id, now))
            .await?;
        self.pair(&user, family.id, policy.refresh.then_some(refresh), now)
    }

    fn pair(
        &self,
        user: &User,
        family: FamilyId,
        refresh: Option<OpaqueToken>,
        now: Timestamp,
    ) -> Result<TokenPair, AuthError> {
        let issued = self.tokens.ring.load().issue(
            user.id,
            &user.roles,
            &family.to_string(),
            None,
            None,
            now,
        )?;
        Ok(TokenPair {
            access_token: issued.token,
            expires_in: whole_seconds_until(issued.expires_at, now),
            refresh_token: refresh,
        })
    }

    /// `POST /v1/tokens/refresh`: spends the refresh token for a new pair. A spent token
    /// presented again within the grace window, while its successor is unused, gets that same
    /// successor; any other reuse ends the family.
    ///
    /// # Errors
    /// `InvalidGrant` (unknown, expired, ended, refresh off), `RefreshReused`.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        if !self.settings.tokens.refresh {
            return Err(AuthError::InvalidGrant);
        }
        let token = OpaqueToken::parse(presented).ok_or(AuthError::InvalidGrant)?;
        let now = self.now();
        let (record, family) = self
            .stores
            .refresh
            .refresh_token(&token.digest())
            .await?
            .ok_or(AuthError::InvalidGrant)?;
        if !family.is_open(now) {
            return Err(AuthError::InvalidGrant);
        }
        let user = self
            .stores
            .users
            .user_by_id(family.user_id)
            .await?
            .ok_or(AuthError::InvalidGrant)?;
        if record.spent_at.is_none() {
            let successor = OpaqueToken::generate();
            let sealed = seal_successor(&token, &successor);
            let next = new_refresh_token(&successor, family.id, now);
            match self
                .stores
                .refresh
                .rotate(&token.digest(), now, &next, &sealed)
                .await
            {
                Ok(RotateOutcome::Rotated) => {
                    return self.pair(&user, family.id, Some(successor), now);
                }
                // Another request spent it first: judge this one as a reuse.
                Ok(RotateOutcome::NotRotated) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.reuse(&token, family.id, &user, now).await
    }

    /// A spent refresh token presented again: the grace answer, or theft.
    async fn reuse(
        &self,
        token: &OpaqueToken,
        family: FamilyId,
        user: &User,
        now: Timestamp,
    ) -> Result<TokenPair, AuthError> {
        let (record, _) = self
            .stores
            .refresh
            .refresh_token(&token.digest())
            .await?
            .ok_or(AuthError::InvalidGrant)?;
        if let Some(successor) = self.grace_successor(token, &record, now).await? {
            return self.pair(user, family, Some(successor), now);
        }
        self.end_family(family).await?;
        Err(AuthError::RefreshReused)
    }

    async fn grace_successor(
        &self,
        token: &OpaqueToken,
        record: &RefreshToken,
        now: Timestamp,
    ) -> Result<Option<OpaqueToken>, AuthError> {
        let (Some(spent_at), Some(successor), Some(sealed)) =
            (record.spent_at, record.successor, &record.sealed_successor)
        else {
            return Ok(None);
        };
        if now.since(spent_at) > self.settings.tokens.refresh_grace {
            return Ok(None);
        }
        let successor_unused = self
            .stores
            .refresh
            .refresh_token(&successor)
            .await?
            .is_some_and(|(next, family)| next.spent_at.is_none() && family.is_open(now));
        if !successor_unused {
            return Ok(None);
        }
        Ok(open_successor(token, sealed).filter(|opened| opened.digest() == successor))
    }

    /// `POST /v1/tokens/exchange`: an access token bound to the caller's session, expiring no
    /// later than the session would without further activity.
    ///
    /// # Errors
    /// `TokenTooLarge`.
    pub fn exchange(&self, session: &SessionAuth) -> Result<TokenPair, AuthError> {
        let now = self.now();
        let ttl = self
            .settings
            .tokens
            .access
            .access_ttl
            .min(session.session.ends_at().since(now));
        let issued = self.tokens.ring.load().issue(
            session.user.id,
            &session.user.roles,
            &session.session.id.to_string(),
            None,
            Some(ttl),
            now,
        )?;
        Ok(TokenPair {
            access_token: issued.token,
            expires_in: whole_seconds_until(issued.expires_at, now),
            refresh_token: None,
        })
    }

    /// The `X-Auth-Token` of forward auth: a short token for the upstream's audience bound to
    /// the caller's session or family (`sid`). `None` when minting is off.
    ///
    /// # Errors
    /// `TokenTooLarge`.
    pub fn mint_forward_token(&self, user: &User, sid: &str) -> Result<Option<String>, AuthError> {
        let Some((audience, ttl)) = &self.settings.tokens.forward_auth else {
            return Ok(None);
        };
        let issued = self.tokens.ring.load().issue(
            user.id,
            &user.roles,
            sid,
            Some(audience),
            Some(*ttl),
            self.now(),
        )?;
        Ok(Some(issued.token))
    }

    /// Authenticates a request by a JWT access token: signature, claims, revocation (the jti
    /// and the sid), and the subject's existence — with no store round trip for a token seen
    /// before.
    ///
    /// # Errors
    /// `InvalidToken` with the reason.
    pub async fn authenticate_jwt(&self, token: &str) -> Result<JwtAuth, AuthError> {
        let now = self.now();
        let claims = self
            .tokens
            .ring
            .load()
            .verify_cached(&self.tokens.verified, token, now)
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        if !self.revocations_are_fresh() {
            return Err(StoreError::unavailable("the change feed has been silent too long").into());
        }
        if self.tokens.revocations.is_revoked(&claims, now) {
            return Err(AuthError::InvalidToken("token revoked".into()));
        }
        if now >= claims.expires_at() {
            // Accepted only by the leeway, which is for clock skew: never past the deadlines of
            // the session (or family) the token is bound to.
            self.check_sid_live(&claims, now).await?;
        }
        let user = self
            .stores
            .users
            .user(claims.sub)
            .await?
            .ok_or_else(|| AuthError::InvalidToken("unknown subject".into()))?;
        Ok(JwtAuth { claims, user })
    }

    /// Whether the session or refresh family named by the token's `sid` is still live (it
    /// may have timed out without being revoked). A store read, so only for tokens in their
    /// leeway: before `exp` the session outlives the token by construction.
    async fn check_sid_live(&self, claims: &AccessClaims, now: Timestamp) -> Result<(), AuthError> {
        let sessions = self
            .stores
            .sessions
            .sessions_of_user(claims.sub, now)
            .await?;
        if sessions.iter().any(|s| s.id.to_string() == claims.sid) {
            return Ok(());
        }
        let families = self
            .stores
            .refresh
            .families_of_user(claims.sub, now)
            .await?;
        if families.iter().any(|f| f.to_string() == claims.sid) {
            return Ok(());
        }
        Err(AuthError::InvalidToken("session ended".into()))
    }

    /// Checks that `roles` keep the user's `/v1/tokens` access token within `token.max_size`.
    ///
    /// # Errors
    /// `TokenTooLarge`.
    pub(super) fn check_token_size(&self, user: &User, roles: &[String]) -> Result<(), AuthError> {
        let probe_sid = FamilyId::random().to_string();
        self.tokens
            .ring
            .load()
            .issue(user.id, roles, &probe_sid, None, None, self.now())?;
        Ok(())
    }
}

fn new_refresh_token(token: &OpaqueToken, family_id: FamilyId, now: Timestamp) -> RefreshToken {
    RefreshToken {
        digest: token.digest(),
        family_id,
        issued_at: now,
        spent_at: None,
        successor: None,
        sealed_successor: None,
    }
}

/// `expires_in`: whole seconds from `now` (as the token's `iat` has it) to `expires_at`.
fn whole_seconds_until(expires_at: Timestamp, now: Timestamp) -> u64 {
    u64::try_from(expires_at.as_secs() - now.as_secs()).unwrap_or(0)
}
