//! Reading a `postgres://` URL without ever repeating its password.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use tessera_core::store::StoreError;

use crate::error::ConnectError;

/// A server-side bound on each statement, so a query the client gave up on does not run on.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The parsed options, and a description of the server that is safe to print.
pub(crate) struct Target {
    pub(crate) options: PgConnectOptions,
    /// `user@host:port/database`, without the password.
    pub(crate) shown: String,
    /// The password as written in the URL and percent-decoded, to scrub from error texts.
    secrets: Vec<String>,
}

impl Target {
    /// Parses `url`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] with a [`ConnectError`] saying what is wrong, for a URL
    /// that is not a PostgreSQL URL.
    pub(crate) fn parse(url: &str) -> Result<Target, StoreError> {
        let secrets = passwords(url);
        let scrub_with = |text: &str| scrub(text, &secrets);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::unavailable(ConnectError(
                "malformed PostgreSQL URL: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE"
                    .into(),
            )));
        }
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::unavailable(ConnectError(format!(
                "malformed PostgreSQL URL ({}): expected postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                scrub_with(&e.to_string())
            )))
        })?;
        let options = options.application_name("tessera").options([(
            "statement_timeout",
            format!("{}", STATEMENT_TIMEOUT.as_millis()),
        )]);
        let shown = format!(
            "{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or(options.get_username()),
        );
        Ok(Target {
            options,
            shown: scrub_with(&shown),
            secrets,
        })
    }

    /// `text` with every occurrence of the URL's password replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }
}

/// The password of `url` as written and percent-decoded (empty when it has none).
fn passwords(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let Some((_, password)) = userinfo.split_once(':') else {
        return Vec::new();
    };
    let mut found = vec![password.to_owned()];
    let decoded = percent_decode(password);
    if decoded != password {
        found.push(decoded);
    }
    found.retain(|p| !p.is_empty());
    found
}

fn scrub(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(secret.as_str(), "***")
    })
}

/// `%XX` escapes decoded (bytes that are not UTF-8 replaced), the rest kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_the_server_but_not_the_password() {
        let target = Target::parse("postgres://app:s%40cret@db.example:6432/tessera").unwrap();
        assert_eq!(target.shown, "app@db.example:6432/tessera");
        assert_eq!(target.scrub("x s%40cret y s@cret z"), "x *** y *** z");
    }

    #[test]
    fn a_malformed_url_is_a_clear_error_without_the_password() {
        for url in [
            "mysql://app:hunter2@localhost/db",
            "postgres://app:hunter2@localhost:notaport/db",
            "hunter2",
        ] {
            let Err(StoreError::Unavailable(e)) = Target::parse(url) else {
                panic!("{url} parsed");
            };
            let text = e.to_string();
            assert!(text.contains("malformed PostgreSQL URL"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!format!("{e:?}").contains("hunter2"));
        }
    }
}
