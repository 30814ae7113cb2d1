//! The integration tests, as one test binary: each file beside this one is a module of it.
//!
//! One binary links once, where one per file linked 17 times (and took 17 times the disk,
//! about 46 MB each). The harness still runs as many tests at once as there are cores, now
//! drawn from every file.

mod common;
mod process;

mod accounts;
mod bench;
mod binary;
mod cluster;
mod conventions;
mod end_to_end;
mod interop;
mod openapi;
mod pages;
mod pages_browser;
mod revocation_feed;
mod schemathesis;
mod secrets;
mod security;
mod serve;
mod sessions;
mod tokens;
