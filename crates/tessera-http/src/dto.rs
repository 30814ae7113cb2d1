//! Request and response bodies of the API, apart from the stored records.

use serde::{Deserialize, Serialize};
use tessera_core::auth::SessionAuth;
use tessera_core::session::SessionRecord;
use tessera_core::user::User;
use tessera_core::{SessionId, Timestamp, UserId};
use utoipa::ToSchema;

/// `User` of the API.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserDto {
    #[schema(value_type = String, example = "3q2-7wAAAAAAAAAAAAAAAA")]
    id: UserId,
    username: String,
    roles: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionDto {
    #[schema(value_type = String, example = "3q2-7wAAAAAAAAAAAAAAAA")]
    id: SessionId,
    user: UserDto,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = SessionSummary)]
pub struct SessionSummaryDto {
    #[schema(value_type = String, example = "3q2-7wAAAAAAAAAAAAAAAA")]
    id: SessionId,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    last_seen_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = SessionList)]
pub struct SessionListDto {
    /// The summaries.
    pub sessions: Vec<SessionSummaryDto>,
}

/// `{"session": Session, "csrf_token", "token"?}`.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionEnvelope)]
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
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
pub struct MeDto<'a> {
    /// User id.
    #[schema(value_type = String, example = "3q2-7wAAAAAAAAAAAAAAAA")]
    pub id: UserId,
    /// Username.
    #[schema(value_type = String)]
    pub username: &'a str,
    /// Current roles.
    #[schema(value_type = Vec<String>)]
    pub roles: &'a [String],
    /// `session` or `jwt`.
    #[schema(value_type = String, pattern = "^(session|jwt)$")]
    pub auth: &'static str,
}

/// `POST /v1/users`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Username: 1 to 64 characters of `[A-Za-z0-9._@-]`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", min_length = 1, max_length = 64)]
    pub username: String,
    /// Password: 8 to 1024 bytes of UTF-8. JSON Schema counts characters, not bytes: 2 is the
    /// fewest characters 8 bytes can be, so the document never calls a valid password too short.
    #[schema(min_length = 2, max_length = 1024)]
    pub password: String,
}

/// `POST /v1/sessions`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username: 1 to 64 characters of `[A-Za-z0-9._@-]`.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,64}$", min_length = 1, max_length = 64)]
    pub username: String,
    /// Password: 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
    /// Whether to set the cookie (else the token is in the body).
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub cookie: bool,
}

fn yes() -> bool {
    true
}

/// `POST /v1/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// The password now: 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    pub current_password: String,
    /// The password from now on: 8 to 1024 bytes of UTF-8 (at least 2 characters, as for
    /// signup).
    #[schema(min_length = 2, max_length = 1024)]
    pub new_password: String,
}

/// `DELETE /v1/me`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletionRequest {
    /// The account's password, proved again: 1 to 1024 bytes.
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

/// `PUT /v1/admin/users/{id}/roles`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesRequest {
    /// The new role list.
    #[schema(value_type = Vec<crate::openapi::Role>)]
    pub roles: Vec<String>,
}
