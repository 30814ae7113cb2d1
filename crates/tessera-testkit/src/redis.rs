//! A real `redis-server` on a free port of 127.0.0.1, in its own temporary directory.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{find_program, free_port};

/// How long a start (including an AOF replay) may take before it counts as failed.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A `redis-server` this crate started: no configuration file is read (every setting is on its
/// command line), nothing is saved as RDB, and the data directory is a temporary one that
/// lives as long as the handle. The process is killed when the handle is dropped.
///
/// [`RedisServer::stop`] kills it (like a crash) and [`RedisServer::shutdown`] asks it to
/// stop; [`RedisServer::restart`] starts it again on the same port and directory, so that with
/// [`RedisServer::start_with_aof`] the data comes back.
pub struct RedisServer {
    program: PathBuf,
    port: u16,
    aof: bool,
    dir: tempfile::TempDir,
    /// The watchdog shell (see [`WATCHDOG`]), with our end of its pipe.
    child: Option<Child>,
    /// The pipe whose end tells the watchdog that this process is gone.
    pipe: Option<ChildStdin>,
    /// The `redis-server` process under the watchdog.
    server_pid: Option<u32>,
}

impl RedisServer {
    /// A server without persistence: a restart comes back empty.
    ///
    /// # Errors
    /// `redis-server` is not installed (the message names the Debian package), or it did not
    /// answer `PING` in time.
    pub fn start() -> io::Result<Self> {
        Self::launch(false)
    }

    /// A server with the append-only file on and `appendfsync always`: every write is on disk
    /// before it is acknowledged, so a kill loses nothing.
    ///
    /// # Errors
    /// As [`RedisServer::start`].
    pub fn start_with_aof() -> io::Result<Self> {
        Self::launch(true)
    }

    fn launch(aof: bool) -> io::Result<Self> {
        let program = find_program("redis-server").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "redis-server not found: install the Debian package redis-server \
                 (scripts/test does)",
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("tessera-redis-")
            .tempdir()?;
        let mut server = Self {
            program,
            port: free_port(),
            aof,
            dir,
            child: None,
            pipe: None,
            server_pid: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory (the AOF, and `redis.log`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `redis-server` process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server_pid
    }

    /// Whether the process this handle started is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(Ok(Some(_)) | Err(_)) | None => false,
        }
    }

    /// Kills the server with SIGKILL, like a crash, and waits for it to exit. Nothing happens
    /// when it is not running.
    pub fn stop(&mut self) {
        let _ = self.signal("-KILL");
        self.reap(Duration::from_secs(10));
    }

    /// Stops the server with SIGTERM (it writes what it must and exits) and waits for it; kills
    /// it when it takes longer than 10 s.
    ///
    /// # Errors
    /// `kill` could not be run.
    pub fn shutdown(&mut self) -> io::Result<()> {
        let sent = self.signal("-TERM");
        self.reap(Duration::from_secs(10));
        sent
    }

    /// Sends `signal` to the `redis-server` this handle started (by its id).
    fn signal(&self, signal: &str) -> io::Result<()> {
        let Some(pid) = self.server_pid else {
            return Ok(());
        };
        Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(drop)
    }

    /// Waits up to `limit` for the watchdog (which exits with the server), then kills the
    /// server; closes the pipe only after that, so the watchdog keeps the data directory.
    fn reap(&mut self, limit: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let start = Instant::now();
        while start.elapsed() < limit {
            if !matches!(child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = self.signal("-KILL");
            let _ = child.wait();
        }
        self.server_pid = None;
        self.pipe = None;
    }

    /// Starts the server again on the same port and data directory (killing it first if it
    /// runs), and waits until it answers `PING` (after replaying its AOF, if it has one).
    ///
    /// # Errors
    /// As [`RedisServer::start`].
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    fn spawn(&mut self) -> io::Result<()> {
        let dir = self.dir.path();
        let log = dir.join("redis.log");
        let pid_file = dir.join("watchdog.pid");
        let _ = std::fs::remove_file(&pid_file);
        let mut command = Command::new("/bin/sh");
        // The first argument of redis-server starts with `--`: it reads no configuration file.
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&self.program)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--daemonize", "no", "--supervised", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(["--save", "", "--databases", "1"]);
        if self.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let mut child = command
            .env("TESSERA_TESTKIT_DIR", dir)
            .env("TESSERA_TESTKIT_PID", &pid_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.pipe = child.stdin.take();
        self.child = Some(child);
        let start = Instant::now();
        while self.server_pid.is_none() && start.elapsed() < START_LIMIT {
            self.server_pid = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|text| text.trim().parse().ok());
            if self.server_pid.is_none() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let start = Instant::now();
        while start.elapsed() < START_LIMIT {
            if !self.is_running() {
                self.reap(Duration::ZERO);
                return Err(io::Error::other(format!(
                    "redis-server exited at start; see {}",
                    log.display()
                )));
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "redis-server did not answer PING within {START_LIMIT:?}; see {}",
                log.display()
            ),
        ))
    }
}

