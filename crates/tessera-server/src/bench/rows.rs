//! The table's rows: each criterion of the articles' table as numbers per column, with a
//! one-line verdict drawn from those numbers.

use serde::Serialize;

use super::report::{Column, Delays, Mode, Report};

/// One row: a criterion, what is measured, a cell per column and the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Stable key for the JSON (`bandwidth.credential`).
    pub id: &'static str,
    /// The article's criterion.
    pub criterion: &'static str,
    /// What the number is, with its unit.
    pub metric: String,
    /// The value per column (`None` where not a number).
    pub values: Vec<Option<f64>>,
    /// The cell text per column.
    pub cells: Vec<String>,
    /// One line.
    pub verdict: String,
}

/// Cell text of a column that was not measured.
pub const NOT_MEASURED: &str = "—";

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if v.fract() == 0.0 && a < 10_000.0 {
        format!("{v:.0}")
    } else if a >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.1e}")
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 10.0 * 1024.0 * 1024.0 {
        format!("{:.0} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 10.0 * 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

struct Builder<'a> {
    columns: &'a [Column],
}

impl Builder<'_> {
    fn numeric(
        &self,
        id: &'static str,
        criterion: &'static str,
        metric: &str,
        get: impl Fn(&Column) -> Option<f64>,
        show: impl Fn(f64) -> String,
        verdict: impl Fn(&[(Mode, f64)]) -> String,
    ) -> Row {
        let values: Vec<Option<f64>> = self
            .columns
            .iter()
            .map(|c| get(c).filter(|v| v.is_finite()))
            .collect();
        let cells = self
            .columns
            .iter()
            .zip(&values)
            .map(|(c, v)| match (v, &c.skipped) {
                (Some(v), _) => show(*v),
                (None, Some(_)) => NOT_MEASURED.into(),
                (None, None) => "n/a".into(),
            })
            .collect();
        let present: Vec<(Mode, f64)> = self
            .columns
            .iter()
            .zip(&values)
            .filter_map(|(c, v)| Some((c.mode?, (*v)?)))
            .collect();
        let verdict = if present.is_empty() {
            "not measured".into()
        } else {
            verdict(&present)
        };
        Row {
            id,
            criterion,
            metric: metric.into(),
            values,
            cells,
            verdict,
        }
    }

    fn text(
        &self,
        id: &'static str,
        criterion: &'static str,
        metric: &str,
        get: impl Fn(&Column) -> Option<String>,
        verdict: &str,
    ) -> Row {
        let cells = self
            .columns
            .iter()
            .map(|c| {
                get(c).unwrap_or_else(|| {
                    if c.skipped.is_some() {
                        NOT_MEASURED.into()
                    } else {
                        "n/a".into()
                    }
                })
            })
            .collect();
        Row {
            id,
            criterion,
            metric: metric.into(),
            values: vec![None; self.columns.len()],
            cells,
            verdict: verdict.into(),
        }
    }
}

fn lowest(present: &[(Mode, f64)]) -> (Mode, f64) {
    present
        .iter()
        .copied()
        .fold(present[0], |a, b| if b.1 < a.1 { b } else { a })
}

fn highest(present: &[(Mode, f64)]) -> (Mode, f64) {
    present
        .iter()
        .copied()
        .fold(present[0], |a, b| if b.1 > a.1 { b } else { a })
}

fn spread(unit: &'static str, less_is_better: bool) -> impl Fn(&[(Mode, f64)]) -> String {
    move |p| {
        let (lo, hi) = (lowest(p), highest(p));
        let (best, worst) = if less_is_better { (lo, hi) } else { (hi, lo) };
        let ratio = if lo.1 > 0.0 {
            format!(" ({:.1}x)", hi.1 / lo.1)
        } else {
            String::new()
        };
        format!(
            "best {} {}{unit}, worst {} {}{unit}{ratio}",
            best.0.title(),
            fmt_num(best.1),
            worst.0.title(),
            fmt_num(worst.1)
        )
    }
}

fn delay(d: Option<Delays>) -> Option<f64> {
    d.filter(|d| d.samples > 0).map(|d| d.p99_ms)
}

