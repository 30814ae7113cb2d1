//! Argon2id password hashing with the API's parameters (at least m=19456 KiB, t=2, p=1).
//!
//! Verification of an unknown user runs against a fixed dummy hash, so that it costs the same
//! work and gives the same answer as a wrong password.

use std::cell::RefCell;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, SaltString};
use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version};

use crate::user::InvalidCredentialFormat;

/// Shortest accepted password, in bytes.
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest accepted password, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The PHC hash of a fixed password with a fixed salt and the parameters below: what an unknown
/// user's attempt is verified against (`dummy_hash_is_the_hash_of_the_dummy_password` checks it).
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$dGVzc2VyYWR1bW15c2FsdA$MXvi9FRfqsVM2NQV1KJqsbVKzsvNjXiatUa8eVqXsYc";

/// Checks the API's password rules: 8 to 1024 bytes of UTF-8 (every byte significant).
///
/// # Errors
/// [`InvalidCredentialFormat::Password`] outside those bounds.
pub fn validate_password(password: &str) -> Result<(), InvalidCredentialFormat> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(InvalidCredentialFormat::Password)
    }
}

thread_local! {
    /// Argon2's working memory (m KiB), kept for the life of the thread. Allocating and freeing
    /// 19 MiB for every hash makes glibc's malloc raise its mmap threshold to that size after the
    /// first one, and keep every later block resident: 38 MiB after one signup and one login.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's Argon2 memory, `blocks` long.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            *memory = vec![Block::default(); blocks];
        }
        f(&mut memory[..blocks])
    })
}

/// The raw Argon2 output of `password` under `salt` into `len` bytes, on this thread's memory.
fn argon2_output(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> password_hash::Result<Output> {
    with_memory(argon2.params().block_count(), |memory| {
        Output::init_with(len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *memory)
                .map_err(|_| password_hash::Error::Crypto)
        })
    })
}

/// Hashes and verifies passwords with Argon2id. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", self.argon2.params())
            .finish()
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// Argon2id, m=19456 KiB, t=2, p=1 (the OWASP recommendation the API fixes as a floor).
    pub fn new() -> Self {
        let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
        Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        }
    }

    /// A new PHC hash of `password` with a fresh random salt. CPU-heavy (tens of ms): call it
    /// off the async runtime.
    pub fn hash(&self, password: &str) -> String {
        let salt_bytes: [u8; 16] = crate::secret::random_bytes();
        self.hash_with_salt(password, &salt_bytes)
    }

    fn hash_with_salt(&self, password: &str, salt_bytes: &[u8]) -> String {
        let salt = SaltString::encode_b64(salt_bytes).expect("16-byte salt encodes");
        let output = argon2_output(
            &self.argon2,
            password.as_bytes(),
            salt_bytes,
            Params::DEFAULT_OUTPUT_LEN,
        )
        .expect("Argon2 hashing with valid parameters cannot fail");
        PasswordHash {
            algorithm: ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(self.argon2.params()).expect("parameters encode"),
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string()
    }

    /// Whether `password` matches `stored`. With `stored = None` (unknown user) it verifies
    /// against a dummy hash and returns `false`, doing the same work. CPU-heavy.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let phc = stored.unwrap_or(DUMMY_HASH);
        verify_phc(password, phc).unwrap_or(false) && stored.is_some()
    }
}

/// Whether `password` matches the Argon2id PHC string `phc`, with the parameters `phc` names.
fn verify_phc(password: &str, phc: &str) -> password_hash::Result<bool> {
    let parsed = PasswordHash::new(phc)?;
    if parsed.algorithm != ARGON2ID_IDENT {
        return Err(password_hash::Error::Algorithm);
    }
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)?;
    let params = Params::try_from(&parsed)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(password_hash::Error::PhcStringField);
    };
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf)?;
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    // `Output`'s equality is constant-time.
    Ok(argon2_output(&argon2, password.as_bytes(), salt, expected.len())? == expected)
}

/// A hashing job: runs on a hashing thread (or is skipped when its caller has gone) and sends
/// its result back.
type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

/// What the hashing threads have done, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Jobs that ran (hashed or verified a password).
    pub jobs_run: u64,
    /// Jobs skipped because their caller had gone before a thread took them up.
    pub jobs_skipped: u64,
    /// Callers waiting for a hashing thread (not yet queued).
    pub waiting: u64,
    /// Jobs queued or running: at most the number of threads.
    pub in_flight: u64,
}

