//! Real services for tests: `redis-server`, PostgreSQL, nginx and a headless Chromium, each
//! started from its Debian binary in its own temporary directory on a free port of 127.0.0.1,
//! and stopped (by the id of the process this crate started, never by name) when its handle is
//! dropped.
//!
//! A missing program is an error that says which Debian package to install (`scripts/test`
//! installs them): tests that need a service start it, they never skip.
#![deny(missing_docs)]

mod browser;
mod nginx;
mod postgres;
mod process;
mod redis;

pub use browser::{Browser, Element, screenshot_path};
pub use nginx::Nginx;
pub use postgres::PostgresServer;
pub use process::{free_port, wait_for_port};
pub use redis::RedisServer;
