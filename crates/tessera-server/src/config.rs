//! Configuration: defaults < `tessera.toml` < `TESSERA_*` environment < flags, validated as a
//! whole before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;
use toml::{Table, Value};

/// The longest lifetime, timeout or window accepted: expiry times must stay writable as RFC 3339
/// and as JWT `NumericDate`s.
const LONGEST_LIFETIME: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Every setting, as it is read and checked.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to serve on.
    pub listen: String,
    /// Embedded store and key files.
    pub data_dir: PathBuf,
    /// Where clients reach Tessera; `None`: `http://` + the bound address.
    pub public_url: Option<String>,
    /// Shared hot store (sessions, revocations, throttle counts, the change feed); with
    /// `database_url`, the shared deployment.
    pub redis_url: Option<String>,
    /// Shared durable store (users, signing keys, refresh families); with `redis_url`, the
    /// shared deployment.
    pub database_url: Option<String>,
    /// Bearer key of the admin API and introspection; `None` turns them off.
    pub admin_key: Option<String>,
    /// Whether `POST /v1/users` is open.
    pub signup: bool,
    /// More origins allowed for cookie-authenticated unsafe requests.
    pub allowed_origins: Vec<String>,
    /// CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// `X-Tessera-Instance`; `None`: the host name; empty: no header.
    pub instance_name: Option<String>,
    /// `[session]`.
    pub session: SessionConfig,
    /// `[token]`.
    pub token: TokenConfig,
    /// `[throttle]`.
    pub throttle: ThrottleConfig,
    /// `[forward_auth]`.
    pub forward_auth: ForwardAuthConfig,
    /// `[revocation]`.
    pub revocation: RevocationConfig,
    /// `[apps]`.
    pub apps: AppsConfig,
    /// `[http]`.
    pub http: HttpConfig,
}

/// `[http]`: how long a client may take and how many connections it may hold.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// A request's head must arrive within this, counted from its first byte.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A request's body must arrive within this, counted from the end of its head.
    #[serde(with = "humantime_serde")]
    pub body_timeout: Duration,
    /// A connection with no request under way is closed after this (also a new connection
    /// that sends nothing).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A response the client does not read is given up, and the connection closed, when no
    /// byte of it could be written for this long.
    #[serde(with = "humantime_serde")]
    pub write_timeout: Duration,
    /// Connections held at once; past it new ones wait in the listen backlog.
    pub max_connections: usize,
    /// Connections held at once from one client address (an IPv6 client by its
    /// `throttle.ipv6_prefix`); past it new ones are closed. Trusted proxies are exempt.
    pub max_connections_per_address: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // Longer than the 60 s upstream keep-alive of the usual proxies, so that the proxy
            // and not Tessera closes an idle upstream connection.
            idle_timeout: Duration::from_secs(75),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_connections_per_address: 256,
        }
    }
}

/// `[session]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session ends this long after its last request.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login.
    #[serde(with = "humantime_serde")]
    pub absolute_timeout: Duration,
    /// Cookie name; `None`: `__Host-sid`, or `sid` with insecure development cookies.
    pub cookie_name: Option<String>,
    /// Plain-HTTP development cookies: no `Secure`, no `__Host-` prefix. Never in production.
    pub insecure_dev_cookies: bool,
    /// Live sessions a user may hold at once; a login past it ends the oldest. 0: no limit.
    pub max_per_user: usize,
}

/// `[token]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// Algorithm of new signing keys: `EdDSA`, `ES256`, `RS256` or `HS256`.
    pub algorithm: String,
    /// Access-token lifetime.
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    /// Refresh-family absolute lifetime.
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// Whether refresh tokens are issued.
    pub refresh: bool,
    /// Grace for a refresh token presented twice.
    #[serde(with = "humantime_serde")]
    pub refresh_grace: Duration,
    /// Clock-skew leeway on `exp`/`nbf`/`iat`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// `iss` of access tokens.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// No token or cookie larger than this many bytes is issued.
    pub max_size: usize,
    /// How long a new signing key is published (JWKS, every instance's key ring) before it
    /// signs.
    #[serde(with = "humantime_serde")]
    pub key_publish_ahead: Duration,
}

