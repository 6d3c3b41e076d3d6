//! Connections a client leaves hanging are closed, as upstream's http.Server closes them: a
//! request whose headers do not finish within the header-read timeout of their first byte
//! (slowloris), a connection idle past the idle timeout (HTTP/1.1 kept alive, or HTTP/2 with
//! prior knowledge), and a body that stops short of its Content-Length (504). An idle
//! connection outlives the header-read timeout. The server goes on answering others meanwhile,
//! and goes on accepting after accepts fail for want of file descriptors.

mod support;

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEADER_READ: Duration = Duration::from_secs(1);
const IDLE: Duration = Duration::from_secs(4);

async fn server() -> TestServer {
    TestServer::start_adjusted(|o| {
        o.header_read_timeout = HEADER_READ;
        o.idle_timeout = IDLE;
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

/// Sends `GET /readyz` and reads its whole answer (`ok`, 2 bytes), leaving the connection open.
async fn readyz(stream: &mut TcpStream) {
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.ends_with(b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&received));
        received.extend_from_slice(&buffer[..n]);
    }
    assert!(received.starts_with(b"HTTP/1.1 200 OK"));
}

/// Sends a header line every 200 ms, never the blank line that ends them, until the server
/// closes the connection; how long after the first line that was.
async fn trickle_headers(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            return started.elapsed();
        }
        let mut byte = [0u8; 1];
        if let Ok(read) = tokio::time::timeout(Duration::ZERO, stream.read(&mut byte)).await {
            assert!(!matches!(read, Ok(1..)), "the server answered {byte:?}");
            return started.elapsed();
        }
    }
    panic!("the server kept reading headers for 10 s");
}

#[tokio::test]
async fn headers_sent_a_line_at_a_time_are_cut_off() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let cut = trickle_headers(&mut stream).await;
    assert!(cut < HEADER_READ * 2, "{cut:?}");
    assert_eq!(server.get("/readyz").await.status, 200);
}

#[tokio::test]
async fn a_kept_alive_connection_trickling_headers_is_cut_at_the_header_timeout() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    readyz(&mut stream).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The header-read timeout runs from the next request's first byte, not from the last
    // answer, and does not wait for the idle timeout (3.5 s away).
    let cut = trickle_headers(&mut stream).await;
    assert!(cut >= HEADER_READ - Duration::from_millis(100), "{cut:?}");
    assert!(cut < HEADER_READ * 2, "{cut:?}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_outlives_the_header_timeout_not_the_idle_one() {
    let server = server().await;
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    readyz(&mut stream).await;
    tokio::time::sleep(HEADER_READ * 2).await;
    readyz(&mut stream).await;
    let answered = Instant::now();
    let text = read_until_closed(&mut stream, IDLE * 3).await;
    assert_eq!(text, "");
    let idle = answered.elapsed();
    assert!(idle >= IDLE - Duration::from_millis(100), "{idle:?}");
    assert!(idle < IDLE + Duration::from_secs(2), "{idle:?}");
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_and_closed_when_idle() {
    let server = server().await;
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    let closed = tokio::spawn(async move {
        let _ = connection.await;
        Instant::now()
    });
    let url = format!("http://127.0.0.1:{}/readyz", server.port);
    let mut ask = async || {
        let request = http::Request::get(&url)
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
    };
    ask().await;
    // Past the header-read timeout, the connection still serves; HTTP/2 has no such phase.
    tokio::time::sleep(HEADER_READ * 2).await;
    ask().await;
    let answered = Instant::now();
    let closed = tokio::time::timeout(IDLE * 3, closed)
        .await
        .expect("the idle HTTP/2 connection stays open")
        .unwrap();
    let idle = closed - answered;
    assert!(idle >= IDLE - Duration::from_millis(100), "{idle:?}");
    assert!(idle < IDLE + Duration::from_secs(2), "{idle:?}");
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

/// Set in the child process `accepting_goes_on_after_accepts_fail` starts.
const CHILD: &str = "FERROKUBE_ACCEPT_FAILURES_CHILD";

/// Warnings logged, as text.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn set_open_file_limit(soft: libc::rlim_t) -> libc::rlim_t {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the one struct passed to them.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let before = limit.rlim_cur;
        limit.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        before
    }
}

/// The child half of `accepting_goes_on_after_accepts_fail`: it lowers its own process's
/// open-file limit, so it runs alone in a process the parent starts, and does nothing else.
#[tokio::test]
#[ignore = "run by accepting_goes_on_after_accepts_fail, in a process of its own"]
async fn accept_failures_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_ansi(false)
        .init();
    let server = server().await;
    // Blocking connects on this (the server's only) thread: the connections wait in the
    // listener's backlog, not accepted yet.
    let waiting: Vec<std::net::TcpStream> = (0..20)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as libc::rlim_t;
    // Two accepts succeed, the next ones fail with "Too many open files".
    let original = set_open_file_limit(open + 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    set_open_file_limit(original);
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("accepting a connection failed; retrying"),
        "{logged}"
    );
    assert!(logged.contains("Too many open files"), "{logged}");
    drop(waiting);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    readyz(&mut stream).await;
}

#[test]
fn accepting_goes_on_after_accepts_fail() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "accept_failures_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("test result: ok. 1 passed"), "{text}");
}
