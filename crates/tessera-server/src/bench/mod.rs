//! `tessera bench`: the articles' comparison table (bandwidth, CPU, throughput and latency,
//! scalability, data privacy, revocation, expiry, cross-domain, state) measured per mode, on
//! an in-process server or on a running deployment by URL.
//!
//! One file per job: [`load`] generates HTTP load, [`hist`] summarises latencies, [`measure`]
//! takes each row's measurement, [`floor`] serves the fresh-token floor in process, [`rows`]
//! turns them into cells and verdicts, [`table`], [`json`] and [`chart`] write them out,
//! [`progress`] draws the bar.

pub mod chart;
pub mod cpu;
pub mod floor;
pub mod hist;
pub mod http1;
pub mod json;
pub mod load;
pub mod measure;
pub mod progress;
pub mod report;
pub mod rows;
pub mod table;
pub mod target;
pub mod verify;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;

use measure::Plan;
use report::{Column, Mode, Report, RunInfo};
use target::{BenchUser, Target};

/// Exit code of a run stopped by Ctrl-C, after cleaning up.
pub const EXIT_INTERRUPTED: i32 = 130;

/// `tessera bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A running Tessera to measure instead of in-process servers (repeatable: instances of
    /// one deployment, for the cross-instance rows).
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Admin key of the deployment, used to end everything of the bench user at the end.
    #[arg(long, env = "TESSERA_BENCH_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// A first look in under 30 s: short loads, fewer repetitions.
    #[arg(long)]
    pub quick: bool,
    /// Time per column for each of GET /healthz and GET /v1/me, run as 20 rounds of short
    /// loads in which every column takes its turn (default 5s, 1s with --quick); also the
    /// length of each column's login burst.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Concurrent connections per load.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Open loop at this many requests/s in total (coordinated omission corrected); closed
    /// loop when absent.
    #[arg(long)]
    pub rate: Option<f64>,
    /// A new JWT for every request, so each pays a signature check.
    #[arg(long)]
    pub fresh_tokens: bool,
    /// Write the data as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG chart of requests/s and p99 per mode here.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
    /// Request rate of one client for the bytes-per-hour row.
    #[arg(long, default_value_t = 1.0)]
    pub usage_rate: f64,
}

impl BenchArgs {
    fn plan(&self) -> Plan {
        Plan {
            concurrency: self.concurrency.max(1),
            duration: self.duration.unwrap_or(if self.quick {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(5)
            }),
            // Short loads, every column in each round: a neighbour's load or the VM's drift
            // lands on every column and on both sides of each ratio.
            rounds: 20,
            // 100k sessions take about 20 s of SQLite inserts: --quick creates 10k and scales.
            state_sessions: if self.quick { 10_000 } else { 100_000 },
            rate: self.rate,
            fresh_tokens: self.fresh_tokens,
            revocations: if self.quick { 5 } else { 20 },
            usage_rate: self.usage_rate,
            login_loops: 4,
        }
    }

    fn command(&self) -> String {
        let mut s = String::from("tessera bench");
        for u in &self.urls {
            s.push_str(&format!(" --url {u}"));
        }
        if self.admin_key.is_some() {
            s.push_str(" --admin-key ***");
        }
        if self.quick {
            s.push_str(" --quick");
        }
        if let Some(d) = self.duration {
            s.push_str(&format!(" --duration {}", humantime::format_duration(d)));
        }
        if self.concurrency != 32 {
            s.push_str(&format!(" --concurrency {}", self.concurrency));
        }
        if let Some(r) = self.rate {
            s.push_str(&format!(" --rate {r}"));
        }
        if self.fresh_tokens {
            s.push_str(" --fresh-tokens");
        }
        s
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} cores, {model}")
}

/// Servers and their bench users, for cleaning up.
struct Run {
    groups: Vec<(Vec<Mode>, Vec<Target>, Option<BenchUser>)>,
    notes: Vec<String>,
}

/// Runs the bench and prints the table on stdout.
///
/// # Errors
/// A clear message for bad input and unreachable or foreign servers; Ctrl-C cleans up and
/// exits with [`EXIT_INTERRUPTED`].
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let plan = args.plan();
    let generator = load::Generator::start().context("cannot start the load generator")?;
    let mut run = Run {
        groups: Vec::new(),
        notes: Vec::new(),
    };
    let work = measure_all(&args, &plan, &generator, &mut run);
    let outcome = tokio::select! {
        r = work => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    // Whatever happened, the bench users and in-process servers go.
    for (_, targets, user) in run.groups.drain(..) {
        if let (Some(user), Some(first)) = (&user, targets.first())
            && let Some(note) = user.remove(first, args.admin_key.as_deref()).await
        {
            run.notes.push(note);
        }
        for t in targets {
            if let Some(local) = t.local {
                let _ = local.server.shutdown().await;
            }
        }
    }
    generator.shutdown();
    for note in &run.notes {
        eprintln!("tessera bench: {note}");
    }
    match outcome {
        None => {
            eprintln!("tessera bench: interrupted; the bench user and its sessions were removed");
            std::process::exit(EXIT_INTERRUPTED);
        }
        Some(Err(e)) => Err(e),
        Some(Ok(report)) => write_out(&args, &report),
    }
}