/// `[throttle]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failures per username within the window.
    pub account_failures: u32,
    /// Failures per client address within the window.
    pub address_failures: u32,
    /// The sliding window.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Signups per client address within the window.
    pub signup_per_address: u32,
    /// Prefix length that names one IPv6 client (64: its /64).
    pub ipv6_prefix: u8,
}

impl ThrottleConfig {
    /// The throttle's limits.
    pub fn limits(&self) -> tessera_core::throttle::ThrottleLimits {
        tessera_core::throttle::ThrottleLimits {
            account_failures: self.account_failures,
            address_failures: self.address_failures,
            window: self.window,
            signup_per_address: self.signup_per_address,
            ipv6_prefix: self.ipv6_prefix,
        }
    }
}

/// `[forward_auth]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForwardAuthConfig {
    /// Whether `/v1/auth` mints `X-Auth-Token`.
    pub mint_jwt: bool,
    /// `aud` of minted tokens.
    pub audience: String,
    /// Lifetime of minted tokens.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

/// `[apps]`: the apps behind Tessera.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AppsConfig {
    /// Bearer keys of apps: they grant the revocation feed and introspection, nothing of the
    /// admin API.
    pub keys: Vec<String>,
}

/// `[revocation]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// Shared stores: how long JWT checks trust the last known revocations while the change
    /// feed cannot be heard.
    #[serde(with = "humantime_serde")]
    pub max_staleness: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            max_staleness: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./tessera-data"),
            public_url: None,
            redis_url: None,
            database_url: None,
            admin_key: None,
            signup: true,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            instance_name: None,
            session: SessionConfig::default(),
            token: TokenConfig::default(),
            throttle: ThrottleConfig::default(),
            forward_auth: ForwardAuthConfig::default(),
            revocation: RevocationConfig::default(),
            apps: AppsConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(8 * 3600),
            cookie_name: None,
            insecure_dev_cookies: false,
            max_per_user: 0,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            algorithm: "EdDSA".into(),
            access_ttl: Duration::from_secs(600),
            refresh_ttl: Duration::from_secs(30 * 86400),
            refresh: true,
            refresh_grace: Duration::from_secs(10),
            leeway: Duration::from_secs(30),
            issuer: "tessera".into(),
            audience: "tessera".into(),
            max_size: 4096,
            // Twice the JWKS `max-age` (60 s): an app that fetched the JWKS just before a
            // rotation knows the new key before it signs.
            key_publish_ahead: Duration::from_secs(120),
        }
    }
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            account_failures: 5,
            address_failures: 100,
            window: Duration::from_secs(15 * 60),
            signup_per_address: 20,
            ipv6_prefix: 64,
        }
    }
}

impl Default for ForwardAuthConfig {
    fn default() -> Self {
        Self {
            mint_jwt: false,
            audience: "upstream".into(),
            ttl: Duration::from_secs(60),
        }
    }
}

/// How a setting's text from the environment becomes a TOML value.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A humantime duration (`500ms`, `30m`, `8h`).
    Duration,
    /// Text where the empty value means "unset".
    OptionalText,
    Bool,
    Integer,
    List,
}

