//! Connections a client leaves hanging are closed, as upstream's http.Server closes them: a
//! request whose headers do not finish within the header-read timeout (slowloris), a kept-alive
//! connection idle past it, and a body that stops short of its Content-Length (504). The
//! server goes on answering others meanwhile.

mod support;

use std::time::{Duration, Instant};

use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server() -> TestServer {
    TestServer::start_adjusted(|o| {
        o.header_read_timeout = Duration::from_millis(800);
        o.body_read_timeout = Duration::from_millis(800);
    })
    .await
}

/// Reads until the server closes the connection; what it sent. Panics if it is still open
/// after `limit` (far beyond the timeouts under test).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!("the server kept the connection open: {received:?}"),
        }
    }
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_are_cut_off() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A header line every 200 ms, never the blank line that ends them.
    let mut closed = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
    }
    if !closed {
        let text = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        assert!(!text.contains("200 OK"), "{text}");
    }
    assert_eq!(server.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let text = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.ends_with("ok"), "{text}");
}

#[tokio::test]
async fn a_body_short_of_its_length_answers_504() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"apiVersion\":").await.unwrap();
    let text = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(
        text.contains("Timeout: request did not complete within requested timeout"),
        "{text}"
    );
    let list = server.get("/api/v1/namespaces/default/configmaps").await;
    assert_eq!(list.body["items"], serde_json::json!([]));
}

#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_a_large_one_413() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let head = "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"zz\r\n{}\r\n").await.unwrap();
    let text = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    let big = vec![b' '; ferrokube_apiserver::MAX_BODY_BYTES + 1];
    let reply = server
        .request(
            http::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            big,
        )
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
}
