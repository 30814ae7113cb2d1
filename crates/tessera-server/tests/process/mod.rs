//! The real `tessera` binary as a child process, for the tests that run it as an operator
//! does: a clean environment, readiness by the `listening on` line, stderr collected, and a kill
//! on drop so a failing test leaves no server behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tessera");
/// How long a server may take to print its `listening on` line (a debug build on a busy machine).
const START_DEADLINE: Duration = Duration::from_secs(60);

/// `tessera ARGS` in `cwd`, with every inherited `TESSERA_*` variable removed (PATH, HOME and
/// the rest are kept).
pub fn tessera(cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TESSERA_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A spawned server. Dropping it kills the process (SIGKILL) and reaps it.
pub struct Running {
    pub child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Spawns `cmd` and waits for `listening on http://IP:PORT` on stdout.
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("spawn tessera");
        let (stderr, stderr_reader) = drain(child.stderr.take().expect("piped stderr"));
        let lines = stdout_lines(child.stdout.take().expect("piped stdout"));
        let mut running = Running {
            child,
            url: String::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
        };
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        assert!(
                            addr.starts_with("http://127.0.0.1:"),
                            "unexpected address line {line:?}"
                        );
                        running.url = addr.trim().to_owned();
                        return running;
                    }
                }
                Err(_) => {
                    let status = running.child.try_wait().ok().flatten();
                    panic!(
                        "no `listening on` line within {START_DEADLINE:?} (exit: {status:?}); stderr:\n{}",
                        running.stderr()
                    );
                }
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Kills the server and returns everything it wrote to stderr, to the last byte.
    pub fn logs(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr()
    }

    /// `kill -9` and reap.
    pub fn kill9(mut self) -> ExitStatus {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap")
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port in url")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `out` to the end on a thread, collecting it; the thread ends with `out`.
fn drain(mut out: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    (buf, reader)
}

/// Stdout, line by line, on a thread that keeps draining it so the child never blocks.
fn stdout_lines(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// The outcome of a command that is expected to finish by itself.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion within `deadline`, writing `stdin` (if any) first; kills it when
/// it overruns.
pub fn finish(mut cmd: Command, stdin: Option<&str>, deadline: Duration) -> Finished {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let child = cmd.spawn().expect("spawn tessera");
    let mut guard = Running {
        child,
        url: String::new(),
        stderr: Arc::new(Mutex::new(String::new())),
        stderr_reader: None,
    };
    if let Some(input) = stdin {
        let mut pipe = guard.child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(guard.child.stdout.take().expect("piped stdout")));
    let stderr = read_all(Box::new(guard.child.stderr.take().expect("piped stderr")));
    let until = Instant::now() + deadline;
    let status = loop {
        if let Some(status) = guard.child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() >= until {
            drop(guard);
            panic!(
                "tessera did not exit within {deadline:?}; stderr:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The process is gone, so both pipes are at their end.
    Finished {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}
