//! The kubelet's HTTP endpoint the API server proxies `pods/{name}/log` to:
//! `GET /containerLogs/{namespace}/{pod}/{container}` with upstream's query (follow, previous,
//! timestamps, tailLines, sinceSeconds, sinceTime, limitBytes), answering with the text, or a
//! plain-text error with 400 or 404 as upstream's kubelet. A followed log streams until the
//! container stops.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::api::core::v1::Pod;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::logs::{self, LogError, LogOptions};
use crate::runtime::{ContainerState, Runtime};
use ferrokube_serve::{self as connection, Timeouts};

/// How often a followed log file is read again.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// The pods this kubelet runs, by namespace and name.
pub type PodDirectory = Arc<RwLock<HashMap<(String, String), Arc<Pod>>>>;

#[derive(Clone)]
struct LogState {
    pods: PodDirectory,
    runtime: Arc<dyn Runtime>,
}

/// The kubelet's routes.
pub fn router(pods: PodDirectory, runtime: Arc<dyn Runtime>) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(LogState { pods, runtime })
}

/// Upstream's timeouts: a request's headers within 32 s of their first byte, a connection
/// with no request in flight closed after 90 s idle.
const TIMEOUTS: Timeouts = Timeouts {
    header_read: Duration::from_secs(32),
    idle: Duration::from_secs(90),
};

/// How long followed logs may go on after shutdown begins before their connections close.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown`, under upstream's connection timeouts.
pub async fn serve(
    listener: tokio::net::TcpListener,
    pods: PodDirectory,
    runtime: Arc<dyn Runtime>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let app = router(pods, runtime);
    connection::serve(listener, app, TIMEOUTS, SHUTDOWN_TIMEOUT, shutdown).await;
}

fn error(err: LogError) -> Response {
    let (status, message) = match err {
        LogError::NotFound(m) => (StatusCode::NOT_FOUND, m),
        LogError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
    };
    (status, message).into_response()
}

async fn container_logs(
    State(state): State<LogState>,
    Path((namespace, pod_name, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match open(&state, namespace, pod_name, &container, &query).await {
        Ok(response) => response,
        Err(err) => error(err),
    }
}

async fn open(
    state: &LogState,
    namespace: String,
    pod_name: String,
    container: &str,
    query: &[(String, String)],
) -> Result<Response, LogError> {
    let options = LogOptions::from_query(query, jiff::Timestamp::now())?;
    let pod = state
        .pods
        .read()
        .expect("pod directory lock")
        .get(&(namespace.clone(), pod_name.clone()))
        .cloned()
        .ok_or_else(|| {
            LogError::NotFound(format!(
                "pod \"{namespace}/{pod_name}\" cannot be found - no logs available"
            ))
        })?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let runs = state
        .runtime
        .pod_state(&uid)
        .await
        .map_err(|e| LogError::BadRequest(e.to_string()))?
        .map(|(_, runs)| runs)
        .unwrap_or_default();
    let run = logs::pick_run(&pod, &runs, container, options.previous)?;
    let path = run.log_path.clone().ok_or_else(|| {
        LogError::BadRequest(format!(
            "container {container:?} in pod {pod_name:?} has no log file"
        ))
    })?;
    let data = tokio::fs::read(&path).await.unwrap_or_default();
    let (mut text, used) = logs::render(&String::from_utf8_lossy(&data), &options);
    logs::limit(&mut text, options.limit_bytes);
    let follow = options.follow && !options.previous;
    let body = if follow {
        let follower = Follower {
            runtime: state.runtime.clone(),
            uid,
            container_id: run.id.clone(),
            path,
            offset: used as u64,
            options,
        };
        let first =
            futures::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(text)) });
        Body::from_stream(futures::StreamExt::chain(first, follower.stream()))
    } else {
        Body::from(text)
    };
    Ok(([(header::CONTENT_TYPE, "text/plain")], body).into_response())
}

/// A log file being followed from `offset` while its container runs.
struct Follower {
    runtime: Arc<dyn Runtime>,
    uid: String,
    container_id: String,
    path: PathBuf,
    offset: u64,
    options: LogOptions,
}

impl Follower {
    /// Whether the container still runs.
    async fn running(&self) -> bool {
        match self.runtime.pod_state(&self.uid).await {
            Ok(Some((_, runs))) => runs.iter().any(|r| {
                r.id == self.container_id && matches!(r.state, ContainerState::Running { .. })
            }),
            _ => false,
        }
    }

    /// What was appended since the last read, rendered (empty when nothing new is complete).
    async fn read_new(&mut self) -> std::io::Result<String> {
        let mut file = tokio::fs::File::open(&self.path).await?;
        file.seek(std::io::SeekFrom::Start(self.offset)).await?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).await?;
        let options = LogOptions {
            tail_lines: None,
            ..self.options.clone()
        };
        let (text, used) = logs::render(&String::from_utf8_lossy(&data), &options);
        self.offset += used as u64;
        Ok(text)
    }

    fn stream(self) -> impl futures::Stream<Item = std::io::Result<Bytes>> {
        futures::stream::unfold(Some(self), |follower| async move {
            let mut follower = follower?;
            loop {
                let running = follower.running().await;
                match follower.read_new().await {
                    Ok(text) if !text.is_empty() => {
                        return Some((Ok(Bytes::from(text)), Some(follower)));
                    }
                    Ok(_) if running => tokio::time::sleep(FOLLOW_POLL).await,
                    Ok(_) => return None,
                    Err(err) => return Some((Err(err), None)),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;
    use crate::runtime::hollow::Hollow;

    const SHORT: Timeouts = Timeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(3),
    };

    /// The log server's routes served on a free port under `SHORT` timeouts; the port.
    async fn start() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = router(PodDirectory::default(), Arc::new(Hollow::new(0)));
        let serving = connection::serve(
            listener,
            app,
            SHORT,
            SHUTDOWN_TIMEOUT,
            std::future::pending(),
        );
        tokio::spawn(serving);
        port
    }

    /// Whether the server has closed the connection (or answered: the test fails then).
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::ZERO, stream.read(&mut byte)).await {
            Ok(Ok(0) | Err(_)) => true,
            Ok(Ok(_)) => panic!("the server answered"),
            Err(_) => false,
        }
    }

    #[tokio::test]
    async fn a_trickled_header_is_cut_off_and_an_idle_connection_closed() {
        let port = start().await;
        let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let started = Instant::now();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut cut = None;
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let line = format!("X-Slow-{i}: 1\r\n");
            if slow.write_all(line.as_bytes()).await.is_err() || closed(&mut slow).await {
                cut = Some(started.elapsed());
                break;
            }
        }
        let cut = cut.expect("the server kept reading headers for 10 s");
        assert!(cut < SHORT.header_read * 2, "{cut:?}");

        // A kept-alive connection outlives the header-read timeout, not the idle one.
        let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = idle.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buffer[..n]);
        }
        let answered = Instant::now();
        tokio::time::sleep(SHORT.header_read * 2).await;
        assert!(!closed(&mut idle).await, "closed within the idle timeout");
        let n = tokio::time::timeout(SHORT.idle * 3, idle.read(&mut buffer))
            .await
            .expect("the idle connection stays open");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
        let idled = answered.elapsed();
        assert!(
            idled >= SHORT.idle - Duration::from_millis(100),
            "{idled:?}"
        );
    }
}
