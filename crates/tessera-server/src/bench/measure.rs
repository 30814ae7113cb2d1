//! Each row's measurement for one column, against the targets of a run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use futures_util::future::join_all;
use futures_util::stream::{self, StreamExt as _, TryStreamExt as _};
use hyper::header::{HeaderName, HeaderValue};
use serde_json::json;
use tessera_core::OpaqueToken;

use super::cpu::MachineTicks;
use super::floor;
use super::hist::Latencies;
use super::load::{self, Credential, Generator, LoadResult, LoadSpec};
use super::report::{Column, Delays, MachineDuringRounds, Mode, Spread};
use super::target::{BenchUser, Target};
use super::verify;

/// The knobs of a run that measurements read.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Connections per load.
    pub concurrency: usize,
    /// Time given to each of `GET /healthz` and `GET /v1/me` per column, split into `rounds`
    /// rounds (see [`loads`]); also the length of each column's login burst.
    pub duration: Duration,
    /// Rounds of the throughput phase; the rates reported are their medians.
    pub rounds: u32,
    /// Live sessions created for the state row (10k or 100k).
    pub state_sessions: usize,
    /// Open-loop rate, if any.
    pub rate: Option<f64>,
    /// A new token per JWT request.
    pub fresh_tokens: bool,
    /// Revocations measured per column.
    pub revocations: usize,
    /// Request rate of the bytes-per-hour row.
    pub usage_rate: f64,
    /// Concurrent login loops of the burst.
    pub login_loops: usize,
}

/// A credential as `GET /v1/me` carries it, with what revoking it needs.
struct Held {
    header: &'static str,
    value: String,
    /// The token `POST /v1/tokens/revoke` takes to kill it (session token or refresh token).
    revoke_with: String,
    /// The JWT, for JWT columns.
    jwt: Option<String>,
}

/// The column's login and credential.
async fn acquire(t: &Target, user: &BenchUser, mode: Mode, c: &mut Column) -> anyhow::Result<Held> {
    match mode {
        Mode::SessionCookie => {
            let r = t.post("/v1/sessions", &user.login(true), &[]).await?;
            if r.status != 201 {
                bail!("cookie login failed: {} {}", r.status, r.code());
            }
            c.login_response_bytes = Some(r.wire_bytes);
            let set = r
                .headers
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| anyhow!("the cookie login set no cookie"))?;
            let pair = set.split(';').next().unwrap_or("").to_owned();
            let token = pair
                .split_once('=')
                .map(|(_, v)| v.to_owned())
                .unwrap_or_default();
            c.cross_site = Some(cookie_cross_site(set));
            Ok(Held {
                header: "cookie",
                value: pair,
                revoke_with: token,
                jwt: None,
            })
        }
        Mode::SessionBearer => {
            let r = t.post("/v1/sessions", &user.login(false), &[]).await?;
            let token = r
                .field("token")
                .ok_or_else(|| anyhow!("bearer login failed: {} {}", r.status, r.code()))?
                .to_owned();
            c.login_response_bytes = Some(r.wire_bytes);
            Ok(Held {
                header: "authorization",
                value: format!("Bearer {token}"),
                revoke_with: token,
                jwt: None,
            })
        }
        _ => {
            let r = t.post("/v1/tokens", &user.credentials(), &[]).await?;
            let access = r
                .field("access_token")
                .ok_or_else(|| anyhow!("token login failed: {} {}", r.status, r.code()))?
                .to_owned();
            let refresh = r.field("refresh_token").unwrap_or("").to_owned();
            c.login_response_bytes = Some(r.wire_bytes);
            let alg = verify::algorithm(&access).unwrap_or_default();
            if alg != mode.algorithm() {
                let _ = t
                    .post("/v1/tokens/revoke", &json!({"token": refresh}), &[])
                    .await;
                bail!("skip: the server signs {alg}");
            }
            let expires_in = r.body["expires_in"].as_f64().unwrap_or(0.0);
            c.lifetime_s = Some(expires_in);
            let (access, refresh) = if mode == Mode::Hybrid && !refresh.is_empty() {
                let body = json!({"refresh_token": refresh});
                let request_bytes = "POST /v1/tokens/refresh HTTP/1.1\r\n".len()
                    + format!("host: {}\r\ncontent-type: application/json\r\ncontent-length: 99\r\naccept: */*\r\n\r\n", t.host).len()
                    + body.to_string().len();
                let r = t.post("/v1/tokens/refresh", &body, &[]).await?;
                let access = r
                    .field("access_token")
                    .ok_or_else(|| anyhow!("refresh failed: {} {}", r.status, r.code()))?
                    .to_owned();
                let refresh = r.field("refresh_token").unwrap_or("").to_owned();
                c.refresh_bytes = Some(request_bytes as u64 + r.wire_bytes);
                if expires_in > 0.0 {
                    c.refreshes_per_hour = Some(3600.0 / expires_in);
                }
                (access, refresh)
            } else {
                (access, refresh)
            };
            c.readable_claims = verify::readable_claims(&access);
            Ok(Held {
                header: "authorization",
                value: format!("Bearer {access}"),
                revoke_with: refresh,
                jwt: Some(access),
            })
        }
    }
}

