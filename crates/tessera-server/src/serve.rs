//! The HTTP/1 accept loop: slow and idle clients are closed, and the connections held are
//! bounded, in all and per client address.
//!
//! `axum::serve` holds a connection for as long as the client keeps it open, however little it
//! sends: a client that opens connections and sends half a request line on each exhausts the
//! open files, and then nobody is answered. Here every connection is in one of three phases:
//!
//! - **idle** (nothing of a request has arrived since it was accepted or since its last response
//!   was written): closed after `http.idle_timeout`;
//! - **head** (some bytes of a request head arrived): the head must be complete within
//!   `http.header_timeout` of its first byte;
//! - **busy** (a request is being served): its body must arrive within `http.body_timeout` of the
//!   end of its head, or reading it fails and the request is answered 400.
//!
//! In every phase a write the client does not take (it sends requests and never reads the
//! answers, so the socket's buffers fill) fails after `http.write_timeout` without progress,
//! and the connection closes.
//!
//! At most `http.max_connections` connections are held; past it the loop stops accepting (new
//! clients wait in the kernel's backlog). At most `http.max_connections_per_address` are held
//! for one client address (an IPv6 client by its `throttle.ipv6_prefix`); past it new ones are
//! closed at once. Connections from `trusted_proxies` are exempt from the per-address bound: a
//! proxy carries many clients.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use ipnet::{IpNet, Ipv6Net};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt as _;

use crate::config::Config;

/// File descriptors kept for everything but client connections (stores, logs, the listener).
const RESERVED_FILES: u64 = 64;

/// The bounds of [`serve`].
#[derive(Clone, Debug)]
pub struct Limits {
    /// See `http.header_timeout`.
    pub header_timeout: Duration,
    /// See `http.body_timeout`.
    pub body_timeout: Duration,
    /// See `http.idle_timeout`.
    pub idle_timeout: Duration,
    /// See `http.write_timeout`.
    pub write_timeout: Duration,
    /// See `http.max_connections`.
    pub max_connections: usize,
    /// See `http.max_connections_per_address`.
    pub max_connections_per_address: usize,
    /// Addresses exempt from the per-address bound.
    pub trusted_proxies: Vec<IpNet>,
    /// How many leading bits name one IPv6 client.
    pub ipv6_prefix: u8,
}

impl Limits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Self {
        let h = &config.http;
        Self {
            header_timeout: h.header_timeout,
            body_timeout: h.body_timeout,
            idle_timeout: h.idle_timeout,
            write_timeout: h.write_timeout,
            max_connections: h.max_connections,
            max_connections_per_address: h.max_connections_per_address,
            trusted_proxies: config.trusted_networks(),
            ipv6_prefix: config.throttle.ipv6_prefix,
        }
    }
}

impl Limits {
    /// Raises this process's soft limit of open files to the hard one (before anything is
    /// served), and holds no more connections than the files then allow.
    pub fn fit_to_open_files(mut self) -> Self {
        if let Some(files) = raise_open_files_limit() {
            let usable =
                usize::try_from(files.saturating_sub(RESERVED_FILES).max(1)).unwrap_or(usize::MAX);
            if usable < self.max_connections {
                tracing::warn!(
                    open_files = files,
                    max_connections = self.max_connections,
                    using = usable,
                    "the open-files limit is below http.max_connections; holding fewer connections"
                );
                self.max_connections = usable;
            }
        }
        self
    }
}

/// Raises the soft limit of open files to the hard limit; returns the soft limit in force
/// after, or `None` where it cannot be read.
fn raise_open_files_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => Some(limit),
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        }
    }
}

/// Serves `router` on `listener` within `limits` until `stop` completes; then stops accepting,
/// lets every connection finish the request it is serving, and returns once all are closed.
///
/// Each request carries the peer's [`ConnectInfo<SocketAddr>`].
///
/// # Errors
/// Never today; the signature leaves room for fatal accept errors.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let limits = Arc::new(limits);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let (stopping, stopped) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);

    loop {
        // Finished connection tasks are reaped as we go.
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Some(address) = AddressSlot::take(&per_address, &limits, remote.ip()) else {
            tracing::debug!(peer = %remote, "too many connections from this address; closed");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let limits = limits.clone();
        let stopped = stopped.clone();
        connections.spawn(async move {
            connection(stream, remote, router, &limits, stopped).await;
            drop(address);
            drop(slot);
        });
    }

    drop(listener);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Like `axum::serve`: errors of one connection are skipped; others (too many open files)
/// pause accepting for a second instead of spinning.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; pausing 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One connection, to its end.
async fn connection(
    stream: TcpStream,
    remote: SocketAddr,
    router: Router,
    limits: &Limits,
    mut stopped: watch::Receiver<bool>,
) {
    tracing::trace!(peer = %remote, "connection accepted");
    let phase = Arc::new(Mutex::new(State {
        phase: Phase::Idle(Instant::now()),
        reader: None,
    }));
    let io = TokioIo::new(Watched {
        inner: stream,
        phase: phase.clone(),
        header_timeout: limits.header_timeout,
        idle_timeout: limits.idle_timeout,
        sleep: None,
        write_timeout: limits.write_timeout,
        write_sleep: None,
    });
    let body_timeout = limits.body_timeout;
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let busy = Busy::begin(&phase);
        let mut req = req.map(|body| Deadline::new(body, body_timeout));
        req.extensions_mut().insert(ConnectInfo(remote));
        let router = router.clone();
        // The path only: never the query, a header or a body, where secrets travel. Copied,
        // and the clock read, only when the line will be written.
        let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            (
                req.method().clone(),
                req.uri().path().to_owned(),
                Instant::now(),
            )
        });
        async move {
            let response = router.oneshot(req).await?;
            if let Some((method, path, started)) = logged {
                tracing::debug!(
                    peer = %remote,
                    %method,
                    path = %path,
                    status = response.status().as_u16(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "request"
                );
            }
            // The connection is idle again once hyper has written (and dropped) the body.
            Ok::<_, Infallible>(response.map(move |body| {
                body.map_frame(move |frame: Frame<Bytes>| {
                    let _busy = &busy;
                    frame
                })
            }))
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let stopping = async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    match result {
        Ok(()) => tracing::trace!(peer = %remote, "connection closed"),
        Err(e) => tracing::debug!(peer = %remote, error = %e, "connection closed"),
    }
}

/// Where a connection is; see the module's documentation.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Nothing of a request since this instant.
    Idle(Instant),
    /// A request head began at this instant.
    Head(Instant),
    /// This many requests are being served.
    Busy(usize),
}