/// Every setting path with its kind: the environment may name these and no others.
const SETTINGS: &[(&str, Kind)] = &[
    ("listen", Kind::Text),
    ("data_dir", Kind::Text),
    ("public_url", Kind::OptionalText),
    ("redis_url", Kind::OptionalText),
    ("database_url", Kind::OptionalText),
    ("admin_key", Kind::OptionalText),
    ("signup", Kind::Bool),
    ("allowed_origins", Kind::List),
    ("trusted_proxies", Kind::List),
    ("instance_name", Kind::Text),
    ("session.idle_timeout", Kind::Duration),
    ("session.absolute_timeout", Kind::Duration),
    ("session.cookie_name", Kind::Text),
    ("session.insecure_dev_cookies", Kind::Bool),
    ("session.max_per_user", Kind::Integer),
    ("token.algorithm", Kind::Text),
    ("token.access_ttl", Kind::Duration),
    ("token.refresh_ttl", Kind::Duration),
    ("token.refresh", Kind::Bool),
    ("token.refresh_grace", Kind::Duration),
    ("token.leeway", Kind::Duration),
    ("token.issuer", Kind::Text),
    ("token.audience", Kind::Text),
    ("token.max_size", Kind::Integer),
    ("token.key_publish_ahead", Kind::Duration),
    ("throttle.account_failures", Kind::Integer),
    ("throttle.address_failures", Kind::Integer),
    ("throttle.window", Kind::Duration),
    ("throttle.signup_per_address", Kind::Integer),
    ("throttle.ipv6_prefix", Kind::Integer),
    ("forward_auth.mint_jwt", Kind::Bool),
    ("forward_auth.audience", Kind::Text),
    ("forward_auth.ttl", Kind::Duration),
    ("revocation.max_staleness", Kind::Duration),
    ("apps.keys", Kind::List),
    ("http.header_timeout", Kind::Duration),
    ("http.body_timeout", Kind::Duration),
    ("http.idle_timeout", Kind::Duration),
    ("http.write_timeout", Kind::Duration),
    ("http.max_connections", Kind::Integer),
    ("http.max_connections_per_address", Kind::Integer),
];

/// The environment variable of a setting: `TESSERA_` + the path, `.` as `_`, upper case.
pub fn env_name(path: &str) -> String {
    format!("TESSERA_{}", path.replace('.', "_").to_ascii_uppercase())
}

/// Settings given on the command line (they win over everything else).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--redis-url`.
    pub redis_url: Option<String>,
    /// `--database-url`.
    pub database_url: Option<String>,
}

