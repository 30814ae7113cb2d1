//! The command line: `tessera serve` and the operator's subcommands.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use tessera_core::auth::{Auth, AuthError};
use tessera_core::{Clock, SystemClock};

use crate::app::{RunningServer, auth_service, open_stores};
use crate::config::{Config, Overrides};

/// Tessera: sessions, JWTs and the hybrid, from one binary.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server.
    Serve(ServeArgs),
    /// Manage accounts.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage signing keys.
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Inspect access tokens.
    Token {
        /// What to do with a token.
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Measure every mode (bandwidth, CPU, latency, revocation, expiry, state) and print the
    /// comparison table.
    Bench(crate::bench::BenchArgs),
}

/// `tessera keys ...`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys: kid, algorithm, created, retiring.
    List {
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Make a new current key (of `token.algorithm`); older keys verify until their tokens
    /// expire.
    Rotate {
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// `tessera token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a JWT's header and claims WITHOUT verifying it.
    Decode {
        /// The token.
        jwt: String,
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Verify a JWT against this server's keys and revocations: exit 0 when valid, 1 with the
    /// reason when not.
    Verify {
        /// The token.
        jwt: String,
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Where the configuration comes from; every subcommand takes these.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML configuration file (default: ./tessera.toml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store and key files.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `tessera serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// Shared Redis store.
    #[arg(long)]
    redis_url: Option<String>,
    /// Shared PostgreSQL store.
    #[arg(long)]
    database_url: Option<String>,
}

/// `tessera user ...`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account; the password is read from stdin (one line) or a prompt, never argv.
    Add {
        /// Username.
        name: String,
        /// Comma-separated roles.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List accounts.
    List {
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove an account and end its sessions.
    Remove {
        /// Username.
        name: String,
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Replace an account's roles.
    SetRoles {
        /// Username.
        name: String,
        /// Comma-separated roles (empty for none).
        #[arg(value_delimiter = ',', num_args = 0..)]
        roles: Vec<String>,
        /// Where the configuration comes from.
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn load_config(args: &ConfigArgs, mut overrides: Overrides) -> anyhow::Result<Config> {
    overrides.data_dir = args.data_dir.clone();
    Ok(Config::load(
        args.config.as_deref(),
        std::env::vars(),
        &overrides,
    )?)
}

/// Runs the parsed command line.
///
/// # Errors
/// Whatever stopped the command, for `main` to print.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::User { command } => user(command).await,
        Command::Keys { command } => keys(command).await,
        Command::Token { command } => token(command).await,
        Command::Bench(args) => crate::bench::run(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let overrides = Overrides {
        listen: args.listen,
        redis_url: args.redis_url,
        database_url: args.database_url,
        ..Overrides::default()
    };
    let config = load_config(&args.config, overrides)?;
    if config.session.insecure_dev_cookies {
        tracing::warn!(
            "session.insecure_dev_cookies is on: cookies lack Secure; never use this in production"
        );
    }
    let server = RunningServer::start(&config, Arc::new(SystemClock)).await?;
    println!("listening on http://{}", server.addr);
    tracing::info!(addr = %server.addr, data_dir = %config.data_dir.display(), "tessera serving");
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

async fn offline_auth(args: &ConfigArgs) -> anyhow::Result<Auth> {
    let config = load_config(args, Overrides::default())?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let stores = open_stores(&config, &clock).await?;
    auth_service(&config, stores, clock).await
}

async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            roles,
            config,
        } => {
            let auth = offline_auth(&config).await?;
            let password = read_password()?;
            let user = auth
                .create_user(&name, &password, &roles)
                .await
                .map_err(explain)?;
            println!(
                "added {} ({}) roles=[{}]",
                user.username,
                user.id,
                user.roles.join(",")
            );
        }
        UserCommand::List { config } => {
            let auth = offline_auth(&config).await?;
            for u in auth.users().await.map_err(explain)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.id,
                    u.username,
                    u.roles.join(","),
                    u.created_at.to_rfc3339()
                );
            }
        }
        UserCommand::Remove { name, config } => {
            let auth = offline_auth(&config).await?;
            let user = auth.user_by_name(&name).await.map_err(explain)?;
            auth.delete_user(user.id).await.map_err(explain)?;
            println!("removed {}", user.username);
        }
        UserCommand::SetRoles {
            name,
            roles,
            config,
        } => {
            let auth = offline_auth(&config).await?;
            let user = auth.user_by_name(&name).await.map_err(explain)?;
            let user = auth.set_roles(user.id, &roles).await.map_err(explain)?;
            println!("{} roles=[{}]", user.username, user.roles.join(","));
        }
    }
    Ok(())
}

async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { config } => {
            let auth = offline_auth(&config).await?;
            println!("kid\talgorithm\tcreated\tretiring");
            for key in auth.signing_keys().await.map_err(explain)? {
                let retiring = key
                    .retires_at
                    .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
                println!(
                    "{}\t{}\t{}\t{}",
                    key.kid,
                    key.algorithm.as_str(),
                    key.created_at.to_rfc3339(),
                    retiring
                );
            }
        }
        KeysCommand::Rotate { config } => {
            let auth = offline_auth(&config).await?;
            let key = auth.rotate_keys().await.map_err(explain)?;
            println!("new signing key {} ({})", key.kid, key.algorithm.as_str());
        }
    }
    Ok(())
}

async fn token(command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Decode { jwt, config: _ } => {
            let (header, claims) = tessera_core::token::decode_unverified(jwt.trim())
                .map_err(|e| anyhow::anyhow!("cannot decode: {e}"))?;
            println!("WARNING: decoded only, NOT verified: anyone can write such a token.");
            println!("header: {}", serde_json::to_string_pretty(&header)?);
            println!("claims: {}", serde_json::to_string_pretty(&claims)?);
        }
        TokenCommand::Verify { jwt, config } => {
            let auth = offline_auth(&config).await?;
            match auth.authenticate_jwt(jwt.trim()).await {
                Ok(valid) => println!(
                    "valid: sub={} username={} sid={} expires {}",
                    valid.user.id,
                    valid.user.username,
                    valid.claims.sid,
                    valid.claims.expires_at().to_rfc3339()
                ),
                Err(AuthError::InvalidToken(reason)) => bail!("invalid: {reason}"),
                Err(other) => return Err(explain(other)),
            }
        }
    }
    Ok(())
}

fn explain(e: AuthError) -> anyhow::Error {
    match e {
        AuthError::NotFound => anyhow::anyhow!("no such user"),
        other => anyhow::anyhow!(other.to_string()),
    }
}

/// The password from stdin when it is not a terminal (one line, newline stripped), else from
/// a prompt that does not echo.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Repeat password: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        return Ok(first);
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    Ok(password.to_owned())
}
