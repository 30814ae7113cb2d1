//! Token verification benchmarks (being written).
fn main() {}
