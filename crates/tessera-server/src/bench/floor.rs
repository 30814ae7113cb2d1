//! The floor of a fresh-token request, measured as requests: `GET /bench/floor` on the
//! in-process server checks the bearer JWT's signature with the server's public key and
//! nothing else, then answers as `GET /healthz` does.
//!
//! The floor is "`/healthz` plus one raw signature check". Added up from a `/healthz` load and
//! a check timed on its own, it leaves out what a slower request changes around it. When every
//! request pays a check of tens of µs, the load generator's connections wait longer. Its threads
//! then sleep, and on loopback the server's send wakes them, in the server's own system call
//! (`sock_def_readable` under `tcp_sendmsg`: 12 % of the server's samples with fresh RS256
//! tokens against 9 % with a reused one, under `perf record`). A floor made of requests pays
//! that too, with the same tokens, connections and load; what `/v1/me` costs beyond it is
//! Tessera's own verification path. Only the bench's in-process servers have the route,
//! never `tessera serve`; by URL the bench adds the two parts up as before.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::signature::ParsedPublicKey;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tessera_http::AppState;
use tessera_http::error::ApiError;

use super::verify;

/// Where the in-process server answers the floor request.
pub const PATH: &str = "/bench/floor";

/// The public key the floor route checks with, set once the server has made its signing key.
#[derive(Clone, Default)]
pub struct FloorKey(Arc<OnceLock<ParsedPublicKey>>);

impl FloorKey {
    /// Sets the key; a second call keeps the first key (one server signs with one).
    pub fn set(&self, key: ParsedPublicKey) {
        let _ = self.0.set(key);
    }
}

/// The floor route, checking with `key`.
pub fn routes(key: FloorKey) -> Router<AppState> {
    Router::new().route(PATH, get(move |headers: HeaderMap| floor(key, headers)))
}

/// 200 and `/healthz`'s answer when the bearer JWT's signature holds; a 401 problem when it
/// does not or there is no bearer JWT; a 503 problem before the key is set. The load counts
/// anything but a 2xx as an error, so a floor that did not check is never reported.
async fn floor(key: FloorKey, headers: HeaderMap) -> Response {
    let Some(key) = key.0.get() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "floor_key_unset",
            "the bench has not given the floor its key yet",
        )
        .into_response();
    };
    match tessera_http::auth::bearer(&headers) {
        Some(jwt) if verify::signature_holds(key, jwt) => {
            tessera_http::routes::ops::healthz().await.into_response()
        }
        _ => ApiError::unauthenticated().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::fresh_pool;
    use crate::bench::target::{BenchUser, Target};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_floor_answers_a_signature_that_holds_and_refuses_any_other() {
        let t = Target::start_local("EdDSA").await.unwrap();
        let user = BenchUser::register(&t, &t.base).await.unwrap();
        let pool = fresh_pool(&t, &user, 2).await.unwrap();
        let [a, b] = [&pool[0], &pool[1]].map(|v| v.to_str().unwrap().to_owned());
        let floor = |bearer: Option<String>| {
            let t = &t;
            async move {
                let credential = bearer.as_deref().map(|v| ("authorization", v));
                t.get(PATH, credential).await.unwrap()
            }
        };
        let unset = floor(Some(a.clone())).await;
        assert_eq!((unset.status, unset.code()), (503, "floor_key_unset"));

        let jwks = t.get("/.well-known/jwks.json", None).await.unwrap().body;
        let jwt = a.strip_prefix("Bearer ").unwrap();
        let check = verify::BareCheck::new(&jwks, [jwt]).expect("a public key");
        t.local.as_ref().unwrap().floor_key.set(check.key().clone());

        let ok = floor(Some(a.clone())).await;
        assert_eq!(ok.status, 200);
        assert!(
            ok.headers.contains_key("x-content-type-options"),
            "behind the API's layers, as /healthz"
        );
        // b's signature, made by the same key, over a's header and claims.
        let (signed, _) = a.rsplit_once('.').unwrap();
        let (_, other) = b.rsplit_once('.').unwrap();
        let forged = floor(Some(format!("{signed}.{other}"))).await;
        assert_eq!((forged.status, forged.code()), (401, "unauthenticated"));
        assert_eq!(floor(None).await.status, 401, "no bearer token");
    }
}
