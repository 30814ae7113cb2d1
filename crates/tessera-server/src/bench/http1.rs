//! The load's client side of one keep-alive HTTP/1.1 connection: a `GET` written from bytes
//! prepared once, the answer's head parsed by httparse and its body skipped by its framing.
//!
//! Written here rather than taken from hyper because the generator must cost less CPU than
//! the server it measures: hyper's client connection runs as a second task fed through a
//! channel and builds a `Request` and a `Response` (two header maps, a URI) per call, which
//! cost about what the server spends on a whole `GET /healthz`. This reads and writes the
//! socket in the task that sends, and allocates nothing per request.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Headers an answer may carry; more is an error (Tessera sends fewer than a dozen).
const MAX_HEADERS: usize = 32;
/// The most of an answer held at once: its head, or a chunk's size line, must fit.
const MAX_BUFFER: usize = 64 * 1024;

/// One open connection.
pub struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet consumed are `buf[..filled]`.
    buf: Vec<u8>,
    filled: usize,
}

/// What came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Whether the server keeps the connection open for the next request.
    pub keep_alive: bool,
}

/// How an answer's body ends.
enum Framing {
    Length(usize),
    Chunked,
}

impl Connection {
    /// Connects to `addr`, with Nagle's algorithm off as load generators have it.
    ///
    /// # Errors
    /// When the connection cannot be made.
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: vec![0; 16 * 1024],
            filled: 0,
        })
    }

    /// Sends `request` (a whole request, head and nothing after it) and reads the answer to
    /// its last byte. The body is read past, never held: the buffer holds at most 64 KiB.
    ///
    /// # Errors
    /// On a socket error, a connection closed mid-answer, or an answer that is not HTTP/1.1
    /// framed by `Content-Length` or chunked encoding.
    pub async fn get(&mut self, request: &[u8]) -> io::Result<Answer> {
        self.stream.write_all(request).await?;
        let (head_len, answer, framing) = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf[..self.filled]).map_err(invalid)? {
                httparse::Status::Complete(len) => {
                    let (answer, framing) = read_head(&response)?;
                    break (len, answer, framing);
                }
                httparse::Status::Partial => self.fill().await?,
            }
        };
        match framing {
            Framing::Length(n) => self.consume(head_len, n).await?,
            Framing::Chunked => {
                self.consume(head_len, 0).await?;
                self.skip_chunks().await?;
            }
        }
        Ok(answer)
    }

    /// Reads past a chunked body: its chunks, the last (empty) one, and an empty trailer.
    async fn skip_chunks(&mut self) -> io::Result<()> {
        loop {
            let (size_len, size) = loop {
                match httparse::parse_chunk_size(&self.buf[..self.filled])
                    .map_err(|_| invalid("a bad chunk size"))?
                {
                    httparse::Status::Complete(line) => break line,
                    httparse::Status::Partial => self.fill().await?,
                }
            };
            let size = usize::try_from(size).map_err(|_| invalid("a chunk too large"))?;
            self.consume(size_len, size).await?;
            while self.filled < 2 {
                self.fill().await?;
            }
            if self.buf[..2] != *b"\r\n" {
                return Err(invalid(if size == 0 {
                    "trailers after the last chunk"
                } else {
                    "a chunk longer than its size"
                }));
            }
            self.consume(2, 0).await?;
            if size == 0 {
                return Ok(());
            }
        }
    }

    /// Drops `buf[..at]` (already parsed, `at <= filled`) and the `n` bytes of the answer after
    /// it, reading those not here yet into the same buffer.
    async fn consume(&mut self, at: usize, mut n: usize) -> io::Result<()> {
        let mut end = at + n.min(self.filled - at);
        n -= end - at;
        loop {
            self.buf.copy_within(end..self.filled, 0);
            self.filled -= end;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
            end = n.min(self.filled);
            n -= end;
        }
    }

    /// Reads more of the answer, growing the buffer when it is full, up to [`MAX_BUFFER`].
    async fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            if self.buf.len() >= MAX_BUFFER {
                return Err(invalid("an answer's head or chunk size over 64 KiB"));
            }
            self.buf.resize((self.buf.len() * 2).min(MAX_BUFFER), 0);
        }
        match self.stream.read(&mut self.buf[self.filled..]).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.filled += n;
                Ok(())
            }
        }
    }
}

