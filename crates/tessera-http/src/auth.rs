//! Authentication extractors, each named for what it proves, and the CSRF rules.
//!
//! A credential is the session cookie, `Authorization: Bearer <session token>` or (for the
//! routes that take them) `Authorization: Bearer <JWT>`. Requests authenticated by the cookie
//! must pass the CSRF checks when their method is unsafe; the `Authorization` header is exempt.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use tessera_core::OpaqueToken;
use tessera_core::auth::SessionAuth;
use tessera_core::session::csrf_token;

use crate::client::client_address;
use crate::cookies::read_cookie;
use crate::error::ApiError;
use crate::metrics::Mode;
use crate::state::AppState;

/// The credential a request presents.
pub enum Credential<'a> {
    /// The session cookie with a well-formed token.
    Cookie(OpaqueToken),
    /// `Authorization: Bearer` with a session token.
    BearerSession(OpaqueToken),
    /// `Authorization: Bearer` with something shaped like a JWT (three segments).
    BearerOther(&'a str),
    /// `Authorization: Bearer` with neither a session token nor a JWT (a public session id,
    /// garbage): an unknown session credential.
    BearerUnknown,
    /// Nothing usable.
    Missing,
}

/// The bearer value of `Authorization`, if the scheme is Bearer.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    bearer_value(headers.get(header::AUTHORIZATION)?)
}

/// The value after `Bearer ` (the scheme in any case), trimmed, when the whole header is
/// visible ASCII (as `HeaderValue::to_str` requires). Checked without branching per byte, so
/// the compiler checks many bytes at once: a 400-byte JWT took 460 instructions through
/// `to_str`, `split_once` and `trim`.
fn bearer_value(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let visible = bytes.iter().fold(true, |ok, &b| {
        ok & ((b' '..=b'~').contains(&b) | (b == b'\t'))
    });
    let (scheme, rest) = bytes.split_at_checked(7)?;
    if !visible || !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    std::str::from_utf8(rest.trim_ascii()).ok()
}

/// Reads the request's credential. `Authorization` wins over the cookie.
pub fn credential<'a>(headers: &'a HeaderMap, cookie_name: &str) -> Credential<'a> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        return match bearer_value(authorization) {
            Some(value) => match OpaqueToken::parse(value) {
                Some(token) => Credential::BearerSession(token),
                // A JWT has exactly two dots; anything else is no JWT, so `unauthenticated`.
                None if has_two_dots(value) => Credential::BearerOther(value),
                None => Credential::BearerUnknown,
            },
            None => Credential::Missing,
        };
    }
    match read_cookie(headers, cookie_name).and_then(OpaqueToken::parse) {
        Some(token) => Credential::Cookie(token),
        None => Credential::Missing,
    }
}

/// Whether `value` holds exactly two `.`. Counted in blocks of 64 bytes into a `u8`, which the
/// compiler turns into vector compares: about 300 instructions over a 400-byte JWT, where a
/// byte-by-byte `filter().count()` took 2000 (and `memchr` three times 700).
fn has_two_dots(value: &str) -> bool {
    let mut dots = 0usize;
    for block in value.as_bytes().chunks(64) {
        let mut in_block = 0u8;
        for byte in block {
            in_block += u8::from(*byte == b'.');
        }
        dots += usize::from(in_block);
    }
    dots == 2
}

/// Whether the method changes state (CSRF applies).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The cross-site checks every cookie-authenticated unsafe request (and every login) passes:
/// no `Sec-Fetch-Site: cross-site`, an allowed `Origin` when one is sent, and, when the request
/// is authenticated by a session cookie, `X-CSRF-Token` matching that session.
///
/// # Errors
/// 403 `csrf_failed`.
pub fn check_csrf(
    headers: &HeaderMap,
    state: &AppState,
    session_token: Option<&OpaqueToken>,
) -> Result<(), ApiError> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(ApiError::csrf_failed("cross-site request refused"));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.origin_allowed(o));
        if !allowed {
            return Err(ApiError::csrf_failed("origin not allowed"));
        }
    }
    if let Some(token) = session_token {
        let expected = csrf_token(token);
        let presented = headers
            .get("x-csrf-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !tessera_core::secret::constant_time_eq(presented, expected.as_bytes()) {
            return Err(ApiError::csrf_failed("missing or wrong X-CSRF-Token"));
        }
    }
    Ok(())
}

/// A request authenticated by a session token (cookie or bearer), CSRF-checked when it came by
/// cookie with an unsafe method. JWTs are refused here.
pub struct SessionCaller {
    /// The session and its user.
    pub auth: SessionAuth,
    /// The token that authenticated the request.
    pub token: OpaqueToken,
    /// Whether it came as the cookie (else as a bearer token).
    pub via_cookie: bool,
}

