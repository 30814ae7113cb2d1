//! Cookie and `Authorization` parsing (tessera-http's credential extraction): the input is
//! split at its first 0xFF byte into an `Authorization` value and a `Cookie` value, each sent
//! alone and both together. Nothing may panic, a token found must be one that parses, and
//! `Authorization` must win over the cookie.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use tessera_core::OpaqueToken;
use tessera_http::auth::{Credential, bearer, credential};
use tessera_http::cookies::read_cookie;

const COOKIE: &str = "__Host-sid";

fn check(headers: &HeaderMap) {
    let _ = bearer(headers);
    let cookie = read_cookie(headers, COOKIE);
    match credential(headers, COOKIE) {
        Credential::Cookie(token) => {
            assert!(!headers.contains_key(header::AUTHORIZATION));
            let value = cookie.expect("a cookie credential comes from the cookie");
            assert_eq!(OpaqueToken::parse(value).map(|t| t.digest()), Some(token.digest()));
        }
        Credential::BearerSession(token) => {
            let value = bearer(headers).expect("a bearer credential comes from Authorization");
            assert_eq!(OpaqueToken::parse(value).map(|t| t.digest()), Some(token.digest()));
        }
        Credential::BearerOther(value) => {
            assert_eq!(value.matches('.').count(), 2, "{value:?}");
            assert!(OpaqueToken::parse(value).is_none());
        }
        Credential::BearerUnknown => assert!(headers.contains_key(header::AUTHORIZATION)),
        Credential::Missing => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let (auth, cookie) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let auth = HeaderValue::from_bytes(auth).ok();
    let cookie = HeaderValue::from_bytes(cookie).ok();
    let mut both = HeaderMap::new();
    if let Some(v) = &auth {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.clone());
        check(&h);
        both.insert(header::AUTHORIZATION, v.clone());
    }
    if let Some(v) = &cookie {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, v.clone());
        check(&h);
        both.insert(header::COOKIE, v.clone());
    }
    check(&both);
});