async fn measure_all(
    args: &BenchArgs,
    plan: &Plan,
    generator: &load::Generator,
    run: &mut Run,
) -> anyhow::Result<Report> {
    let started = tessera_core::Timestamp::now();
    // Which servers: one in-process server per algorithm, or the deployment's instances.
    if args.urls.is_empty() {
        // The four servers start at once (key generation and store setup overlap), in table
        // order.
        let mut starting = Vec::new();
        for (alg, modes) in [
            (
                "EdDSA",
                vec![
                    Mode::SessionCookie,
                    Mode::SessionBearer,
                    Mode::JwtEddsa,
                    Mode::Hybrid,
                ],
            ),
            ("HS256", vec![Mode::JwtHs256]),
            ("ES256", vec![Mode::JwtEs256]),
            ("RS256", vec![Mode::JwtRs256]),
        ] {
            starting.push((alg, modes, tokio::spawn(Target::start_local(alg))));
        }
        for (alg, modes, task) in starting {
            let t = task
                .await
                .map_err(|e| anyhow!("{e}"))
                .and_then(|r| r)
                .with_context(|| format!("cannot start an in-process {alg} server"))?;
            run.groups.push((modes, vec![t], None));
        }
    } else {
        let mut targets = Vec::new();
        for url in &args.urls {
            targets.push(Target::remote(url).await?);
        }
        run.groups.push((Mode::ALL.to_vec(), targets, None));
    }
    for group in &mut run.groups {
        let url = group.1[0].base.clone();
        group.2 = Some(BenchUser::register(&group.1[0], &url).await?);
    }
    // Per column: prepare, logins, revocations, expiry; then the rounds and the state row.
    let steps = (Mode::ALL.len() * 4) as u64 + u64::from(plan.rounds.max(1)) + 1;
    let progress = progress::Progress::new(steps);
    let step = |what: String| {
        progress.done_one();
        progress.doing(what);
    };
    let mut columns: Vec<Column> = Mode::ALL
        .iter()
        .map(|m| Column {
            mode: Some(*m),
            ..Column::default()
        })
        .collect();
    let column_index = |mode: Mode| Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0);
    let mut prepared = Vec::new();
    for (group, (modes, targets, user)) in run.groups.iter().enumerate() {
        let user = user.as_ref().ok_or_else(|| anyhow!("no bench user"))?;
        for mode in modes {
            match measure::prepare(&targets[0], user, *mode, plan, &step).await {
                Ok(p) => prepared.push((group, p)),
                Err(e) if e.to_string().starts_with("skip: ") => {
                    columns[column_index(*mode)].skipped =
                        Some(e.to_string().trim_start_matches("skip: ").to_owned());
                }
                Err(e) => return Err(e.context(format!("measuring {}", mode.title()))),
            }
        }
    }
    let mut loading: Vec<_> = prepared
        .iter_mut()
        .map(|(group, p)| (&run.groups[*group].1[0], p))
        .collect();
    let during_rounds = measure::loads(&mut loading, plan, generator, &step).await;
    let mut access_ttl = 0.0;
    for (group, p) in prepared {
        let (_, targets, user) = &run.groups[group];
        let user = user.as_ref().ok_or_else(|| anyhow!("no bench user"))?;
        let mode = p.mode;
        let c = measure::finish(targets, user, p, plan, generator, &step)
            .await
            .with_context(|| format!("measuring {}", mode.title()))?;
        if mode == Mode::Hybrid {
            access_ttl = c.lifetime_s.unwrap_or(0.0);
        }
        columns[column_index(mode)] = c;
    }
    if let Some((_, targets, Some(user))) = run
        .groups
        .iter()
        .find(|(m, t, _)| t[0].local.is_some() && m.contains(&Mode::SessionCookie))
    {
        step(format!(
            "state: {}k sessions in the store",
            plan.state_sessions / 1000
        ));
        let (m10, m100, s10, s100) = measure::state(&targets[0], user, plan.state_sessions).await?;
        for c in columns.iter_mut() {
            match c.mode {
                Some(Mode::SessionCookie | Mode::SessionBearer) => {
                    c.memory_per_10k = Some(m10);
                    c.memory_per_100k = Some(m100);
                    c.store_per_10k = Some(s10);
                    c.store_per_100k = Some(s100);
                }
                Some(Mode::Hybrid) | None => {}
                Some(_) => {
                    c.memory_per_10k = Some(0);
                    c.memory_per_100k = Some(0);
                    c.store_per_10k = Some(0);
                    c.store_per_100k = Some(0);
                }
            }
        }
    }
    progress.finish();
    Ok(Report {
        run: RunInfo {
            command: args.command(),
            date: started.to_rfc3339(),
            machine: machine(),
            target: if args.urls.is_empty() {
                "in process (embedded SQLite in a temporary dir)".into()
            } else {
                args.urls.join(", ")
            },
            load: match plan.rate {
                Some(r) => format!(
                    "open loop at {r} req/s, latency from the intended send time (coordinated omission corrected)"
                ),
                None => "closed loop".into(),
            },
            rate_per_s: plan.rate,
            concurrency: plan.concurrency,
            duration_s: plan.duration.as_secs_f64(),
            rounds: plan.rounds.max(1),
            during_rounds,
            fresh_tokens: plan.fresh_tokens,
            usage_rate_per_s: plan.usage_rate,
            access_ttl_s: access_ttl,
            state_sessions: if args.urls.is_empty() {
                plan.state_sessions as u64
            } else {
                0
            },
        },
        columns,
    })
}

fn write_out(args: &BenchArgs, report: &Report) -> anyhow::Result<()> {
    let rows = rows::rows(report);
    println!("{}", table::markdown(report, &rows));
    if let Some(path) = &args.json {
        let doc = json::document(report, &rows);
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.chart {
        std::fs::write(path, chart::svg(report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
