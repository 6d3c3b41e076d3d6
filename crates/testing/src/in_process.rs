//! An API server in the test's own process, over the memory store, with `kube` clients that
//! reach its router as a tower service: no socket, no port, and nothing that needs real time,
//! so tests run under `tokio::time::pause()`.
//!
//! A client may carry a [`Hook`] that sees each request before the server does, to make a
//! write land first (a racing writer) or to answer in the server's place (a failing server);
//! every exchange is kept in a journal the test can read.
//!
//! Example: `let api = InProcess::start().await;` then `Api::<Pod>::default_namespaced(api.client())`
//! creates pods in the server's `default` namespace; `api.journal()` lists
//! `POST /api/v1/namespaces/default/pods → 201`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use ferrokube_apiserver::{ApiServer, ApiServerOptions};
use ferrokube_store::{MemoryStore, Store};
use futures::future::BoxFuture;
use http::{Method, Request, Response};
use tower::{Service, ServiceExt};

/// A running API server over a fresh memory store, with its system namespaces.
pub struct InProcess {
    server: ApiServer,
    store: Arc<dyn Store>,
    journal: Journal,
}

/// What a hook and the journal see of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    /// The path, e.g. `/api/v1/namespaces/default/pods/web-1`.
    pub path: String,
    /// The query, e.g. `watch=true&resourceVersion=12`.
    pub query: Option<String>,
}

impl RequestHead {
    /// Whether this is a `method` request for exactly `path`.
    pub fn is(&self, method: &Method, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// One request and the status it was answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exchange {
    pub request: RequestHead,
    pub status: u16,
}

/// An answer a hook gives in the server's place.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Answer {
    /// A `Status` failure as the API server words one (`kind: Status`, `status: Failure`), so
    /// that `kube` reads it as `kube::Error::Api` with this code, reason and message.
    pub fn failure(code: u16, reason: &str, message: &str) -> Answer {
        Answer {
            status: code,
            body: serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": message, "reason": reason, "code": code,
            }),
        }
    }

    fn into_response(self) -> Response<Body> {
        Response::builder()
            .status(self.status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(self.body.to_string()))
            .expect("a status and a JSON body make a response")
    }
}

/// Sees each request of a client before the server does: writes it makes land first, and an
/// [`Answer`] it returns is the client's, the server never seeing the request.
pub trait Hook: Send + Sync + 'static {
    fn before(&self, request: RequestHead) -> BoxFuture<'static, Option<Answer>>;
}

impl<F, Fut> Hook for F
where
    F: Fn(RequestHead) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<Answer>> + Send + 'static,
{
    fn before(&self, request: RequestHead) -> BoxFuture<'static, Option<Answer>> {
        Box::pin(self(request))
    }
}

/// Every exchange of every client of one server, in the order they were answered.
#[derive(Clone, Default)]
struct Journal(Arc<Mutex<Vec<Exchange>>>);

impl Journal {
    fn record(&self, request: RequestHead, status: u16) {
        let exchange = Exchange { request, status };
        self.0.lock().expect("journal lock").push(exchange);
    }
}

impl InProcess {
    /// Starts a server with the default options.
    pub async fn start() -> InProcess {
        InProcess::start_with(ApiServerOptions::default()).await
    }

    /// Starts a server with `options` and creates its system namespaces.
    pub async fn start_with(options: ApiServerOptions) -> InProcess {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let server = ApiServer::new(store.clone(), options);
        server
            .bootstrap()
            .await
            .expect("create the system namespaces");
        InProcess {
            server,
            store,
            journal: Journal::default(),
        }
    }

    /// A client of this server, defaulting to namespace `default`.
    pub fn client(&self) -> kube::Client {
        self.client_of(None)
    }

    /// A client whose requests pass `hook` first.
    pub fn client_with(&self, hook: impl Hook) -> kube::Client {
        self.client_of(Some(Arc::new(hook)))
    }

    /// Every exchange so far, of every client of this server.
    pub fn journal(&self) -> Vec<Exchange> {
        self.journal.0.lock().expect("journal lock").clone()
    }

