//! What upstream refuses or rewrites on a write, over real HTTP: metadata and config-key
//! validation (422 with upstream's field errors, nothing stored), malformed quantities (400 at
//! decode), Secret `stringData` merged into `data` on create, update and patch, and sourceless
//! volumes defaulted to `emptyDir: {}`.

mod support;

use serde_json::{Value, json};
use support::{TestServer, pod};

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";
const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn configmap(name: &str, metadata: Value, data: Value) -> Value {
    let mut meta = metadata;
    meta["name"] = json!(name);
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
}

/// Posts `object` to `collection`, asserts upstream's 422 with `message`, and that nothing
/// was stored under `name`.
async fn refused(server: &TestServer, collection: &str, object: &Value, message: &str) {
    let reply = server.post(collection, object).await;
    assert_eq!(
        (reply.status, reply.body["reason"].as_str()),
        (422, Some("Invalid")),
        "{}",
        reply.body
    );
    assert_eq!(reply.body["message"], message);
    let name = object["metadata"]["name"].as_str().unwrap();
    let stored = server.get(&format!("{collection}/{name}")).await;
    assert_eq!(stored.status, 404, "{name} was stored");
}

#[tokio::test]
async fn metadata_upstream_refuses_is_not_stored() {
    let server = TestServer::start().await;
    let big = json!({"annotations": {"big": "x".repeat(256 * 1024)}});
    refused(
        &server,
        CONFIGMAPS,
        &configmap("big", big, json!({})),
        "ConfigMap \"big\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes",
    )
    .await;
    let finalizer = json!({"finalizers": ["a b"]});
    refused(
        &server,
        CONFIGMAPS,
        &configmap("fin", finalizer, json!({})),
        &format!(
            "ConfigMap \"fin\" is invalid: metadata.finalizers: Invalid value: \"a b\": {QUALIFIED_NAME_MSG}"
        ),
    )
    .await;
    let owners = json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": ""}]});
    refused(
        &server,
        CONFIGMAPS,
        &configmap("owned", owners, json!({})),
        "ConfigMap \"owned\" is invalid: metadata.ownerReferences.uid: Invalid value: \"\": must not be empty",
    )
    .await;
    let malformed =
        json!({"ownerReferences": [{"apiVersion": "a/b/c", "kind": "", "name": "rs", "uid": "u"}]});
    refused(
        &server,
        CONFIGMAPS,
        &configmap("malformed", malformed, json!({})),
        "ConfigMap \"malformed\" is invalid: [metadata.ownerReferences.apiVersion: Invalid value: \"a/b/c\": version must not be empty, metadata.ownerReferences.kind: Invalid value: \"\": must not be empty]",
    )
    .await;
    let fine = configmap(
        "fine",
        json!({"annotations": {"note": "x"}, "finalizers": ["example.com/keep"]}),
        json!({}),
    );
    assert_eq!(server.post(CONFIGMAPS, &fine).await.status, 201);
}

#[tokio::test]
async fn config_keys_upstream_refuses_are_not_stored() {
    let server = TestServer::start().await;
    refused(
        &server,
        CONFIGMAPS,
        &configmap("dots", json!({}), json!({"../x": "1"})),
        &format!(
            "ConfigMap \"dots\" is invalid: [data[../x]: Invalid value: \"../x\": {CONFIG_KEY_MSG}, data[../x]: Invalid value: \"../x\": must not start with '..']"
        ),
    )
    .await;
    let long = "k".repeat(254);
    let binary = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bin"}, "binaryData": {long.clone(): "MQ=="}});
    refused(
        &server,
        CONFIGMAPS,
        &binary,
        &format!(
            "ConfigMap \"bin\" is invalid: binaryData[{long}]: Invalid value: \"{long}\": must be no more than 253 characters"
        ),
    )
    .await;
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {long.clone(): "MQ=="}});
    refused(
        &server,
        SECRETS,
        &secret,
        &format!(
            "Secret \"s\" is invalid: data[{long}]: Invalid value: \"{long}\": must be no more than 253 characters"
        ),
    )
    .await;
    let string_data = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"}, "stringData": {"a b": "1"}});
    refused(
        &server,
        SECRETS,
        &string_data,
        &format!("Secret \"t\" is invalid: data[a b]: Invalid value: \"a b\": {CONFIG_KEY_MSG}"),
    )
    .await;
}

