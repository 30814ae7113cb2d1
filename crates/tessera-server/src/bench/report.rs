//! What a bench run found, column by column: the data the table, the JSON and the chart are
//! drawn from.

use serde::Serialize;

/// The modes, each a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Session token in the `__Host-sid` cookie.
    SessionCookie,
    /// Session token as `Authorization: Bearer`.
    SessionBearer,
    /// JWT access token, HS256.
    JwtHs256,
    /// JWT access token, EdDSA.
    JwtEddsa,
    /// JWT access token, ES256.
    JwtEs256,
    /// JWT access token, RS256.
    JwtRs256,
    /// Short access token (EdDSA) plus rotating refresh token.
    Hybrid,
}

impl Mode {
    /// Every column, in table order.
    pub const ALL: [Mode; 7] = [
        Mode::SessionCookie,
        Mode::SessionBearer,
        Mode::JwtHs256,
        Mode::JwtEddsa,
        Mode::JwtEs256,
        Mode::JwtRs256,
        Mode::Hybrid,
    ];

    /// The column heading.
    pub fn title(self) -> &'static str {
        match self {
            Mode::SessionCookie => "session cookie",
            Mode::SessionBearer => "session bearer",
            Mode::JwtHs256 => "JWT HS256",
            Mode::JwtEddsa => "JWT EdDSA",
            Mode::JwtEs256 => "JWT ES256",
            Mode::JwtRs256 => "JWT RS256",
            Mode::Hybrid => "hybrid",
        }
    }

    /// The signing algorithm the server needs for this column.
    pub fn algorithm(self) -> &'static str {
        match self {
            Mode::JwtHs256 => "HS256",
            Mode::JwtEs256 => "ES256",
            Mode::JwtRs256 => "RS256",
            _ => "EdDSA",
        }
    }

    /// Whether the credential is a JWT access token.
    pub fn is_jwt(self) -> bool {
        !matches!(self, Mode::SessionCookie | Mode::SessionBearer)
    }
}

/// Percentiles of a set of delays, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Delays {
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// How many were measured.
    pub samples: u64,
}

/// The least, middle and greatest of a few measurements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// The least.
    pub min: f64,
    /// The median.
    pub median: f64,
    /// The greatest.
    pub max: f64,
}

impl Spread {
    /// Of `values`; `None` for none.
    pub fn of(values: &[f64]) -> Option<Self> {
        Some(Self {
            min: values.iter().copied().reduce(f64::min)?,
            median: super::measure::median(values),
            max: values.iter().copied().reduce(f64::max)?,
        })
    }
}

/// What this machine did during the rounds, which moves a run's rates whatever Tessera does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MachineDuringRounds {
    /// The percentage of the machine's CPU time its hypervisor took (`steal` in
    /// `/proc/stat`); `None` where the system does not tell.
    pub stolen_percent: Option<f64>,
    /// CPU µs of one Ed25519 check of [`super::verify::ReferenceCheck`], timed in every round.
    pub reference_check_us: Option<Spread>,
}

