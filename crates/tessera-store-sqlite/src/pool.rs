//! A tiny connection pool: one writer and a few readers, each call on a blocking thread.
//!
//! SQLite allows one writer at a time anyway, so writes queue on one connection behind a mutex;
//! in WAL mode readers never wait for the writer, so reads spread over [`READERS`] connections.
//! Every call runs in [`tokio::task::spawn_blocking`] and never blocks the async workers.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tessera_core::store::{StoreError, StoreResult};

use crate::error::{WalRefused, from_sqlite};
use crate::{files, migrations};

/// How many read connections the pool keeps.
pub(crate) const READERS: usize = 4;

/// Prepared statements kept per connection: more than the store has, so none is re-prepared.
const STATEMENT_CACHE: usize = 64;

/// How long a statement waits for another process's lock before failing as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections of one database.
pub(crate) struct Pool {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

impl Pool {
    /// Opens the database file `db`: WAL mode, the schema migrated, then the readers.
    pub(crate) fn open(db: &Path) -> StoreResult<Self> {
        let mut writer = connect(db)?;
        // WAL lets readers work while a write is in progress. With WAL, synchronous=NORMAL
        // still makes every committed transaction survive a crash of this process (kill -9):
        // the commit is in the WAL file before the call returns. Only a power loss or an OS
        // crash can drop the last commits before a checkpoint; FULL would fsync every commit
        // to cover that too, at several times the write latency.
        let mode: String = writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(from_sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::unavailable(WalRefused(mode)));
        }
        writer
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(from_sqlite)?;
        migrations::migrate(&mut writer)?;
        files::restrict_sidecars(db)?;

        let readers = (0..READERS)
            .map(|_| {
                let reader = connect(db)?;
                reader
                    .pragma_update(None, "query_only", true)
                    .map_err(from_sqlite)?;
                Ok(Mutex::new(reader))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a read connection, on a blocking thread.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        timed(
            "read",
            blocking(move || {
                let i = pool.next_reader.fetch_add(1, Ordering::Relaxed) % pool.readers.len();
                f(&lock(&pool.readers[i]))
            }),
        )
        .await
    }

    /// Runs `f` on the write connection, on a blocking thread. `f` opens a transaction when it
    /// writes more than one statement.
    pub(crate) async fn write<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let pool = Arc::clone(self);
        timed("write", blocking(move || f(&mut lock(&pool.writer)))).await
    }
}

/// Awaits a store call and records its latency (queueing included) as
/// `tessera_store_duration_seconds{backend="sqlite", kind}`.
async fn timed<T>(
    kind: &'static str,
    call: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    let started = Instant::now();
    let result = call.await;
    metrics::histogram!("tessera_store_duration_seconds", "backend" => "sqlite", "kind" => kind)
        .record(started.elapsed().as_secs_f64());
    result
}

/// One connection to `db` with the settings every connection shares.
fn connect(db: &Path) -> StoreResult<Connection> {
    // No CREATE flag: `files::prepare` made the file with its permissions already.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags).map_err(from_sqlite)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(from_sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Locks a connection, carrying on after a panic in another call: the panicking call's
/// transaction was rolled back when it unwound, so the connection is usable.
fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` on tokio's blocking pool; a panic in `f` resumes in the caller.
async fn blocking<T, F>(f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> rusqlite::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(from_sqlite),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::unavailable(e)),
    }
}
