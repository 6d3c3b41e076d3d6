//! `/healthz`, `/livez` and `/readyz`, as upstream's healthz package: each endpoint runs its
//! checks; `?verbose` lists them (`[+]ping ok` … `readyz check passed`), `/readyz/<check>`
//! runs one, and a failing check answers 500 with the list.

use axum::body::Body;
use axum::response::Response;

use crate::Inner;
use crate::query::Query;

/// The checks an endpoint runs, in upstream's order.
fn checks(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "readyz" => &["ping", "log", "etcd", "etcd-readiness", "shutdown"],
        _ => &["ping", "log", "etcd"],
    }
}

/// The outcome of each check of `endpoint` (or of the one named after it), rendered.
///
/// Example: `readyz` with every check passing and `verbose` gives `[+]ping ok` … `[+]shutdown
/// ok` and `readyz check passed`, 200; without `verbose` just `ok`.
pub fn render(endpoint: &str, results: &[(&str, bool)], verbose: bool) -> (u16, String) {
    let passed = results.iter().all(|(_, ok)| *ok);
    let single = endpoint.contains('/');
    if passed && (!verbose || single) {
        return (200, "ok".to_owned());
    }
    let mut text = String::new();
    for (name, ok) in results {
        match ok {
            true => text.push_str(&format!("[+]{name} ok\n")),
            false => text.push_str(&format!("[-]{name} failed: reason withheld\n")),
        }
    }
    let verdict = if passed { "passed" } else { "failed" };
    text.push_str(&format!("{endpoint} check {verdict}\n"));
    (if passed { 200 } else { 500 }, text)
}

/// Whether one check passes now.
async fn check(server: &Inner, name: &str) -> bool {
    match name {
        "etcd" | "etcd-readiness" => crate::registry::store_reachable(server).await,
        "shutdown" => !*server.stopping.borrow(),
        _ => true,
    }
}

/// Answers a health request: `path` is `healthz`, `readyz`, `readyz/etcd`, ….
pub async fn respond(server: &Inner, path: &str, query: &Query) -> Option<Response> {
    let (endpoint, only) = match path.split_once('/') {
        Some((endpoint, check)) => (endpoint, Some(check)),
        None => (path, None),
    };
    let names: Vec<&str> = match only {
        Some(one) => vec![*checks(endpoint).iter().find(|c| **c == one)?],
        None => checks(endpoint).to_vec(),
    };
    let mut results = Vec::new();
    for name in names {
        results.push((name, check(server, name).await));
    }
    let (status, text) = render(path, &results, query.flag("verbose"));
    Some(
        Response::builder()
            .status(status)
            .header("content-type", "text/plain; charset=utf-8")
            .header("x-content-type-options", "nosniff")
            .body(Body::from(text))
            .expect("valid response"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_table() {
        let good = [("ping", true), ("etcd", true)];
        let bad = [("ping", true), ("etcd", false)];
        assert_eq!(render("readyz", &good, false), (200, "ok".to_owned()));
        assert_eq!(
            render("readyz", &good, true),
            (
                200,
                "[+]ping ok\n[+]etcd ok\nreadyz check passed\n".to_owned()
            )
        );
        assert_eq!(
            render("livez", &bad, false),
            (
                500,
                "[+]ping ok\n[-]etcd failed: reason withheld\nlivez check failed\n".to_owned()
            )
        );
        assert_eq!(
            render("readyz/ping", &[("ping", true)], true),
            (200, "ok".to_owned())
        );
    }
}