/// Runs `$0 "$@"` (redis-server) in the background, writes its process id to
/// `$TESSERA_TESTKIT_PID`, and kills it once standard input reaches its end: when this process
/// ends in any way (a panic, an abort, a `static` server that is never dropped), no server
/// outlives it, and its directory `$TESSERA_TESTKIT_DIR` is removed. When the server exits
/// first ([`RedisServer::stop`] kills it by its id), the watchdog exits with it and keeps the
/// directory. `read` is a builtin, so no process of the watchdog outlives it. The watcher marks
/// the directory before its kill, so the mark is there when `wait` returns; its exit status
/// could not say it, since the kill may wake the shell before the watcher exits.
const WATCHDOG: &str = r#"
exec 3<&0 0</dev/null
"$0" "$@" 3<&- &
srv=$!
echo "$srv" > "$TESSERA_TESTKIT_PID"
gone="$TESSERA_TESTKIT_DIR/owner-gone"
(
    while read -r line <&3; do :; done
    : > "$gone"
    kill -KILL "$srv" 2>/dev/null
) &
watcher=$!
exec 3<&-
wait "$srv"
status=$?
kill "$watcher" 2>/dev/null
wait "$watcher"
[ -e "$gone" ] && rm -rf -- "$TESSERA_TESTKIT_DIR"
exit "$status"
"#;

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("aof", &self.aof)
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .finish()
    }
}

/// Whether a server on 127.0.0.1:`port` answers `PING` with `PONG` (not `-LOADING`).
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one command in RESP and returns the raw reply.
    fn command(port: u16, args: &[&str]) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes())?;
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[test]
    fn starts_answers_and_dies_on_drop() {
        let server = RedisServer::start().unwrap();
        assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
        assert_eq!(command(server.port(), &["PING"]).unwrap(), "+PONG\r\n");
        // No configuration file: the settings are those of the command line.
        let dir = command(server.port(), &["CONFIG", "GET", "dir"]).unwrap();
        assert!(dir.contains("tessera-redis-"), "{dir}");
        // The id is the server's own, not its watchdog's.
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", server.pid().unwrap()));
        assert_eq!(comm.unwrap().trim(), "redis-server");
        let port = server.port();
        drop(server);
        assert!(!ping(port), "the process is gone with its handle");
    }

    #[test]
    fn the_watchdog_kills_a_server_whose_owner_is_gone() {
        let mut server = RedisServer::start().unwrap();
        let (port, dir) = (server.port(), server.dir().to_owned());
        // What the end of this process does to a `static` server: the pipe closes.
        server.pipe = None;
        let start = Instant::now();
        while ping(port) && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!ping(port), "the server is gone with its owner");
        while dir.exists() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!dir.exists(), "and so is its directory");
        server.stop();
    }

    #[test]
    fn without_aof_a_restart_comes_back_empty() {
        let mut server = RedisServer::start().unwrap();
        assert_eq!(
            command(server.port(), &["SET", "k", "v"]).unwrap(),
            "+OK\r\n"
        );
        server.stop();
        assert!(!server.is_running());
        assert!(
            command(server.port(), &["PING"]).is_err(),
            "nothing listens"
        );
        server.restart().unwrap();
        assert_eq!(command(server.port(), &["GET", "k"]).unwrap(), "$-1\r\n");
    }

    #[test]
    fn with_aof_a_kill_loses_nothing() {
        let mut server = RedisServer::start_with_aof().unwrap();
        let port = server.port();
        assert_eq!(command(port, &["SET", "k", "v"]).unwrap(), "+OK\r\n");
        server.stop();
        server.restart().unwrap();
        assert_eq!(server.port(), port);
        assert_eq!(command(port, &["GET", "k"]).unwrap(), "$1\r\nv\r\n");
        server.shutdown().unwrap();
        assert!(!server.is_running());
        server.restart().unwrap();
        assert_eq!(command(port, &["GET", "k"]).unwrap(), "$1\r\nv\r\n");
    }
}
