//! `/metrics` in Prometheus text format: request counts and latency histograms by verb,
//! resource and code, as upstream's `apiserver_request_total` and
//! `apiserver_request_duration_seconds`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::Method;
use axum::response::Response;

use crate::query::Query;
use crate::route::Route;

/// Histogram bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 5.0, 60.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Request metrics.
#[derive(Default)]
pub struct Metrics {
    /// Lock order: the only lock; held for one map update or one render.
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

/// The verb and resource labels of a request, as upstream names verbs (LIST, WATCH, GET, …).
pub fn labels(method: &Method, route: &Route, query: &Query) -> (String, String) {
    let Route::Resource(path) = route else {
        return (method.as_str().to_owned(), String::new());
    };
    let verb = match (method.as_str(), path.name.is_some()) {
        ("GET", false) if query.flag("watch") => "WATCH",
        ("GET", false) => "LIST",
        ("GET", true) => "GET",
        ("POST", _) => "POST",
        ("PUT", _) => "PUT",
        ("PATCH", _) => "PATCH",
        ("DELETE", false) => "DELETECOLLECTION",
        ("DELETE", true) => "DELETE",
        (other, _) => other,
    };
    (verb.to_owned(), path.resource.clone())
}

impl Metrics {
    pub fn observe(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().expect("metrics lock");
        let entry = series
            .entry((verb.to_owned(), resource.to_owned(), code))
            .or_default();
        entry.count += 1;
        entry.sum += seconds;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                entry.buckets[i] += 1;
            }
        }
    }

    /// The request series, then the lines `process` renders, if any.
    pub fn render(&self, process: Option<fn() -> String>) -> Response {
        let series = self.series.lock().expect("metrics lock");
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, resource and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), s) in series.iter() {
            let _ = writeln!(
                out,
                "apiserver_request_total{{code=\"{code}\",resource=\"{resource}\",verb=\"{verb}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, resource and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource, code), s) in series.iter() {
            let labels = format!("code=\"{code}\",resource=\"{resource}\",verb=\"{verb}\"");
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "apiserver_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "apiserver_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        if let Some(process) = process {
            out.push_str(&process());
        }
        Response::builder()
            .status(200)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Body::from(out))
            .expect("valid response")
    }
}
