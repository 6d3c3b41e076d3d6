//! The Kubernetes REST API over the ferrokube store: one generic implementation of every verb
//! for every resource in the registry, discovery, Tables, watches and `Status` errors.

mod admission;
mod bootstrap;
mod discovery;
mod handlers;
mod health;
mod list_options;
mod metrics;
mod object;
mod openapi;
mod openapi_v2;
pub mod pki;
mod query;
mod registry;
mod response;
mod route;
pub mod serviceaccount;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use ferrokube_api::{ApiError, Registry};
use ferrokube_store::Store;
use tokio::net::TcpListener;

use bootstrap::ensure_system_namespaces;
use metrics::Metrics;
use query::Query;
use route::Route;

/// Request bodies above this size are refused with 413, as upstream does.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Tuning of the API server.
#[derive(Clone, Debug)]
pub struct ApiServerOptions {
    /// How often a watch with `allowWatchBookmarks` gets a BOOKMARK event.
    pub bookmark_interval: Duration,
    /// The address clients reach the server at, for discovery's serverAddressByClientCIDRs.
    pub advertise_address: String,
    /// How long requests in flight may finish after a shutdown begins; open watches end at
    /// once, and connections still open after this are closed.
    pub shutdown_timeout: Duration,
    /// How long the health checks' `etcd` probe waits for the store (upstream: 2 s).
    pub health_check_timeout: Duration,
    /// How long a client may take to send a request's headers, from their first byte (for a
    /// new connection: from its start); upstream's ReadHeaderTimeout, 32 s.
    pub header_read_timeout: Duration,
    /// How long a connection with no request in flight may sit idle before it is closed
    /// (HTTP/2: with a GOAWAY); upstream's IdleTimeout, 90 s.
    pub idle_timeout: Duration,
    /// How long a request's body may take to arrive (upstream's request timeout, 60 s); a body
    /// that stops short answers 504.
    pub body_read_timeout: Duration,
    /// More `/metrics` lines from the process around the server (its heap figures, say).
    pub process_metrics: Option<fn() -> String>,
    /// What signs and verifies service-account tokens; a key of this process only if unset.
    pub tokens: Option<Arc<serviceaccount::Tokens>>,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        ApiServerOptions {
            bookmark_interval: Duration::from_secs(60),
            advertise_address: "127.0.0.1:6443".to_owned(),
            shutdown_timeout: Duration::from_secs(5),
            health_check_timeout: Duration::from_secs(2),
            header_read_timeout: Duration::from_secs(32),
            idle_timeout: Duration::from_secs(90),
            body_read_timeout: Duration::from_secs(60),
            process_metrics: None,
            tokens: None,
        }
    }
}

/// The API server: the registry, the store and the options; cheap to clone.
#[derive(Clone)]
pub struct ApiServer {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub registry: Registry,
    /// The key-value store, reached only through `registry::Storage`.
    pub backend: registry::Backend,
    pub admission: admission::Chain,
    /// Each resource's create and delete hooks.
    pub hooks: registry::HookTable,
    pub options: ApiServerOptions,
    pub metrics: Metrics,
    pub openapi: openapi::OpenApi,
    /// Schemas of the served kinds, for strategic merge and managed fields.
    pub schemas: ferrokube_api::patch::Schemas,
    /// Watch lines encoded once for all the unfiltered watches of a resource.
    pub watch_lines: handlers::watch_lines::SharedLines,
    /// Turns true when the server begins to shut down: watches end, readyz fails.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Signs and verifies service-account tokens.
    pub tokens: Arc<serviceaccount::Tokens>,
}

impl ApiServer {
    pub fn new(store: Arc<dyn Store>, options: ApiServerOptions) -> Self {
        let registry = Registry::builtin();
        let schemas = ferrokube_api::patch::Schemas::for_registry(&registry);
        let tokens = options
            .tokens
            .clone()
            .unwrap_or_else(|| Arc::new(serviceaccount::Tokens::ephemeral()));
        ApiServer {
            inner: Arc::new(Inner {
                registry,
                backend: registry::Backend::new(store),
                admission: admission::Chain::standard(),
                hooks: registry::HookTable::builtin(),
                options,
                metrics: Metrics::default(),
                openapi: openapi::OpenApi::default(),
                schemas,
                watch_lines: Default::default(),
                stopping: tokio::sync::watch::Sender::new(false),
                tokens,
            }),
        }
    }

