//! A real headless Chromium, driven over the W3C WebDriver protocol by Debian's `chromedriver`.
//!
//! Each [`Browser`] is its own `chromedriver` on a free port of 127.0.0.1 and its own Chromium
//! with a fresh profile (`--user-data-dir` in a temporary directory), so two browsers share no
//! cookies: two people, or one person on two devices. The protocol is spoken directly with
//! reqwest (the subset a page test needs: navigate, find, click, type, run a script, read
//! cookies, take a screenshot); dropping the browser ends its WebDriver session, which closes
//! Chromium, then stops chromedriver by the id of the process this crate started.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::process::{free_port, wait_for_port};

/// Debian's ChromeDriver (package chromium-driver).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium (package chromium).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The flags Chromium needs here: headless as root, and none of its background connections
/// (the closed network refuses them, and they would slow every start).
pub const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1024,900",
];

/// The W3C element key in WebDriver replies.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium under its own chromedriver.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session_url: String,
    driver_port: u16,
    session_id: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// An element found on the current page.
#[derive(Clone, Debug)]
pub struct Element(String);

fn err(context: &str, detail: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{context}: {detail}"))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    ///
    /// # Errors
    /// chromedriver or chromium is not installed (the message names the Debian package), or
    /// the session does not start within 30 s.
    pub async fn start() -> io::Result<Self> {
        for (program, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            if !Path::new(program).is_file() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "{program} not found: install the Debian package {package} (scripts/test does)"
                    ),
                ));
            }
        }
        let profile = tempfile::Builder::new()
            .prefix("tessera-chromium-")
            .tempdir()?;
        let port = free_port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                profile.path().join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        if !wait_for_port(port, Duration::from_secs(10)) {
            let _ = driver.kill();
            let _ = driver.wait();
            return Err(err("chromedriver", "did not listen within 10 s"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| err("http client", e))?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let reply = loop {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(r) => break r,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    return Err(err("new session", e));
                }
            }
        };
        let body: Value = reply.json().await.map_err(|e| err("new session", e))?;
        let Some(id) = body["value"]["sessionId"].as_str() else {
            let _ = driver.kill();
            let _ = driver.wait();
            return Err(err("new session", body));
        };
        Ok(Self {
            http,
            session_url: format!("{base}/session/{id}"),
            driver_port: port,
            session_id: id.to_owned(),
            driver,
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> io::Result<Value> {
        let url = format!("{}{path}", self.session_url);
        let mut request = self.http.request(method, &url);
        // WebDriver wants a JSON body on every POST, `{}` when there is nothing to say.
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.map_err(|e| err(path, e))?;
        let status = reply.status();
        let body: Value = reply.json().await.map_err(|e| err(path, e))?;
        if !status.is_success() {
            return Err(err(
                path,
                format!(
                    "{status}: {} {}",
                    body["value"]["error"], body["value"]["message"]
                ),
            ));
        }
        Ok(body["value"].clone())
    }

    async fn post(&self, path: &str, body: Value) -> io::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> io::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Navigates to `url` and waits for the page to load.
    ///
    /// # Errors
    /// WebDriver errors (as for every method here).
    pub async fn goto(&self, url: &str) -> io::Result<()> {
        self.post("/url", json!({"url": url})).await.map(drop)
    }

    /// The current page's URL.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn current_url(&self) -> io::Result<String> {
        Ok(self
            .get("/url")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The current URL's path (and query), without scheme and host.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn path(&self) -> io::Result<String> {
        let url = self.current_url().await?;
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        Ok(after_scheme
            .find('/')
            .map_or_else(|| "/".to_owned(), |i| after_scheme[i..].to_owned()))
    }

    /// The visible text of the whole page (`document.body.innerText`).
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn text(&self) -> io::Result<String> {
        let v = self
            .execute(
                "return document.body ? document.body.innerText : '';",
                json!([]),
            )
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's HTML source.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn source(&self) -> io::Result<String> {
        Ok(self
            .get("/source")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The page's title.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn title(&self) -> io::Result<String> {
        Ok(self
            .get("/title")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its
    /// result.
    ///
    /// # Errors
    /// WebDriver errors, including a script that throws.
    pub async fn execute(&self, script: &str, args: Value) -> io::Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    /// The first element matching the CSS `selector`.
    ///
    /// # Errors
    /// `no such element`, or WebDriver errors.
    pub async fn find(&self, selector: &str) -> io::Result<Element> {
        let v = self
            .post(
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .await
            .map_err(|e| err(selector, e))?;
        v[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| err(selector, format!("no element id in the reply {v}")))
    }

    /// Every element matching the CSS `selector`.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn find_all(&self, selector: &str) -> io::Result<Vec<Element>> {
        let v = self
            .post(
                "/elements",
                json!({"using": "css selector", "value": selector}),
            )
            .await?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(|id| Element(id.to_owned())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Clicks the first element matching `selector` (and waits for a page it loads).
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn click(&self, selector: &str) -> io::Result<()> {
        let e = self.find(selector).await?;
        self.click_element(&e).await
    }

    /// Clicks the first element matching `selector` and waits (up to 15 s) until another page
    /// has loaded in its place: for a form submit, whose answer may take a while.
    ///
    /// # Errors
    /// WebDriver errors, or no new page within 15 s.
    pub async fn submit(&self, selector: &str) -> io::Result<()> {
        self.execute("window.__testkitOldPage = true;", json!([]))
            .await?;
        self.click(selector).await?;
        let loaded = self
            .wait_until(Duration::from_secs(15), || async {
                self.execute(
                    "return !window.__testkitOldPage && document.readyState === 'complete';",
                    json!([]),
                )
                .await
                .is_ok_and(|v| v == true)
            })
            .await;
        if loaded {
            Ok(())
        } else {
            Err(err(selector, "no new page within 15 s of the click"))
        }
    }

    /// Clicks `element`.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn click_element(&self, element: &Element) -> io::Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await
            .map(drop)
    }

    /// Types `text` into the first element matching `selector`, after clearing it.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn fill(&self, selector: &str, text: &str) -> io::Result<()> {
        let e = self.find(selector).await?;
        self.post(&format!("/element/{}/clear", e.0), json!({}))
            .await?;
        self.post(&format!("/element/{}/value", e.0), json!({"text": text}))
            .await
            .map(drop)
    }

    /// The visible text of `element`.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn element_text(&self, element: &Element) -> io::Result<String> {
        let v = self.get(&format!("/element/{}/text", element.0)).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// An attribute or property of `element` (`null` when it has none).
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn attribute(&self, element: &Element, name: &str) -> io::Result<Option<String>> {
        let v = self
            .get(&format!("/element/{}/attribute/{name}", element.0))
            .await?;
        Ok(v.as_str().map(str::to_owned))
    }

    /// The browser's back button.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn back(&self) -> io::Result<()> {
        self.post("/back", json!({})).await.map(drop)
    }

    /// The browser's reload button.
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn refresh(&self) -> io::Result<()> {
        self.post("/refresh", json!({})).await.map(drop)
    }

    /// Every cookie the browser holds for the current page, HttpOnly ones included (WebDriver
    /// sees them; the page's scripts do not).
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn cookies(&self) -> io::Result<Vec<Value>> {
        Ok(self
            .get("/cookie")
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Deletes every cookie of the current page's domain (as a session that simply expired
    /// in the browser would).
    ///
    /// # Errors
    /// WebDriver errors.
    pub async fn delete_cookies(&self) -> io::Result<()> {
        self.call(reqwest::Method::DELETE, "/cookie", None)
            .await
            .map(drop)
    }

    /// Saves a PNG screenshot of the viewport to `path` (its directory created).
    ///
    /// # Errors
    /// WebDriver errors, or the file cannot be written.
    pub async fn screenshot(&self, path: &Path) -> io::Result<()> {
        use base64::Engine as _;
        let v = self.get("/screenshot").await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| err("screenshot", e))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)
    }

    /// Polls `check` every 50 ms until it is true or `limit` passes; whether it became true.
    pub async fn wait_until<F, Fut>(&self, limit: Duration, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        loop {
            if check().await {
                return true;
            }
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `target/screenshots/NAME.png` of the workspace (beside the build's `target/`).
pub fn screenshot_path(name: &str) -> PathBuf {
    // CARGO_TARGET_DIR when set, else the `target/` at the workspace root (two levels above
    // any crate's manifest directory, which is where tests run).
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            let mut dir = std::env::current_dir().unwrap_or_default();
            while !dir.join("Cargo.lock").is_file() {
                if !dir.pop() {
                    return PathBuf::from("target");
                }
            }
            dir.join("target")
        },
        PathBuf::from,
    );
    target.join("screenshots").join(format!("{name}.png"))
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the WebDriver session (chromedriver then closes Chromium), with a plain blocking
        // request: no async runtime may be running here.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.driver_port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let request = format!(
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session_id, self.driver_port
            );
            if stream.write_all(request.as_bytes()).is_ok() {
                let mut reply = Vec::new();
                let _ = stream.read_to_end(&mut reply);
            }
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.driver.id().to_string())
            .stdin(Stdio::null())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if !matches!(self.driver.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
