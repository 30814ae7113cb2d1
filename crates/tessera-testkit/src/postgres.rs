//! A real PostgreSQL server: Debian's `initdb` and `postgres` in a temporary directory.
//!
//! The cluster listens on a free port of 127.0.0.1 (its unix socket stays inside the temporary
//! directory), runs with `fsync=off` (tests need speed, not durability across a host crash) and
//! has one superuser, [`PostgresServer::USER`], who logs in with a password over TCP
//! (`scram-sha-256`; nothing is trusted).
//!
//! PostgreSQL refuses to run as root: when the tests run as root, the directory is handed to the
//! `postgres` system user the Debian package creates (or `nobody` without it) and `initdb` and
//! `postgres` run as that user.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::process::free_port;

/// How long a start may take before it is a failure.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a fast shutdown may take before the server is killed.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// A PostgreSQL server of its own, stopped when dropped.
pub struct PostgresServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl PostgresServer {
    /// The superuser tests log in as.
    pub const USER: &'static str = "tessera";
    /// Its password.
    pub const PASSWORD: &'static str = "tessera-test-pw";
    /// The database that exists from the start.
    pub const DATABASE: &'static str = "tessera";

    /// Creates a new cluster and starts it.
    ///
    /// # Panics
    /// When PostgreSQL is not installed (Debian package `postgresql`), or `initdb` or the server
    /// fails (the panic carries the server's log).
    pub fn start() -> PostgresServer {
        let bin = bin_dir().unwrap_or_else(|| {
            panic!(
                "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres \
                 (install the Debian package `postgresql`; scripts/test does)"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("tessera-postgres-")
            .tempdir()
            .expect("create a temporary directory for PostgreSQL");
        let owner = if current_uid() == 0 {
            Some(unprivileged_user())
        } else {
            None
        };
        let mut server = PostgresServer {
            bin,
            dir,
            port: free_port(),
            owner,
            child: None,
        };
        server.init();
        server.start_again();
        server.create_database(Self::DATABASE);
        server
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the database [`Self::DATABASE`]:
    /// `postgres://tessera:PASSWORD@127.0.0.1:PORT/tessera`.
    pub fn url(&self) -> String {
        self.url_of(Self::DATABASE)
    }

    /// The URL of database `name` on this server (which need not exist).
    pub fn url_of(&self, name: &str) -> String {
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{name}",
            Self::USER,
            Self::PASSWORD,
            self.port
        )
    }

    /// Creates the empty database `name` (lower-case letters, digits and `_`) and returns its
    /// URL: one per test keeps tests apart on one server.
    ///
    /// # Panics
    /// When `name` is not such a name, exists already, or the server does not answer.
    pub fn create_database(&self, name: &str) -> String {
        assert!(
            !name.is_empty()
                && name.len() < 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "database names here are [a-z0-9_]{{1,63}}, not {name:?}"
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url_of(name)
    }

    /// Creates a new empty database with a name no other call in this process returned.
    pub fn create_unique_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("test_{}_{n}", std::process::id()))
    }

    /// Runs `sql` in database `database` with `psql`, stopping at the first error; its output.
    ///
    /// # Panics
    /// When `psql` fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", Self::USER, "-d", database, "-c", sql])
            .env("PGPASSWORD", Self::PASSWORD)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {sql:?} on {database} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Whether the server is running (between [`Self::start`] or [`Self::restart`] and
    /// [`Self::stop`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the server (a fast shutdown: open connections are ended). The data stays;
    /// [`Self::restart`] brings it back on the same port. Does nothing when it is stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Closing the watchdog's pipe asks postgres for a fast shutdown (open connections end);
        // `keep` tells it the directory is still ours.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(b"keep\n");
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The postmaster's id is the first line of its pid file: that process is ours.
        if let Some(pid) = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_owned))
        {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the stopped server again, on the same directory and port.
    ///
    /// # Panics
    /// When it does not come up (the panic carries its log).
    pub fn restart(&mut self) {
        if self.child.is_none() {
            self.start_again();
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command for a PostgreSQL program, as the unprivileged user when we are root.
    fn command(&self, program: impl AsRef<Path>) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            command.uid(uid).gid(gid);
        }
        command
            .env("LC_ALL", "C")
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        command
    }

    /// `initdb` with the password superuser.
    fn init(&self) {
        let root = self.dir.path();
        let password_file = root.join("password");
        fs::write(&password_file, Self::PASSWORD).expect("write the password file");
        fs::create_dir(self.socket_dir()).expect("create the socket directory");
        if let Some((uid, gid)) = self.owner {
            for path in [root, &password_file, &self.socket_dir()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .expect("hand the PostgreSQL directory to the unprivileged user");
            }
        }
        let output = self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", Self::USER, "-E", "UTF8", "--locale=C"])
            .args(["--auth=scram-sha-256", "--no-sync", "--no-instructions"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts `postgres` on the data dir and waits until it accepts connections.
    ///
    /// `postgres` runs under a small `sh` watchdog that reads our end of a pipe: when it closes,
    /// because [`Self::stop`] dropped it or because this process ended in any way (a panic, an
    /// abort, a `static` server that is never dropped), the watchdog asks `postgres` for a
    /// fast shutdown. No server outlives its test process.
    fn start_again(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open the PostgreSQL log");
        let mut command = self.command("/bin/sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(self.bin.join("postgres"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.socket_dir().display()
            ))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300"])
            .env("TESSERA_TESTKIT_DIR", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        let child = command.spawn().expect("start postgres");
        self.child = Some(child);
        let deadline = Instant::now() + START_LIMIT;
        while Instant::now() < deadline {
            if self.is_ready() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("postgres exited with {status}: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop();
        panic!(
            "postgres did not accept connections within {START_LIMIT:?}: {}",
            self.log_tail()
        );
    }

    /// Whether the server answers a connection on its TCP port.
    fn is_ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", Self::USER, "-d", "postgres", "-t", "1"])
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}

/// Runs `$0 "$@"` (postgres) in the background and sends it SIGINT (fast shutdown) once
/// standard input reaches its end; exits with postgres's status. Unless a line `keep` came
/// first ([`PostgresServer::stop`] sends it), the writer went away without stopping the server
/// (its process ended), so the watchdog also removes the directory `$TESSERA_TESTKIT_DIR`.
/// `read` is a builtin, so no process of the watchdog outlives it. The watcher marks the
/// directory before it signals, so the mark is there when `wait` returns (its exit status could
/// not say it: the shell may kill the watcher before the watcher exits).
const WATCHDOG: &str = r#"
exec 3<&0 0</dev/null
"$0" "$@" 3<&- &
pg=$!
gone="$TESSERA_TESTKIT_DIR/owner-gone"
(
    keep=
    while read -r line <&3; do [ "$line" = keep ] && keep=1; done
    [ -n "$keep" ] || : > "$gone"
    kill -INT "$pg" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$pg"
status=$?
kill "$watcher" 2>/dev/null
wait "$watcher"
[ -e "$gone" ] && rm -rf -- "$TESSERA_TESTKIT_DIR"
exit "$status"
"#;

/// The `bin` directory of the newest PostgreSQL Debian installs side by side.
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The real uid of this process (the owner of its `/proc` entry).
fn current_uid() -> u32 {
    fs::metadata("/proc/self").map_or(u32::MAX, |meta| meta.uid())
}

/// The uid and gid of `postgres`, else of `nobody`, from `/etc/passwd`.
fn unprivileged_user() -> (u32, u32) {
    let passwd = fs::read_to_string(Path::new("/etc/passwd")).unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [user, _, uid, gid, ..] if *user == name => {
                    Some((uid.parse().ok()?, gid.parse().ok()?))
                }
                _ => None,
            }
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .expect("running as root, PostgreSQL needs the user `postgres` or `nobody`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_accepts_connections_and_keeps_data_across_a_restart() {
        let mut server = PostgresServer::start();
        assert!(server.is_running());
        assert!(server.url().starts_with("postgres://tessera:"));
        assert_eq!(
            server.psql(PostgresServer::DATABASE, "SELECT 1").trim(),
            "1"
        );

        let url = server.create_database("kept");
        assert!(url.ends_with(&format!("127.0.0.1:{}/kept", server.port())));
        server.psql(
            "kept",
            "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('survives')",
        );

        server.stop();
        assert!(!server.is_running());
        assert!(!server.is_ready());
        server.restart();
        assert_eq!(server.psql("kept", "SELECT v FROM t").trim(), "survives");
    }

    /// Set in the child process of [`a_server_does_not_outlive_its_process`].
    const CHILD: &str = "TESSERA_TESTKIT_POSTGRES_CHILD";

    /// In the child: starts a server, prints its port and exits without dropping it.
    #[test]
    fn exit_without_dropping() {
        if std::env::var_os(CHILD).is_none() {
            return;
        }
        let server = PostgresServer::start();
        println!("PORT={} DIR={}", server.port(), server.dir.path().display());
        std::process::exit(0);
    }

    #[test]
    fn a_server_does_not_outlive_its_process() {
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "postgres::tests::exit_without_dropping",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env(CHILD, "1")
            .stdin(Stdio::null())
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let (port, dir) = stdout
            .lines()
            .find_map(|line| line.split_once("PORT=").map(|(_, rest)| rest))
            .and_then(|rest| rest.split_once(" DIR="))
            .and_then(|(port, dir)| Some((port.parse::<u16>().ok()?, PathBuf::from(dir.trim()))))
            .unwrap_or_else(|| panic!("the child printed no port: {stdout}"));
        let deadline = Instant::now() + STOP_LIMIT;
        while crate::wait_for_port(port, Duration::from_millis(100)) {
            assert!(
                Instant::now() < deadline,
                "postgres on port {port} outlived its process"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        while dir.exists() {
            assert!(
                Instant::now() < deadline,
                "{} was left behind",
                dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn refuses_a_wrong_password() {
        let server = PostgresServer::start();
        let output = Command::new(server.bin.join("psql"))
            .args(["-X", "-h", "127.0.0.1", "-p", &server.port().to_string()])
            .args([
                "-U",
                PostgresServer::USER,
                "-d",
                "postgres",
                "-c",
                "SELECT 1",
            ])
            .env("PGPASSWORD", "wrong")
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(!output.status.success());
    }

    #[test]
    fn unique_databases_differ() {
        let server = PostgresServer::start();
        assert_ne!(
            server.create_unique_database(),
            server.create_unique_database()
        );
    }
}
