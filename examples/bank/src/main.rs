//! `bank`: serves the banking site on `BANK_LISTEN` (default `127.0.0.1:3000`), protected by
//! the Tessera at `BANK_TESSERA_URL` (default `http://127.0.0.1:8080`) with the app key
//! `BANK_APP_KEY` (one of that Tessera's `apps.keys`); `BANK_PROTECTION` is `session` (the
//! default) or `forward-auth` (behind nginx `auth_request`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let var =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let listen = var("BANK_LISTEN", "127.0.0.1:3000");
    let Ok(app_key) = std::env::var("BANK_APP_KEY") else {
        eprintln!("bank: set BANK_APP_KEY to one of Tessera's apps.keys");
        return ExitCode::FAILURE;
    };
    let protection = match var("BANK_PROTECTION", "session").as_str() {
        "session" => bank::Protection::Session,
        "forward-auth" => bank::Protection::ForwardAuth,
        "jwt" => bank::Protection::Jwt,
        other => {
            eprintln!("bank: BANK_PROTECTION must be session, forward-auth or jwt, not {other}");
            return ExitCode::FAILURE;
        }
    };
    let config = bank::BankConfig {
        protection,
        tessera_url: var("BANK_TESSERA_URL", "http://127.0.0.1:8080"),
        app_key,
    };
    let app = match bank::app(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("bank: cannot start the guard: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("bank: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "bank listening on http://{}",
        listener.local_addr().map_or(listen, |a| a.to_string())
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bank: {e}");
            ExitCode::FAILURE
        }
    }
}