/// Why the configuration was refused: every problem found, each naming its setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Loads the configuration: `file` (or `./tessera.toml` when it exists), then the
    /// `TESSERA_*` variables of `env`, then `overrides`; then validates it.
    ///
    /// # Errors
    /// Every problem at once: an unreadable file, an unknown key or variable, a bad value.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut table = match file {
            Some(path) => read_file(path, &mut problems),
            None if Path::new("tessera.toml").exists() => {
                read_file(Path::new("tessera.toml"), &mut problems)
            }
            None => Table::new(),
        };
        apply_env(&mut table, env, &mut problems);
        let flags = [
            ("listen", overrides.listen.clone()),
            (
                "data_dir",
                overrides
                    .data_dir
                    .as_ref()
                    .map(|p| p.to_string_lossy().into_owned()),
            ),
            ("redis_url", overrides.redis_url.clone()),
            ("database_url", overrides.database_url.clone()),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                table.insert(key.to_owned(), Value::String(value));
            }
        }
        let config = match Config::deserialize(Value::Table(table)) {
            Ok(config) => config,
            Err(e) => {
                problems.push(e.to_string().trim().to_owned());
                return Err(ConfigError(problems));
            }
        };
        problems.extend(config.problems());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Every inconsistency in the values.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            p.push(format!(
                "listen: {:?} is not an IP:PORT address",
                self.listen
            ));
        }
        let s = &self.session;
        let t = &self.token;
        for (name, d) in [
            ("session.idle_timeout", s.idle_timeout),
            ("session.absolute_timeout", s.absolute_timeout),
            ("token.access_ttl", t.access_ttl),
            ("token.refresh_ttl", t.refresh_ttl),
            ("throttle.window", self.throttle.window),
            ("forward_auth.ttl", self.forward_auth.ttl),
            ("revocation.max_staleness", self.revocation.max_staleness),
        ] {
            if d < Duration::from_secs(1) {
                p.push(format!("{name}: must be at least 1s"));
            } else if d > LONGEST_LIFETIME {
                p.push(format!("{name}: must be at most 100 years (36500d)"));
            }
        }
        for (name, d) in [
            ("token.leeway", t.leeway),
            ("token.refresh_grace", t.refresh_grace),
            ("token.key_publish_ahead", t.key_publish_ahead),
        ] {
            if d > LONGEST_LIFETIME {
                p.push(format!("{name}: must be at most 100 years (36500d)"));
            }
        }
        let h = &self.http;
        for (name, d) in [
            ("http.header_timeout", h.header_timeout),
            ("http.body_timeout", h.body_timeout),
            ("http.idle_timeout", h.idle_timeout),
            ("http.write_timeout", h.write_timeout),
        ] {
            if d < Duration::from_secs(1) {
                p.push(format!("{name}: must be at least 1s"));
            } else if d > Duration::from_secs(86_400) {
                p.push(format!("{name}: must be at most 1d"));
            }
        }
        if h.max_connections == 0 || h.max_connections_per_address == 0 {
            p.push("http: connection limits must be at least 1".into());
        }
        if self.forward_auth.mint_jwt && self.forward_auth.audience == t.audience {
            p.push(
                "forward_auth.audience: must differ from token.audience, or upstream tokens would be accepted as Tessera access tokens".into(),
            );
        }
        if s.idle_timeout > s.absolute_timeout {
            p.push("session.idle_timeout: must not exceed session.absolute_timeout".into());
        }
        if t.access_ttl >= t.refresh_ttl {
            p.push("token.access_ttl: must be shorter than token.refresh_ttl".into());
        }
        if t.algorithm
            .parse::<tessera_core::store::KeyAlgorithm>()
            .is_err()
        {
            p.push(format!(
                "token.algorithm: {:?} is not one of EdDSA, ES256, RS256, HS256",
                t.algorithm
            ));
        }
        if t.max_size < 256 {
            p.push("token.max_size: must be at least 256 bytes".into());
        }
        if self.throttle.account_failures == 0 || self.throttle.address_failures == 0 {
            p.push("throttle: failure limits must be at least 1".into());
        }
        if self.throttle.signup_per_address == 0 {
            p.push("throttle.signup_per_address: must be at least 1".into());
        }
        if !(1..=128).contains(&self.throttle.ipv6_prefix) {
            p.push("throttle.ipv6_prefix: must be 1 to 128".into());
        }
        if let Some(name) = &s.cookie_name {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !valid {
                p.push(format!(
                    "session.cookie_name: {name:?} is not a valid cookie name"
                ));
            }
        }
        if s.insecure_dev_cookies && self.cookie_name().starts_with("__Host-") {
            p.push("session.cookie_name: a __Host- cookie needs Secure, which insecure_dev_cookies turns off".into());
        }
        for proxy in &self.trusted_proxies {
            if parse_cidr(proxy).is_none() {
                p.push(format!(
                    "trusted_proxies: {proxy:?} is not an IP address or CIDR"
                ));
            }
        }
        if let Some(url) = &self.public_url
            && origin_of(url).is_none()
        {
            p.push(format!("public_url: {url:?} is not an http(s) URL"));
        }
        for origin in &self.allowed_origins {
            if origin_of(origin).is_none() {
                p.push(format!(
                    "allowed_origins: {origin:?} is not an http(s) origin"
                ));
            }
        }
        match (&self.redis_url, &self.database_url) {
            (Some(_), None) => p.push("database_url: a shared deployment needs PostgreSQL too (users, signing keys, refresh families); set database_url beside redis_url, or neither for the embedded store".into()),
            (None, Some(_)) => p.push("redis_url: a shared deployment needs Redis too (sessions, revocations, throttling); set redis_url beside database_url, or neither for the embedded store".into()),
            _ => {}
        }
        if self.admin_key.as_deref().is_some_and(|k| k.len() < 16) {
            p.push("admin_key: must be at least 16 characters".into());
        }
        if self.apps.keys.iter().any(|k| k.len() < 16) {
            p.push("apps.keys: every key must be at least 16 characters".into());
        }
        p
    }

    /// The session cookie's name after defaults.
    pub fn cookie_name(&self) -> String {
        match &self.session.cookie_name {
            Some(name) => name.clone(),
            None if self.session.insecure_dev_cookies => "sid".into(),
            None => "__Host-sid".into(),
        }
    }

    /// The trusted proxy networks (validated at load).
    pub fn trusted_networks(&self) -> Vec<IpNet> {
        self.trusted_proxies
            .iter()
            .filter_map(|p| parse_cidr(p))
            .collect()
    }
}