/// The cookie's name, for cookie columns.
fn cookie_name(held: &Held) -> &str {
    held.value.split_once('=').map_or("", |(name, _)| name)
}

fn cookie_cross_site(set_cookie: &str) -> String {
    let same_site = set_cookie
        .split(';')
        .map(str::trim)
        .find_map(|a| {
            a.strip_prefix("SameSite=")
                .or_else(|| a.strip_prefix("samesite="))
        })
        .unwrap_or("(none: Lax by browser default)");
    match same_site.to_ascii_lowercase().as_str() {
        "lax" => "SameSite=Lax: top-level GET navigations only".into(),
        "strict" => "SameSite=Strict: never sent cross-site".into(),
        "none" => "SameSite=None: sent on every cross-site request".into(),
        other => format!("SameSite={other}"),
    }
}

/// What a cross-origin app needs, probed with a CORS preflight from a made-up origin.
async fn cors(t: &Target, mode: Mode) -> String {
    let origin = "https://app.bench.invalid";
    let r = t
        .send(
            reqwest::Method::OPTIONS,
            "/v1/me",
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
        )
        .await;
    let allowed = r.is_ok_and(|r| r.headers.get("access-control-allow-origin").is_some());
    let what = if mode == Mode::SessionCookie {
        "credentials: include"
    } else {
        "Authorization header"
    };
    if allowed {
        format!("{what}; a probe origin is allowed")
    } else {
        format!("{what}; origin in allowed_origins (a probe origin was refused)")
    }
}