/// Every row of `report`, in table order.
pub fn rows(report: &Report) -> Vec<Row> {
    let b = Builder {
        columns: &report.columns,
    };
    let rate = report.run.usage_rate_per_s;
    let load = &report.run.load;
    let beside = match report.run.rate_per_s {
        None => "a quarter of its req/s",
        Some(_) => "the run's rate",
    };
    let scaled = if (1..100_000).contains(&report.run.state_sessions) {
        format!(" (scaled from {}k)", report.run.state_sessions / 1000)
    } else {
        String::new()
    };
    let mut rows = vec![
        b.numeric("bandwidth.credential", "Bandwidth", "credential header per request (B)", |c| c.credential_bytes.map(|v| v as f64), |v| format!("{v:.0}"), spread(" B", true)),
        b.numeric("bandwidth.login", "Bandwidth", "login response (B)", |c| c.login_response_bytes.map(|v| v as f64), |v| format!("{v:.0}"), spread(" B", true)),
        b.numeric("bandwidth.per_hour", "Bandwidth", &format!("per hour at {rate} req/s, refreshes included"), |c| c.bytes_per_hour.map(|v| v as f64), fmt_bytes, |p| {
            let (lo, hi) = (lowest(p), highest(p));
            format!("{} costs {} an hour, {} {}", hi.0.title(), fmt_bytes(hi.1), lo.0.title(), fmt_bytes(lo.1))
        }),
        b.numeric("cpu.verify", "CPU", "server µs per verification (in process: timed around the call; by URL: CPU of /v1/me less /healthz)", |c| c.verify_us, fmt_num, spread(" µs", true)),
        b.numeric("cpu.server_per_request", "CPU", "server CPU µs per GET /v1/me", |c| c.server_cpu_us, fmt_num, spread(" µs", true)),
        b.numeric("cpu.healthz_per_request", "CPU", "server CPU µs per GET /healthz (same server)", |c| c.healthz_cpu_us, fmt_num, |_| "the floor of any request: routing, headers, TCP".into()),
        b.numeric("cpu.load_generator", "CPU", "load generator CPU µs per request", |c| c.load_cpu_us, fmt_num, |p| format!("at most {} µs per request", fmt_num(highest(p).1))),
        b.numeric("cpu.store_reads", "CPU", "store reads per request", |c| c.store_round_trips, fmt_num, |p| format!("at most {} per request: caches answer", fmt_num(highest(p).1))),
        b.numeric("cpu.client_verify", "CPU", "µs for an app to verify it itself (JWKS)", |c| c.client_verify_us, fmt_num, |p| {
            format!("{}; sessions and HS256 need the server (or its secret)", spread(" µs", true)(p))
        }),
        b.numeric("throughput.rps", "Throughput", &format!("GET /v1/me req/s ({load})"), |c| c.rps, fmt_num, spread(" req/s", false)),
        b.numeric("throughput.healthz_ratio", "Throughput", "÷ GET /healthz req/s, same server", |c| c.healthz_ratio, |v| format!("{:.0} %", v * 100.0), |p| {
            format!("lowest {} at {:.0} % of /healthz", lowest(p).0.title(), lowest(p).1 * 100.0)
        }),
        b.numeric("latency.p50", "Latency", "p50 (ms)", |c| c.p50_ms, fmt_num, spread(" ms", true)),
        b.numeric("latency.p99", "Latency", "p99 (ms)", |c| c.p99_ms, fmt_num, spread(" ms", true)),
        b.numeric("latency.p999", "Latency", "p99.9 (ms)", |c| c.p999_ms, fmt_num, spread(" ms", true)),
        b.numeric("scalability.store_round_trips", "Scalability", "store round trips per request", |c| c.store_round_trips, fmt_num, |_| "nothing per request reaches the store while the caches hold: instances scale out".into()),
        b.text("scalability.all_instances", "Scalability", "req/s on all instances together", |c| {
            c.rps_all_instances.map(fmt_num).or_else(|| c.rps.map(|r| format!("{} (1 instance)", fmt_num(r))))
        }, "give several --url to load every instance at once"),
        b.text("privacy.readable", "Data privacy", "readable without any key", |c| {
            c.readable_claims.as_ref().map(|v| if v.is_empty() { "nothing (random bytes)".into() } else { v.join(", ") })
        }, "a JWT shows its claims (user id, roles, session) to anyone holding it; an opaque token shows nothing"),
        b.numeric("revocation.same", "Revocation", "revoke → first refusal, same instance, p99 (ms)", |c| delay(c.revocation_same), fmt_num, |p| {
            format!("every mode is refused at once on the instance that revoked (≤ {} ms)", fmt_num(highest(p).1))
        }),
        b.numeric("revocation.other", "Revocation", "revoke → first refusal, another instance, p99 (ms)", |c| delay(c.revocation_other), fmt_num, spread(" ms", true)),
        b.numeric("expiry.lifetime", "Expiry", "lifetime (s; sessions: idle timeout)", |c| c.lifetime_s, fmt_num, |_| "as configured".into()),
        b.numeric("expiry.refused_after", "Expiry", "still accepted this long after expiry (s)", |c| c.refused_after_s, fmt_num, |p| {
            format!("expired credentials are refused; JWTs within the leeway ({} s), sessions at their deadline", fmt_num(highest(p).1))
        }),
        b.text("cross_domain.sent", "Cross-domain", "sent by the browser cross-site", |c| c.cross_site.clone(), "only the cookie travels by itself, and SameSite=Lax keeps it off cross-site requests but top-level navigations"),
        b.text("cross_domain.cors", "Cross-domain", "CORS a cross-origin app needs", |c| c.cors.clone(), "every mode needs the app's origin in allowed_origins"),
        b.numeric("state.memory_10k", "State", "server memory per 10k live sessions", |c| c.memory_per_10k.map(|v| v as f64), fmt_bytes, |_| "JWTs keep nothing per token; sessions cost memory in the cache".into()),
        b.numeric("state.memory_100k", "State", &format!("server memory per 100k live sessions{scaled}"), |c| c.memory_per_100k.map(|v| v as f64), fmt_bytes, |_| "the cache holds at most 100k sessions".into()),
        b.numeric("state.store_10k", "State", "store bytes per 10k live sessions", |c| c.store_per_10k.map(|v| v as f64), fmt_bytes, |_| "one row per session".into()),
        b.numeric("state.store_100k", "State", &format!("store bytes per 100k live sessions{scaled}"), |c| c.store_per_100k.map(|v| v as f64), fmt_bytes, |_| "grows linearly".into()),
        b.numeric("state.logins", "State", &format!("logins/s in a burst, GET /v1/me beside it open-loop at {beside}"), |c| c.logins_per_s, fmt_num, |p| format!("Argon2id bounds logins to about {} /s", fmt_num(highest(p).1))),
        b.numeric("state.burst_p99", "State", "p99 of those GET /v1/me (ms)", |c| c.burst_p99_ms, fmt_num, spread(" ms", true)),
    ];
    // The hybrid's refresh traffic, and the raw signature check behind fresh-token requests.
    rows.insert(
        3,
        b.numeric(
            "bandwidth.refresh",
            "Bandwidth",
            "one refresh, request + response (B)",
            |c| c.refresh_bytes.map(|v| v as f64),
            |v| format!("{v:.0}"),
            |_| "hybrid only: paid once per access lifetime".into(),
        ),
    );
    rows.insert(
        10,
        b.numeric(
            "cpu.raw_signature",
            "CPU",
            if report.run.fresh_tokens {
                "µs of the bare signature check, distinct tokens timed between the loads"
            } else {
                "µs of the bare signature check"
            },
            |c| c.raw_signature_us,
            fmt_num,
            spread(" µs", true),
        ),
    );
    if report.run.fresh_tokens {
        rows.insert(
            11,
            b.numeric(
                "cpu.floor_per_request",
                "CPU",
                "server CPU µs per floor request (in process: GET /bench/floor, the bare check of the same tokens; by URL: /healthz + bare check)",
                floor_cpu_us,
                fmt_num,
                spread(" µs", true),
            ),
        );
        rows.insert(
            12,
            b.numeric(
                "cpu.fresh_floor_ratio",
                "CPU",
                "server CPU per GET /v1/me ÷ floor",
                |c| Some(c.server_cpu_us? / floor_cpu_us(c)?),
                |v| format!("{v:.2}x"),
                |p| {
                    let worst = highest(p);
                    format!(
                        "a fresh token costs the server at most {:.2}x the floor ({})",
                        worst.1,
                        worst.0.title()
                    )
                },
            ),
        );
        if report.columns.iter().any(|c| c.floor_cpu_us.is_some()) {
            rows.insert(
                13,
                b.numeric(
                    "cpu.fresh_sum_ratio",
                    "CPU",
                    "÷ (/healthz + bare check, each timed on its own)",
                    |c| Some(c.server_cpu_us? / (c.healthz_cpu_us? + c.raw_signature_us?)),
                    |v| format!("{v:.2}x"),
                    |p| {
                        format!(
                            "at most {:.2}x ({}): added up, the floor leaves out what a slower request costs the server around it",
                            highest(p).1,
                            highest(p).0.title()
                        )
                    },
                ),
            );
        }
    }
    rows
}