/// `10.0.0.0/8`, or a single address as a /32 or /128.
fn parse_cidr(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// The origin of an http(s) URL as a browser serialises it in `Origin` (`scheme://host[:port]`,
/// lower case, the default port left out).
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https")
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    // The serialisation browsers send in `Origin`: lower case, no default port.
    Some(parsed.origin().ascii_serialization())
}

fn read_file(path: &Path, problems: &mut Vec<String>) -> Table {
    match std::fs::read_to_string(path) {
        Ok(text) => match text.parse::<Table>() {
            Ok(mut table) => {
                drop_unknown_keys(&mut table, path, problems);
                table
            }
            Err(e) => {
                problems.push(format!("{}: {}", path.display(), e.to_string().trim()));
                Table::new()
            }
        },
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            Table::new()
        }
    }
}

/// Reports (and removes, so that every other problem is reported too) keys of the file that
/// name no setting, and durations that do not parse.
fn drop_unknown_keys(table: &mut Table, file: &Path, problems: &mut Vec<String>) {
    let kinds: BTreeMap<&str, Kind> = SETTINGS.iter().copied().collect();
    let sections: Vec<String> = table.keys().cloned().collect();
    for key in sections {
        let Some(Value::Table(inner)) = table.get_mut(&key) else {
            check_key(table, &key, &key, &kinds, file, problems);
            continue;
        };
        if !SETTINGS
            .iter()
            .any(|(path, _)| path.starts_with(&format!("{key}.")))
        {
            problems.push(format!("{}: unknown setting `{key}`", file.display()));
            table.remove(&key);
            continue;
        }
        let names: Vec<String> = inner.keys().cloned().collect();
        for name in names {
            check_key(
                inner,
                &name,
                &format!("{key}.{name}"),
                &kinds,
                file,
                problems,
            );
        }
    }
}

fn check_key(
    table: &mut Table,
    key: &str,
    path: &str,
    kinds: &BTreeMap<&str, Kind>,
    file: &Path,
    problems: &mut Vec<String>,
) {
    let problem = match (kinds.get(path), table.get(key)) {
        (None, _) => Some("unknown setting".to_owned()),
        (Some(Kind::Duration), Some(Value::String(text)))
            if humantime::parse_duration(text).is_err() =>
        {
            Some(format!(
                "{text:?} is not a duration (e.g. 500ms, 30s, 15m, 8h, 30d)"
            ))
        }
        _ => None,
    };
    if let Some(problem) = problem {
        problems.push(format!("{}: `{path}`: {problem}", file.display()));
        table.remove(key);
    }
}

