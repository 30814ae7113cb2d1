//! The load generator: one task per keep-alive HTTP/1.1 connection ([`http1`]), spread over the
//! [`Generator`]'s threads (one per core), closed-loop (each connection sends its next request when the last one answered)
//! or open-loop at a fixed total rate, where every latency counts from the request's intended
//! send time, so a stalled server is not hidden by requests that were never sent
//! (coordinated omission corrected).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hyper::header::{HeaderName, HeaderValue};

use super::cpu::{self, CpuSplit};
use super::hist::Latencies;
use super::http1::{self, Connection};

/// The credential each request carries.
#[derive(Clone, Debug)]
pub enum Credential {
    /// None (`/healthz`).
    None,
    /// The same header on every request, as real clients do.
    Reused(HeaderName, HeaderValue),
    /// A new value from the pool for every request; the load stops when the pool runs out.
    Fresh(HeaderName, Arc<Vec<HeaderValue>>),
}

/// One load run against one server.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// Where to connect.
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// The path to `GET`.
    pub path: String,
    /// What each request carries.
    pub credential: Credential,
    /// Concurrent connections.
    pub connections: usize,
    /// How long to send.
    pub duration: Duration,
    /// Total requests per second (open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// How long after `duration` a request still unanswered is given up (as an error).
    pub answer_grace: Duration,
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadResult {
    /// Latencies of the 2xx answers.
    pub latencies: Latencies,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers and failed connections or requests.
    pub errors: u64,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// CPU used meanwhile, by the generator and by the rest of this process.
    pub cpu: CpuSplit,
}

impl LoadResult {
    /// 2xx answers per second.
    pub fn rate(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Adds another run's counts and latencies (several instances loaded at once).
    pub fn merge(&mut self, other: &Self) {
        self.latencies.merge(&other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    /// Adds a run made after this one (the rounds of one measurement): counts, latencies, time
    /// and CPU all add up.
    pub fn append(&mut self, other: &Self) {
        self.latencies.merge(&other.latencies);
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.cpu.load += other.cpu.load;
        self.cpu.other += other.cpu.other;
    }

    /// µs of the generator's CPU per answered request.
    pub fn load_cpu_per_request_us(&self) -> f64 {
        per_request_us(self.cpu.load, self.ok)
    }

    /// µs of the rest of the process's CPU (the in-process server) per answered request.
    pub fn server_cpu_per_request_us(&self) -> f64 {
        per_request_us(self.cpu.other, self.ok)
    }
}

fn per_request_us(cpu: Duration, requests: u64) -> f64 {
    if requests == 0 {
        return 0.0;
    }
    cpu.as_secs_f64() * 1e6 / requests as f64
}

/// The load generator's threads: one single-worker runtime per core, so a load can keep the
/// server's cores busy (a single thread, at two thirds of a core beside two server threads,
/// was the bottleneck), and each thread's CPU time can be read on that thread. They run as
/// batch threads ([`run_as_batch`]), so that they do not preempt the server they measure.
pub struct Generator {
    workers: Vec<tokio::runtime::Runtime>,
}

impl Generator {
    /// One worker thread per core of this machine.
    ///
    /// # Errors
    /// When a runtime cannot start.
    pub fn start() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let workers = (0..cores)
            .map(|i| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(format!("bench-load-{i}"))
                    .on_thread_start(run_as_batch)
                    .enable_all()
                    .build()
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { workers })
    }

    /// The runtime connection `i` of a load lives on.
    fn worker(&self, i: usize) -> &tokio::runtime::Handle {
        self.workers[i % self.workers.len()].handle()
    }

    /// The CPU used so far by the generator's threads (each read on its thread) and by the
    /// rest of the process: the in-process server.
    pub async fn cpu(&self) -> CpuSplit {
        let mut load = Duration::ZERO;
        for worker in &self.workers {
            load += worker
                .spawn(async { cpu::thread_cpu() })
                .await
                .unwrap_or_default();
        }
        CpuSplit {
            load,
            other: cpu::process_cpu().saturating_sub(load),
        }
    }

    /// Stops the threads without waiting for what still runs on them.
    pub fn shutdown(self) {
        for worker in self.workers {
            worker.shutdown_background();
        }
    }
}

/// Puts the calling thread under Linux's `SCHED_BATCH` policy at nice 0, best effort (elsewhere,
/// or if refused, it keeps its policy).
///
/// A thread woken by an answer otherwise preempts the server thread running on its core, if it
/// has slept long enough to be owed the CPU, and a load generator sleeps whenever all its
/// connections wait. The bench then measured the scheduler as much as the server: one server
/// thread preemption every five requests, a generator that cost 11–13 µs a request, and more
/// preemptions as the request got slower. A batch thread is not let preempt on wakeup: it runs
/// when the server thread blocks or at the next scheduler tick, and its share of the CPU is the
/// same. Measured in `docs/BENCHMARKS.md`.
fn run_as_batch() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        use thread_priority::{ThreadPriority, ThreadPriorityOsValue};
        let _ = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Os(ThreadPriorityOsValue::default()),
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch),
        );
    }
}

/// How long after a load's end the bench awaits its last answers.
pub const ANSWER_GRACE: Duration = Duration::from_secs(5);

struct Shared {
    spec: LoadSpec,
    next_fresh: AtomicUsize,
}

