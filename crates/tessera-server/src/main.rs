//! The `tessera` binary.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tessera_server::telemetry::init_logging();
    let cli = tessera_server::cli::Cli::parse();
    match tessera_server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
