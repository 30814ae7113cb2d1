//! The `tessera` server: configuration, wiring of stores and the HTTP API, and the operator's
//! command line. `main.rs` only parses arguments and calls in here.
#![deny(missing_docs)]

pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod serve;
pub mod telemetry;

pub use app::RunningServer;
pub use config::{Config, Overrides};