/// Everything measured for one column; `None` where it was not measured (see `skipped`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Column {
    /// Which column.
    pub mode: Option<Mode>,
    /// Why this column was not measured at all (e.g. the URL's server signs another algorithm).
    pub skipped: Option<String>,
    /// Bytes of the credential header as sent (`Cookie: ...` or `Authorization: Bearer ...`).
    pub credential_bytes: Option<u64>,
    /// Bytes of the login response (status line, headers, body).
    pub login_response_bytes: Option<u64>,
    /// Bytes of one refresh (request plus response), hybrid only.
    pub refresh_bytes: Option<u64>,
    /// Refreshes per hour at the configured access lifetime, hybrid only.
    pub refreshes_per_hour: Option<f64>,
    /// Bytes per hour of use at the stated request rate, refreshes included.
    pub bytes_per_hour: Option<u64>,
    /// Server-side µs per verification (in process, timed around the call).
    pub verify_us: Option<f64>,
    /// Server CPU µs per `GET /v1/me` under load.
    pub server_cpu_us: Option<f64>,
    /// Server CPU µs per `GET /healthz` under the same load, just before.
    pub healthz_cpu_us: Option<f64>,
    /// Load generator CPU µs per request.
    pub load_cpu_us: Option<f64>,
    /// Store round trips per request (from `/metrics`).
    pub store_round_trips: Option<f64>,
    /// µs for an app verifying the JWT itself (signature and claims), against the JWKS key.
    pub client_verify_us: Option<f64>,
    /// µs of the bare signature check (the floor of a fresh-token request).
    pub raw_signature_us: Option<f64>,
    /// Server CPU µs per floor request (in process, with fresh tokens): the bare check of
    /// the same tokens behind the same server, answered as `/healthz` ([`super::floor`]).
    pub floor_cpu_us: Option<f64>,
    /// Requests/s of `GET /v1/me`.
    pub rps: Option<f64>,
    /// Requests/s of `GET /healthz` on the same server, in the same rounds.
    pub healthz_rps: Option<f64>,
    /// `GET /v1/me` ÷ `GET /healthz` requests/s: the median over the rounds of each round's
    /// ratio, its two loads run back to back.
    pub healthz_ratio: Option<f64>,
    /// Latency p50, ms.
    pub p50_ms: Option<f64>,
    /// Latency p99, ms.
    pub p99_ms: Option<f64>,
    /// Latency p99.9, ms.
    pub p999_ms: Option<f64>,
    /// Non-2xx answers and failed requests during the load.
    pub errors: Option<u64>,
    /// Requests/s on all instances together (several URLs only).
    pub rps_all_instances: Option<f64>,
    /// What a holder can read without any key.
    pub readable_claims: Option<Vec<String>>,
    /// Revoke to first refusal, same instance.
    pub revocation_same: Option<Delays>,
    /// Revoke on one instance to first refusal on another.
    pub revocation_other: Option<Delays>,
    /// The credential's lifetime, s.
    pub lifetime_s: Option<f64>,
    /// How long after its expiry it was still accepted (the leeway), s.
    pub refused_after_s: Option<f64>,
    /// Whether a browser sends it on a cross-site request.
    pub cross_site: Option<String>,
    /// What CORS a cross-origin app needs, from the server's configuration.
    pub cors: Option<String>,
    /// Server memory per 10k live sessions, bytes.
    pub memory_per_10k: Option<u64>,
    /// Server memory per 100k live sessions, bytes.
    pub memory_per_100k: Option<u64>,
    /// Store bytes per 10k live sessions.
    pub store_per_10k: Option<u64>,
    /// Store bytes per 100k live sessions.
    pub store_per_100k: Option<u64>,
    /// Logins per second during a login burst.
    pub logins_per_s: Option<f64>,
    /// p99 of verified requests during that burst, ms.
    pub burst_p99_ms: Option<f64>,
}

/// How a run was made.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunInfo {
    /// `tessera bench` arguments, secrets left out.
    pub command: String,
    /// UTC date and time of the start.
    pub date: String,
    /// CPU model and count.
    pub machine: String,
    /// `in process` or the URLs.
    pub target: String,
    /// `closed loop` or `open loop at N req/s (coordinated omission corrected)`.
    pub load: String,
    /// The open-loop rate of `--rate`, total requests/s; `None` for closed loop.
    pub rate_per_s: Option<f64>,
    /// Connections.
    pub concurrency: usize,
    /// Seconds per column of each of `GET /healthz` and `GET /v1/me`.
    pub duration_s: f64,
    /// The rounds those seconds are split into; every column takes its turn in each.
    pub rounds: u32,
    /// The hypervisor's share and the machine's speed during the rounds.
    pub during_rounds: MachineDuringRounds,
    /// Whether every JWT request carried a token never seen before.
    pub fresh_tokens: bool,
    /// The request rate the bytes-per-hour row assumes.
    pub usage_rate_per_s: f64,
    /// The configured access-token lifetime the hybrid refreshes at, s.
    pub access_ttl_s: f64,
    /// Live sessions the state row created (the per-100k figures are scaled from 10k when it
    /// is 10 000); 0 when not measured.
    pub state_sessions: u64,
}

/// A whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// How it was made.
    pub run: RunInfo,
    /// The columns, in [`Mode::ALL`] order.
    pub columns: Vec<Column>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_is_the_least_the_median_and_the_greatest() {
        let spread = Spread::of(&[3.0, 1.0, 10.0, 2.0]).expect("some values");
        assert_eq!(
            spread,
            Spread {
                min: 1.0,
                median: 2.5,
                max: 10.0
            }
        );
        assert_eq!(Spread::of(&[]), None);
    }
}
