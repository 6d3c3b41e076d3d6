//! The HTTP serve loop and each connection's timeouts, as upstream's http.Server keeps them:
//! HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one port; a request's headers
//! must be complete within the header-read timeout of their first byte (of the connection's
//! start, for its first request), and a connection with no request in flight is closed once it
//! has been idle for the idle timeout. A cleartext HTTP/2 connection (prior knowledge) has only
//! the idle timeout, and is closed with a GOAWAY.
//!
//! Example, with upstream's 32 s and 90 s: a client that sends a request, reads the answer and
//! says nothing more is closed 90 s after the answer; one that sends `GET / HTTP/1.1\r\n` 10 s
//! after the answer, then a header line now and then, is closed 32 s after that first byte.
//!
//! Three pieces share a connection's [`Activity`]: [`WatchedIo`] sees bytes arrive,
//! [`Tracked`] sees requests start and their answers end, and [`drive`] runs hyper's connection
//! against the deadline the phase gives. [`serve`] accepts and spawns them.
//!
//! Both servers of ferrokube use it: the API server and the kubelet's log server.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response, StatusCode};
use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Serves `router` on `listener` until `shutdown` resolves, each connection under `timeouts`;
/// an accept that fails (too many open files) is logged and retried, never the end of
/// serving. Then connections are shut down gracefully (requests in flight finish, HTTP/2 gets
/// a GOAWAY) for up to `shutdown_timeout`, and those still open are closed.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    timeouts: Timeouts,
    shutdown_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    // The header-read timeout is `drive`'s, from a request's first byte: hyper's own runs
    // from the end of the previous answer, which would close idle connections early.
    let mut http =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    http.http1().header_read_timeout(None);
    // An HTTP/2 client silent for a third of the idle timeout is pinged, and the connection
    // closed if the answer takes longer than hyper's 20 s: a peer gone away does not hold a
    // stream open.
    http.http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(timeouts.idle / 3);
    let service = hyper_util::service::TowerToHyperService::new(router);
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let mut accept_errors = AcceptErrors::default();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_errors.wait(&err).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        // Watch events and log lines are small writes: without TCP_NODELAY, Nagle's
        // algorithm holds them back until the client's delayed ACK (up to 40 ms).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::warn!(error = %err, "could not set TCP_NODELAY");
        }
        let activity = Activity::new();
        let io = hyper_util::rt::TokioIo::new(WatchedIo::new(stream, activity.clone()));
        let service = Tracked::new(service.clone(), activity.clone());
        let served = http
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let stopped = stopped.clone();
        connections.spawn(async move {
            if let Err(err) = drive(served, activity, timeouts, stopped).await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    stop.send_replace(true);
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(shutdown_timeout, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_seconds = shutdown_timeout.as_secs(),
            open = connections.len(),
            "connections still open after the shutdown timeout; closing them"
        );
        connections.shutdown().await;
    }
}

/// Failed accepts (EMFILE when the process is out of file descriptors): a short pause so
/// that the loop does not spin, and one log line a second at most.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<std::time::Instant>,
    since: u64,
}

impl AcceptErrors {
    async fn wait(&mut self, err: &std::io::Error) {
        self.since += 1;
        if self
            .last_logged
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            tracing::warn!(error = %err, failures = self.since, "accepting a connection failed; retrying");
            self.last_logged = Some(std::time::Instant::now());
            self.since = 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connection's two timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// From a request's first byte to the end of its headers (upstream's ReadHeaderTimeout).
    pub header_read: Duration,
    /// From the end of the last answer to the first byte of the next request (IdleTimeout).
    pub idle: Duration,
}

/// Where a connection stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// A request's headers are arriving, since the instant (for a new connection: its start).
    Head(Instant),
    /// No request in flight and no byte of the next one, since the instant.
    Idle(Instant),
    /// This many requests in flight (HTTP/2 runs several at once).
    Busy(usize),
    /// Switched protocols (101): no longer HTTP's to time out.
    Upgraded,
}

/// What happened on a connection.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Bytes arrived from the client.
    Bytes,
    /// The client's first bytes were the HTTP/2 preface.
    Http2,
    /// A request's headers were read: it is handed to the service.
    Begin,
    /// An answer was sent (or dropped).
    End,
    /// An answer switched protocols.
    Upgrade,
}