/// The floor of a fresh-token `GET /v1/me`: measured as requests in process, else `/healthz`
/// plus the bare check, each timed on its own.
fn floor_cpu_us(c: &Column) -> Option<f64> {
    c.floor_cpu_us
        .or_else(|| Some(c.healthz_cpu_us? + c.raw_signature_us?))
}

#[cfg(test)]
pub(crate) fn sample_report() -> Report {
    use super::report::RunInfo;
    let columns = Mode::ALL
        .iter()
        .enumerate()
        .map(|(i, m)| Column {
            mode: Some(*m),
            credential_bytes: Some(60 + i as u64 * 100),
            rps: Some(10_000.0 + i as f64 * 1000.0),
            healthz_rps: Some(12_000.0),
            healthz_ratio: Some((10_000.0 + i as f64 * 1000.0) / 12_000.0),
            p99_ms: Some(1.5),
            readable_claims: Some(if m.is_jwt() {
                vec!["sub".into(), "roles".into()]
            } else {
                vec![]
            }),
            revocation_same: Some(Delays {
                p50_ms: 0.4,
                p99_ms: 0.9,
                samples: 5,
            }),
            skipped: (*m == Mode::JwtRs256).then(|| "the server signs EdDSA".into()),
            ..Column::default()
        })
        .map(|mut c| {
            if c.skipped.is_some() {
                c = Column {
                    mode: c.mode,
                    skipped: c.skipped,
                    ..Column::default()
                };
            }
            c
        })
        .collect();
    Report {
        run: RunInfo {
            load: "closed loop".into(),
            usage_rate_per_s: 1.0,
            ..RunInfo::default()
        },
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_verdicts_and_gaps() {
        let rows = rows(&sample_report());
        let cred = rows
            .iter()
            .find(|r| r.id == "bandwidth.credential")
            .unwrap();
        assert_eq!(cred.cells[0], "60");
        assert_eq!(cred.cells[5], NOT_MEASURED);
        assert_eq!(cred.values[1], Some(160.0));
        assert!(
            cred.verdict
                .starts_with("best session cookie 60 B, worst hybrid 660 B"),
            "{}",
            cred.verdict
        );
        let ratio = rows
            .iter()
            .find(|r| r.id == "throughput.healthz_ratio")
            .unwrap();
        assert_eq!(ratio.cells[0], "83 %");
        let privacy = rows.iter().find(|r| r.id == "privacy.readable").unwrap();
        assert_eq!(privacy.cells[0], "nothing (random bytes)");
        assert_eq!(privacy.cells[3], "sub, roles");
        let unmeasured = rows.iter().find(|r| r.id == "state.memory_10k").unwrap();
        assert_eq!(unmeasured.cells[0], "n/a");
        assert_eq!(unmeasured.verdict, "not measured");
        // Every row has one cell per column.
        assert!(
            rows.iter()
                .all(|r| r.cells.len() == 7 && r.values.len() == 7)
        );
    }

    #[test]
    fn fresh_token_runs_divide_the_server_cpu_by_its_floor() {
        let mut report = sample_report();
        assert!(
            !rows(&report)
                .iter()
                .any(|r| r.id == "cpu.fresh_floor_ratio"),
            "only for --fresh-tokens"
        );
        report.run.fresh_tokens = true;
        let eddsa = &mut report.columns[3];
        (
            eddsa.server_cpu_us,
            eddsa.healthz_cpu_us,
            eddsa.raw_signature_us,
        ) = (Some(66.0), Some(12.0), Some(43.0));
        let row = |rows: &[Row], id: &str| rows.iter().find(|r| r.id == id).cloned();

        // By URL: the floor is /healthz plus the bare check.
        let by_url = rows(&report);
        let floor = row(&by_url, "cpu.fresh_floor_ratio").expect("the floor row");
        assert_eq!(floor.values[3], Some(66.0 / 55.0));
        assert_eq!(floor.cells[3], "1.20x");
        assert_eq!(floor.cells[0], "n/a", "sessions have no signature");
        assert!(floor.verdict.contains("1.20x"), "{}", floor.verdict);
        let floor_cost = row(&by_url, "cpu.floor_per_request").expect("the floor's cost");
        assert_eq!(floor_cost.values[3], Some(55.0));
        assert!(
            row(&by_url, "cpu.fresh_sum_ratio").is_none(),
            "the same ratio"
        );

        // In process: the floor measured as requests, and the sum beside it.
        report.columns[3].floor_cpu_us = Some(60.0);
        let in_process = rows(&report);
        let floor = row(&in_process, "cpu.fresh_floor_ratio").expect("the floor row");
        assert_eq!(floor.values[3], Some(66.0 / 60.0));
        assert_eq!(floor.cells[3], "1.10x");
        let sum = row(&in_process, "cpu.fresh_sum_ratio").expect("the sum's row");
        assert_eq!(sum.values[3], Some(66.0 / 55.0));
        assert_eq!(sum.cells[3], "1.20x");
    }

    #[test]
    fn number_formats() {
        assert_eq!(fmt_num(123_456.0), "123k");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(0.5), "0.50");
        assert_eq!(fmt_bytes(2048.0 * 1024.0), "2.0 MiB");
        assert_eq!(fmt_bytes(500.0), "500 B");
    }
}