impl SessionCaller {
    /// Authenticates a session credential; `method` decides whether CSRF applies.
    ///
    /// # Errors
    /// 401 `unauthenticated`, 403 `csrf_failed`, 503.
    pub async fn authenticate(
        state: &AppState,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<Self, ApiError> {
        Self::from_credential(
            state,
            headers,
            method,
            credential(headers, &state.settings().cookie.name),
        )
        .await
    }

    async fn from_credential(
        state: &AppState,
        headers: &HeaderMap,
        method: &Method,
        credential: Credential<'_>,
    ) -> Result<Self, ApiError> {
        let (token, via_cookie) = match credential {
            Credential::Cookie(token) => (token, true),
            Credential::BearerSession(token) => (token, false),
            Credential::BearerOther(_) | Credential::BearerUnknown | Credential::Missing => {
                return Err(ApiError::unauthenticated());
            }
        };
        // CSRF needs only the token: checked before the lookup, so a refused request neither
        // costs a store read nor pushes the session's idle deadline.
        if via_cookie && is_unsafe(method) {
            check_csrf(headers, state, Some(&token))?;
        }
        let result = state.auth().authenticate_session(&token).await;
        state.verifications().record(Mode::Session, result.is_ok());
        let auth = result?;
        Ok(Self {
            auth,
            token,
            via_cookie,
        })
    }
}

impl FromRequestParts<AppState> for SessionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::authenticate(state, &parts.headers, &parts.method).await
    }
}

/// The client's address and `User-Agent`.
pub struct Client(pub tessera_core::auth::ClientInfo);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let address = client_address(parts, &state.settings().trusted_proxies);
        Ok(Self(tessera_core::auth::ClientInfo {
            address,
            user_agent,
        }))
    }
}

/// A request carrying the configured admin key. With no key configured, every admin route is
/// 404.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = state
            .settings()
            .admin_key
            .as_ref()
            .ok_or_else(ApiError::not_found)?;
        match bearer(&parts.headers) {
            Some(presented) if key.matches(presented) => Ok(Admin),
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

/// A request carrying the admin key or one of the apps' keys (`apps.keys`): what the
/// revocation feed and introspection take. With neither configured, those routes are 404.
pub struct AppKey;

impl FromRequestParts<AppState> for AppKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let s = state.settings();
        if s.admin_key.is_none() && s.app_keys.is_empty() {
            return Err(ApiError::not_found());
        }
        let presented = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        // Every key is compared, so the time taken does not tell which one matched.
        let matched = s
            .admin_key
            .iter()
            .chain(&s.app_keys)
            .fold(false, |any, key| key.matches(presented) | any);
        if matched {
            Ok(AppKey)
        } else {
            Err(ApiError::unauthenticated())
        }
    }
}

/// A request authenticated by any credential the API accepts on general routes: a session
/// (cookie or bearer) or a JWT access token.
pub enum Caller {
    /// By a session token.
    Session(SessionCaller),
    /// By a JWT access token.
    Jwt(tessera_core::auth::JwtAuth),
}

impl Caller {
    /// Authenticates whatever credential the request carries.
    ///
    /// # Errors
    /// 401 `unauthenticated` (no or a dead session credential), 401 `invalid_token` (a JWT that
    /// fails a check), 403 `csrf_failed`, 503.
    pub async fn authenticate(
        state: &AppState,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<Self, ApiError> {
        match credential(headers, &state.settings().cookie.name) {
            Credential::BearerOther(token) => {
                let result = state.auth().authenticate_jwt(token).await;
                state.verifications().record(Mode::Jwt, result.is_ok());
                Ok(Self::Jwt(result?))
            }
            session => SessionCaller::from_credential(state, headers, method, session)
                .await
                .map(Self::Session),
        }
    }

    /// The authenticated user.
    pub fn user(&self) -> &tessera_core::user::User {
        match self {
            Self::Session(s) => &s.auth.user,
            Self::Jwt(j) => &j.user,
        }
    }

    /// `session` or `jwt`, as `/v1/me` reports it.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Session(_) => "session",
            Self::Jwt(_) => "jwt",
        }
    }

    /// The session or refresh family the credential belongs to (the `sid` of its tokens).
    pub fn sid(&self) -> String {
        match self {
            Self::Session(s) => s.auth.session.id.to_string(),
            Self::Jwt(j) => j.claims.sid.clone(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Self::authenticate(state, &parts.headers, &parts.method).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer_of(value: &[u8]) -> Option<String> {
        bearer_value(&HeaderValue::from_bytes(value).expect("a header value")).map(str::to_owned)
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_its_value_trimmed() {
        assert_eq!(bearer_of(b"Bearer abc").as_deref(), Some("abc"));
        assert_eq!(bearer_of(b"bEaReR abc").as_deref(), Some("abc"));
        assert_eq!(bearer_of(b"Bearer   a.b.c \t").as_deref(), Some("a.b.c"));
        assert_eq!(bearer_of(b"Bearer ").as_deref(), Some(""));
    }

    #[test]
    fn another_scheme_or_a_value_beyond_visible_ascii_is_no_bearer() {
        for value in [
            &b"Basic abc"[..],
            b"Bearer",
            b"Bearerabc",
            b"Bearer\tabc",
            b"Bearers abc",
            b"Bearer ab\xffc",
            b"Bearer \xc3\xa9",
        ] {
            assert_eq!(bearer_of(value), None, "{}", String::from_utf8_lossy(value));
        }
    }
}