impl Phase {
    /// The phase after `step` at `now`; `http2` connections have no header phase.
    fn after(self, step: Step, now: Instant, http2: bool) -> Phase {
        match (self, step) {
            (Phase::Upgraded, _) | (_, Step::Upgrade) => Phase::Upgraded,
            (Phase::Idle(_), Step::Bytes) if !http2 => Phase::Head(now),
            (Phase::Head(_), Step::Http2) => Phase::Idle(now),
            (Phase::Busy(n), Step::Begin) => Phase::Busy(n + 1),
            (_, Step::Begin) => Phase::Busy(1),
            (Phase::Busy(1), Step::End) => Phase::Idle(now),
            (Phase::Busy(n), Step::End) => Phase::Busy(n - 1),
            (phase, _) => phase,
        }
    }

    /// When the phase runs out, and what that means; `None` while requests are in flight.
    fn deadline(self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        match self {
            Phase::Head(since) => Some((since + timeouts.header_read, Expiry::Headers)),
            Phase::Idle(since) => Some((since + timeouts.idle, Expiry::Idle)),
            Phase::Busy(_) | Phase::Upgraded => None,
        }
    }
}

/// What a passed deadline means.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expiry {
    /// A request's headers took too long: the connection is cut.
    Headers,
    /// The connection sat idle: it is shut down gracefully (HTTP/2: GOAWAY).
    Idle,
    /// A graceful shutdown for idleness took too long: the connection is cut.
    Closing,
}

/// A connection's phase and protocol, shared by its IO, its service and its driver.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<(Phase, bool)>,
    changed: Notify,
}

impl Activity {
    /// A connection accepted now: its first request's header time runs from here.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((Phase::Head(Instant::now()), false)),
            changed: Notify::new(),
        })
    }

    fn step(&self, step: Step) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (phase, http2) = &mut *state;
        *http2 |= matches!(step, Step::Http2);
        let next = phase.after(step, Instant::now(), *http2);
        if next != *phase {
            *phase = next;
            self.changed.notify_one();
        }
    }

    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0.deadline(timeouts)
    }
}

/// The first bytes of every HTTP/2 prior-knowledge connection.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How much of the HTTP/2 preface a connection's bytes have matched once `bytes` follow the
/// `matched` first ones; `None` once they differ.
fn preface_matched(matched: usize, bytes: &[u8]) -> Option<usize> {
    let rest = &H2_PREFACE[matched..];
    let n = rest.len().min(bytes.len());
    (bytes[..n] == rest[..n]).then_some(matched + n)
}

/// A connection's IO, telling its [`Activity`] when bytes arrive and whether they open with the
/// HTTP/2 preface.
pub struct WatchedIo<T> {
    io: T,
    activity: Arc<Activity>,
    /// Bytes of the HTTP/2 preface matched so far, until the protocol is known.
    preface: Option<usize>,
}

