//! The JSON bodies: the input deserialised as each request DTO by the server's own
//! `parse_json`. Nothing may panic; a body it accepts re-parses the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_http::dto::{LoginRequest, PasswordChangeRequest, RegisterRequest, RolesRequest};
use tessera_http::json::parse_json;
use tessera_http::routes::tokens::{RefreshRequest, TokenRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_json::<RegisterRequest>(data) {
        let again = serde_json::json!({"username": r.username, "password": r.password});
        let r2: RegisterRequest = parse_json(again.to_string().as_bytes()).expect("re-parses");
        assert_eq!((r.username, r.password), (r2.username, r2.password));
    }
    if let Ok(r) = parse_json::<LoginRequest>(data) {
        assert!(r.username.len() <= data.len() && r.password.len() <= data.len());
    }
    let _ = parse_json::<PasswordChangeRequest>(data);
    if let Ok(r) = parse_json::<RolesRequest>(data) {
        assert!(r.roles.iter().map(String::len).sum::<usize>() <= data.len());
    }
    let _ = parse_json::<TokenRequest>(data);
    let _ = parse_json::<RefreshRequest>(data);
});
