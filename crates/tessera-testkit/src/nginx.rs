//! A real nginx on a free port of 127.0.0.1, running one of the configurations in `deploy/nginx`
//! with its ports replaced.

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{find_program, free_port, wait_for_port};

/// The listen address and the three upstream addresses the files in `deploy/nginx` name.
const DEPLOY_LISTEN: &str = "127.0.0.1:8080";
const DEPLOY_UPSTREAMS: [&str; 3] = ["127.0.0.1:8081", "127.0.0.1:8082", "127.0.0.1:8083"];

/// An nginx master process this crate started in the foreground (`daemon off`), in a temporary
/// prefix directory; stopped with SIGTERM (workers included) when dropped.
pub struct Nginx {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `deploy_config` (the text of a file in `deploy/nginx`), listening on a
    /// free port and proxying to `upstreams` (three ports of 127.0.0.1) in place of the
    /// file's 8080 and 8081-8083.
    ///
    /// # Errors
    /// nginx is not installed (the message names the Debian package), refuses the
    /// configuration, or does not listen within 10 s.
    pub fn start(deploy_config: &str, upstreams: [u16; 3]) -> io::Result<Self> {
        let program = find_program("nginx").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "nginx not found: install the Debian package nginx (scripts/test does)",
            )
        })?;
        let port = free_port();
        let mut config = deploy_config.replace(DEPLOY_LISTEN, &format!("127.0.0.1:{port}"));
        for (from, to) in DEPLOY_UPSTREAMS.iter().zip(upstreams) {
            config = config.replace(from, &format!("127.0.0.1:{to}"));
        }
        let dir = tempfile::Builder::new()
            .prefix("tessera-nginx-")
            .tempdir()?;
        std::fs::create_dir(dir.path().join("tmp"))?;
        let conf: PathBuf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config)?;
        let mut child = Command::new(program)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "nginx exited at start ({status}); its messages are above"
                )));
            }
            if wait_for_port(port, Duration::from_millis(100)) {
                return Ok(Self {
                    port,
                    child,
                    _dir: dir,
                });
            }
        }
        let _ = child.kill();
        Err(io::Error::other("nginx did not listen within 10 s"))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too; SIGKILL would leave them serving.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stdin(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
