//! Logs (tracing, to stderr) and metrics (Prometheus text at `/metrics`).

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tessera_http::MetricsRender;

/// Latency buckets, in seconds: from 100 µs to 2.5 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colours = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr)
        .try_init();
}

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), LATENCY_BUCKETS)
            .expect("latency buckets are not empty")
            .set_buckets_for_metric(
                Matcher::Full("tessera_revocation_propagation_seconds".into()),
                LATENCY_BUCKETS,
            )
            .expect("latency buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // A second recorder in the same process (tests) keeps the first one.
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("spawning the metrics upkeep thread");
        handle
    })
}

/// The renderer behind `/metrics`: Tessera's series and the standard `process_*` ones (CPU
/// seconds, resident memory, open files), read at each scrape, so a client can tell what the
/// server costs (`tessera bench --url` divides CPU by requests). `process_cpu_seconds_total`
/// is a gauge: the `metrics` crate's counters are whole numbers, and whole seconds would be
/// too coarse to divide by a second's requests.
/// One renderer per process, like the recorder it reads: the `process_*` series are described
/// once, however many servers (tests, the bench) ask for it.
pub fn metrics_render() -> MetricsRender {
    static RENDER: OnceLock<MetricsRender> = OnceLock::new();
    RENDER
        .get_or_init(|| {
            let handle = handle();
            let process = metrics_process::Collector::default();
            process.describe();
            std::sync::Arc::new(move || {
                process.collect();
                handle.render()
            })
        })
        .clone()
}
