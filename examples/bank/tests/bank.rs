//! The integration tests, as one test binary: each file beside this one is a module of it.
//!
//! One binary links once, where one per file linked 3 times (and took 3 times the disk,
//! about 46 MB each). The harness still runs as many tests at once as there are cores, now
//! drawn from every file.

mod common;

mod api;
mod browser;
mod forward_auth;