    /// The HTTP router; every path goes through one dispatcher.
    pub fn router(&self) -> Router {
        Router::new().fallback(dispatch).with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` resolves: HTTP/1.1 and cleartext HTTP/2, with
    /// upstream's header-read and idle timeouts (see `ferrokube_serve`); an accept that fails (too
    /// many open files) is logged and retried, never the end of serving. On shutdown, watches
    /// end, requests in flight get `shutdown_timeout` to finish, then the connections still
    /// open are closed.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let options = &self.inner.options;
        let timeouts = ferrokube_serve::Timeouts {
            header_read: options.header_read_timeout,
            idle: options.idle_timeout,
        };
        let inner = self.inner.clone();
        let shutdown = async move {
            shutdown.await;
            inner.stopping.send_replace(true);
        };
        let router = self.router();
        ferrokube_serve::serve(
            listener,
            router,
            timeouts,
            options.shutdown_timeout,
            shutdown,
        )
        .await;
        Ok(())
    }

    /// Creates the namespaces every cluster has.
    pub async fn bootstrap(&self) -> Result<(), ApiError> {
        ensure_system_namespaces(&self.inner).await
    }
}

async fn dispatch(State(server): State<ApiServer>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let route = route::parse(parts.uri.path());
    let query = Query::parse(parts.uri.query());
    let (verb, resource) = metrics::labels(&parts.method, &route, &query);
    let response = match read_body(body, server.inner.options.body_read_timeout).await {
        Ok(body) => {
            handle(
                &server.inner,
                &parts.method,
                route,
                query,
                &parts.headers,
                body,
            )
            .await
        }
        Err(err) => response::error(&err),
    };
    server.inner.metrics.observe(
        &verb,
        &resource,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// `/openapi/v2` as the client asks: gnostic protobuf (kubectl) or JSON.
fn openapi_v2_response(server: &Inner, headers: &HeaderMap) -> Response {
    let (doc, bytes) = server.openapi.v2(&server.registry);
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("protobuf") {
        return Response::builder()
            .status(200)
            .header(
                "content-type",
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            )
            .body(Body::from(bytes.clone()))
            .expect("valid response");
    }
    response::json(200, doc)
}

/// The request's body, at most `MAX_BODY_BYTES` (413), within `timeout` (504, as upstream's
/// request timeout answers a body that stops short of its length); a malformed body (a bad
/// chunk, a connection closed before the length) is a 400.
async fn read_body(body: Body, timeout: Duration) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(err)) if is_length_limit(&err) => Err(ApiError::too_large(MAX_BODY_BYTES)),
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "reading a request body failed");
            Err(ApiError::bad_request("unexpected EOF"))
        }
        Err(_) => Err(ApiError::request_timeout()),
    }
}

/// Whether a body error is the size limit rather than a broken body.
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

async fn handle(
    server: &Arc<Inner>,
    method: &Method,
    route: Route,
    query: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let result = match route {
        Route::Version => Ok(response::json(200, &discovery::version())),
        Route::Health(path) => health::respond(server, &path, &query)
            .await
            .ok_or_else(ApiError::path_not_found),
        Route::Metrics => Ok(server.metrics.render(server.options.process_metrics)),
        Route::CoreVersions => Ok(discovery::core_versions(server, headers)),
        Route::Groups => Ok(discovery::groups(server, headers)),
        Route::Group(group) => discovery::group(server, &group),
        Route::GroupVersion { group, version } => {
            discovery::resource_list(server, &group, &version)
        }
        Route::OpenApiV3(None) => Ok(response::json(200, &server.openapi.root(&server.registry))),
        Route::OpenApiV3(Some(path)) => server
            .openapi
            .document(&server.registry, &path)
            .map(|doc| response::json(200, &doc)),
        Route::OpenApiV2 => Ok(openapi_v2_response(server, headers)),
        Route::Resource(path) => handlers::handle(server, method, path, query, headers, body).await,
        Route::NotFound => Err(ApiError::path_not_found()),
    };
    result.unwrap_or_else(|err| response::error(&err))
}
