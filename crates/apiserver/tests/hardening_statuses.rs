//! Statuses of issue 15 item 9 over real HTTP, as upstream answers them: reads at a future
//! resourceVersion (504 Too large resource version), `continue` with a resourceVersion (400),
//! ListOptions rules (422), an `Accept` of nothing served (406), unparsable integers (400).

mod support;

use http::{Method, Request};
use serde_json::{Value, json};
use support::{Reply, TestServer, WatchReader};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "1"}})
}

async fn server_with_configmaps(names: &[&str]) -> TestServer {
    let server = TestServer::start().await;
    for name in names {
        let reply = server.post(CONFIGMAPS, &configmap(name)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    server
}

async fn names(server: &TestServer) -> Vec<String> {
    support::item_names(&server.get(CONFIGMAPS).await)
}

async fn current_revision(server: &TestServer) -> i64 {
    let list = server.get(CONFIGMAPS).await;
    list.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn with_accept(server: &TestServer, method: Method, path: &str, accept: &str) -> Reply {
    let body = match method {
        Method::POST => serde_json::to_vec(&configmap("new")).unwrap(),
        _ => Vec::new(),
    };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header("accept", accept)
        .body(body.into())
        .unwrap();
    server.send(request).await
}

fn assert_status(reply: &Reply, code: u16, reason: &str, message: &str, what: &str) {
    assert_eq!(reply.status, code, "{what}: {}", reply.body);
    assert_eq!(reply.body["kind"], "Status", "{what}");
    assert_eq!(reply.body["reason"], reason, "{what}");
    assert_eq!(reply.body["message"], message, "{what}");
}

#[tokio::test]
async fn reads_at_a_future_resource_version_are_504_too_large() {
    let server = server_with_configmaps(&["a"]).await;
    let current = current_revision(&server).await;
    let future = current + 1000;
    let get = format!("{CONFIGMAPS}/a?resourceVersion={future}");
    let list = format!("{CONFIGMAPS}?resourceVersion={future}");
    let not_older =
        format!("{CONFIGMAPS}?resourceVersion={future}&resourceVersionMatch=NotOlderThan");
    let (get, list, not_older) =
        tokio::join!(server.get(&get), server.get(&list), server.get(&not_older));
    let message = format!("Timeout: Too large resource version: {future}, current: {current}");
    for (reply, what) in [
        (get, "get"),
        (list, "list"),
        (not_older, "list NotOlderThan"),
    ] {
        assert_status(&reply, 504, "Timeout", &message, what);
        let details = &reply.body["details"];
        assert_eq!(details["retryAfterSeconds"], 1, "{what}");
        assert_eq!(
            details["causes"],
            json!([{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}]),
            "{what}"
        );
        assert_eq!(reply.headers["retry-after"], "1", "{what}");
    }
    // The current revision and 0 are served at once.
    for path in [
        format!("{CONFIGMAPS}/a?resourceVersion={current}"),
        format!("{CONFIGMAPS}?resourceVersion={current}&resourceVersionMatch=NotOlderThan"),
        format!("{CONFIGMAPS}?resourceVersion=0"),
    ] {
        assert_eq!(server.get(&path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn continue_with_a_resource_version_is_400() {
    let server = server_with_configmaps(&["a", "b", "c"]).await;
    let first = server.get(&format!("{CONFIGMAPS}?limit=1")).await;
    let token = first.body["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_owned();
    let rv = first.body["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();
    let with_rv = server
        .get(&format!(
            "{CONFIGMAPS}?limit=1&continue={token}&resourceVersion={rv}"
        ))
        .await;
    assert_status(
        &with_rv,
        400,
        "BadRequest",
        "specifying resource version is not allowed when using continue",
        "continue with resourceVersion",
    );
    // Upstream lets `0` through (tightening it would break clients) and goes on paging.
    let with_zero = server
        .get(&format!(
            "{CONFIGMAPS}?limit=1&continue={token}&resourceVersion=0"
        ))
        .await;
    assert_eq!(with_zero.status, 200, "{}", with_zero.body);
    assert_eq!(with_zero.body["items"][0]["metadata"]["name"], "b");
}

#[tokio::test]
async fn list_options_upstream_forbids_are_422() {
    let server = server_with_configmaps(&["a", "b"]).await;
    let prefix = "ListOptions.meta.k8s.io \"\" is invalid: ";
    let cases = [
        (
            format!("{CONFIGMAPS}?resourceVersionMatch=NotOlderThan"),
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
        ),
        (
            format!("{CONFIGMAPS}?sendInitialEvents=true"),
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        ),
        (
            format!("{CONFIGMAPS}?resourceVersion=0&resourceVersionMatch=Exact"),
            "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ),
        (
            format!("{CONFIGMAPS}?watch=1&resourceVersionMatch=NotOlderThan"),
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
        ),
        (
            format!("{CONFIGMAPS}?watch=1&sendInitialEvents=true"),
            "[resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled]",
        ),
    ];
    for (path, message) in cases {
        let reply = server.get(&path).await;
        assert_status(&reply, 422, "Invalid", &format!("{prefix}{message}"), &path);
        assert_eq!(reply.body["details"]["kind"], "ListOptions", "{path}");
        assert_eq!(reply.body["details"]["group"], "meta.k8s.io", "{path}");
        assert_eq!(
            reply.body["details"]["causes"][0]["reason"], "FieldValueForbidden",
            "{path}"
        );
    }
    let delete = server
        .delete(&format!("{CONFIGMAPS}?resourceVersionMatch=Exact"), None)
        .await;
    assert_eq!(delete.status, 422, "{}", delete.body);
    assert_eq!(names(&server).await, ["a", "b"]);
}

#[tokio::test]
async fn an_accept_of_nothing_served_is_406() {
    let server = server_with_configmaps(&["a"]).await;
    let message = "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf";
    let list = with_accept(&server, Method::GET, CONFIGMAPS, "application/xml").await;
    assert_status(&list, 406, "NotAcceptable", message, "list");
    let create = with_accept(&server, Method::POST, CONFIGMAPS, "application/xml").await;
    assert_status(&create, 406, "NotAcceptable", message, "create");
    assert_eq!(names(&server).await, ["a"], "nothing created");
    for accept in [
        "*/*",
        "application/xml, application/json;q=0.5",
        "application/vnd.kubernetes.protobuf,application/json",
    ] {
        let reply = with_accept(&server, Method::GET, CONFIGMAPS, accept).await;
        assert_eq!(reply.status, 200, "{accept}: {}", reply.body);
    }
    // Logs are text: `Accept: text/plain` reaches the log handler (here: no such pod).
    let log = with_accept(
        &server,
        Method::GET,
        "/api/v1/namespaces/default/pods/nope/log",
        "text/plain",
    )
    .await;
    assert_eq!(log.status, 404, "{}", log.body);
}

#[tokio::test]
async fn integers_that_do_not_parse_are_400() {
    let server = server_with_configmaps(&["a"]).await;
    let invalid = |v: &str| format!("strconv.ParseInt: parsing \"{v}\": invalid syntax");
    let limit = server.get(&format!("{CONFIGMAPS}?limit=abc")).await;
    assert_status(&limit, 400, "BadRequest", &invalid("abc"), "limit");
    let timeout = server
        .get(&format!("{CONFIGMAPS}?watch=1&timeoutSeconds=abc"))
        .await;
    assert_status(
        &timeout,
        400,
        "BadRequest",
        &invalid("abc"),
        "timeoutSeconds",
    );
    let grace = server
        .delete(&format!("{CONFIGMAPS}/a?gracePeriodSeconds=abc"), None)
        .await;
    assert_status(
        &grace,
        400,
        "BadRequest",
        &invalid("abc"),
        "gracePeriodSeconds",
    );
    assert_eq!(names(&server).await, ["a"], "nothing deleted");
    let huge = server
        .get(&format!("{CONFIGMAPS}?limit=99999999999999999999"))
        .await;
    assert_status(
        &huge,
        400,
        "BadRequest",
        "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
        "limit out of range",
    );
}

/// Upstream reads a boolean parameter as true unless it is `0` or `false` (any case)
/// (`Convert_Slice_string_To_bool`), so `watch=maybe` watches rather than failing.
#[tokio::test]
async fn watch_maybe_watches_as_upstream() {
    let server = server_with_configmaps(&["a"]).await;
    let path = format!("{CONFIGMAPS}?watch=maybe&timeoutSeconds=5");
    let (status, mut events) = WatchReader::open(&server, &path, false).await;
    assert_eq!(status, 200);
    let event = events
        .next(std::time::Duration::from_secs(5))
        .await
        .expect("an event");
    assert_eq!(event["type"], "ADDED");
}