fn pod_with_cpu(name: &str, cpu: &str) -> Value {
    let mut pod = pod(name, json!({"app": "x"}));
    pod["spec"]["containers"][0]["resources"] = json!({"requests": {"cpu": cpu}});
    pod
}

#[tokio::test]
async fn malformed_quantities_are_refused_at_decode() {
    let server = TestServer::start().await;
    let reply = server.post(PODS, &pod_with_cpu("bad", "1e400x")).await;
    assert_eq!(
        (reply.status, &reply.body["reason"]),
        (400, &json!("BadRequest"))
    );
    assert_eq!(
        reply.body["message"],
        "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    assert_eq!(server.get(&format!("{PODS}/bad")).await.status, 404);

    let mut deployment = support::deployment("web", 1);
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"limits": {"memory": "1ki"}});
    let reply = server.post(DEPLOYMENTS, &deployment).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: unable to parse quantity's suffix"
    );

    // Upstream bounds no decimal quantity: 1e400 CPUs is a valid (if unschedulable) request.
    let huge = server.post(PODS, &pod_with_cpu("huge", "1e400")).await;
    assert_eq!(huge.status, 201, "{}", huge.body);
}

fn secret(data: Value, string_data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
           "data": data, "stringData": string_data})
}

/// The stored bytes of the Secret `creds`.
async fn stored_secret(server: &TestServer) -> String {
    let got = server
        .store
        .get("secrets/default/creds", None)
        .await
        .unwrap();
    String::from_utf8(got.kv.expect("the secret is stored").value).unwrap()
}

#[tokio::test]
async fn secret_string_data_is_merged_into_data_and_never_kept() {
    let server = TestServer::start().await;
    // "MQ==" is "1"; stringData's "2" wins over it.
    let created = server
        .post(
            SECRETS,
            &secret(json!({"a": "MQ=="}), json!({"a": "2", "b": "3"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["data"], json!({"a": "Mg==", "b": "Mw=="}));
    assert!(created.body.get("stringData").is_none(), "{}", created.body);
    let got = server.get(&format!("{SECRETS}/creds")).await.body;
    assert_eq!(got["data"], json!({"a": "Mg==", "b": "Mw=="}));
    assert!(got.get("stringData").is_none(), "{got}");
    let stored = stored_secret(&server).await;
    assert!(!stored.contains("stringData"), "{stored}");

    let mut update = got.clone();
    update["stringData"] = json!({"b": "4", "c": "5"});
    let updated = server.put(&format!("{SECRETS}/creds"), &update).await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(
        updated.body["data"],
        json!({"a": "Mg==", "b": "NA==", "c": "NQ=="})
    );
    assert!(updated.body.get("stringData").is_none());

    let patched = server
        .request(
            http::Method::PATCH,
            &format!("{SECRETS}/creds"),
            "application/merge-patch+json",
            serde_json::to_vec(&json!({"stringData": {"a": "6"}})).unwrap(),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["data"]["a"], "Ng==");
    assert!(patched.body.get("stringData").is_none());
    let stored = stored_secret(&server).await;
    assert!(
        !stored.contains("stringData") && stored.contains("Ng=="),
        "{stored}"
    );

    let request = http::Request::builder()
        .uri(format!("{SECRETS}/creds"))
        .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new().into())
        .unwrap();
    let table = server.send(request).await;
    assert_eq!(
        table.body["rows"][0]["cells"][2], 3,
        "DATA counts data: {}",
        table.body
    );
}

#[tokio::test]
async fn sourceless_volumes_become_empty_dirs() {
    let server = TestServer::start().await;
    let mut with_volume = pod("scratch", json!({"app": "x"}));
    with_volume["spec"]["volumes"] =
        json!([{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "app"}}]);
    let created = server.post(PODS, &with_volume).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["spec"]["volumes"][0],
        json!({"name": "scratch", "emptyDir": {}})
    );
    assert!(created.body["spec"]["volumes"][1].get("emptyDir").is_none());

    let mut deployment = support::deployment("vol", 1);
    deployment["spec"]["template"]["spec"]["volumes"] = json!([{"name": "tmp"}]);
    let created = server.post(DEPLOYMENTS, &deployment).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["spec"]["template"]["spec"]["volumes"][0],
        json!({"name": "tmp", "emptyDir": {}})
    );
}
