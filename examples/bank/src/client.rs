//! A small client of the bank's JSON API, as a mobile app would be: it logs in once at Tessera
//! for a session (`POST /v1/sessions`, `"cookie": false`), exchanges the session for a short
//! JWT (`POST /v1/tokens/exchange`, the hybrid mode: the JWT dies with the session), calls the
//! bank with it, and exchanges again **before** the JWT expires (at [`REFRESH_AT`] of its
//! lifetime), so no request goes out with a token about to lapse.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// The part of a JWT's lifetime after which the client gets a new one.
pub const REFRESH_AT: f64 = 0.5;

/// Errors of the client: Tessera or the bank refused, or could not be reached.
#[derive(Debug)]
pub struct ClientError(pub String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientError {}

fn err(e: impl std::fmt::Display) -> ClientError {
    ClientError(e.to_string())
}

#[derive(Deserialize)]
struct Exchanged {
    access_token: String,
    expires_in: u64,
}

/// A logged-in API client.
pub struct BankClient {
    http: reqwest::Client,
    tessera: String,
    bank: String,
    session_token: String,
    access_token: String,
    refresh_after: Instant,
    /// How many JWTs it has obtained (the first included).
    pub exchanges: u32,
}

impl BankClient {
    /// Logs in at `tessera` as `username` and gets a first JWT for the bank at `bank`.
    ///
    /// # Errors
    /// A refused login or exchange, or an unreachable Tessera.
    pub async fn login(
        tessera: &str,
        bank: &str,
        username: &str,
        password: &str,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::new();
        let reply = http
            .post(format!("{tessera}/v1/sessions"))
            .json(&serde_json::json!({"username": username, "password": password, "cookie": false}))
            .send()
            .await
            .map_err(err)?;
        if reply.status().as_u16() != 201 {
            return Err(ClientError(format!("login refused: {}", reply.status())));
        }
        let body: serde_json::Value = reply.json().await.map_err(err)?;
        let session_token = body["token"].as_str().unwrap_or_default().to_owned();
        let mut client = Self {
            http,
            tessera: tessera.trim_end_matches('/').to_owned(),
            bank: bank.trim_end_matches('/').to_owned(),
            session_token,
            access_token: String::new(),
            refresh_after: Instant::now(),
            exchanges: 0,
        };
        client.exchange().await?;
        Ok(client)
    }

    async fn exchange(&mut self) -> Result<(), ClientError> {
        let reply = self
            .http
            .post(format!("{}/v1/tokens/exchange", self.tessera))
            .bearer_auth(&self.session_token)
            .send()
            .await
            .map_err(err)?;
        if !reply.status().is_success() {
            return Err(ClientError(format!("exchange refused: {}", reply.status())));
        }
        let t: Exchanged = reply.json().await.map_err(err)?;
        self.access_token = t.access_token;
        self.refresh_after =
            Instant::now() + Duration::from_secs_f64(t.expires_in as f64 * REFRESH_AT);
        self.exchanges += 1;
        Ok(())
    }

    /// The current JWT (for tests: to show what an old one gets).
    pub fn access_token(&self) -> &str {
        &self.access_token
    }

    /// `GET` a path of the bank's API with a fresh JWT; the status and JSON body.
    ///
    /// # Errors
    /// A refused exchange, or an unreachable Tessera or bank.
    pub async fn get(&mut self, path: &str) -> Result<(u16, serde_json::Value), ClientError> {
        if Instant::now() >= self.refresh_after {
            self.exchange().await?;
        }
        let reply = self
            .http
            .get(format!("{}{path}", self.bank))
            .bearer_auth(&self.access_token)
            .send()
            .await
            .map_err(err)?;
        let status = reply.status().as_u16();
        let body = reply.json().await.unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }

    /// Ends the session at Tessera (its JWTs die with it).
    ///
    /// # Errors
    /// An unreachable Tessera.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.http
            .delete(format!("{}/v1/sessions/current", self.tessera))
            .bearer_auth(&self.session_token)
            .send()
            .await
            .map_err(err)
            .map(drop)
    }
}