impl<T> WatchedIo<T> {
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        WatchedIo {
            io,
            activity,
            preface: Some(0),
        }
    }

    fn arrived(&mut self, bytes: &[u8]) {
        if let Some(matched) = self.preface {
            self.preface = match preface_matched(matched, bytes) {
                Some(n) if n == H2_PREFACE.len() => {
                    self.activity.step(Step::Http2);
                    None
                }
                other => other,
            };
        }
        self.activity.step(Step::Bytes);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.arrived(&buf.filled()[before..]);
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A service that tells the connection's [`Activity`] when a request starts and when its
/// answer has been sent (its body dropped).
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

/// One request in flight, until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.step(Step::End);
    }
}

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.step(Step::Begin);
        let in_flight = InFlight(self.activity.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                in_flight.0.step(Step::Upgrade);
            }
            Ok(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// An answer's body, holding its request in flight until hyper drops it.
pub struct TrackedBody<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves one connection to its end: hyper's `connection`, cut when a request's headers are
/// late, shut down gracefully when it has been idle too long (and cut if that takes another
/// header-read timeout) or when `stop` turns true.
pub async fn drive<C: GracefulConnection>(
    connection: C,
    activity: Arc<Activity>,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) -> Result<(), C::Error> {
    let mut connection = pin!(connection);
    let mut sleep = pin!(tokio::time::sleep(Duration::ZERO));
    let mut closing_since = None;
    let mut stopping = false;
    loop {
        let deadline = match closing_since {
            Some(since) => Some((since + timeouts.header_read, Expiry::Closing)),
            None => activity.deadline(timeouts),
        };
        if let Some((at, _)) = deadline {
            sleep.as_mut().reset(at);
        }
        tokio::select! {
            result = connection.as_mut() => return result,
            () = activity.changed.notified() => {}
            () = sleep.as_mut(), if deadline.is_some() => match deadline.map(|(_, why)| why) {
                Some(Expiry::Idle) => {
                    tracing::debug!(idle_seconds = timeouts.idle.as_secs(), "closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing_since = Some(Instant::now());
                }
                why => {
                    tracing::debug!(expired = ?why, "cutting a connection");
                    return Ok(());
                }
            },
            _ = stop.changed(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_table() {
        let t0 = Instant::now();
        let now = t0 + Duration::from_secs(5);
        let cases = [
            // (phase, step, http2, next)
            (Phase::Head(t0), Step::Bytes, false, Phase::Head(t0)),
            (Phase::Head(t0), Step::Begin, false, Phase::Busy(1)),
            (Phase::Head(t0), Step::Http2, true, Phase::Idle(now)),
            (Phase::Busy(1), Step::Bytes, false, Phase::Busy(1)),
            (Phase::Busy(1), Step::End, false, Phase::Idle(now)),
            (Phase::Busy(1), Step::Begin, true, Phase::Busy(2)),
            (Phase::Busy(2), Step::End, true, Phase::Busy(1)),
            (Phase::Idle(t0), Step::Bytes, false, Phase::Head(now)),
            // HTTP/2 frames (pings, settings) while idle are not a request's headers
            (Phase::Idle(t0), Step::Bytes, true, Phase::Idle(t0)),
            (Phase::Idle(t0), Step::Begin, true, Phase::Busy(1)),
            (Phase::Busy(1), Step::Upgrade, false, Phase::Upgraded),
            (Phase::Upgraded, Step::End, false, Phase::Upgraded),
            (Phase::Upgraded, Step::Begin, false, Phase::Upgraded),
        ];
        for (phase, step, http2, next) in cases {
            assert_eq!(phase.after(step, now, http2), next, "{phase:?} {step:?}");
        }
    }

    #[test]
    fn deadlines_table() {
        let t0 = Instant::now();
        let timeouts = Timeouts {
            header_read: Duration::from_secs(32),
            idle: Duration::from_secs(90),
        };
        let after = |s| t0 + Duration::from_secs(s);
        assert_eq!(
            Phase::Head(t0).deadline(timeouts),
            Some((after(32), Expiry::Headers))
        );
        assert_eq!(
            Phase::Idle(t0).deadline(timeouts),
            Some((after(90), Expiry::Idle))
        );
        assert_eq!(Phase::Busy(1).deadline(timeouts), None);
        assert_eq!(Phase::Upgraded.deadline(timeouts), None);
    }

    #[test]
    fn preface_table() {
        assert_eq!(preface_matched(0, H2_PREFACE), Some(24));
        assert_eq!(preface_matched(0, b"PRI * HT"), Some(8));
        assert_eq!(
            preface_matched(8, b"TP/2.0\r\n\r\nSM\r\n\r\nextra"),
            Some(24)
        );
        assert_eq!(preface_matched(0, b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(preface_matched(0, b"P"), Some(1));
        assert_eq!(preface_matched(1, b"UT /x"), None);
    }
}