/// Sum of `tessera_store_duration_seconds_count` in the Prometheus text.
fn store_round_trips(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("tessera_store_duration_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics_text(t: &Target) -> Option<String> {
    if t.local.is_some() {
        return Some((crate::telemetry::metrics_render())());
    }
    t.text("/metrics").await
}

fn spec(t: &Target, path: &str, credential: Credential, plan: &Plan) -> LoadSpec {
    LoadSpec {
        addr: t.addr,
        host: t.host.clone(),
        path: path.into(),
        credential,
        connections: plan.concurrency,
        duration: plan.duration,
        rate: plan.rate,
        answer_grace: load::ANSWER_GRACE,
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => f64::midpoint(v[n / 2 - 1], v[n / 2]),
    }
}

/// One load and what the server reported meanwhile.
struct Slice {
    load: LoadResult,
    /// Store round trips the server made meanwhile, from its `/metrics`.
    store_calls: f64,
    /// Whether `load.cpu.other` is the server's CPU (always in process; by URL when its
    /// `/metrics` has `process_cpu_seconds_total`).
    server_cpu_known: bool,
}

/// The server's CPU seconds so far, from `process_cpu_seconds_total` in its `/metrics`.
fn process_cpu(metrics: &str) -> Option<Duration> {
    let seconds = metrics.lines().find_map(|l| {
        l.strip_prefix("process_cpu_seconds_total ")?
            .parse::<f64>()
            .ok()
    })?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// Runs `specs` one after another, the last first when `reversed`; the slices come back in
/// `specs`' order.
async fn run_in_turn(
    t: &Target,
    generator: &Generator,
    specs: Vec<LoadSpec>,
    reversed: bool,
) -> Vec<Slice> {
    let mut turns: Vec<(usize, LoadSpec)> = specs.into_iter().enumerate().collect();
    if reversed {
        turns.reverse();
    }
    let mut slices = Vec::with_capacity(turns.len());
    for (i, spec) in turns {
        slices.push((i, run_measured(t, generator, spec).await));
    }
    slices.sort_by_key(|(i, _)| *i);
    slices.into_iter().map(|(_, slice)| slice).collect()
}

/// One load, with the server's `/metrics` read before and after it. By URL the server's CPU
/// meanwhile (`cpu.other`) comes from there; in process it is this process's threads but the
/// generator's.
async fn run_measured(t: &Target, generator: &Generator, spec: LoadSpec) -> Slice {
    let before = metrics_text(t).await;
    let mut load = load::run(generator, spec).await;
    let after = metrics_text(t).await;
    let metrics = before.zip(after);
    let store_calls = metrics.as_ref().map_or(0.0, |(before, after)| {
        (store_round_trips(after) - store_round_trips(before)).max(0.0)
    });
    let mut server_cpu_known = t.local.is_some();
    if !server_cpu_known
        && let Some((Some(before), Some(after))) = metrics
            .as_ref()
            .map(|(before, after)| (process_cpu(before), process_cpu(after)))
    {
        load.cpu.other = after.saturating_sub(before);
        server_cpu_known = true;
    }
    Slice {
        load,
        store_calls,
        server_cpu_known,
    }
}

/// A column's `GET /healthz` and `GET /v1/me` loads, and its floor requests, round by round.
#[derive(Default)]
struct Tally {
    healthz: LoadResult,
    me: LoadResult,
    floor: LoadResult,
    /// Each round's `/healthz` and `/v1/me` rates, in round order: two loads back to back on
    /// one server.
    healthz_rates: Vec<f64>,
    me_rates: Vec<f64>,
    me_store_calls: f64,
    server_cpu_unknown: bool,
    floor_time: Duration,
    floor_checks: u32,
}

impl Tally {
    fn add(&mut self, healthz: Slice, me: Slice, floor: Option<Slice>) {
        self.healthz_rates.push(healthz.load.rate());
        self.me_rates.push(me.load.rate());
        self.healthz.append(&healthz.load);
        self.me.append(&me.load);
        if let Some(floor) = floor {
            self.floor.append(&floor.load);
        }
        self.me_store_calls += me.store_calls;
        self.server_cpu_unknown |= !(healthz.server_cpu_known && me.server_cpu_known);
    }

    /// Fills the column's throughput, latency, CPU and store rows.
    fn record(&self, c: &mut Column) {
        let me = &self.me;
        c.rps = Some(median(&self.me_rates));
        c.healthz_rps = Some(median(&self.healthz_rates));
        // The median of the rounds' ratios, not the ratio of the medians: each round's two
        // loads share the machine's state of the moment, which then cancels out.
        let ratios: Vec<f64> = self
            .me_rates
            .iter()
            .zip(&self.healthz_rates)
            .filter(|&(_, &healthz)| healthz > 0.0)
            .map(|(me, healthz)| me / healthz)
            .collect();
        c.healthz_ratio = (!ratios.is_empty()).then(|| median(&ratios));
        c.p50_ms = Some(me.latencies.percentile_ms(50.0));
        c.p99_ms = Some(me.latencies.percentile_ms(99.0));
        c.p999_ms = Some(me.latencies.percentile_ms(99.9));
        c.errors = Some(me.errors);
        c.load_cpu_us = Some(me.load_cpu_per_request_us());
        if me.ok > 0 {
            c.store_round_trips = Some(self.me_store_calls / me.ok as f64);
        }
        if !self.server_cpu_unknown {
            c.server_cpu_us = Some(me.server_cpu_per_request_us());
            c.healthz_cpu_us = Some(self.healthz.server_cpu_per_request_us());
            // A floor request refused did not check a signature: no floor then.
            if self.floor.ok > 0 && self.floor.errors == 0 {
                c.floor_cpu_us = Some(self.floor.server_cpu_per_request_us());
            }
        }
        if self.floor_checks > 0 {
            c.raw_signature_us = Some(verify::per_round_us(self.floor_time, self.floor_checks));
        }
    }
}

/// Bare signature checks a fresh-token column times after its loads in each round.
const FLOOR_CHECKS_PER_ROUND: u32 = 200;

/// The throughput phase of every column at once: `plan.rounds` rounds, each a short
/// `GET /healthz` load and a short `GET /v1/me` load of `plan.duration / rounds` for every
/// column in turn. A neighbour's build or a frequency change thus lands on every column and
/// on both sides of each ratio, instead of on one column's block; the rates reported are the
/// medians of the rounds. Which column goes first rotates from round to round, and whether
/// `/healthz` or `/v1/me` goes first alternates. With fresh tokens every round gets its own
/// part of the pool, and a column with a public key times its floor's signature check after
/// its loads; in process it also loads the floor route ([`floor`]) with the same tokens.
/// Returns what the machine did meanwhile: the hypervisor's share, and a reference check timed
/// at the start of every round.
pub async fn loads(
    columns: &mut [(&Target, &mut Prepared)],
    plan: &Plan,
    generator: &Generator,
    step: &dyn Fn(String),
) -> MachineDuringRounds {
    let machine_before = MachineTicks::now();
    let reference = verify::ReferenceCheck::new();
    let mut reference_us = Vec::new();
    let rounds = plan.rounds.max(1) as usize;
    let mut slice = plan.clone();
    slice.duration = plan.duration / plan.rounds.max(1);
    let per_round: Vec<Vec<Credential>> = columns
        .iter()
        .map(|(_, p)| match &p.load_credential {
            Credential::Fresh(name, pool) => {
                let size = pool.len().div_ceil(rounds).max(1);
                pool.chunks(size)
                    .map(|c| Credential::Fresh(name.clone(), Arc::new(c.to_vec())))
                    .collect()
            }
            other => vec![other.clone(); rounds],
        })
        .collect();
    let mut tallies: Vec<Tally> = columns.iter().map(|_| Tally::default()).collect();
    for round in 0..rounds {
        step(format!(
            "round {} of {rounds}: GET /healthz and GET /v1/me, every mode",
            round + 1
        ));
        if let Some(reference) = &reference {
            reference_us.push(reference.time_us());
        }
        for k in 0..columns.len() {
            let i = (k + round) % columns.len();
            let t = columns[i].0;
            let Some(credential) = per_round[i].get(round) else {
                continue;
            };
            let mut specs = vec![
                spec(t, "/healthz", Credential::None, &slice),
                spec(t, "/v1/me", credential.clone(), &slice),
            ];
            if t.local.is_some() && columns[i].1.floor.is_some() {
                specs.push(spec(t, floor::PATH, credential.clone(), &slice));
            }
            let mut slices = run_in_turn(t, generator, specs, round % 2 == 1)
                .await
                .into_iter();
            if let (Some(healthz), Some(me)) = (slices.next(), slices.next()) {
                tallies[i].add(healthz, me, slices.next());
            }
            if let Some(floor) = &mut columns[i].1.floor {
                tallies[i].floor_time += floor.time(FLOOR_CHECKS_PER_ROUND);
                tallies[i].floor_checks += FLOOR_CHECKS_PER_ROUND;
            }
        }
    }
    for ((t, p), tally) in columns.iter_mut().zip(&tallies) {
        tally.record(&mut p.column);
        if t.local.is_none()
            && let (Some(me), Some(healthz)) = (p.column.server_cpu_us, p.column.healthz_cpu_us)
        {
            p.column.verify_us = Some((me - healthz).max(0.0));
        }
    }
    MachineDuringRounds {
        stolen_percent: MachineTicks::now()
            .zip(machine_before)
            .map(|(now, before)| now.stolen_percent_since(&before)),
        reference_check_us: Spread::of(&reference_us),
    }
}

fn header(name: &'static str, value: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    Ok((
        HeaderName::from_static(name),
        HeaderValue::from_str(value).context("credential is not a valid header")?,
    ))
}

