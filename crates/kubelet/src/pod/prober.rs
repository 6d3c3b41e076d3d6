//! Runs one probe against a container, within its timeoutSeconds: httpGet (an HTTP/1.1 GET
//! from `kube-probe/1.33`; 200–399 passes), tcpSocket (a connection opens), exec (the command
//! exits 0, through the runtime's ExecSync). Failures are worded as upstream's, e.g.
//! `HTTP probe failed with statuscode: 500` or
//! `Get "http://10.42.0.5:81/": dial tcp 10.42.0.5:81: connect: connection refused`.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::runtime::Runtime;

/// A probe's result.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    Failure(String),
    /// The probe could not be run (say, a kind of probe not supported): nothing changes.
    Unknown(String),
}

/// What a probe targets.
pub struct Target<'a> {
    pub runtime: &'a dyn Runtime,
    pub container: &'a Container,
    pub container_id: &'a str,
    pub pod_ip: &'a str,
}

/// Runs `probe` once against `target`.
pub async fn run(probe: &Probe, target: &Target<'_>, timeout: Duration) -> Verdict {
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        return exec_probe(target, &command, timeout).await;
    }
    if let Some(get) = &probe.http_get {
        return http_probe(get, target, timeout).await;
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp.host.as_deref().filter(|h| !h.is_empty());
        let host = host.unwrap_or(target.pod_ip);
        return match port(&tcp.port, target.container) {
            Ok(port) => tcp_probe(host, port, timeout).await,
            Err(message) => Verdict::Failure(message),
        };
    }
    Verdict::Unknown("only exec, httpGet and tcpSocket probes are supported".into())
}

/// A port number, or a named port of the container.
fn port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => name.parse().ok().or_else(|| {
            container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .map(|p| p.container_port)
        }),
    };
    number
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            let shown = match port {
                IntOrString::Int(n) => n.to_string(),
                IntOrString::String(s) => s.clone(),
            };
            format!(
                "unable to find port {shown:?} in container {}",
                container.name
            )
        })
}

/// `dial tcp HOST:PORT: connect: connection refused`, as Go words it.
fn dial_error(host: &str, port: u16, err: &std::io::Error) -> String {
    let why = match err.kind() {
        std::io::ErrorKind::ConnectionRefused => "connect: connection refused".to_owned(),
        std::io::ErrorKind::TimedOut => "i/o timeout".to_owned(),
        _ => err.to_string(),
    };
    format!("dial tcp {host}:{port}: {why}")
}

async fn tcp_probe(host: &str, port: u16, timeout: Duration) -> Verdict {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Verdict::Success,
        Ok(Err(err)) => Verdict::Failure(dial_error(host, port, &err)),
        Err(_) => Verdict::Failure(format!("dial tcp {host}:{port}: i/o timeout")),
    }
}

async fn http_probe(get: &HTTPGetAction, target: &Target<'_>, timeout: Duration) -> Verdict {
    let host = get.host.as_deref().filter(|h| !h.is_empty());
    let host = host.unwrap_or(target.pod_ip).to_owned();
    let port = match port(&get.port, target.container) {
        Ok(port) => port,
        Err(message) => return Verdict::Failure(message),
    };
    let mut path = get.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let scheme = get.scheme.as_deref().unwrap_or("HTTP");
    let url = format!("{}://{host}:{port}{path}", scheme.to_lowercase());
    if scheme != "HTTP" {
        return Verdict::Unknown(format!("{scheme} probes are not supported ({url})"));
    }
    let request = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("Get {url:?}: {}", dial_error(&host, port, &e)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        tokio::spawn(connection);
        let mut request = hyper::Request::get(path.as_str())
            .header(hyper::header::HOST, format!("{host}:{port}"))
            .header(hyper::header::USER_AGENT, "kube-probe/1.33")
            .header(hyper::header::ACCEPT, "*/*");
        for h in get.http_headers.iter().flatten() {
            request = request.header(h.name.as_str(), h.value.as_str());
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("Get {url:?}: {e}"))?;
        Ok::<_, String>(response.status().as_u16())
    };
    match tokio::time::timeout(timeout, request).await {
        Ok(Ok(code)) if (200..400).contains(&code) => Verdict::Success,
        Ok(Ok(code)) => Verdict::Failure(format!("HTTP probe failed with statuscode: {code}")),
        Ok(Err(message)) => Verdict::Failure(message),
        Err(_) => Verdict::Failure(format!(
            "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

async fn exec_probe(target: &Target<'_>, command: &[String], timeout: Duration) -> Verdict {
    let ran = tokio::time::timeout(
        timeout + Duration::from_secs(2),
        target
            .runtime
            .exec_sync(target.container_id, command, timeout),
    )
    .await;
    match ran {
        Ok(Ok(result)) if result.exit_code == 0 => Verdict::Success,
        Ok(Ok(result)) => Verdict::Failure(result.output),
        Ok(Err(err)) => Verdict::Failure(err.to_string()),
        Err(_) => Verdict::Failure(format!("command {:?} timed out", command.join(" "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Container {
        serde_json::from_value(serde_json::json!({
            "name": "web", "ports": [{"name": "http", "containerPort": 8080}]
        }))
        .unwrap()
    }

    #[test]
    fn ports_by_number_or_name() {
        let c = container();
        assert_eq!(port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(port(&IntOrString::String("http".into()), &c), Ok(8080));
        assert_eq!(port(&IntOrString::String("81".into()), &c), Ok(81));
        assert_eq!(
            port(&IntOrString::String("admin".into()), &c),
            Err("unable to find port \"admin\" in container web".into())
        );
    }

    #[tokio::test]
    async fn tcp_and_http_probes_against_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let app = axum::Router::new()
                .route("/ok", axum::routing::get(|| async { "ok" }))
                .route(
                    "/bad",
                    axum::routing::get(|| async {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no")
                    }),
                );
            axum::serve(listener, app).await.unwrap();
        });
        let second = Duration::from_secs(1);
        assert_eq!(tcp_probe("127.0.0.1", port, second).await, Verdict::Success);
        let runtime = crate::runtime::hollow::Hollow::new(0);
        let c = container();
        let target = Target {
            runtime: &runtime,
            container: &c,
            container_id: "c",
            pod_ip: "127.0.0.1",
        };
        let get = |path: &str, port: i32| HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..Default::default()
        };
        let port = i32::from(port);
        assert_eq!(
            http_probe(&get("/ok", port), &target, second).await,
            Verdict::Success
        );
        assert_eq!(
            http_probe(&get("/bad", port), &target, second).await,
            Verdict::Failure("HTTP probe failed with statuscode: 500".into())
        );
        // A port nothing listens on: the listener's port is free again once it is dropped.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        assert_eq!(
            http_probe(&get("/", i32::from(closed_port)), &target, second).await,
            Verdict::Failure(format!(
                "Get \"http://127.0.0.1:{closed_port}/\": dial tcp 127.0.0.1:{closed_port}: connect: connection refused"
            ))
        );
    }
}