/// Runs `spec` on the generator's threads, its connections spread over them, and waits for
/// it. The connections are opened before the clock starts, as a client's keep-alive
/// connections are already open.
pub async fn run(generator: &Generator, spec: LoadSpec) -> LoadResult {
    let connections = spec.connections.max(1);
    let opening: Vec<_> = (0..connections)
        .map(|i| generator.worker(i).spawn(Connection::open(spec.addr)))
        .collect();
    let mut opened = Vec::with_capacity(connections);
    for task in opening {
        opened.push(task.await.ok().and_then(Result::ok));
    }
    let shared = Arc::new(Shared {
        spec,
        next_fresh: AtomicUsize::new(0),
    });
    let before = generator.cpu().await;
    let start = Instant::now();
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            generator
                .worker(i)
                .spawn(connection(shared.clone(), conn, i, connections, start))
        })
        .collect();
    let mut total = LoadResult::default();
    for task in tasks {
        if let Ok(part) = task.await {
            total.merge(&part);
        }
    }
    total.elapsed = start.elapsed();
    total.cpu = generator.cpu().await.since(&before);
    total
}

async fn connection(
    shared: Arc<Shared>,
    mut conn: Option<Connection>,
    index: usize,
    of: usize,
    start: Instant,
) -> LoadResult {
    let spec = &shared.spec;
    let end = start + spec.duration;
    let mut result = LoadResult::default();
    // Open loop: this connection's share of the rate, its sends staggered against the others'.
    let interval = spec
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(of as f64 / r));
    let mut next_send =
        start + interval.map_or(Duration::ZERO, |i| i.mul_f64(index as f64 / of as f64));
    // A server that stops answering ends the load this long after its end, not never.
    let given_up = tokio::time::sleep_until((end + spec.answer_grace).into());
    tokio::pin!(given_up);
    // The request's bytes, built once, or once per fresh credential into the same buffer.
    let reused = match &spec.credential {
        Credential::Reused(name, value) => Some((name.as_str(), value.as_bytes())),
        Credential::None | Credential::Fresh(..) => None,
    };
    let mut request = http1::request(&spec.path, &spec.host, reused);
    loop {
        let intended = match interval {
            Some(every) => {
                if next_send >= end {
                    break;
                }
                tokio::time::sleep_until(next_send.into()).await;
                let t = next_send;
                next_send += every;
                t
            }
            None => {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                now
            }
        };
        if let Credential::Fresh(name, pool) = &spec.credential {
            let i = shared.next_fresh.fetch_add(1, Ordering::Relaxed);
            let Some(value) = pool.get(i) else { break };
            request.clear();
            http1::write_request(
                &mut request,
                &spec.path,
                &spec.host,
                Some((name.as_str(), value.as_bytes())),
            );
        }
        let c = match &mut conn {
            Some(c) => c,
            None => match Connection::open(spec.addr).await {
                Ok(opened) => conn.insert(opened),
                Err(_) => {
                    result.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let answered = tokio::select! {
            biased;
            answered = c.get(&request) => answered,
            () = &mut given_up => {
                result.errors += 1;
                break;
            }
        };
        match answered {
            Ok(answer) => {
                if (200..300).contains(&answer.status) {
                    result.ok += 1;
                    result.latencies.record(intended.elapsed());
                } else {
                    result.errors += 1;
                }
                if !answer.keep_alive {
                    conn = None;
                }
            }
            Err(_) => {
                result.errors += 1;
                conn = None;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(cpu: Duration) {
        let started = cpu::thread_cpu();
        while cpu::thread_cpu() - started < cpu {}
    }

    #[tokio::test]
    async fn a_server_that_never_answers_ends_the_load_after_its_grace() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts, reads nothing, answers nothing, keeps every connection open.
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        let generator = Generator::start().unwrap();
        let spec = LoadSpec {
            addr,
            host: "localhost".into(),
            path: "/healthz".into(),
            credential: Credential::None,
            connections: 2,
            duration: Duration::from_millis(50),
            rate: None,
            answer_grace: Duration::from_millis(100),
        };
        let result = tokio::time::timeout(Duration::from_secs(10), run(&generator, spec))
            .await
            .expect("the load ended");
        assert_eq!(result.ok, 0);
        assert_eq!(result.errors, 2, "one unanswered request per connection");
        generator.shutdown();
        held.abort();
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_generator_threads_run_as_batch_threads() {
        use thread_priority::unix::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
        };
        let here = thread_schedule_policy().unwrap();
        let generator = Generator::start().unwrap();
        for i in 0..generator.workers.len() {
            let policy = generator
                .worker(i)
                .spawn(async { thread_schedule_policy() })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                policy,
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
            );
        }
        assert_eq!(
            thread_schedule_policy().unwrap(),
            here,
            "the rest of the process keeps its policy"
        );
        generator.shutdown();
    }

    #[tokio::test]
    async fn cpu_is_counted_on_the_side_of_the_thread_that_used_it() {
        let generator = Generator::start().unwrap();
        let busy = Duration::from_millis(30);
        let before = generator.cpu().await;
        generator
            .worker(1)
            .spawn(async move { spin(busy) })
            .await
            .unwrap();
        let generator_busy = generator.cpu().await.since(&before);
        assert!(generator_busy.load >= busy, "{generator_busy:?}");

        let before = generator.cpu().await;
        spin(busy);
        let other_busy = generator.cpu().await.since(&before);
        assert!(other_busy.other >= busy, "{other_busy:?}");
        assert!(other_busy.load < busy, "{other_busy:?}");
        generator.shutdown();
    }
}
