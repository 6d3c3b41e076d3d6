//! A fuzz-style test: a few thousand malformed or mutated bodies (JSON, YAML, protobuf) posted
//! and put to several endpoints (nesting bombs and YAML alias bombs among them). Every one gets
//! a 4xx `Status`, the store does not change, and the server stays healthy.

mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use support::{TestServer, deployment};

/// YAML aliases that expand to a billion strings if the parser follows every one.
const BILLION_LAUGHS: &[u8] = b"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
";

/// Bodies per content type.
const ROUNDS: usize = 700;

/// A valid protobuf Deployment body: the `k8s\0` envelope around a minimal object.
fn protobuf_deployment() -> Vec<u8> {
    fn field(number: u32, wire: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) as u8 | wire];
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }
    let meta = field(1, 2, b"pb");
    let container = [field(1, 2, b"web"), field(2, 2, b"nginx")].concat();
    let labels = field(11, 2, &[field(1, 2, b"app"), field(2, 2, b"pb")].concat());
    let pod_spec = field(2, 2, &container);
    let template = [field(1, 2, &labels), field(2, 2, &pod_spec)].concat();
    let selector = field(1, 2, &[field(1, 2, b"app"), field(2, 2, b"pb")].concat());
    let spec = [field(2, 2, &selector), field(3, 2, &template)].concat();
    let raw = [field(1, 2, &meta), field(2, 2, &spec)].concat();
    let type_meta = [field(1, 2, b"apps/v1"), field(2, 2, b"Deployment")].concat();
    let unknown = [field(1, 2, &type_meta), field(2, 2, &raw)].concat();
    [b"k8s\0".to_vec(), unknown].concat()
}

/// A mutation that always leaves the body unusable: cut short, garbage inserted, or a type or
/// name made wrong.
fn mutate(rng: &mut StdRng, body: &[u8], kind: &str) -> Vec<u8> {
    match rng.random_range(0..7) {
        0 => body[..rng.random_range(0..body.len())].to_vec(),
        1 => {
            let mut out = body.to_vec();
            let at = rng.random_range(0..out.len());
            out.insert(at, 0xff);
            out.truncate(rng.random_range(at + 1..=out.len()));
            if kind == "protobuf" {
                out
            } else {
                [out, b"\x00{".to_vec()].concat()
            }
        }
        2 => (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
        3 => {
            let junk = [
                json!(null),
                json!(42),
                json!("text"),
                json!([1, 2]),
                json!({"metadata": 5}),
                json!({"spec": {"replicas": "many"}}),
            ];
            serde_json::to_vec(&junk[rng.random_range(0..junk.len())]).unwrap()
        }
        5 => {
            // Nesting far past any parser's limit: brackets, braces or block indents.
            let depth = rng.random_range(129..20_000);
            match rng.random_range(0..3) {
                0 => "[".repeat(depth).into_bytes(),
                1 => "{a: ".repeat(depth).into_bytes(),
                _ => (0..depth.min(400))
                    .map(|i| format!("{}k:\n", " ".repeat(i)))
                    .collect::<String>()
                    .into_bytes(),
            }
        }
        6 => BILLION_LAUGHS.to_vec(),
        _ => {
            let mut bad = deployment("Bad_Name", 1);
            bad["spec"]["replicas"] = json!(rng.random_range(-100..0));
            serde_json::to_vec(&bad).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_4xx_and_change_nothing() {
    let server = TestServer::start().await;
    server
        .post(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment("target", 1),
        )
        .await;
    let before = server.store.current_revision().await.unwrap();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let json_body = serde_json::to_vec(&deployment("fuzz", 1)).unwrap();
    // Every proper prefix of each base body is invalid: JSON and the flow mapping at the end of
    // the YAML cannot be cut short validly, and the protobuf envelope ends in a length-delimited
    // field.
    let yaml_body = b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: fuzz\nspec:\n  template:\n    metadata:\n      labels: {app: f}\n    spec:\n      containers: [{name: web, image: nginx}]\n  selector: {matchLabels: {app: f}}".to_vec();

    let pb_body = protobuf_deployment();
    let bases: [(&str, &str, &[u8]); 3] = [
        ("json", "application/json", &json_body),
        ("yaml", "application/yaml", &yaml_body),
        ("protobuf", "application/vnd.kubernetes.protobuf", &pb_body),
    ];
    let targets = [
        (
            http::Method::POST,
            "/apis/apps/v1/namespaces/default/deployments",
        ),
        (
            http::Method::PUT,
            "/apis/apps/v1/namespaces/default/deployments/target",
        ),
        (http::Method::POST, "/api/v1/namespaces/default/configmaps"),
        (
            http::Method::PUT,
            "/apis/apps/v1/namespaces/default/deployments/target/status",
        ),
        (
            http::Method::POST,
            "/api/v1/namespaces/default/pods/target/binding",
        ),
    ];
    let mut count = 0;
    for (kind, content_type, base) in bases {
        for _ in 0..ROUNDS {
            let body = mutate(&mut rng, base, kind);
            let (method, path) = &targets[rng.random_range(0..targets.len())];
            let reply = server
                .request(method.clone(), path, content_type, body.clone())
                .await;
            assert!(
                (400..500).contains(&reply.status),
                "{kind} {method} {path} got {}: {}\nbody: {:?}",
                reply.status,
                reply.body,
                String::from_utf8_lossy(&body)
            );
            assert_eq!(
                reply.body["kind"], "Status",
                "errors are Status objects: {}",
                reply.body
            );
            count += 1;
        }
    }
    assert_eq!(count, 3 * ROUNDS);
    assert_eq!(
        server.store.current_revision().await.unwrap(),
        before,
        "no malformed body changed the store"
    );
    assert_eq!(server.get("/healthz").await.status, 200);
    let valid = server
        .request(
            http::Method::POST,
            "/apis/apps/v1/namespaces/default/deployments",
            "application/vnd.kubernetes.protobuf",
            pb_body,
        )
        .await;
    assert_eq!(
        valid.status, 201,
        "the unmutated protobuf body is accepted: {}",
        valid.body
    );
    let _: Value = valid.body;
}