fn read_head(response: &httparse::Response<'_, '_>) -> io::Result<(Answer, Framing)> {
    let (Some(status), Some(1)) = (response.code, response.version) else {
        return Err(invalid("not an HTTP/1.1 answer"));
    };
    let mut framing = None;
    let mut keep_alive = true;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("a bad Content-Length"))?;
            framing = Some(Framing::Length(n));
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") {
                return Err(invalid("a transfer encoding other than chunked"));
            }
            framing = Some(Framing::Chunked);
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        }
    }
    // A status without a body (1xx, 204, 304) has no framing to follow.
    let framing = match (framing, status) {
        (Some(f), _) => f,
        (None, 100..=199 | 204 | 304) => Framing::Length(0),
        (None, _) => return Err(invalid("an answer with no Content-Length")),
    };
    Ok((Answer { status, keep_alive }, framing))
}

fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A `GET` of `path` on `host`, with one more header when `credential` is given.
pub fn request(path: &str, host: &str, credential: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    write_request(&mut out, path, host, credential);
    out
}

/// [`request`], appended to `out` (so that a connection reuses one buffer).
pub fn write_request(out: &mut Vec<u8>, path: &str, host: &str, credential: Option<(&str, &[u8])>) {
    for part in [
        b"GET ",
        path.as_bytes(),
        b" HTTP/1.1\r\nhost: ",
        host.as_bytes(),
        b"\r\n",
    ] {
        out.extend_from_slice(part);
    }
    if let Some((name, value)) = credential {
        for part in [name.as_bytes(), b": ", value, b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that reads one request head per answer in `answers` and writes the answer
    /// back in pieces of `piece` bytes, then closes.
    async fn serve(answers: Vec<impl AsRef<[u8]> + Send + 'static>, piece: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            for answer in answers {
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut b = [0; 1024];
                    let n = s.read(&mut b).await.unwrap();
                    seen.extend_from_slice(&b[..n]);
                }
                let at = seen.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                seen.drain(..at + 4);
                for part in answer.as_ref().chunks(piece) {
                    s.write_all(part).await.unwrap();
                    s.flush().await.unwrap();
                    tokio::task::yield_now().await;
                }
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_are_read_to_their_end_whatever_their_framing() {
        let answers: Vec<&'static [u8]> = vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        ];
        for piece in [1, 7, 4096] {
            let addr = serve(answers.clone(), piece).await;
            let mut c = Connection::open(addr).await.unwrap();
            let get = request("/healthz", "localhost", None);
            let statuses = [200, 401, 200, 204, 200];
            for (i, status) in statuses.into_iter().enumerate() {
                let answer = c.get(&get).await.unwrap();
                assert_eq!(answer.status, status, "answer {i} in pieces of {piece}");
                assert_eq!(answer.keep_alive, i != 4, "answer {i}");
                assert_eq!(c.filled, 0, "answer {i} was read to its last byte");
            }
            assert!(c.get(&get).await.is_err(), "the server closed");
        }
    }

    #[tokio::test]
    async fn a_large_body_is_read_past_without_being_held() {
        const BIG: &[u8] = &[b'x'; 1 << 20];
        let mut length = b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n".to_vec();
        length.extend_from_slice(BIG);
        let mut chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n100000\r\n".to_vec();
        chunked.extend_from_slice(BIG);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let addr = serve(vec![length, chunked], 64 * 1024).await;
        let mut c = Connection::open(addr).await.unwrap();
        for _ in 0..2 {
            assert_eq!(c.get(&request("/", "h", None)).await.unwrap().status, 200);
            assert_eq!(c.filled, 0);
            assert!(c.buf.len() <= MAX_BUFFER, "{}", c.buf.len());
        }
    }

    #[tokio::test]
    async fn an_answer_without_framing_or_http_1_1_is_an_error() {
        for answer in [
            &b"HTTP/1.1 200 OK\r\n\r\nbody until close"[..],
            b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\ncontent-length: two\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
            b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ] {
            let addr = serve(vec![answer], 4096).await;
            let mut c = Connection::open(addr).await.unwrap();
            let e = c.get(&request("/", "localhost", None)).await.unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::InvalidData,
                "{}",
                String::from_utf8_lossy(answer)
            );
        }
    }

    #[test]
    fn a_request_is_a_get_with_its_host_and_credential() {
        assert_eq!(
            request(
                "/v1/me",
                "127.0.0.1:8080",
                Some(("authorization", b"Bearer t"))
            ),
            b"GET /v1/me HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer t\r\n\r\n"
        );
        assert_eq!(
            request("/healthz", "h", None),
            b"GET /healthz HTTP/1.1\r\nhost: h\r\n\r\n"
        );
    }
}
