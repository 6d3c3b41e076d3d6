//! An in-process API server on a SQLite store in a temporary directory, and raw HTTP helpers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ferrokube_apiserver::{ApiServer, ApiServerOptions};
use ferrokube_store::{SqliteStore, SqliteStoreOptions, Store};
use http::{HeaderMap, Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::oneshot;

/// A running API server.
pub struct TestServer {
    pub url: String,
    pub client: kube::Client,
    pub store: Arc<dyn Store>,
    pub port: u16,
    path: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

/// A response: status, headers and the body as JSON (or as a string when it is not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut server = TestServer::start_on(path, 0).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on the SQLite file `path`, listening on `port` (0: any).
    pub async fn start_on(path: std::path::PathBuf, port: u16) -> TestServer {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteStoreOptions {
                path: path.clone(),
                auto_compaction: None,
            })
            .unwrap(),
        );
        TestServer::launch(store, port, path, |_| {}).await
    }

    /// Starts a server on a temporary SQLite file, with options the test adjusts.
    pub async fn start_adjusted(adjust: impl FnOnce(&mut ApiServerOptions)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(SqliteStoreOptions {
                path: path.clone(),
                auto_compaction: None,
            })
            .unwrap(),
        );
        let mut server = TestServer::launch(store, 0, path, adjust).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on a store of the test's own (etcd), with options it adjusts.
    pub async fn start_with_store(
        store: Arc<dyn Store>,
        adjust: impl FnOnce(&mut ApiServerOptions),
    ) -> TestServer {
        TestServer::launch(store, 0, std::path::PathBuf::new(), adjust).await
    }

    async fn launch(
        store: Arc<dyn Store>,
        port: u16,
        path: std::path::PathBuf,
        adjust: impl FnOnce(&mut ApiServerOptions),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut options = ApiServerOptions {
            bookmark_interval: Duration::from_millis(300),
            advertise_address: format!("127.0.0.1:{port}"),
            ..ApiServerOptions::default()
        };
        adjust(&mut options);
        let api = ApiServer::new(store.clone(), options);
        api.bootstrap().await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            api.serve(listener, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let url = format!("http://127.0.0.1:{port}");
        // Tests see each answer as the server gave it: kube's default client retries a 504.
        let mut config = kube::Config::new(url.parse().unwrap());
        config.default_retry = false;
        let client = kube::Client::try_from(config).unwrap();
        TestServer {
            url,
            client,
            store,
            port,
            path,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// Stops serving (open watches are cut) and starts again on the same file and port.
    pub async fn restart(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.stop.take();
        let dir = self._dir.take();
        let mut fresh = TestServer::start_on(self.path.clone(), self.port).await;
        fresh._dir = dir;
        *self = fresh;
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(body.into())
            .unwrap();
        self.send(request).await
    }

    pub async fn send(&self, request: Request<kube::client::Body>) -> Reply {
        let response = self.client.send(request).await.expect("HTTP round trip");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, "application/json", Vec::new())
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(
            Method::POST,
            path,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(
            Method::PUT,
            path,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        self.request(Method::DELETE, path, "application/json", bytes)
            .await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A Deployment manifest.
pub fn deployment(name: &str, replicas: i64) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
            }
        }
    })
}

/// A Pod manifest with labels.
pub fn pod(name: &str, labels: Value) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    })
}

/// The names of a list reply's items, in order.
pub fn item_names(reply: &Reply) -> Vec<String> {
    reply.body["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads newline-delimited watch events from a streaming response.
pub struct WatchReader {
    body: kube::client::Body,
    buffer: Vec<u8>,
}

impl WatchReader {
    /// Opens a watch at `path` (with its query), optionally asking for Tables.
    pub async fn open(server: &TestServer, path: &str, table: bool) -> (u16, WatchReader) {
        let accept = if table {
            "application/json;as=Table;v=v1;g=meta.k8s.io"
        } else {
            "application/json"
        };
        let request = Request::get(path)
            .header("accept", accept)
            .body(Vec::new().into())
            .unwrap();
        let response = server.client.send(request).await.expect("watch request");
        let status = response.status().as_u16();
        (
            status,
            WatchReader {
                body: response.into_body(),
                buffer: Vec::new(),
            },
        )
    }

    /// The next event, `None` when the stream ended, panicking after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<Value> {
        tokio::time::timeout(timeout, self.next_inner())
            .await
            .expect("watch event in time")
    }

    async fn next_inner(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("watch line is JSON"));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                _ => return None,
            }
        }
    }
}