/// A connection's phase, and the read that waits without a deadline while it is busy.
struct State {
    phase: Phase,
    /// Woken when the connection falls idle, so that the pending read takes up the idle
    /// deadline.
    reader: Option<Waker>,
}

/// Marks a connection busy while it lives.
struct Busy(Arc<Mutex<State>>);

impl Busy {
    fn begin(state: &Arc<Mutex<State>>) -> Self {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        s.phase = match s.phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            _ => Phase::Busy(1),
        };
        Self(state.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        s.phase = match s.phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        };
        if let (Phase::Idle(_), Some(reader)) = (s.phase, s.reader.take()) {
            reader.wake();
        }
    }
}

/// A connection's socket, failing its reads with `TimedOut` when the client is too slow for
/// its phase, and its writes when the client takes nothing for `write_timeout`.
struct Watched {
    inner: TcpStream,
    phase: Arc<Mutex<State>>,
    header_timeout: Duration,
    idle_timeout: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    write_timeout: Duration,
    /// Armed while a write is pending: its deadline is `write_timeout` after the write first
    /// found the socket full; any progress disarms it.
    write_sleep: Option<Pin<Box<Sleep>>>,
}

impl Watched {
    /// `poll` of a write through the socket, under the write deadline.
    fn poll_written<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if let Poll::Ready(result) = poll(Pin::new(&mut self.inner), cx) {
            self.write_sleep = None;
            return Poll::Ready(result);
        }
        let timeout = self.write_timeout;
        let sleep = self
            .write_sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client read nothing of the response in time",
        )))
    }

    /// When a read still pending must give up: `None` while a request is served (its body has
    /// its own deadline; the read is woken when the connection falls idle).
    fn deadline(&self, cx: &Context<'_>) -> Option<Instant> {
        let mut s = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        match s.phase {
            Phase::Idle(since) => Some(since + self.idle_timeout),
            Phase::Head(since) => Some(since + self.header_timeout),
            Phase::Busy(_) => {
                s.reader = Some(cx.waker().clone());
                None
            }
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        if let Poll::Ready(result) = Pin::new(&mut this.inner).poll_read(cx, buf) {
            if buf.filled().len() > before {
                let mut s = this.phase.lock().unwrap_or_else(PoisonError::into_inner);
                if let Phase::Idle(_) = s.phase {
                    s.phase = Phase::Head(Instant::now());
                }
            }
            return Poll::Ready(result);
        }
        let Some(deadline) = this.deadline(cx) else {
            return Poll::Pending;
        };
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client sent no complete request head in time",
        )))
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_written(cx, |inner, cx| inner.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .poll_written(cx, |inner, cx| inner.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .poll_written(cx, |inner, cx| inner.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body that fails with `TimedOut` once its deadline passes.
struct Deadline {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        Self {
            inner,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(Box::new(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request body did not arrive in time",
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One connection counted against its client address; uncounted on drop.
struct AddressSlot {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
    key: Option<IpAddr>,
}

impl AddressSlot {
    /// Counts a connection from `ip`, or `None` when its address holds its limit already.
    fn take(
        counts: &Arc<Mutex<HashMap<IpAddr, usize>>>,
        limits: &Limits,
        ip: IpAddr,
    ) -> Option<Self> {
        let ip = ip.to_canonical();
        if limits.trusted_proxies.iter().any(|net| net.contains(&ip)) {
            return Some(Self {
                counts: counts.clone(),
                key: None,
            });
        }
        let key = match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => Ipv6Net::new(v6, limits.ipv6_prefix.min(128))
                .map(|net| IpAddr::V6(net.network()))
                .unwrap_or(ip),
        };
        let mut map = counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(key).or_insert(0);
        if *count >= limits.max_connections_per_address {
            return None;
        }
        *count += 1;
        Some(Self {
            counts: counts.clone(),
            key: Some(key),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut map = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                map.remove(&key);
            }
        }
    }
}