fn apply_env(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Vec<String>,
) {
    let known: BTreeMap<String, (&str, Kind)> = SETTINGS
        .iter()
        .map(|(path, kind)| (env_name(path), (*path, *kind)))
        .collect();
    for (name, raw) in env {
        if !name.starts_with("TESSERA_") {
            continue;
        }
        let Some((path, kind)) = known.get(&name) else {
            problems.push(format!("{name}: unknown setting"));
            continue;
        };
        let value = match kind {
            Kind::Text => Some(Value::String(raw)),
            Kind::Duration => match humantime::parse_duration(&raw) {
                Ok(_) => Some(Value::String(raw)),
                Err(_) => {
                    problems.push(format!(
                        "{name}: {raw:?} is not a duration (e.g. 500ms, 30s, 15m, 8h, 30d)"
                    ));
                    continue;
                }
            },
            Kind::OptionalText if raw.is_empty() => None,
            Kind::OptionalText => Some(Value::String(raw)),
            Kind::Bool => match raw.as_str() {
                "true" => Some(Value::Boolean(true)),
                "false" => Some(Value::Boolean(false)),
                _ => {
                    problems.push(format!("{name}: {raw:?} is not true or false"));
                    continue;
                }
            },
            Kind::Integer => match raw.parse::<i64>() {
                Ok(n) => Some(Value::Integer(n)),
                Err(_) => {
                    problems.push(format!("{name}: {raw:?} is not a whole number"));
                    continue;
                }
            },
            Kind::List => Some(Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect(),
            )),
        };
        set_path(table, path, value);
    }
}

