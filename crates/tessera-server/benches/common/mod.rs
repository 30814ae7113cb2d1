//! The fixture both benchmarks start from: the store and service the server really builds
//! (`app::open_stores`: SQLite in a temp data dir behind the session and user caches, and
//! `app::auth_service`), with one user logged in.
// Each benchmark uses a part of the fixture.
#![allow(dead_code)]

use std::sync::Arc;

use tessera_core::auth::{Auth, ClientInfo};
use tessera_core::{Clock, SystemClock};
use tessera_server::Config;
use tessera_server::app::{auth_service, open_stores};

/// The password of the fixture's user `alice`.
pub const PASSWORD: &str = "correct horse battery";

/// A service over a fresh data dir, and a session token of `alice` whose caches are warm.
pub struct Fixture {
    pub rt: tokio::runtime::Runtime,
    pub config: Config,
    pub auth: Arc<Auth>,
    pub session_token: String,
    _dir: tempfile::TempDir,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("a temp data dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let (auth, session_token) = rt.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let stores = open_stores(&config, &clock)
            .await
            .expect("opening the SQLite store");
        let auth = auth_service(&config, stores, clock)
            .await
            .expect("the auth service");
        auth.register("alice", PASSWORD)
            .await
            .expect("registering alice");
        let client = ClientInfo {
            address: "127.0.0.1".into(),
            user_agent: "criterion".into(),
        };
        let new = auth
            .login("alice", PASSWORD, &client, None)
            .await
            .expect("logging in");
        // Warm both caches, as the first request after a login does.
        auth.authenticate_session(&new.token)
            .await
            .expect("the new session authenticates");
        (Arc::new(auth), new.token.expose())
    });
    Fixture {
        rt,
        config,
        auth,
        session_token,
        _dir: dir,
    }
}
