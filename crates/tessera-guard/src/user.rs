//! The extractors: who is calling, and the role requirement.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;

use crate::error::GuardError;
use crate::guard::Guard;

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthKind {
    /// A session token (the session cookie or an opaque bearer token), checked by introspection.
    Session,
    /// A JWT access token (`Authorization: Bearer`), verified locally.
    Jwt,
    /// The JWT Tessera's forward auth minted for this upstream (`X-Auth-Token`), verified locally.
    ForwardAuth,
}

/// The authenticated caller: an axum extractor (needs [`Guard::layer`] on the router), and what
/// [`Guard::authenticate`] returns.
///
/// As an extractor it refuses the request with the [`GuardError`] (401 or 503). Take
/// `Option<CurrentUser>` to serve visitors too: `None` on a 401, the 503 still refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CurrentUser {
    /// Tessera's user id (`sub`).
    pub id: String,
    /// The username: known for session tokens (introspection tells it), `None` for JWTs, which
    /// do not carry it.
    pub username: Option<String>,
    /// The user's roles (as of the token's issue for JWTs, of the introspection for sessions).
    pub roles: Vec<String>,
    /// How the caller authenticated.
    pub auth: AuthKind,
    /// The session or refresh family the credential belongs to (the JWT's `sid`, the session id
    /// for session tokens when Tessera reports it).
    pub sid: Option<String>,
    /// The JWT's `jti` (`None` for session tokens).
    pub jti: Option<String>,
    /// When the credential stops being valid, Unix seconds.
    pub expires_at: i64,
}

impl CurrentUser {
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `Ok` when the user has `role`, else the 403 to answer.
    ///
    /// # Errors
    /// [`GuardError::MissingRole`].
    pub fn require_role(&self, role: &str) -> Result<(), GuardError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(GuardError::MissingRole(role.to_owned()))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = GuardError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GuardError> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let guard = parts
            .extensions
            .get::<Guard>()
            .cloned()
            .ok_or_else(|| GuardError::Setup("no Guard::layer() on this route".into()))?;
        let user = guard.authenticate(&parts.headers).await?;
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = GuardError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, GuardError> {
        match <Self as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(user) => Ok(Some(user)),
            Err(GuardError::Unauthenticated | GuardError::InvalidToken(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A role a route can require with [`RequireRole`]. Declare one with [`role!`](crate::role).
pub trait Role: Send + Sync + 'static {
    /// The role's name as Tessera stores it.
    const NAME: &'static str;
}

/// Declares a [`Role`] type: `role!(Admin = "admin");`.
///
/// ```
/// tessera_guard::role!(pub Auditor = "auditor");
/// use tessera_guard::Role;
/// assert_eq!(Auditor::NAME, "auditor");
/// ```
#[macro_export]
macro_rules! role {
    ($vis:vis $name:ident = $role:literal) => {
        #[doc = concat!("The `", $role, "` role.")]
        $vis struct $name;
        impl $crate::Role for $name {
            const NAME: &'static str = $role;
        }
    };
}

/// An authenticated caller who has the role `R`: 401 without a valid credential, 403
/// `forbidden` without the role.
///
/// ```
/// use tessera_guard::{RequireRole, role};
/// role!(Admin = "admin");
///
/// async fn admin_page(RequireRole(user, ..): RequireRole<Admin>) -> String {
///     format!("admin {}", user.id)
/// }
/// # let _: axum::Router = axum::Router::new().route("/", axum::routing::get(admin_page));
/// ```
pub struct RequireRole<R: Role>(pub CurrentUser, pub PhantomData<R>);

impl<S: Send + Sync, R: Role> FromRequestParts<S> for RequireRole<R> {
    type Rejection = GuardError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GuardError> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        user.require_role(R::NAME)?;
        Ok(Self(user, PhantomData))
    }
}
