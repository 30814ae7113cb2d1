//! A real Tessera in process with the bank's two users, alice and bob, and the bank in front of
//! it on a port of its own: the fixture of every bank test.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::json;
use tessera_core::Clock;

pub const APP_KEY: &str = "bank-app-key-for-tests-0123456789";
pub const PASSWORD: &str = "correct horse battery";

pub struct Site {
    /// Tessera's base URL.
    pub tessera: String,
    /// Tessera's address.
    pub tessera_addr: SocketAddr,
    /// The bank's address and base URL.
    pub bank_addr: SocketAddr,
    pub bank: String,
    _server: tessera_server::RunningServer,
    _dir: tempfile::TempDir,
    _bank: tokio::task::JoinHandle<()>,
}

impl Site {
    /// Tessera on `clock` with the bank's app key and `env` (as `TESSERA_*` variables), alice and
    /// bob signed up, and the bank protected by `protection`.
    pub async fn start(
        protection: bank::Protection,
        env: &[(&str, &str)],
        clock: Arc<dyn Clock>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let env = [("TESSERA_APPS_KEYS", APP_KEY)]
            .iter()
            .chain(env)
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let overrides = tessera_server::Overrides {
            listen: Some("127.0.0.1:0".into()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let config = tessera_server::Config::load(None, env, &overrides).unwrap();
        let server = tessera_server::RunningServer::start(&config, clock)
            .await
            .unwrap();
        let tessera = format!("http://{}", server.addr);
        for name in ["alice", "bob"] {
            let r = reqwest::Client::new()
                .post(format!("{tessera}/v1/users"))
                .json(&json!({"username": name, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 201);
        }
        let app = bank::app(bank::BankConfig {
            protection,
            tessera_url: tessera.clone(),
            app_key: APP_KEY.into(),
        })
        .await
        .expect("the guard starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bank_addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            tessera,
            tessera_addr: server.addr,
            bank_addr,
            bank: format!("http://{bank_addr}"),
            _server: server,
            _dir: dir,
            _bank: task,
        }
    }

    /// The bank's URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.bank)
    }
}
