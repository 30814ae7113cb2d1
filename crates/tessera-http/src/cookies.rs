//! The session cookie: reading it from `Cookie`, writing and clearing it with `Set-Cookie`.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::state::CookieSettings;

/// The value of the cookie `name`, if the request carries one (the first when several do).
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn attributes(settings: &CookieSettings, max_age: u64) -> String {
    let secure = if settings.secure { "; Secure" } else { "" };
    format!("Path=/{secure}; HttpOnly; SameSite=Lax; Max-Age={max_age}")
}

/// `Set-Cookie` for a new session token.
pub fn session_cookie(settings: &CookieSettings, token: &str) -> HeaderValue {
    let value = format!(
        "{}={token}; {}",
        settings.name,
        attributes(settings, settings.max_age.as_secs())
    );
    // Names are validated at start-up and tokens are base64url: always a valid header.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie (same name and path, `Max-Age=0`).
pub fn clear_cookie(settings: &CookieSettings) -> HeaderValue {
    let value = format!("{}=; {}", settings.name, attributes(settings, 0));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(secure: bool) -> CookieSettings {
        CookieSettings {
            name: "__Host-sid".into(),
            secure,
            max_age: Duration::from_secs(28800),
        }
    }

    #[test]
    fn writes_the_hardened_cookie() {
        assert_eq!(
            session_cookie(&settings(true), "tok"),
            "__Host-sid=tok; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=28800"
        );
        assert_eq!(
            clear_cookie(&settings(false)),
            "__Host-sid=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }

    #[test]
    fn reads_the_named_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-sid=xyz"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read_cookie(&h, "__Host-sid"), Some("xyz"));
        assert_eq!(read_cookie(&h, "sid"), None);
    }
}
