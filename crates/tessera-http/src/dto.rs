//! Request and response bodies of the API, apart from the stored records.

use serde::{Deserialize, Serialize};
use tessera_core::auth::SessionAuth;
use tessera_core::session::SessionRecord;
use tessera_core::user::User;
use tessera_core::{SessionId, Timestamp, UserId};

/// `User` of the API.
#[derive(Serialize)]
pub struct UserDto {
    id: UserId,
    username: String,
    roles: Vec<String>,
    created_at: Timestamp,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id,
            username: u.username.to_string(),
            roles: u.roles.clone(),
            created_at: u.created_at,
        }
    }
}

/// `Session` of the API.
#[derive(Serialize)]
pub struct SessionDto {
    id: SessionId,
    user: UserDto,
    created_at: Timestamp,
    expires_at: Timestamp,
    idle_expires_at: Timestamp,
}

impl SessionDto {
    /// The session with its user.
    pub fn new(session: &SessionRecord, user: &User) -> Self {
        Self {
            id: session.id,
            user: user.into(),
            created_at: session.created_at,
            expires_at: session.expires_at,
            idle_expires_at: session.idle_expires_at,
        }
    }

    /// The caller's session with the deadlines this request set.
    pub fn current(auth: &SessionAuth) -> Self {
        Self {
            idle_expires_at: auth.idle_expires_at,
            ..Self::new(&auth.session, &auth.user)
        }
    }
}

/// `SessionSummary` of the API.
#[derive(Serialize)]
pub struct SessionSummaryDto {
    id: SessionId,
    created_at: Timestamp,
    last_seen_at: Timestamp,
    expires_at: Timestamp,
    user_agent: String,
    ip: String,
    current: bool,
}

impl SessionSummaryDto {
    /// A summary as stored.
    pub fn new(s: &SessionRecord) -> Self {
        Self::seen(s, false, s.last_seen_at)
    }

    /// A summary of one of the caller's sessions; the current one was last seen now.
    pub fn of_caller(s: &SessionRecord, caller: &SessionAuth) -> Self {
        let current = s.id == caller.session.id;
        Self::seen(
            s,
            current,
            if current {
                caller.seen_at
            } else {
                s.last_seen_at
            },
        )
    }

    fn seen(s: &SessionRecord, current: bool, last_seen_at: Timestamp) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at,
            last_seen_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            current,
        }
    }
}

/// `{"sessions": [SessionSummary]}`.
#[derive(Serialize)]
pub struct SessionListDto {
    /// The summaries.
    pub sessions: Vec<SessionSummaryDto>,
}

/// `{"session": Session, "csrf_token", "token"?}`.
#[derive(Serialize)]
pub struct SessionEnvelopeDto {
    /// The session.
    pub session: SessionDto,
    /// The CSRF token to send as `X-CSRF-Token`.
    pub csrf_token: String,
    /// The bearer token, only for `"cookie": false` logins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `GET /v1/me`.
#[derive(Serialize)]
pub struct MeDto<'a> {
    /// User id.
    pub id: UserId,
    /// Username.
    pub username: &'a str,
    /// Current roles.
    pub roles: &'a [String],
    /// `session` or `jwt`.
    pub auth: &'static str,
}

/// `POST /v1/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /v1/sessions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Whether to set the cookie (else the token is in the body).
    #[serde(default = "yes")]
    pub cookie: bool,
}

fn yes() -> bool {
    true
}

/// `POST /v1/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password now.
    pub current_password: String,
    /// The password from now on.
    pub new_password: String,
}

/// `PUT /v1/admin/users/{id}/roles`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    /// The new role list.
    pub roles: Vec<String>,
}