/// Mints `n` tokens never seen before: in process by the exchange call, by URL through
/// `POST /v1/tokens/exchange` with a bearer session.
pub(crate) async fn fresh_pool(
    t: &Target,
    user: &BenchUser,
    n: usize,
) -> anyhow::Result<Vec<HeaderValue>> {
    if let Some(local) = &t.local {
        let auth = local.server.auth.clone();
        let (token, record) = auth.settings().session.new_session(
            user.id,
            auth.now(),
            "tessera-bench",
            "127.0.0.1".into(),
        );
        auth.stores().sessions.create_session(&record).await?;
        let session = auth.authenticate_session(&token).await?;
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .max(1);
        let per = n.div_ceil(threads);
        let session = Arc::new(session);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (auth, session) = (auth.clone(), session.clone());
                std::thread::spawn(move || {
                    (0..per)
                        .filter_map(|_| auth.exchange(&session).ok())
                        .filter_map(|p| {
                            HeaderValue::from_str(&format!("Bearer {}", p.access_token)).ok()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut pool = Vec::with_capacity(n);
        for h in handles {
            pool.extend(h.join().map_err(|_| anyhow!("minting tokens failed"))?);
        }
        return Ok(pool);
    }
    let r = t.post("/v1/sessions", &user.login(false), &[]).await?;
    let bearer = format!(
        "Bearer {}",
        r.field("token").ok_or_else(|| anyhow!("login failed"))?
    );
    let exchange = |_| async {
        let r = t
            .post(
                "/v1/tokens/exchange",
                &json!({}),
                &[("authorization", &bearer)],
            )
            .await?;
        let Some(jwt) = r.field("access_token") else {
            bail!("exchange failed: {} {}", r.status, r.code())
        };
        Ok(HeaderValue::from_str(&format!("Bearer {jwt}"))?)
    };
    stream::iter(0..n)
        .map(exchange)
        .buffer_unordered(MINTING_CONNECTIONS)
        .try_collect()
        .await
}

/// Exchange calls in flight at once while minting fresh tokens by URL: enough to keep the
/// server's cores busy signing.
const MINTING_CONNECTIONS: usize = 8;

/// Times the server's verification call in process: the reused credential (a cache hit, as
/// under load), or, with fresh tokens, tokens never seen before.
async fn verify_us(
    t: &Target,
    mode: Mode,
    held: &Held,
    pool: Option<&[HeaderValue]>,
) -> Option<f64> {
    let auth = &t.local.as_ref()?.server.auth;
    const ROUNDS: u32 = 2000;
    if !mode.is_jwt() {
        let token = OpaqueToken::parse(&held.revoke_with)?;
        let started = Instant::now();
        for _ in 0..ROUNDS {
            auth.authenticate_session(&token).await.ok()?;
        }
        return Some(verify::per_round_us(started.elapsed(), ROUNDS));
    }
    let tokens: Vec<String> = match pool {
        Some(pool) => pool
            .iter()
            .rev()
            .take(ROUNDS as usize)
            .filter_map(|v| v.to_str().ok()?.strip_prefix("Bearer ").map(str::to_owned))
            .collect(),
        None => vec![held.jwt.clone()?],
    };
    let started = Instant::now();
    for i in 0..ROUNDS as usize {
        auth.authenticate_jwt(&tokens[i % tokens.len()])
            .await
            .ok()?;
    }
    Some(verify::per_round_us(started.elapsed(), ROUNDS))
}

/// A column between its phases: [`prepare`] measures what needs no load, [`loads`] runs the
/// throughput loads of every column together, [`finish`] measures the rest.
pub struct Prepared {
    /// The mode of the column.
    pub mode: Mode,
    /// The column so far.
    pub column: Column,
    held: Held,
    /// The credential as `GET /v1/me` carries it, reused.
    reused: Credential,
    /// What the throughput loads send: the reused credential, or a pool of fresh tokens.
    load_credential: Credential,
    /// With fresh tokens and a public key: the floor's signature check, timed in every round.
    /// In process the rounds then also load the server's floor route ([`floor`]).
    floor: Option<verify::BareCheck>,
}

/// The first phase of one column on `t`: login, sizes, cross-domain, privacy, client-side
/// and in-process verification costs, and the fresh-token pool.
///
/// # Errors
/// When the server refuses what a measurement needs; `skip: ...` when the column cannot be
/// measured on this server.
pub async fn prepare(
    t: &Target,
    user: &BenchUser,
    mode: Mode,
    plan: &Plan,
    step: &dyn Fn(String),
) -> anyhow::Result<Prepared> {
    step(format!("{}: login, sizes, verification cost", mode.title()));
    let mut c = Column {
        mode: Some(mode),
        ..Column::default()
    };
    let held = acquire(t, user, mode, &mut c).await?;

    let credential_bytes = (held.header.len() + 2 + held.value.len()) as u64;
    c.credential_bytes = Some(credential_bytes);
    let per_hour = plan.usage_rate * 3600.0;
    c.bytes_per_hour = Some(
        (credential_bytes as f64 * per_hour
            + c.refreshes_per_hour.unwrap_or(0.0) * c.refresh_bytes.unwrap_or(0) as f64)
            as u64,
    );
    if !mode.is_jwt() {
        c.readable_claims = Some(Vec::new());
        c.cross_site
            .get_or_insert_with(|| "no: the app's code adds it".into());
        c.lifetime_s = t
            .local
            .as_ref()
            .map(|l| l.config.session.idle_timeout.as_secs_f64());
    } else {
        c.cross_site = Some("no: the app's code adds it".into());
    }
    c.cors = Some(cors(t, mode).await);

    // Client side: an app verifying the JWT itself against the JWKS.
    let mut jwks = None;
    if let Some(jwt) = &held.jwt {
        let set = t.get("/.well-known/jwks.json", None).await?.body;
        c.client_verify_us = verify::client_verify_us(&set, jwt, 2000);
        // With fresh tokens the rounds time it instead, over tokens the load sends.
        if !plan.fresh_tokens {
            c.raw_signature_us = verify::BareCheck::new(&set, [jwt.as_str()])
                .map(|mut bare| bare.us_per_check(2000));
        }
        jwks = Some(set);
    }

    let (name, value) = header(held.header, &held.value)?;
    // With fresh tokens: a pool for the load and 2000 more, never sent by it, that the timed
    // verification calls below see first (else they would warm the cache for the load).
    let (pool, timed) = if plan.fresh_tokens && mode.is_jwt() {
        step(format!("{}: minting fresh tokens", mode.title()));
        let n = (plan.duration.as_secs_f64() * 20_000.0).clamp(2_000.0, 120_000.0) as usize;
        let mut pool = fresh_pool(t, user, n + 2000).await?;
        let timed = pool.split_off(pool.len().saturating_sub(2000));
        (Some(Arc::new(pool)), Some(timed))
    } else {
        (None, None)
    };
    c.verify_us = verify_us(t, mode, &held, timed.as_deref()).await;
    let floor = match (&jwks, &timed) {
        (Some(jwks), Some(timed)) => verify::BareCheck::new(
            jwks,
            timed
                .iter()
                .filter_map(|v| v.to_str().ok()?.strip_prefix("Bearer ")),
        ),
        _ => None,
    };

    if let (Some(local), Some(floor)) = (&t.local, &floor) {
        local.floor_key.set(floor.key().clone());
    }

    let reused = Credential::Reused(name.clone(), value);
    let load_credential = match pool {
        Some(pool) => Credential::Fresh(name, pool),
        None => reused.clone(),
    };
    Ok(Prepared {
        mode,
        column: c,
        held,
        reused,
        load_credential,
        floor,
    })
}

/// The last phase of one column, after [`loads`]: requests/s on every instance at once, logins
/// under load, revocation delays and expiry.
///
/// # Errors
/// When the server refuses what a measurement needs.
pub async fn finish(
    targets: &[Target],
    user: &BenchUser,
    prepared: Prepared,
    plan: &Plan,
    generator: &Generator,
    step: &dyn Fn(String),
) -> anyhow::Result<Column> {
    let t = &targets[0];
    let Prepared {
        mode,
        column: mut c,
        held,
        reused,
        ..
    } = prepared;
    if targets.len() > 1 {
        step(format!("{}: all instances", mode.title()));
        let runs: Vec<_> = targets
            .iter()
            .map(|x| load::run(generator, spec(x, "/v1/me", reused.clone(), plan)))
            .collect();
        let mut all = LoadResult::default();
        for r in join_all(runs).await {
            all.merge(&r);
        }
        c.rps_all_instances = Some(all.rate());
    }

    step(format!("{}: logins under load", mode.title()));
    let rate = plan.rate.unwrap_or(c.rps.unwrap_or(0.0) * BURST_LOAD_SHARE);
    let (logins, burst) = login_burst(t, user, mode, plan, rate, generator, reused).await;
    c.logins_per_s = Some(logins);
    c.burst_p99_ms = Some(burst.latencies.percentile_ms(99.0));

    step(format!("{}: revocations", mode.title()));
    let cookie = cookie_name(&held);
    c.revocation_same = Some(revocations(t, t, user, mode, cookie, plan.revocations).await?);
    if let Some(other) = targets.get(1) {
        c.revocation_other =
            Some(revocations(t, other, user, mode, cookie, plan.revocations).await?);
    }
    if t.local.is_some() {
        step(format!("{}: expiry", mode.title()));
        c.refused_after_s = expiry(t, user, mode, &held).await?;
    }
    Ok(c)
}

/// The share of a column's closed-loop `GET /v1/me` rate the login burst runs beside: a steady
/// open-loop load, so the logins get what the server has left at a known load instead of what
/// the scheduler happens to give them against a closed loop.
const BURST_LOAD_SHARE: f64 = 0.25;

/// Logins in `plan.login_loops` loops while `GET /v1/me` runs open-loop at `rate` requests/s:
/// logins per second and the requests' latencies meanwhile (from their intended send times).
async fn login_burst(
    t: &Target,
    user: &BenchUser,
    mode: Mode,
    plan: &Plan,
    rate: f64,
    generator: &Generator,
    credential: Credential,
) -> (f64, LoadResult) {
    let mut burst_plan = plan.clone();
    burst_plan.rate = Some(rate).filter(|r| *r > 0.0);
    let started = Instant::now();
    let stop = started + burst_plan.duration;
    let (path, body) = if mode.is_jwt() {
        ("/v1/tokens", user.credentials())
    } else {
        ("/v1/sessions", user.login(false))
    };
    let logins = async {
        let loops = (0..plan.login_loops).map(|_| async {
            let mut n = 0u64;
            while Instant::now() < stop {
                if let Ok(r) = t.post(path, &body, &[]).await
                    && (r.status == 200 || r.status == 201)
                {
                    n += 1;
                    // Leave nothing behind on a deployment: end what the login opened.
                    let token = r
                        .field("token")
                        .or(r.field("refresh_token"))
                        .unwrap_or("")
                        .to_owned();
                    let _ = t
                        .post("/v1/tokens/revoke", &json!({"token": token}), &[])
                        .await;
                }
            }
            n
        });
        let mut total = 0;
        for n in join_all(loops).await {
            total += n;
        }
        total
    };
    let load = load::run(generator, spec(t, "/v1/me", credential, &burst_plan));
    let ((n, elapsed), result) = tokio::join!(
        async {
            let n = logins.await;
            (n, started.elapsed())
        },
        load
    );
    (n as f64 / elapsed.as_secs_f64(), result)
}

/// A new credential of `mode` to revoke: `(header value, token to revoke)`.
async fn disposable(
    t: &Target,
    user: &BenchUser,
    mode: Mode,
    cookie: &str,
) -> anyhow::Result<(String, String)> {
    let session = |token: String| {
        let value = if mode == Mode::SessionCookie {
            format!("{cookie}={token}")
        } else {
            format!("Bearer {token}")
        };
        (value, token)
    };
    let session_token = if let Some(local) = &t.local {
        let auth = &local.server.auth;
        let (token, record) = auth.settings().session.new_session(
            user.id,
            auth.now(),
            "tessera-bench",
            "127.0.0.1".into(),
        );
        auth.stores().sessions.create_session(&record).await?;
        token.expose()
    } else {
        let r = t.post("/v1/sessions", &user.login(false), &[]).await?;
        r.field("token")
            .ok_or_else(|| anyhow!("login failed: {} {}", r.status, r.code()))?
            .to_owned()
    };
    match mode {
        Mode::SessionCookie | Mode::SessionBearer => Ok(session(session_token)),
        Mode::Hybrid => {
            let _ = t
                .post("/v1/tokens/revoke", &json!({"token": session_token}), &[])
                .await;
            let r = t.post("/v1/tokens", &user.credentials(), &[]).await?;
            let access = r
                .field("access_token")
                .ok_or_else(|| anyhow!("token login failed: {} {}", r.status, r.code()))?;
            Ok((
                format!("Bearer {access}"),
                r.field("refresh_token").unwrap_or("").to_owned(),
            ))
        }
        _ => {
            let bearer = format!("Bearer {session_token}");
            let r = t
                .post(
                    "/v1/tokens/exchange",
                    &json!({}),
                    &[("authorization", &bearer)],
                )
                .await?;
            let access = r
                .field("access_token")
                .ok_or_else(|| anyhow!("exchange failed: {} {}", r.status, r.code()))?
                .to_owned();
            // The session stays for the token's sid; ended with the user at the end.
            Ok((format!("Bearer {access}"), access))
        }
    }
}

/// Revoke on `on`, then poll `GET /v1/me` on `seen_by` until refused: `n` times.
async fn revocations(
    on: &Target,
    seen_by: &Target,
    user: &BenchUser,
    mode: Mode,
    cookie: &str,
    n: usize,
) -> anyhow::Result<Delays> {
    let mut delays = Latencies::new();
    let header = if mode == Mode::SessionCookie {
        "cookie"
    } else {
        "authorization"
    };
    for _ in 0..n.max(1) {
        let (value, revoke) = disposable(on, user, mode, cookie).await?;
        let first = seen_by.get("/v1/me", Some((header, &value))).await?;
        if first.status != 200 {
            bail!(
                "a new {} credential was refused: {} {}",
                mode.title(),
                first.status,
                first.code()
            );
        }
        let started = Instant::now();
        on.post("/v1/tokens/revoke", &json!({"token": revoke}), &[])
            .await?;
        loop {
            let r = seen_by.get("/v1/me", Some((header, &value))).await?;
            if r.status == 401 {
                delays.record(started.elapsed());
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                delays.record(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    Ok(Delays {
        p50_ms: delays.percentile_ms(50.0),
        p99_ms: delays.percentile_ms(99.0),
        samples: delays.count(),
    })
}

/// In process: moves the server's clock past the credential's expiry and finds, to 50 ms, how
/// long after it the credential is still accepted.
async fn expiry(
    t: &Target,
    user: &BenchUser,
    mode: Mode,
    held: &Held,
) -> anyhow::Result<Option<f64>> {
    let Some(clock) = t.clock() else {
        return Ok(None);
    };
    let cookie = cookie_name(held);
    let header = if mode == Mode::SessionCookie {
        "cookie"
    } else {
        "authorization"
    };
    // Seconds from now (real time) to the credential's expiry, and a probe of it.
    let (until_expiry, value) = if mode.is_jwt() {
        let jwt = held.jwt.as_deref().unwrap_or("");
        let exp = verify::claim_i64(jwt, "exp").unwrap_or(0) as f64;
        let now = tessera_core::Timestamp::now().as_millis() as f64 / 1000.0;
        (exp - now, held.value.clone())
    } else {
        (f64::NAN, String::new())
    };
    let accepted_at = |d: f64| {
        let value = value.clone();
        async move {
            let (until, value) = if mode.is_jwt() {
                (until_expiry, value)
            } else {
                // A new session for every probe: an accepted probe would move its idle deadline.
                let (v, _) = disposable(t, user, mode, cookie).await?;
                let idle = t
                    .local
                    .as_ref()
                    .map_or(0.0, |l| l.config.session.idle_timeout.as_secs_f64());
                (idle, v)
            };
            clock.set_ahead(Duration::from_secs_f64((until + d).max(0.0)));
            let r = t.get("/v1/me", Some((header, &value))).await;
            clock.set_ahead(Duration::ZERO);
            anyhow::Ok(r?.status == 200)
        }
    };
    let (mut lo, mut hi) = (0.0_f64, 300.0_f64);
    if !accepted_at(lo).await? {
        return Ok(Some(0.0));
    }
    if accepted_at(hi).await? {
        return Ok(Some(hi));
    }
    while hi - lo > 0.05 {
        let mid = (lo + hi) / 2.0;
        if accepted_at(mid).await? {
            lo = mid
        } else {
            hi = mid
        }
    }
    // The last accepted offset, to 0.1 s (the probes take a few ms of real time).
    Ok(Some((lo * 10.0).round() / 10.0))
}

/// In process only: server memory and store bytes per 10k and 100k live sessions, created
/// directly in the store. Returns `(mem10k, mem100k, store10k, store100k)`.
pub async fn state(
    t: &Target,
    user: &BenchUser,
    big: usize,
) -> anyhow::Result<(u64, u64, u64, u64)> {
    let local = t
        .local
        .as_ref()
        .ok_or_else(|| anyhow!("state is measured in process only"))?;
    let auth = &local.server.auth;
    let dir = local.dir.path().to_path_buf();
    let store_bytes = || -> u64 {
        std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    let (mem0, store0) = (super::cpu::resident_bytes(), store_bytes());
    let create = |n: usize| async move {
        for _ in 0..n {
            let (_, record) = auth.settings().session.new_session(
                user.id,
                auth.now(),
                "tessera-bench",
                "127.0.0.1".into(),
            );
            auth.stores().sessions.create_session(&record).await?;
        }
        anyhow::Ok(())
    };
    create(10_000).await?;
    let (mem1, store1) = (super::cpu::resident_bytes(), store_bytes());
    create(big.saturating_sub(10_000)).await?;
    let (mem2, store2) = (super::cpu::resident_bytes(), store_bytes());
    let scale = |delta: u64| (delta as f64 * 100_000.0 / big.max(1) as f64) as u64;
    Ok((
        mem1.saturating_sub(mem0),
        scale(mem2.saturating_sub(mem0)),
        store1.saturating_sub(store0),
        scale(store2.saturating_sub(store0)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_round_trips_sum_every_series() {
        let text = "# TYPE x histogram\ntessera_store_duration_seconds_count{backend=\"sqlite\",kind=\"read\"} 5\ntessera_store_duration_seconds_count{backend=\"sqlite\",kind=\"write\"} 2\ntessera_store_duration_seconds_sum 0.1\n";
        assert_eq!(store_round_trips(text), 7.0);
    }

    fn slice(ok: u64, millis: u64, server_cpu_ms: u64, store_calls: f64) -> Slice {
        let mut load = LoadResult {
            ok,
            elapsed: Duration::from_millis(millis),
            ..LoadResult::default()
        };
        load.cpu.other = Duration::from_millis(server_cpu_ms);
        for _ in 0..ok {
            load.latencies.record(Duration::from_micros(500));
        }
        Slice {
            load,
            store_calls,
            server_cpu_known: true,
        }
    }

    #[test]
    fn a_tally_reports_median_rates_and_per_request_costs_over_its_rounds() {
        let mut tally = Tally::default();
        // Three rounds: /v1/me at 1000, 3000 and 2000 req/s; /healthz at 4000, 4000 and
        // 2000: ratios 0.25, 0.75 and 1.0, against 0.5 for the ratio of the medians.
        for (me_ok, healthz_ok, calls) in [(100, 400, 0.0), (300, 400, 3.0), (200, 200, 1.0)] {
            let floor = slice(200, 100, 16, 0.0);
            tally.add(
                slice(healthz_ok, 100, 10, 0.0),
                slice(me_ok, 100, 12, calls),
                Some(floor),
            );
        }
        let mut c = Column::default();
        tally.record(&mut c);
        assert_eq!(c.rps, Some(2000.0));
        assert_eq!(c.healthz_rps, Some(4000.0));
        assert_eq!(c.healthz_ratio, Some(0.75));
        assert_eq!(c.store_round_trips, Some(4.0 / 600.0));
        // 36 ms of server CPU over 600 answers; 30 ms over 1000.
        assert_eq!(c.server_cpu_us, Some(60.0));
        assert_eq!(c.healthz_cpu_us, Some(30.0));
        // 48 ms over 600 floor requests.
        assert_eq!(c.floor_cpu_us, Some(80.0));
        assert_eq!(c.p50_ms, Some(0.5));
    }

    #[test]
    fn a_floor_with_a_refused_request_is_no_floor() {
        let mut tally = Tally::default();
        let mut floor = slice(200, 100, 16, 0.0);
        floor.load.errors = 1;
        tally.add(
            slice(400, 100, 10, 0.0),
            slice(300, 100, 12, 0.0),
            Some(floor),
        );
        let mut c = Column::default();
        tally.record(&mut c);
        assert!(c.server_cpu_us.is_some());
        assert_eq!(c.floor_cpu_us, None);
    }

    #[test]
    fn a_round_without_the_server_s_cpu_leaves_the_cpu_rows_empty() {
        let mut tally = Tally::default();
        tally.add(slice(400, 100, 10, 0.0), slice(300, 100, 12, 0.0), None);
        let mut unknown = slice(300, 100, 0, 0.0);
        unknown.server_cpu_known = false;
        tally.add(slice(400, 100, 10, 0.0), unknown, None);
        let mut c = Column::default();
        tally.record(&mut c);
        assert_eq!(c.server_cpu_us, None);
        assert_eq!(c.rps, Some(3000.0));
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(median(&[4.0, 1.0, 100.0, 2.0]), 3.0);
    }

    #[test]
    fn samesite_lax_is_explained() {
        assert!(
            cookie_cross_site("__Host-sid=x; Path=/; Secure; HttpOnly; SameSite=Lax")
                .starts_with("SameSite=Lax")
        );
    }
}
