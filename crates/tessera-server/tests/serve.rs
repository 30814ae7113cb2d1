//! The accept loop of `tessera_server::serve` under `RunningServer::shutdown`: the request in
//! flight is finished, idle connections are closed at once, and nothing new is accepted.

use std::time::Duration;

use crate::common::{PASSWORD, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Reads until the server closes the connection, at most `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    let until = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections() {
    let mut s = TestServer::start(&[]).await;
    let addr = s.server.as_ref().unwrap().addr;

    // A kept-alive connection that has had its answer and sends nothing more.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // A signup whose head is in and whose body is half sent: a request in flight.
    let body = serde_json::json!({"username": "alice", "password": PASSWORD}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut in_flight = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    in_flight.write_all(request.as_bytes()).await.unwrap();
    // Let the server read the head and start the request.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let shutdown = tokio::spawn(s.server.take().unwrap().shutdown());
    assert!(
        read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .is_some(),
        "an idle connection stays open during shutdown"
    );
    assert!(
        !shutdown.is_finished(),
        "shutdown returned with a request in flight"
    );
    in_flight.write_all(rest.as_bytes()).await.unwrap();
    let reply = read_until_closed(&mut in_flight, Duration::from_secs(10))
        .await
        .expect("the request in flight is answered and its connection closed");
    assert!(reply.starts_with("HTTP/1.1 201 "), "{reply}");
    assert!(reply.contains("\"username\":\"alice\""), "{reply}");
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("shutdown returns once the request is answered")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}