#[derive(Default)]
struct Counters {
    run: std::sync::atomic::AtomicU64,
    skipped: std::sync::atomic::AtomicU64,
    waiting: std::sync::atomic::AtomicU64,
}

/// Counts a caller as waiting for as long as it lives (a dropped future stops waiting).
struct Waiting<'a>(&'a Counters);

impl<'a> Waiting<'a> {
    fn new(counters: &'a Counters) -> Self {
        counters
            .waiting
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(counters)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0
            .waiting
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs password hashing off the async runtime on a few dedicated threads of lowered priority
/// (nice 10), at most one hash per thread at a time. A burst of logins queues for those threads,
/// and when the CPU is contended the scheduler prefers the threads serving requests, so logins
/// slow down instead of stalling requests that only verify a session.
///
/// The queue is bounded by the threads: a job is queued only with a permit, and the permit
/// travels with the job until a thread has finished it, so a caller that goes away (a client
/// that hung up) frees nothing early. A job whose caller has gone before a thread takes it up
/// is skipped, not run.
#[derive(Clone)]
pub struct PasswordWorker {
    jobs: std::sync::mpsc::Sender<Job>,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    counters: std::sync::Arc<Counters>,
    threads: usize,
}

impl std::fmt::Debug for PasswordWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordWorker")
            .field("threads", &self.threads)
            .finish()
    }
}

/// The priority of hashing threads on thread-priority's 0..=99 scale: 22 maps to nice 10.
const HASHING_PRIORITY: u8 = 22;

impl PasswordWorker {
    /// A worker with `threads` (at least one) hashing threads. The threads end when the last
    /// clone of the worker is dropped.
    ///
    /// # Panics
    /// When the operating system refuses to start a thread.
    pub fn new(hasher: PasswordHasher, threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let counters = std::sync::Arc::new(Counters::default());
        for i in 0..threads {
            let queue = std::sync::Arc::clone(&queue);
            let hasher = hasher.clone();
            std::thread::Builder::new()
                .name(format!("tessera-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let next = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        let Ok(job) = next else { break };
                        job(&hasher);
                    }
                })
                .expect("starting a password hashing thread");
        }
        Self {
            jobs,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(threads)),
            counters,
            threads,
        }
    }

    /// The default number of hashing threads: every core but one, so one is always left for
    /// serving requests.
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
    }

    /// The number of hashing threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// What the threads have done so far, and what waits.
    pub fn stats(&self) -> WorkerStats {
        use std::sync::atomic::Ordering::Relaxed;
        WorkerStats {
            jobs_run: self.counters.run.load(Relaxed),
            jobs_skipped: self.counters.skipped.load(Relaxed),
            waiting: self.counters.waiting.load(Relaxed),
            in_flight: (self.threads - self.permits.available_permits()) as u64,
        }
    }

    /// [`PasswordHasher::hash`] on a hashing thread.
    pub async fn hash(&self, password: String) -> String {
        self.run(move |hasher| hasher.hash(&password)).await
    }

    /// [`PasswordHasher::verify`] on a hashing thread.
    pub async fn verify(&self, password: String, stored: Option<String>) -> bool {
        self.run(move |hasher| hasher.verify(&password, stored.as_deref()))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> T {
        // Waiting happens here, in async code: a job is only sent when a thread is free.
        let permit = {
            let _waiting = Waiting::new(&self.counters);
            std::sync::Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed")
        };
        let (reply, result) = tokio::sync::oneshot::channel();
        let counters = std::sync::Arc::clone(&self.counters);
        let job: Job = Box::new(move |hasher| {
            use std::sync::atomic::Ordering::Relaxed;
            // Held until the work is done, whether or not the caller still waits for it.
            let _permit = permit;
            if reply.is_closed() {
                counters.skipped.fetch_add(1, Relaxed);
                return;
            }
            let output = job(hasher);
            // Counted before the answer, so a caller that has its answer sees its job counted.
            counters.run.fetch_add(1, Relaxed);
            let _ = reply.send(output);
        });
        self.jobs
            .send(job)
            .expect("hashing threads live as long as the worker");
        result.await.expect("a hashing thread answers every job")
    }
}

