//! Tessera's HTTP API: the axum router, extractors and problem+json errors.