/// Sets (or, with `None`, removes) the value at a dotted path.
fn set_path(table: &mut Table, path: &str, value: Option<Value>) {
    let (section, key) = match path.split_once('.') {
        Some((section, key)) => (Some(section), key),
        None => (None, path),
    };
    let target = match section {
        Some(section) => {
            let entry = table
                .entry(section.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            match entry.as_table_mut() {
                Some(t) => t,
                None => return,
            }
        }
        None => table,
    };
    match value {
        Some(v) => {
            target.insert(key.to_owned(), v);
        }
        None => {
            target.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: Option<&str>, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = toml.map(|t| {
            let p = dir.path().join("tessera.toml");
            std::fs::write(&p, t).unwrap();
            p
        });
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(file.as_deref(), env, &Overrides::default())
    }

    #[test]
    fn zero_config_defaults() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./tessera-data"));
        assert_eq!(c.session.idle_timeout, Duration::from_secs(1800));
        assert_eq!(c.cookie_name(), "__Host-sid");
        assert!(c.signup && c.admin_key.is_none());
    }

    #[test]
    fn precedence_file_env_flags() {
        let file = "listen = \"127.0.0.1:1\"\nsignup = false\n[session]\nidle_timeout = \"5m\"\n";
        let env = [
            ("TESSERA_SESSION_IDLE_TIMEOUT", "7m"),
            (
                "TESSERA_ALLOWED_ORIGINS",
                "https://a.example, https://b.example",
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, file).unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let c = Config::load(
            Some(&p),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
            &overrides,
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:2");
        assert!(!c.signup);
        assert_eq!(c.session.idle_timeout, Duration::from_secs(420));
        assert_eq!(
            c.allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }

    #[test]
    fn empty_values() {
        let c = load(
            Some("admin_key = \"0123456789abcdef0\""),
            &[("TESSERA_ADMIN_KEY", ""), ("TESSERA_INSTANCE_NAME", "")],
        )
        .unwrap();
        assert!(c.admin_key.is_none(), "empty admin key turns admin off");
        assert_eq!(c.instance_name.as_deref(), Some(""));
    }

    #[test]
    fn every_problem_is_named() {
        let err = load(
            Some("[session]\nidle_timeout = \"9h\"\n"),
            &[
                ("TESSERA_TOKEN_ACCESS_TTL", "31d"),
                ("TESSERA_SIGNUP", "yes"),
                ("TESSERA_NOPE", "1"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("TESSERA_SIGNUP"), "{err}");
        assert!(err.contains("TESSERA_NOPE: unknown setting"), "{err}");
        let err = load(
            Some("[session]\nidle_timeout = \"9h\"\n"),
            &[("TESSERA_TOKEN_ACCESS_TTL", "31d")],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("session.idle_timeout"), "{err}");
        assert!(err.contains("token.access_ttl"), "{err}");
    }

    #[test]
    fn every_file_and_env_problem_at_once() {
        let err = load(
            Some("colour = \"red\"\n[session]\nidle_timeout = \"soon\"\nflavour = 1\n[nope]\nx = 1\n"),
            &[("TESSERA_TOKEN_LEEWAY", "later"), ("TESSERA_SIGNUP", "maybe")],
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "`colour`",
            "`session.idle_timeout`",
            "`session.flavour`",
            "`nope`",
            "TESSERA_TOKEN_LEEWAY",
            "TESSERA_SIGNUP",
        ] {
            assert!(err.contains(expected), "{expected} missing in {err}");
        }
    }

    #[test]
    fn unknown_file_key_and_bad_duration() {
        assert!(
            load(Some("colour = \"red\""), &[])
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        assert!(load(None, &[("TESSERA_TOKEN_LEEWAY", "soon")]).is_err());
        assert!(
            load(
                None,
                &[
                    ("TESSERA_TOKEN_LEEWAY", "0s"),
                    ("TESSERA_TOKEN_REFRESH_GRACE", "0s")
                ]
            )
            .is_ok()
        );
        assert!(load(None, &[("TESSERA_SESSION_IDLE_TIMEOUT", "500ms")]).is_err());
    }

    #[test]
    fn lifetimes_have_an_upper_bound() {
        let err = load(
            None,
            &[
                ("TESSERA_SESSION_ABSOLUTE_TIMEOUT", "9000years"),
                ("TESSERA_TOKEN_LEEWAY", "200years"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("session.absolute_timeout: must be at most"),
            "{err}"
        );
        assert!(err.contains("token.leeway: must be at most"), "{err}");
        assert!(load(None, &[("TESSERA_TOKEN_REFRESH_TTL", "3650d")]).is_ok());
    }

    #[test]
    fn forward_auth_audience_must_differ() {
        let env = [
            ("TESSERA_FORWARD_AUTH_MINT_JWT", "true"),
            ("TESSERA_FORWARD_AUTH_AUDIENCE", "tessera"),
        ];
        assert!(
            load(None, &env)
                .unwrap_err()
                .to_string()
                .contains("forward_auth.audience")
        );
        assert!(load(None, &[("TESSERA_FORWARD_AUTH_MINT_JWT", "true")]).is_ok());
    }

    #[test]
    fn http_limits() {
        let c = load(None, &[]).unwrap();
        assert_eq!(c.http.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.idle_timeout, Duration::from_secs(75));
        assert_eq!(c.http.write_timeout, Duration::from_secs(30));
        let c = load(
            Some("[http]\nheader_timeout = \"1500ms\"\nmax_connections = 7\n"),
            &[("TESSERA_HTTP_MAX_CONNECTIONS_PER_ADDRESS", "3")],
        )
        .unwrap();
        assert_eq!(c.http.header_timeout, Duration::from_millis(1500));
        assert_eq!(c.http.max_connections, 7);
        assert_eq!(c.http.max_connections_per_address, 3);
        let err = load(
            None,
            &[
                ("TESSERA_HTTP_IDLE_TIMEOUT", "500ms"),
                ("TESSERA_HTTP_MAX_CONNECTIONS", "0"),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("http.idle_timeout: must be at least 1s"),
            "{err}"
        );
        assert!(err.contains("http: connection limits"), "{err}");
    }

    #[test]
    fn insecure_cookies() {
        let c = load(None, &[("TESSERA_SESSION_INSECURE_DEV_COOKIES", "true")]).unwrap();
        assert_eq!(c.cookie_name(), "sid");
        let err = load(
            None,
            &[
                ("TESSERA_SESSION_INSECURE_DEV_COOKIES", "true"),
                ("TESSERA_SESSION_COOKIE_NAME", "__Host-x"),
            ],
        );
        assert!(err.unwrap_err().to_string().contains("__Host-"));
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("https://Auth.Example.com/path").as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(
            origin_of("https://example.com:443").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            origin_of("http://example.com:80/").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            origin_of("https://example.com:8443").as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(origin_of("https://user:pw@example.com"), None);
    }
}