/// Lowers the calling thread's scheduling priority (best effort: lowering needs no privilege,
/// and hashing still works at normal priority if the OS refuses).
fn lower_priority() {
    if let Ok(value) = thread_priority::ThreadPriorityValue::try_from(HASHING_PRIORITY) {
        let _ = thread_priority::set_current_thread_priority(
            thread_priority::ThreadPriority::Crossplatform(value),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dummy_hash_is_the_hash_of_the_dummy_password() {
        use argon2::PasswordHasher as _;
        let standard = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19_456, 2, 1, None).unwrap(),
        )
        .hash_password(
            b"tessera-unknown-user-dummy-password",
            &SaltString::from_b64("dGVzc2VyYWR1bW15c2FsdA").unwrap(),
        )
        .unwrap()
        .to_string();
        assert_eq!(standard, DUMMY_HASH);
    }

    #[test]
    fn hashes_interoperate_with_the_argon2_crate_s_own() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new();
        let ours = hasher.hash("correct horse battery");
        let standard = Argon2::default();
        assert!(
            standard
                .verify_password(b"correct horse battery", &PasswordHash::new(&ours).unwrap())
                .is_ok()
        );
        let theirs = standard
            .hash_password(
                b"another password",
                &SaltString::encode_b64(&[7; 16]).unwrap(),
            )
            .unwrap()
            .to_string();
        assert!(hasher.verify("another password", Some(&theirs)));
        assert!(!hasher.verify("another passworD", Some(&theirs)));
        assert!(!hasher.verify(
            "another password",
            Some("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        ));
    }

    #[test]
    fn hashes_verify_and_differ() {
        let h = PasswordHasher::new();
        let a = h.hash("correct horse battery");
        let b = h.hash("correct horse battery");
        assert_ne!(a, b, "salts differ");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("correct horse battery", Some(&a)));
        assert!(!h.verify("correct horse batterY", Some(&a)));
        assert!(!h.verify("correct horse battery", None));
    }

    #[test]
    fn password_bounds() {
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(1024)).is_ok());
        assert!(validate_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn an_abandoned_job_keeps_its_permit_until_done_so_the_queue_stays_bounded() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let worker = PasswordWorker::new(PasswordHasher::new(), 1);
        runtime.block_on(async {
            let (release, hold) = std::sync::mpsc::channel::<()>();
            let (started, has_started) = std::sync::mpsc::channel::<()>();
            // A job that runs until released, whose caller goes away once it has started.
            let first = worker.run(move |_| {
                started.send(()).unwrap();
                hold.recv().unwrap();
            });
            let mut first = Box::pin(first);
            assert!(futures_poll_once(&mut first).await.is_none());
            has_started.recv().unwrap();
            drop(first);
            // The permit went with the job: nobody else gets the thread meanwhile. Two hundred
            // more logins come and go while it runs; none of them leaves work behind.
            assert_eq!(worker.stats().in_flight, 1);
            for _ in 0..200 {
                let mut abandoned = Box::pin(worker.run(|_| ()));
                assert!(futures_poll_once(&mut abandoned).await.is_none());
                drop(abandoned);
            }
            assert_eq!(worker.stats().waiting, 0);
            release.send(()).unwrap();
            // A caller that stays: its answer comes after whatever was queued before it.
            worker.run(|_| ()).await;
            let stats = worker.stats();
            assert_eq!(stats.jobs_run, 2, "{stats:?}");
            assert!(
                stats.jobs_run - 1 <= worker.threads() as u64,
                "no more than the threads' worth of abandoned work ran: {stats:?}"
            );
        });
    }

    /// Polls `fut` once: `Some` when it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut *fut).poll(cx) {
                std::task::Poll::Ready(out) => Some(out),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn the_worker_hashes_on_threads_of_lower_priority() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let worker = PasswordWorker::new(PasswordHasher::new(), 2);
        runtime.block_on(async {
            let hash = worker.hash("correct horse battery".into()).await;
            let (right, wrong) = tokio::join!(
                worker.verify("correct horse battery".into(), Some(hash.clone())),
                worker.verify("wrong horse battery".into(), Some(hash)),
            );
            assert!(right && !wrong);
            #[cfg(target_os = "linux")]
            {
                let stat = worker
                    .run(|_| std::fs::read_to_string("/proc/thread-self/stat").unwrap())
                    .await;
                // Field 19 is the nice value; fields after the command's closing parenthesis.
                let nice: i32 = stat
                    .rsplit(')')
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .nth(16)
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(nice, 10, "{stat}");
            }
        });
    }
}