    /// The store under the server.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The server itself (its router, for requests of a test's own making).
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    fn client_of(&self, hook: Option<Arc<dyn Hook>>) -> kube::Client {
        let service = Routed {
            router: self.server.router(),
            hook,
            journal: self.journal.clone(),
        };
        kube::Client::new(service, "default")
    }
}

/// The tower service under a client: a request goes through the hook, then the router.
#[derive(Clone)]
struct Routed {
    router: Router,
    hook: Option<Arc<dyn Hook>>,
    journal: Journal,
}

impl Service<Request<kube::client::Body>> for Routed {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let head = RequestHead {
                method: request.method().clone(),
                path: request.uri().path().to_owned(),
                query: request.uri().query().map(str::to_owned),
            };
            let answer = match &this.hook {
                Some(hook) => hook.before(head.clone()).await,
                None => None,
            };
            let response = match answer {
                Some(answer) => answer.into_response(),
                None => this.router.oneshot(request).await?,
            };
            this.journal.record(head, response.status().as_u16());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, PostParams, WatchEvent, WatchParams};
    use std::time::Duration;

    fn config_map(name: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn serves_a_client_and_its_watches_on_paused_time() {
        let api = InProcess::start().await;
        let namespaces: Api<Namespace> = Api::all(api.client());
        assert!(namespaces.get("kube-system").await.is_ok(), "bootstrapped");
        let maps: Api<ConfigMap> = Api::default_namespaced(api.client());
        let mut watch = std::pin::pin!(maps.watch(&WatchParams::default(), "0").await.unwrap());
        maps.create(&PostParams::default(), &config_map("a"))
            .await
            .unwrap();
        let event =
            tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut watch))
                .await
                .expect("the watch sees the create")
                .unwrap()
                .unwrap();
        let WatchEvent::Added(seen) = event else {
            panic!("{event:?}")
        };
        assert_eq!(seen.metadata.name.as_deref(), Some("a"));
        let create = RequestHead {
            method: Method::POST,
            path: "/api/v1/namespaces/default/configmaps".into(),
            query: api
                .journal()
                .iter()
                .find(|e| e.request.method == Method::POST)
                .unwrap()
                .request
                .query
                .clone(),
        };
        assert!(
            api.journal().contains(&Exchange {
                request: create,
                status: 201
            }),
            "{:?}",
            api.journal()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_writes_first_or_answers_instead() {
        let api = InProcess::start().await;
        let plain: Api<ConfigMap> = Api::default_namespaced(api.client());
        let racing = plain.clone();
        let hooked: Api<ConfigMap> =
            Api::default_namespaced(api.client_with(move |head: RequestHead| {
                let racing = racing.clone();
                async move {
                    if head.is(&Method::POST, "/api/v1/namespaces/default/configmaps") {
                        racing
                            .create(&PostParams::default(), &config_map("first"))
                            .await
                            .unwrap();
                    }
                    if head.is(&Method::GET, "/api/v1/namespaces/default/configmaps/down") {
                        return Some(Answer::failure(
                            503,
                            "ServiceUnavailable",
                            "down for the test",
                        ));
                    }
                    None
                }
            }));
        hooked
            .create(&PostParams::default(), &config_map("second"))
            .await
            .unwrap();
        let first = plain.get("first").await.unwrap();
        let second = plain.get("second").await.unwrap();
        let rv = |m: &ConfigMap| {
            m.metadata
                .resource_version
                .clone()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        };
        assert!(rv(&first) < rv(&second), "the hook's write landed first");
        match hooked.get("down").await {
            Err(kube::Error::Api(e)) => {
                assert_eq!((e.code, e.message.as_str()), (503, "down for the test"))
            }
            other => panic!("{other:?}"),
        }
        let statuses: Vec<(String, u16)> = api
            .journal()
            .iter()
            .map(|e| (format!("{} {}", e.request.method, e.request.path), e.status))
            .collect();
        assert!(statuses.contains(&("GET /api/v1/namespaces/default/configmaps/down".into(), 503)));
    }
}
